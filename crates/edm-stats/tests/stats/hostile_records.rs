//! edm-stats against what another producer (not the relay) can write to the
//! topics, and against volumes of data a single client can cause: no record
//! stops the counting, and the original endpoints answer whatever the data.

use std::time::Duration;

use crate::common::*;
use edm_config::Topic;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::postgres::TestDatabase;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_with_an_id_postgres_cannot_store_is_set_aside_and_counting_goes_on() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let producer = RawProducer::new(&topics.settings);
    let click_topic = topics.name(Topic::Click);
    let poisoned = click("visitor-1", "the-camper's-kit", T0).to_string();
    // Postgres refuses NUL in text: this id used to fail every batch it was
    // in, for good.
    producer
        .send(
            &click_topic,
            "visitor-1",
            poisoned.as_bytes(),
            Some("bad\0id"),
        )
        .await;
    let ordinary = click("visitor-2", "areopress-coffee-maker", T0 + MINUTE).to_string();
    producer
        .send(
            &click_topic,
            "visitor-2",
            ordinary.as_bytes(),
            Some("good-id"),
        )
        .await;

    let stats = TestStats::spawn(service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])).await;
    wait_for_totals(&stats.http, &stats.url, 1, 0, Duration::from_secs(30)).await;
    let (_, letters) = stats.get_json("/api/v1/dead-letters").await;
    let letters = letters.as_array().expect("a list");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0]["error"]
            .as_str()
            .unwrap()
            .contains("edm-event-id header"),
        "{letters:?}"
    );
    let (status, ready) = stats.get_json("/ready").await;
    assert_eq!(status, 200, "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_endpoints_answer_whatever_the_volume() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let producer = RawProducer::new(&topics.settings);
    // 2,000 distinct 256-character button ids (3 bytes per character in
    // UTF-8) and 25,000 distinct days: each original answer is over 1 MiB.
    let events: Vec<(String, String)> = (0..25_000_i64)
        .map(|i| {
            let button = if i < 2_000 {
                format!("{i:05}{}", "€".repeat(251))
            } else {
                "areopress-coffee-maker".to_owned()
            };
            let visitor = format!("visitor-{i}");
            let at = T0 + i * DAY;
            (visitor.clone(), click(&visitor, &button, at).to_string())
        })
        .collect();
    producer.send_all(&topics.name(Topic::Click), &events).await;

    let stats = TestStats::spawn(service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])).await;
    wait_for_totals(&stats.http, &stats.url, 25_000, 0, Duration::from_secs(120)).await;
    for _ in 0..2 {
        // The second time, from the response cache if it were kept.
        let (status, counts) = stats.get_json("/api/clickCount").await;
        assert_eq!(status, 200);
        assert_eq!(counts.as_array().map(Vec::len), Some(2_001));
        let (status, history) = stats.get_json("/api/clickHistory").await;
        assert_eq!(status, 200);
        let days = history.as_array().expect("a list of days");
        assert_eq!(days.len(), 25_000);
        assert_eq!(
            days.iter()
                .map(|d| d["clicks"].as_i64().unwrap())
                .sum::<i64>(),
            25_000
        );
        assert!(days.first().unwrap()["Day"].as_str() < days.last().unwrap()["Day"].as_str());
    }
    let body = stats.get("/api/clickCount").await.bytes().await.unwrap();
    assert!(body.len() > 1 << 20, "the answer is {} bytes", body.len());
    let _: Value = serde_json::from_slice(&body).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_postgres_refuses_becomes_a_dead_letter_and_the_rest_is_counted() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let stats = TestStats::spawn(service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])).await;
    // A rule Postgres enforces that a valid event can break: a constraint
    // an operator added (a value over a column or index limit does the
    // same). Every batch holding such a record used to fail for good.
    sqlx::query(
        "ALTER TABLE click_counts ADD CONSTRAINT no_recalled_grinder
         CHECK (button_id <> 'recalled-grinder')",
    )
    .execute(&db.pool().await)
    .await
    .unwrap();
    let producer = RawProducer::new(&topics.settings);
    let click_topic = topics.name(Topic::Click);
    let items: Vec<(String, String)> = (0..200)
        .map(|n| {
            let button = if n == 37 || n == 150 {
                "recalled-grinder"
            } else {
                "the-camper's-kit"
            };
            let visitor = format!("visitor-{n}");
            let event = click(&visitor, button, T0 + n * 1000).to_string();
            (visitor, event)
        })
        .collect();
    producer.send_all(&click_topic, &items).await;

    wait_for_totals(&stats.http, &stats.url, 198, 0, Duration::from_secs(30)).await;
    let (_, letters) = stats.get_json("/api/v1/dead-letters").await;
    let letters = letters.as_array().expect("a list");
    assert_eq!(letters.len(), 2, "{letters:?}");
    for letter in letters {
        let error = letter["error"].as_str().unwrap();
        assert!(
            error.contains("Postgres refused it") && error.contains("no_recalled_grinder"),
            "{letter}"
        );
        assert!(
            letter["payload"]
                .as_str()
                .unwrap()
                .contains("recalled-grinder"),
            "{letter}"
        );
    }
    let (status, ready) = stats.get_json("/ready").await;
    assert_eq!(status, 200, "{ready}");
}
