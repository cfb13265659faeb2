//! No secret in any log line: edm-stats runs at the most verbose log level
//! with a TLS client key and a database password whose values are known,
//! does its work and meets errors, and its whole output is scanned.

use std::process::{Command, Stdio};
use std::time::Duration;

use edm_config::Topic;
use edm_testkit::broker::free_port;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::postgres::TestDatabase;
use edm_testkit::secrets::{database_with_secret_password, tls_service_env, Secrets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let (url, password) = database_with_secret_password(&db).await;
    let mut secrets = Secrets::client_key();
    secrets.values.push(password.clone());
    let port = free_port();
    let env = tls_service_env(&topics.prefix).with("DATABASE_URL", &url);

    let child = Command::new(env!("CARGO_BIN_EXE_edm-stats"))
        .env_clear()
        .envs(env.0.iter())
        .env("PORT", port.to_string())
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let producer = RawProducer::new(&topics.settings);
    producer
        .send(&topics.name(Topic::Click), "v", br#"{"topic":"edm-ui-click","uuid":"v","event_timestamp":1763800000000,"properties":{"button_id":"b"}}"#, Some("id-1"))
        .await;
    producer
        .send(&topics.name(Topic::Click), "v", b"not json", None)
        .await;
    let http = reqwest::Client::new();
    let mut counted = false;
    for _ in 0..150 {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/api/v1/totals"))
            .send()
            .await
        {
            if r.json::<serde_json::Value>()
                .await
                .map(|v| v["clicks"] == 1)
                .unwrap_or(false)
            {
                counted = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        counted,
        "the service worked over TLS with the secret credentials"
    );
    let _ = http
        .get(format!("http://127.0.0.1:{port}/api/v1/clicks?from=bad"))
        .send()
        .await;
    sigterm(child.id());
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.lines().count() > 20, "trace logging produced output");
    assert_eq!(secrets.leaks(&text), Vec::<String>::new());

    // Bad configuration: the errors name variables, never values.
    let bad = Command::new(env!("CARGO_BIN_EXE_edm-stats"))
        .env_clear()
        .envs(env.0.iter())
        .env("DATABASE_URL", format!("mysql://u:{password}@db/x"))
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let text = String::from_utf8_lossy(&bad.stderr);
    assert!(
        text.contains("DATABASE_URL is not a postgres:// URL"),
        "{text}"
    );
    assert_eq!(secrets.leaks(&text), Vec::<String>::new());
}

/// SIGTERM, as Heroku stops a dyno.
fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}
