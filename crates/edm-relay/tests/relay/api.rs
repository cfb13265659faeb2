//! edm-relay against the real broker: what is accepted arrives in Kafka
//! unchanged, what is refused writes nothing, outages give prompt errors
//! and the relay recovers by itself.

use std::time::{Duration, Instant};

use edm_config::Topic;
use edm_events::EVENT_ID_HEADER;
use edm_relay::Relay;
use edm_testkit::broker::SpareBroker;
use edm_testkit::infra::{service_env, service_env_at};
use edm_testkit::kafka::{payload_text, TestTopics};
use edm_testkit::service::TestService;
use rdkafka::message::Headers;
use rdkafka::Message;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A relay running in this test, stopped when dropped.
type TestRelay = TestService<Relay>;

fn click(button: &str) -> Value {
    json!({"topic":"edm-ui-click","uuid":"visitor-1","event_timestamp":1_763_800_000_000_i64,
           "properties":{"button_id":button,"description":"button click"}})
}

fn pageload() -> Value {
    json!({"topic":"edm-ui-pageload","uuid":"visitor-1","event_timestamp":1_763_800_000_000_i64,
           "properties":{"user_agent":"Mozilla/5.0 (X11; Linux x86_64)","description":"Page loaded","url":"http://localhost:3000"}})
}

const READ: Duration = Duration::from_secs(15);
const NOTHING: Duration = Duration::from_secs(3);

#[tokio::test]
async fn original_store_requests_arrive_unchanged_on_the_prefixed_topics() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(&topics.prefix, &[])).await;

    // Exactly what the reference store sends: same paths, headers, bodies.
    let click_body = click("the-camper's-kit").to_string();
    let resp = relay
        .http
        .post(format!("{}/produceClickMessage", relay.url))
        .header("content-type", "application/json")
        .header("origin", "http://localhost:3000")
        .header("idempotency-key", "retry-key-1")
        .body(click_body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["event_id"], "retry-key-1");
    assert_eq!(body["topic"], "edm-ui-click");

    let resp = relay.post("/producePageLoad", &pageload()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let pageload_id = resp.json::<Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let clicks = topics.read(Topic::Click, 1, READ).await;
    assert_eq!(clicks.len(), 1);
    assert_eq!(
        payload_text(&clicks[0]),
        click_body,
        "same JSON, byte for byte"
    );
    assert_eq!(clicks[0].key(), Some(&b"visitor-1"[..]), "keyed by visitor");
    let header = clicks[0].headers().unwrap().get(0);
    assert_eq!(header.key, EVENT_ID_HEADER);
    assert_eq!(header.value, Some(&b"retry-key-1"[..]));

    let loads = topics.read(Topic::PageLoad, 1, READ).await;
    assert_eq!(loads.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&payload_text(&loads[0])).unwrap(),
        pageload()
    );
    let header = loads[0].headers().unwrap().get(0);
    assert_eq!(
        header.value,
        Some(pageload_id.as_bytes()),
        "assigned id travels with the event"
    );
}

