//! The relay and the event catalog, against the real broker: the schemas are
//! served exactly as committed under `docs/events/`, and the relay is a
//! tolerant reader: the original reference store's events and events with
//! fields it does not know are accepted and reach Kafka byte for byte.

use std::time::Duration;

use edm_config::Topic;
use edm_events::catalog;
use edm_relay::Relay;
use edm_testkit::infra::{service_env, workspace_root};
use edm_testkit::kafka::{payload_text, TestTopics};
use edm_testkit::service::TestService;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A relay running in this test, stopped when dropped.
type TestRelay = TestService<Relay>;

#[tokio::test]
async fn the_catalog_serves_each_topics_schema_as_committed() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(
        &topics.prefix,
        &[("KAFKA_TOPIC", "edm-ui-click")],
    ))
    .await;

    let resp = relay.get("/api/v1/schemas").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let list: Value = resp.json().await.unwrap();
    assert_eq!(
        list,
        json!({"schemas": [
            {"topic": "edm-ui-click", "accepted": true, "schema": "/api/v1/schemas/edm-ui-click", "endpoint": "/produceClickMessage"},
            {"topic": "edm-ui-pageload", "accepted": false, "schema": "/api/v1/schemas/edm-ui-pageload", "endpoint": "/producePageLoad"},
            {"topic": "edm-trending", "accepted": false, "schema": "/api/v1/schemas/edm-trending", "endpoint": null},
            {"topic": "edm-trending-counts", "accepted": false, "schema": "/api/v1/schemas/edm-trending-counts", "endpoint": null},
            {"topic": "edm-trending-sample", "accepted": false, "schema": "/api/v1/schemas/edm-trending-sample", "endpoint": null},
        ]}),
        "this relay is configured for clicks only, and no relay takes edm-trending's topics"
    );

    for topic in Topic::ALL {
        let resp = relay.get(&format!("/api/v1/schemas/{topic}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"],
            "application/schema+json",
            "{topic}"
        );
        let served = resp.text().await.unwrap();
        let committed = std::fs::read_to_string(
            workspace_root()
                .join(catalog::SCHEMA_DIR)
                .join(catalog::file_name(topic)),
        )
        .unwrap();
        assert_eq!(served, committed, "{topic}: served = docs/events file");
        let schema: Value = serde_json::from_str(&served).unwrap();
        assert_eq!(schema["properties"]["topic"]["const"], topic.name());
    }

    let resp = relay.get("/api/v1/schemas/__consumer_offsets").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unknown_topic");
    assert_eq!(body["field"], "topic");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("edm-ui-click, edm-ui-pageload"),
        "{body}"
    );
}

#[tokio::test]
async fn reference_store_events_and_events_with_unknown_fields_are_accepted_unchanged() {
    let topics = TestTopics::create().await;
    let relay = TestRelay::spawn(service_env(&topics.prefix, &[])).await;

    // Exactly what the original reference store posts (its field order too).
    let reference_click = r#"{"topic":"edm-ui-click","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","event_timestamp":1763800000000,"properties":{"button_id":"bunum-wo-aa,-papua-new-guinea","description":"button click"}}"#;
    let reference_load = r#"{"topic":"edm-ui-pageload","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","event_timestamp":1763800000000,"properties":{"user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0","description":"fix coffee page page loaded","url":"https://edm-ui.herokuapp.com"}}"#;
    // A newer producer's events: fields this relay has never heard of, at
    // the top level and inside properties.
    let extended_click = json!({"topic":"edm-ui-click","uuid":"v-2","event_timestamp":1_763_800_000_001_i64,
        "schema_version": 2, "session": {"referrer": "newsletter"},
        "properties":{"button_id":"the-camper's-kit","description":"button click","color":"blue","position":3}})
    .to_string();
    let extended_load = json!({"topic":"edm-ui-pageload","uuid":"v-2","event_timestamp":1_763_800_000_001_i64,
        "locale": "de-DE",
        "properties":{"user_agent":"Mozilla/5.0","url":"http://localhost:3000","viewport":{"w":390,"h":844}}})
    .to_string();

    for (path, body) in [
        ("/produceClickMessage", reference_click),
        ("/produceClickMessage", extended_click.as_str()),
        ("/producePageLoad", reference_load),
        ("/producePageLoad", extended_load.as_str()),
    ] {
        let resp = relay
            .post_raw(path, "application/json", body.to_owned())
            .await;
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path} {body}: {answer}");
        assert_eq!(answer["status"], "accepted");
    }
    // The batch endpoint takes them too.
    let batch = format!("[{reference_click},{extended_click}]");
    let resp = relay
        .post_raw("/api/v1/events", "application/json", batch)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    let read = Duration::from_secs(15);
    let mut clicks: Vec<String> = topics
        .read(Topic::Click, 4, read)
        .await
        .iter()
        .map(payload_text)
        .collect();
    clicks.sort();
    let mut want = vec![
        reference_click.to_owned(),
        reference_click.to_owned(),
        extended_click.clone(),
        extended_click.clone(),
    ];
    want.sort();
    assert_eq!(clicks, want, "clicks reach Kafka byte for byte");
    let mut loads: Vec<String> = topics
        .read(Topic::PageLoad, 2, read)
        .await
        .iter()
        .map(payload_text)
        .collect();
    loads.sort();
    let mut want = vec![reference_load.to_owned(), extended_load];
    want.sort();
    assert_eq!(loads, want, "page loads reach Kafka byte for byte");
}
