//! The deploy rehearsal: relay, stream and stats as real processes with the
//! config vars Heroku gives an app (`kafka+ssl://`, the certificates as PEM
//! text, `KAFKA_PREFIX`, a `DATABASE_URL` that requires TLS) against a
//! broker shaped like a basic Apache Kafka on Heroku plan (`./edm
//! heroku-kafka`): the Kafka version Heroku runs (3.7.1, older than the
//! everyday test broker), TLS with a client certificate whose names do not
//! match, and an authorizer whose ACLs let that certificate use only names
//! under the app's prefix. Events posted to the relay reach an official
//! Socket.io client through the stream and are counted by stats, and
//! edm-trending writes their windows through its prefixed internal topics
//! and transactional ids; a relay or an edm-trending without the prefix is
//! refused exactly as on Heroku. The full rehearsal
//! (all five apps built the buildpack's way and started by the Procfile in a
//! browser flow) is `tests-e2e/heroku-rehearsal.test.mjs`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use edm_reliability::processes::{build_services, Service};
use edm_testkit::broker::SpareBroker;
use edm_testkit::kafka::{payload_text, read_topic};
use edm_testkit::postgres::TestDatabase;
use edm_testkit::stream_clients::ResumingClients;
use serde_json::{json, Value};

/// The prefix a basic plan would give the app.
const PREFIX: &str = "wabash-1234.";

/// When the rehearsal's clicks happened (2026-11-22).
const CLICKED_AT: i64 = 1_795_339_137_000;

fn click(n: usize, at: i64) -> Value {
    json!({"topic": "edm-ui-click", "uuid": format!("visitor-{}", n % 3),
           "event_timestamp": at, "event_id": format!("rehearsal-{n}"),
           "properties": {"button_id": "the-camper's-kit", "description": "button click"}})
}

async fn post_click(http: &reqwest::Client, relay: &str, n: usize) -> (u16, String) {
    post_click_at(http, relay, n, CLICKED_AT).await
}

