//! edm-config against the real broker of `./edm infra up`: plaintext, TLS
//! with client certificates and mismatched host names (as on Heroku),
//! refusals in both directions, and KAFKA_PREFIX end to end.

use std::time::Duration;

use edm_config::{KafkaSettings, MapEnv, Topic};
use edm_testkit::infra::{cert, tls_env};
use edm_testkit::kafka::{payload_text, read_topic, TestTopics};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

const WAIT: Duration = Duration::from_secs(20);

async fn produce(settings: &KafkaSettings, topic: Topic, payload: &str) -> Result<(), String> {
    let producer: FutureProducer = settings
        .producer_config("edm-config-test")
        .set("message.timeout.ms", "8000")
        .create()
        .map_err(|e| e.to_string())?;
    let name = settings.topic_name(topic);
    producer
        .send(
            FutureRecord::to(&name).key("visitor").payload(payload),
            Duration::from_secs(8),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
}

/// Whether a client built from `env` can read the cluster's metadata.
fn can_reach(env: &MapEnv) -> bool {
    let settings = KafkaSettings::from_env(env).expect("valid settings");
    let producer: FutureProducer = settings.producer_config("probe").create().unwrap();
    producer
        .client()
        .fetch_metadata(None, Duration::from_secs(6))
        .is_ok()
}

#[tokio::test]
async fn plaintext_produce_and_consume_with_prefix() {
    let topics = TestTopics::create().await;
    produce(&topics.settings, Topic::Click, "hello plaintext")
        .await
        .unwrap();

    // The prefixed topic is the one written.
    let wire_name = format!("{}edm-ui-click", topics.prefix);
    assert_eq!(topics.name(Topic::Click), wire_name);
    let got = read_topic(&topics.settings, &wire_name, 1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(payload_text(&got[0]), "hello plaintext");
    // And nothing went to the other topic.
    assert!(topics
        .read(Topic::PageLoad, 1, Duration::from_secs(3))
        .await
        .is_empty());
}

#[tokio::test]
async fn tls_with_client_certificate_and_mismatched_host_name_works() {
    let topics = TestTopics::create().await;
    let tls = KafkaSettings::from_env(&tls_env(&topics.prefix)).unwrap();
    produce(&tls, Topic::PageLoad, "hello tls").await.unwrap();
    let got = read_topic(&tls, &tls.topic_name(Topic::PageLoad), 1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(payload_text(&got[0]), "hello tls");
}

#[tokio::test]
async fn the_broker_certificate_really_does_not_match_its_address() {
    // Guards the test above: with host-name checking on, the same client
    // fails, so that test proves the check is skipped, not that names match.
    let settings = KafkaSettings::from_env(&tls_env("x.")).unwrap();
    let producer: Result<FutureProducer, _> = settings
        .producer_config("probe")
        .set("ssl.endpoint.identification.algorithm", "https")
        .create();
    let producer = producer.unwrap();
    assert!(producer
        .client()
        .fetch_metadata(None, Duration::from_secs(6))
        .is_err());
}

#[tokio::test]
async fn a_rotated_trust_bundle_with_two_cas_works() {
    let env = tls_env("x.").with(
        "KAFKA_TRUSTED_CERT",
        format!("{}{}", cert("other-ca.pem"), cert("ca.pem")),
    );
    assert!(can_reach(&env));
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let env = tls_env("x.")
        .with("KAFKA_CLIENT_CERT", cert("other-client.pem"))
        .with("KAFKA_CLIENT_CERT_KEY", cert("other-client.key"));
    assert!(!can_reach(&env));
}

#[tokio::test]
async fn a_client_that_trusts_another_ca_refuses_the_broker() {
    let env = tls_env("x.").with("KAFKA_TRUSTED_CERT", cert("other-ca.pem"));
    assert!(!can_reach(&env));
}

#[test]
fn the_test_client_key_is_pkcs1_as_heroku_hands_it_out() {
    assert!(cert("client.key").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
}

/// Kafka's own console consumer (the broker's jars from Maven Central):
/// the first `count` values of `topic`, one a line.
fn console_consumer(settings: &KafkaSettings, topic: &str, count: usize) -> Vec<String> {
    let libs = edm_testkit::infra::var("EDM_TEST_KAFKA_LIBS");
    let output = std::process::Command::new("java")
        .args(["-cp", &format!("{libs}/*")])
        .arg("org.apache.kafka.tools.consumer.ConsoleConsumer")
        .args(["--bootstrap-server", &settings.bootstrap_servers()])
        .args(["--topic", topic, "--from-beginning"])
        .args([
            "--max-messages",
            &count.to_string(),
            "--timeout-ms",
            "30000",
        ])
        .output()
        .expect("java runs (./edm setup installs OpenJDK)");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_codec_is_read_back_by_this_client_and_by_kafkas_console_consumer() {
    use edm_config::Compression;
    // One partition holding batches of every codec, one after another.
    let mut topics = TestTopics::create().await;
    let mut sent = Vec::new();
    let name = topics.name(Topic::Click);
    for codec in Compression::ALL {
        topics.settings.compression = codec;
        let producer: FutureProducer = topics
            .settings
            .producer_config("edm-config-test")
            .create()
            .unwrap();
        for n in 0..20 {
            let payload = format!(
                r#"{{"codec":"{codec}","n":{n},"text":"{}"}}"#,
                "x".repeat(n * 10)
            );
            producer
                .send(
                    FutureRecord::to(&name).key("visitor").payload(&payload),
                    Duration::from_secs(8),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
            sent.push(payload);
        }
    }
    let read: Vec<String> = read_topic(&topics.settings, &name, sent.len(), WAIT)
        .await
        .iter()
        .map(payload_text)
        .collect();
    assert_eq!(read, sent, "this client reads every codec");
    assert_eq!(
        console_consumer(&topics.settings, &name, sent.len()),
        sent,
        "Kafka's console consumer reads every codec"
    );
}