#[tokio::test]
async fn every_refused_request_gets_a_clear_error_and_writes_nothing() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(
        &topics.prefix,
        &[
            ("KAFKA_TOPIC", "edm-ui-click"),
            ("EDM_RELAY_MAX_BODY_BYTES", "2048"),
        ],
    ))
    .await;

    let mut missing_uuid = click("x");
    missing_uuid.as_object_mut().unwrap().remove("uuid");
    let mut wrong_type = click("x");
    wrong_type["event_timestamp"] = json!("now");
    let mut long_button = click("x");
    long_button["properties"]["button_id"] = json!("b".repeat(300));
    let mut other_topic = click("x");
    other_topic["topic"] = json!("__consumer_offsets");

    type Case<'a> = (
        &'a str,
        &'a str,
        String,
        StatusCode,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "/produceClickMessage",
            "application/json",
            "{not json".into(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            None,
        ),
        (
            "/produceClickMessage",
            "application/json",
            missing_uuid.to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            Some("uuid"),
        ),
        (
            "/produceClickMessage",
            "application/json",
            wrong_type.to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            Some("event_timestamp"),
        ),
        (
            "/produceClickMessage",
            "application/json",
            long_button.to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            Some("properties.button_id"),
        ),
        (
            "/produceClickMessage",
            "application/json",
            other_topic.to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            Some("topic"),
        ),
        (
            "/produceClickMessage",
            "application/json",
            pageload().to_string(),
            StatusCode::BAD_REQUEST,
            "wrong_topic",
            Some("topic"),
        ),
        (
            "/producePageLoad",
            "application/json",
            pageload().to_string(),
            StatusCode::FORBIDDEN,
            "topic_not_accepted",
            Some("topic"),
        ),
        (
            "/produceClickMessage",
            "text/plain",
            click("x").to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        ),
        (
            "/produceClickMessage",
            "application/json",
            format!("{{\"pad\":\"{}\"}}", "p".repeat(4096)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
        (
            "/api/v1/events",
            "application/json",
            "{\"events\":1}".into(),
            StatusCode::BAD_REQUEST,
            "invalid_batch",
            None,
        ),
    ];
    for (path, content_type, body, status, code, field) in cases {
        let resp = relay.post_raw(path, content_type, body.clone()).await;
        assert_eq!(resp.status(), status, "{path} {body:.80}");
        let json: Value = resp.json().await.unwrap();
        assert_eq!(json["error"], code, "{json}");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        if let Some(field) = field {
            assert_eq!(json["field"], field, "{json}");
        }
    }
    let bad_key = relay
        .http
        .post(format!("{}/produceClickMessage", relay.url))
        .header("content-type", "application/json")
        .header("idempotency-key", "")
        .body(click("x").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(bad_key.status(), StatusCode::BAD_REQUEST);

    assert!(topics.read(Topic::Click, 1, NOTHING).await.is_empty());
    assert!(topics.read(Topic::PageLoad, 1, NOTHING).await.is_empty());
}

#[tokio::test]
async fn an_event_for_the_trending_topic_is_refused_everywhere_and_writes_nothing() {
    let topics = TestTopics::create().await;
    // Configured with every topic it may take: edm-trending is not one.
    let relay = TestRelay::spawn(service_env(&topics.prefix, &[])).await;
    let mut as_click = click("the-camper's-kit");
    as_click["topic"] = json!("edm-trending");
    let record = json!({"topic":"edm-trending","event_id":"trending-1m-1763799960000",
        "window":{"name":"1m","size_seconds":60,"advance_seconds":60,
                  "start":1_763_799_960_000_i64,"end":1_763_800_020_000_i64},
        "clicks":1,"products":1,"top":[{"button_id":"kit","clicks":1}]});
    // A sample record carries a click, but is not one.
    let sample = json!({"topic":"edm-trending-sample","event":click("kit"),"stands_for":1,
        "source":"edm-ui-click/0","offset":0,"second":1_763_800_000_000_i64});
    for (path, body) in [
        ("/produceClickMessage", &as_click),
        ("/producePageLoad", &as_click),
        ("/produceClickMessage", &record),
        ("/produceClickMessage", &sample),
    ] {
        let resp = relay
            .post_raw(path, "application/json", body.to_string())
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path} {body}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["error"], "invalid_event", "{answer}");
        assert_eq!(answer["field"], "topic", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!(
                    "{} is not a topic of store events",
                    body["topic"].as_str().unwrap()
                ))),
            "{answer}"
        );
    }
    let resp = relay
        .post_raw(
            "/api/v1/events",
            "application/json",
            json!([as_click, record, sample]).to_string(),
        )
        .await;
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["accepted"], 0, "{answer}");
    assert_eq!(answer["rejected"], 3, "{answer}");
    for result in answer["results"].as_array().unwrap() {
        assert_eq!(result["code"], 400, "{result}");
        assert_eq!(result["field"], "topic", "{result}");
    }
    assert!(topics.read(Topic::Trending, 1, NOTHING).await.is_empty());
    assert!(topics.read(Topic::Sample, 1, NOTHING).await.is_empty());
    assert!(topics.read(Topic::Click, 1, NOTHING).await.is_empty());
}

