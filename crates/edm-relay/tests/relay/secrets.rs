//! No secret in any log line: edm-relay runs at the most verbose log level
//! over TLS with the real client key, takes good and bad requests, and its
//! whole output is scanned for the key; a malformed key is reported by
//! variable name only.

use std::process::{Command, Stdio};
use std::time::Duration;

use edm_testkit::broker::free_port;
use edm_testkit::kafka::TestTopics;
use edm_testkit::secrets::{tls_service_env, Secrets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let topics = TestTopics::create().await;
    let secrets = Secrets::client_key();
    let port = free_port();
    let env = tls_service_env(&topics.prefix);
    let child = Command::new(env!("CARGO_BIN_EXE_edm-relay"))
        .env_clear()
        .envs(env.0.iter())
        .env("PORT", port.to_string())
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/produceClickMessage");
    let event = r#"{"topic":"edm-ui-click","uuid":"v","event_timestamp":1763800000000,"properties":{"button_id":"b"}}"#;
    let mut accepted = false;
    for _ in 0..100 {
        let sent = http
            .post(&url)
            .header("content-type", "application/json")
            .body(event)
            .send()
            .await;
        if sent.is_ok_and(|r| r.status() == 200) {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(accepted, "the relay wrote over TLS with the secret key");
    let _ = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{bad")
        .send()
        .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.lines().count() > 20, "trace logging produced output");
    assert_eq!(secrets.leaks(&text), Vec::<String>::new());

    let bad = Command::new(env!("CARGO_BIN_EXE_edm-relay"))
        .env_clear()
        .envs(env.0.iter())
        .env("KAFKA_CLIENT_CERT_KEY", "super-secret-key-material-0451")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let text = String::from_utf8_lossy(&bad.stderr);
    assert!(
        text.contains("KAFKA_CLIENT_CERT_KEY is not a PEM private key"),
        "{text}"
    );
    assert!(!text.contains("super-secret-key-material-0451"));
}
