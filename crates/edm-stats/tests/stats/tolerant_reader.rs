//! edm-stats is a tolerant reader (docs/events.md): the original reference
//! store's events, and events carrying fields it has never heard of (at the
//! top level and inside `properties`), are all counted; none of them ends up
//! as a dead letter.

use std::time::Duration;

use crate::common::*;
use edm_config::Topic;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::postgres::TestDatabase;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_store_events_and_events_with_unknown_fields_are_counted() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let producer = RawProducer::new(&topics.settings);

    // Exactly what the original reference store sends (no event id).
    let reference_click = r#"{"topic":"edm-ui-click","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","event_timestamp":1763632800000,"properties":{"button_id":"areopress-coffee-maker","description":"button click"}}"#;
    let reference_load = r#"{"topic":"edm-ui-pageload","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","event_timestamp":1763632800000,"properties":{"user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148","description":"fix coffee page page loaded","url":"https://edm-ui.herokuapp.com"}}"#;
    // A newer producer's events, with fields no EDM reader knows.
    let extended_click = json!({"topic":"edm-ui-click","uuid":"v2","event_timestamp":T0 + MINUTE,
        "schema_version": 2, "experiment": {"arm": "b"},
        "properties":{"button_id":"areopress-coffee-maker","description":"button click","color":"blue","position":3}})
    .to_string();
    let extended_load = json!({"topic":"edm-ui-pageload","uuid":"v2","event_timestamp":T0 + MINUTE,
        "locale": "de-DE",
        "properties":{"user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0","url":"http://localhost:3000","viewport":{"w":1280,"h":800}}})
    .to_string();

    let click_topic = topics.name(Topic::Click);
    let load_topic = topics.name(Topic::PageLoad);
    producer
        .send(&click_topic, "v1", reference_click.as_bytes(), None)
        .await;
    producer
        .send(
            &click_topic,
            "v2",
            extended_click.as_bytes(),
            Some("ext-click"),
        )
        .await;
    producer
        .send(&load_topic, "v1", reference_load.as_bytes(), None)
        .await;
    producer
        .send(
            &load_topic,
            "v2",
            extended_load.as_bytes(),
            Some("ext-load"),
        )
        .await;

    let stats = TestStats::spawn(service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])).await;
    wait_for_totals(&stats.http, &stats.url, 2, 2, Duration::from_secs(30)).await;

    let (_, counts) = stats.get_json("/api/clickCount").await;
    assert_eq!(
        counts,
        json!([{"button_id": "areopress-coffee-maker", "sum": 2}])
    );
    let (_, loads) = stats.get_json("/api/v1/pageloads").await;
    assert_eq!(
        loads["by_device"],
        json!([{"device_type": "desktop", "loads": 1}, {"device_type": "mobile", "loads": 1}])
    );
    let (_, consumer) = stats.get_json("/api/v1/consumer").await;
    assert_eq!(consumer["dead_letters"], 0, "nothing was set aside");
    let (_, letters) = stats.get_json("/api/v1/dead-letters").await;
    assert_eq!(letters, json!([]));
}
