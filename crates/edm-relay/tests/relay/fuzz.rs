//! Hostile HTTP input against a real relay and broker: arbitrary bodies,
//! content types and paths, and events with arbitrary field values. The
//! relay never fails to answer, every refusal is a JSON error, and exactly
//! the events it answered 200 for are in Kafka — nothing else is written.
//!
//! Cases come from `PROPTEST_CASES` (default below; `./edm reliability`
//! runs more).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edm_config::Topic;
use edm_relay::Relay;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::TestTopics;
use edm_testkit::service::TestService;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(400)
        .min(20_000)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let text = prop_oneof![
        any::<String>(),
        Just("' OR 1=1; --".to_owned()),
        Just("<script>alert(1)</script>".to_owned()),
        "\\PC{0,40}",
        "[\\x00-\\x1f]{1,4}",
    ];
    let field = prop_oneof![
        6 => "[a-z0-9' ,.-]{1,24}".prop_map(Value::from),
        1 => text.clone().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => prop::collection::vec(text.clone().prop_map(Value::from), 0..3).prop_map(Value::Array),
    ];
    let event = (
        prop_oneof![4 => Just("edm-ui-click"), 2 => Just("edm-ui-pageload"), 1 => Just("__consumer_offsets"), 1 => Just("other.edm-ui-click")],
        field.clone(),
        field.clone(),
        prop_oneof![4 => Just(json!(1_763_800_000_000_i64)), 1 => field.clone()],
        field,
    )
        .prop_map(|(topic, uuid, button, ts, extra)| {
            json!({"topic": topic, "uuid": uuid, "event_timestamp": ts,
                   "properties": {"button_id": button, "description": "d", "user_agent": "ua", "url": "u"},
                   "extra": extra})
            .to_string()
            .into_bytes()
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        event.clone(),
        prop::collection::vec(event, 0..4).prop_map(|events| {
            let items: Vec<String> = events
                .into_iter()
                .map(|e| String::from_utf8(e).unwrap())
                .collect();
            format!("[{}]", items.join(",")).into_bytes()
        }),
    ]
}

#[test]
fn hostile_requests_get_json_errors_and_write_nothing_but_what_was_accepted() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (topics, relay) = runtime.block_on(async {
        let topics = TestTopics::create().await;
        let relay = TestService::<Relay>::spawn(service_env(
            &topics.prefix,
            &[
                ("EDM_RELAY_RATE_LIMIT_PER_SECOND", "0"),
                ("EDM_RELAY_MAX_BODY_BYTES", "4096"),
            ],
        ))
        .await;
        (topics, relay)
    });
    let url = relay.url.clone();
    let http = reqwest::Client::new();
    let accepted = Arc::new(AtomicUsize::new(0));
    let paths = prop_oneof![
        Just("/produceClickMessage"),
        Just("/producePageLoad"),
        Just("/api/v1/events"),
        Just("/produceClickMessage/../admin")
    ];
    let content_types = prop_oneof![
        Just("application/json"),
        Just("application/json; charset=utf-8"),
        Just("text/plain"),
        Just("")
    ];
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let counted = accepted.clone();
    runner
        .run(
            &(paths, content_types, body()),
            |(path, content_type, body)| {
                let response = runtime.block_on(async {
                    let mut request = http.post(format!("{url}{path}")).body(body);
                    if !content_type.is_empty() {
                        request = request.header("content-type", content_type);
                    }
                    let response = request.send().await.expect("the relay answers");
                    let status = response.status().as_u16();
                    (status, response.bytes().await.unwrap())
                });
                let (status, bytes) = response;
                prop_assert!(
                    matches!(status, 200 | 207 | 400 | 403 | 404 | 405 | 413 | 415),
                    "status {status}"
                );
                if status == 404 || status == 405 {
                    return Ok(()); // no such route: nothing to parse or write
                }
                let json: Value = serde_json::from_slice(&bytes).expect("every answer is JSON");
                match status {
                    200 if path == "/api/v1/events" => {
                        counted.fetch_add(
                            json["accepted"].as_u64().unwrap() as usize,
                            Ordering::Relaxed,
                        );
                    }
                    207 => {
                        counted.fetch_add(
                            json["accepted"].as_u64().unwrap() as usize,
                            Ordering::Relaxed,
                        );
                    }
                    200 => {
                        prop_assert_eq!(&json["status"], "accepted");
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        prop_assert!(
                            json["error"].is_string() && json["message"].is_string(),
                            "{}",
                            json
                        );
                    }
                }
                Ok(())
            },
        )
        .unwrap();

    let accepted = accepted.load(Ordering::Relaxed);
    let written = runtime.block_on(async {
        let clicks = topics
            .read(Topic::Click, accepted + 1, Duration::from_secs(5))
            .await
            .len();
        let loads = topics
            .read(Topic::PageLoad, accepted + 1, Duration::from_secs(5))
            .await
            .len();
        clicks + loads
    });
    println!(
        "relay fuzz: {} requests, {accepted} events accepted",
        cases()
    );
    assert_eq!(
        written, accepted,
        "exactly the accepted events are in Kafka"
    );
    runtime.block_on(async move { drop(topics) });
}