#[tokio::test]
async fn a_batch_reports_per_event_and_writes_only_the_valid_ones() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(&topics.prefix, &[])).await;
    let mut with_id = click("msr-reactor-2.5l-stove-system");
    with_id["event_id"] = json!("client-id-7");
    let mut invalid = click("x");
    invalid["properties"]["button_id"] = json!(5);
    let batch = json!([
        click("areopress-coffee-maker"),
        invalid,
        pageload(),
        with_id
    ]);

    let resp = relay.post("/api/v1/events", &batch).await;
    assert_eq!(resp.status(), StatusCode::MULTI_STATUS);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            body["accepted"].as_u64(),
            body["rejected"].as_u64(),
            body["failed"].as_u64()
        ),
        (Some(3), Some(1), Some(0))
    );
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "accepted");
    assert_eq!(results[1]["status"], "rejected");
    assert_eq!(results[1]["field"], "properties.button_id");
    assert_eq!(results[1]["code"], 400);
    assert_eq!(results[3]["event_id"], "client-id-7");

    let clicks = topics.read(Topic::Click, 3, READ).await;
    assert_eq!(clicks.len(), 2, "only the two valid clicks");
    let mut buttons: Vec<String> = clicks
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(&payload_text(m)).unwrap()["properties"]["button_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    buttons.sort();
    assert_eq!(
        buttons,
        ["areopress-coffee-maker", "msr-reactor-2.5l-stove-system"]
    );
    assert_eq!(topics.read(Topic::PageLoad, 2, NOTHING).await.len(), 1);

    let all_good = json!([click("a"), click("b")]);
    assert_eq!(
        relay.post("/api/v1/events", &all_good).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_visitors_events_stay_in_order() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(&topics.prefix, &[])).await;
    let events: Vec<Value> = (0..30).map(|i| click(&format!("button-{i:02}"))).collect();
    let resp = relay.post("/api/v1/events", &Value::Array(events)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let got = topics.read(Topic::Click, 30, READ).await;
    let order: Vec<String> = got
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(&payload_text(m)).unwrap()["properties"]["button_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..30).map(|i| format!("button-{i:02}")).collect();
    assert_eq!(order, expected, "same key, same partition, same order");
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(
        &topics.prefix,
        &[("EDM_ALLOWED_ORIGINS", "https://shop.example")],
    ))
    .await;
    let preflight = |origin: &'static str| {
        relay
            .http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/produceClickMessage", relay.url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,idempotency-key",
            )
            .send()
    };
    let ok = preflight("https://shop.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_gives_prompt_503_and_the_relay_recovers_by_itself() {
    let broker = SpareBroker::start().await;
    let topics = TestTopics::create_at(&broker.bootstrap()).await;
    let relay = TestRelay::spawn(service_env_at(
        &broker.bootstrap(),
        &topics.prefix,
        &[("EDM_RELAY_DELIVERY_TIMEOUT_MS", "3000")],
    ))
    .await;
    assert_eq!(
        relay
            .post("/produceClickMessage", &click("before"))
            .await
            .status(),
        StatusCode::OK
    );

    broker.kill().await;
    let mut saw_unavailable = false;
    for _ in 0..5 {
        let started = Instant::now();
        let resp = relay.post("/produceClickMessage", &click("during")).await;
        let elapsed = started.elapsed();
        // Never a success for an event Kafka does not have, never a hang.
        assert!(elapsed < Duration::from_secs(10), "answered in {elapsed:?}");
        assert_ne!(resp.status(), StatusCode::OK);
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(resp.headers().contains_key("retry-after"));
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "kafka_unavailable");
            assert!(body["event_id"].is_string());
            saw_unavailable = true;
        }
    }
    assert!(saw_unavailable);
    let ready = relay
        .http
        .get(format!("{}/ready", relay.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    broker.restart().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resp = relay.post("/produceClickMessage", &click("after")).await;
        if resp.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "relay did not recover: {}",
            resp.status()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let texts: Vec<String> = topics
        .read(Topic::Click, 10, Duration::from_secs(5))
        .await
        .iter()
        .map(payload_text)
        .collect();
    assert!(texts.iter().any(|t| t.contains("before")));
    assert!(texts.iter().any(|t| t.contains("after")));
    assert!(
        texts.iter().all(|t| !t.contains("during")),
        "no refused event was written"
    );
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(&topics.prefix, &[])).await;
    let batch = Value::Array((0..500).map(|i| click(&format!("b{i}"))).collect());
    let request = relay
        .http
        .post(format!("{}/api/v1/events", relay.url))
        .header("content-type", "application/json")
        .body(batch.to_string())
        .send();
    let request = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(20)).await;
    relay.shutdown().await.expect("clean shutdown");
    let resp = request.await.unwrap().expect("in-flight request answered");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(topics.read(Topic::Click, 500, READ).await.len(), 500);
}