async fn post_click_at(http: &reqwest::Client, relay: &str, n: usize, at: i64) -> (u16, String) {
    let answer = http
        .post(format!("{relay}/produceClickMessage"))
        .json(&click(n, at))
        .send()
        .await
        .expect("the relay answers");
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_work_on_a_heroku_shaped_kafka_and_unprefixed_names_are_refused() {
    let _serial = crate::SERIAL.lock().await;
    tokio::task::spawn_blocking(build_services).await.unwrap();
    let broker = SpareBroker::start_heroku_shaped().await;
    broker.provision(PREFIX).await;
    let db = TestDatabase::create().await;
    let heroku: HashMap<String, String> = broker.heroku_env(PREFIX);
    let with = |extra: &[(&str, &str)]| {
        let mut env = heroku.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let mut relay = Service::new("edm-relay", with(&[]));
    let mut stream = Service::new("edm-stream", with(&[]));
    // Its repartition and changelog topics, its group and its
    // transactional ids all carry the prefix. A short grace period: its
    // windows close by the clock on this quiet store.
    let mut trending = Service::new(
        "edm-trending",
        with(&[
            ("RUST_LOG", "info"),
            ("EDM_TRENDING_GRACE_SECS", "5"),
            ("EDM_TRENDING_MAX_CLOCK_SKEW_SECS", "1"),
        ]),
    );
    // Heroku Postgres: TLS required (no sslmode in the URL).
    let mut stats = Service::new("edm-stats", with(&[("DATABASE_URL", &db.url)]));
    for service in [&mut relay, &mut stream, &mut stats, &mut trending] {
        service.start(Duration::from_secs(60)).await;
    }
    let url = stream.url();
    let clients = tokio::task::spawn_blocking(move || ResumingClients::connect(&url, 1))
        .await
        .unwrap();

    let http = reqwest::Client::new();
    const EVENTS: usize = 20;
    // Clicked now, all at once: one window of edm-trending's.
    let clicked_at = chrono::Utc::now().timestamp_millis();
    for n in 0..EVENTS {
        let (status, body) = post_click_at(&http, &relay.url(), n, clicked_at).await;
        assert_eq!(status, 200, "click {n}: {body}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut totals = Value::Null;
    while Instant::now() < deadline {
        totals = http
            .get(format!("{}/api/v1/totals", stats.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        if totals["clicks"] == EVENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        totals["clicks"], EVENTS,
        "stats counted every click: {totals}"
    );
    let consumer: Value = http
        .get(format!("{}/api/v1/consumer", stats.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        consumer["group"],
        format!("{PREFIX}edm-consumer-group-2"),
        "the consumer group carries the prefix"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = tokio::task::spawn_blocking(move || clients.stop())
        .await
        .unwrap();
    let mut ids = received[0].ids.clone();
    ids.sort();
    let mut expected: Vec<String> = (0..EVENTS).map(|n| format!("rehearsal-{n}")).collect();
    expected.sort();
    assert_eq!(ids, expected, "the live client got every click once");

    // With no click after them, the watermark follows the clock: the
    // 1-minute window closes within its end plus grace plus skew plus 2 s,
    // and edm-trending commits its result (and the 5-minute window's that
    // ends with it) through the authorizer.
    let output = format!("{PREFIX}edm-trending");
    // Read as the super user on the plaintext listener; librdkafka reads
    // read_committed by default, as edm-stream and the dashboard do.
    let admin = edm_config::KafkaSettings::from_env(
        &edm_config::MapEnv::default().with("KAFKA_URL", format!("kafka://{}", broker.bootstrap())),
    )
    .unwrap();
    let results: Vec<Value> = read_topic(&admin, &output, 2, Duration::from_secs(100))
        .await
        .iter()
        .map(|m| serde_json::from_str(&payload_text(m)).unwrap())
        .collect();
    let Some(one_minute) = results.iter().find(|r| r["window"]["name"] == "1m") else {
        let metrics = http
            .get(format!("{}/metrics", trending.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap_or_default();
        let metrics: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("edm_trending"))
            .collect();
        panic!(
            "no 1-minute window result: {results:?}; edm-trending's metrics:\n{}",
            metrics.join("\n")
        );
    };
    assert_eq!(one_minute["clicks"], EVENTS, "{one_minute}");
    assert_eq!(
        one_minute["top"][0]["button_id"], "the-camper's-kit",
        "{one_minute}"
    );

    // Without the prefix, edm-trending's names are refused: it stops with
    // the reason instead of running without its state.
    let mut unprefixed_trending = Service::new("edm-trending", with(&[("KAFKA_PREFIX", "")]));
    let status = unprefixed_trending
        .run_until_exit(Duration::from_secs(60))
        .await;
    let log = std::fs::read_to_string(unprefixed_trending.log_path()).unwrap_or_default();
    assert!(
        status.is_some_and(|s| !s.success()),
        "edm-trending without the prefix must stop ({status:?}); log:\n{log}"
    );
    assert!(
        log.to_lowercase().contains("authorization failed"),
        "the refusal says why; log:\n{log}"
    );

    // The same relay without the prefix: the broker refuses the names, as
    // Heroku does when KAFKA_PREFIX is missing or wrong.
    let mut unprefixed = Service::new(
        "edm-relay",
        with(&[
            ("KAFKA_PREFIX", ""),
            ("EDM_RELAY_DELIVERY_TIMEOUT_MS", "5000"),
        ]),
    );
    unprefixed.start(Duration::from_secs(60)).await;
    let (status, body) = post_click(&http, &unprefixed.url(), 0).await;
    assert_ne!(status, 200, "an unprefixed topic is refused: {body}");
    let log = std::fs::read_to_string(unprefixed.log_path()).unwrap_or_default();
    assert!(
        log.contains("Topic authorization failed") || body.contains("Topic authorization failed"),
        "the refusal says why (answer {status} {body}); log:\n{log}"
    );
}