#[tokio::test]
async fn health_metrics_and_request_ids() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(&topics.prefix, &[])).await;
    let live = relay
        .http
        .get(format!("{}/health", relay.url))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    assert!(live.headers().contains_key("x-request-id"));
    let ready = relay
        .http
        .get(format!("{}/ready", relay.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    relay.post("/produceClickMessage", &click("m")).await;
    relay
        .post_raw("/produceClickMessage", "application/json", "{".into())
        .await;
    let metrics = relay
        .http
        .get(format!("{}/metrics", relay.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"edm_relay_events_total{topic="edm-ui-click",outcome="accepted"} 1"#,
        r#"edm_relay_events_total{topic="edm-ui-click",outcome="rejected"} 1"#,
        r#"http_requests_total{method="POST",route="/produceClickMessage",status="200"} 1"#,
        r#"http_requests_total{method="POST",route="/produceClickMessage",status="400"} 1"#,
        r#"http_request_duration_seconds_count{method="POST",route="/produceClickMessage",status="200"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in:\n{metrics}");
    }
    // Read at each scrape (their values move with the producer and probe).
    for gauge in [
        "edm_relay_producer_queue_depth ",
        "edm_relay_kafka_reachable ",
    ] {
        assert!(
            metrics.lines().any(|l| l.starts_with(gauge)),
            "missing {gauge} in:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn a_callers_request_id_is_kept_and_an_unusable_one_replaced() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(&topics.prefix, &[])).await;
    let send = |id: &'static str| {
        relay
            .http
            .post(format!("{}/produceClickMessage", relay.url))
            .header("content-type", "application/json")
            .header("x-request-id", id)
            .body(click("traced").to_string())
            .send()
    };
    let kept = send("store-7f3a-42").await.unwrap();
    assert_eq!(kept.status(), StatusCode::OK);
    assert_eq!(kept.headers()["x-request-id"], "store-7f3a-42");

    let forged = send("x level=ERROR msg=forged").await.unwrap();
    assert_eq!(forged.status(), StatusCode::OK);
    let assigned = forged.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(assigned, "x level=ERROR msg=forged");
    assert!(uuid::Uuid::parse_str(assigned).is_ok(), "{assigned}");
}

#[tokio::test]
async fn a_batch_that_kafka_does_not_take_is_counted_as_failed_by_topic() {
    // No topics exist under this prefix, so Kafka refuses every event.
    let prefix = format!("missing-{}.", uuid::Uuid::new_v4().simple());
    let relay = TestRelay::spawn(service_env(
        &prefix,
        &[("EDM_RELAY_DELIVERY_TIMEOUT_MS", "2000")],
    ))
    .await;
    let response = relay
        .post(
            "/api/v1/events",
            &json!([click("a"), pageload(), {"topic": "edm-ui-click"}]),
        )
        .await;
    assert_ne!(response.status(), StatusCode::OK);
    let metrics = relay
        .http
        .get(format!("{}/metrics", relay.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"edm_relay_events_total{topic="edm-ui-click",outcome="failed"} 1"#,
        r#"edm_relay_events_total{topic="edm-ui-pageload",outcome="failed"} 1"#,
        r#"edm_relay_events_total{topic="unknown",outcome="rejected"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in:\n{metrics}");
    }
}

#[tokio::test]
async fn each_client_is_rate_limited_on_its_own_and_refused_events_are_not_written() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(
        &topics.prefix,
        &[
            ("EDM_RELAY_RATE_LIMIT_PER_SECOND", "1"),
            ("EDM_RELAY_RATE_LIMIT_BURST", "3"),
            // The test stands in for Heroku's router, which appends each
            // client's address to X-Forwarded-For.
            ("EDM_TRUSTED_PROXY_HOPS", "1"),
        ],
    ))
    .await;
    let post_from = |ip: &'static str, path: &'static str, body: String| {
        relay
            .http
            .post(format!("{}{path}", relay.url))
            .header("content-type", "application/json")
            .header("x-forwarded-for", ip)
            .body(body)
            .send()
    };
    for i in 0..3 {
        let resp = post_from(
            "203.0.113.7",
            "/produceClickMessage",
            click(&format!("ok-{i}")).to_string(),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let limited = post_from(
        "203.0.113.7",
        "/produceClickMessage",
        click("over").to_string(),
    )
    .await
    .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= 1
    );
    assert_eq!(
        limited.json::<Value>().await.unwrap()["error"],
        "rate_limited"
    );
    // Another client is not affected.
    let other = post_from(
        "198.51.100.9",
        "/produceClickMessage",
        click("other").to_string(),
    )
    .await
    .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    // A batch larger than the burst can never pass.
    let batch = Value::Array((0..4).map(|i| click(&format!("b{i}"))).collect()).to_string();
    let too_big = post_from("192.0.2.1", "/api/v1/events", batch)
        .await
        .unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let written: Vec<String> = topics
        .read(Topic::Click, 10, Duration::from_secs(5))
        .await
        .iter()
        .map(payload_text)
        .collect();
    assert_eq!(
        written.len(),
        4,
        "three from the first client, one from the other"
    );
    assert!(written
        .iter()
        .all(|t| !t.contains("over") && !t.contains("\"b0\"")));
}

#[tokio::test]
async fn requests_past_the_in_flight_bound_are_refused_at_once_and_served_again_after() {
    use tokio::io::AsyncWriteExt;

    let topics = TestTopics::create().await;
    let env = service_env(&topics.prefix, &[("EDM_RELAY_MAX_IN_FLIGHT", "1")]);
    let relay = TestRelay::spawn(env).await;
    // A client that starts a batch and stalls mid-body holds the one permit.
    let mut stalled = tokio::net::TcpStream::connect(relay.url.trim_start_matches("http://"))
        .await
        .unwrap();
    stalled
        .write_all(
            b"POST /api/v1/events HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let refused = relay.post("/produceClickMessage", &click("late")).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "overloaded");
    assert_eq!(
        topics
            .read(Topic::Click, 1, Duration::from_secs(2))
            .await
            .len(),
        0
    );

    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = relay.post("/produceClickMessage", &click("later")).await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the permit was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
