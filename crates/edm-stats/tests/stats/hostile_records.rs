//! edm-stats against what another producer (not the relay) can write to the
//! topics, and against volumes of data a single client can cause: no record
//! stops the counting, and the original endpoints answer whatever the data.

use std::time::{Duration, Instant};

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

/// `/api/v1/dead-letters?limit=1000` once it holds `count` dead letters:
/// the page as JSON and its size in bytes.
async fn dead_letters_once_stored(stats: &TestStats, count: usize) -> (Vec<Value>, usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = stats
            .get("/api/v1/dead-letters?limit=1000")
            .await
            .bytes()
            .await
            .unwrap();
        let page: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
        if page.len() >= count {
            return (page, body.len());
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} dead letters stored",
            page.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_malformed_record_is_kept_as_an_excerpt_that_names_its_size() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let producer = RawProducer::new(&topics.settings);
    let click_topic = topics.name(Topic::Click);
    // As large as a default producer sends (1,000,000 bytes with the
    // record's overhead), ten times.
    let huge = vec![b'{'; 990_000];
    for i in 0..10 {
        producer
            .send(&click_topic, &format!("hostile-{i}"), &huge, None)
            .await;
    }
    // A reason as long as the payload: serde quotes the string it refused.
    let long_reason = format!(
        r#"{{"topic":"edm-ui-click","uuid":"v","event_timestamp":"{}","properties":{{"button_id":"b"}}}}"#,
        "9".repeat(500_000)
    );
    producer
        .send(&click_topic, "hostile-reason", long_reason.as_bytes(), None)
        .await;
    producer
        .send(&click_topic, "clumsy", b"{not json", None)
        .await;

    let stats = TestStats::spawn(service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])).await;
    let (letters, page_bytes) = dead_letters_once_stored(&stats, 12).await;
    assert_eq!(letters.len(), 12, "{letters:?}");
    assert!(
        page_bytes < 64 * 1024,
        "a page of 12 dead letters (11 of them 0.5 to 1 MB) is {page_bytes} bytes"
    );

    let large: Vec<&Value> = letters
        .iter()
        .filter(|l| l["payload_bytes"] == 990_000)
        .collect();
    assert_eq!(large.len(), 10, "{letters:?}");
    for letter in &large {
        assert_eq!(letter["payload"].as_str().unwrap(), "{".repeat(1024));
        assert_eq!(letter["truncated"], true);
        assert_eq!(letter["topic"], click_topic.as_str());
        assert!(letter["offset"].is_i64(), "names where the whole record is");
    }

    let reason = letters
        .iter()
        .find(|l| l["payload_bytes"] == long_reason.len())
        .expect("the record with a long reason");
    let error = reason["error"].as_str().unwrap();
    assert!(
        error.len() <= 1024 && error.ends_with('…'),
        "the reason is cut to 1,024 bytes: {} bytes",
        error.len()
    );
    assert!(error.contains("event_timestamp"), "{error}");
    assert_eq!(reason["truncated"], true);

    let small = letters
        .iter()
        .find(|l| l["payload"] == "{not json")
        .expect("the small record, whole");
    assert_eq!(small["payload_bytes"], 9);
    assert_eq!(small["truncated"], false);

    // What Postgres holds: the excerpts, never the whole records.
    let (stored, largest): (i64, i32) = sqlx::query_as(
        "SELECT sum(octet_length(payload) + octet_length(error))::bigint,
                max(octet_length(payload)) FROM dead_letters",
    )
    .fetch_one(&db.pool().await)
    .await
    .unwrap();
    assert_eq!(largest, 1024);
    assert!(
        stored < 12 * 2048,
        "{stored} bytes stored for 12 dead letters"
    );
}

#[tokio::test]
async fn dead_letters_stored_whole_before_the_upgrade_are_cut_to_an_excerpt() {
    let db = TestDatabase::create().await;
    let pool = db.pool().await;
    // The schema as it was: the first migration alone.
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(edm_stats::db::MIGRATOR.migrations[..1].to_vec()),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    before.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO dead_letters (topic, partition, \"offset\", payload, error) VALUES
         ('edm-ui-click', 0, 7, $1, 'body is not valid JSON'),
         ('edm-ui-click', 0, 8, $2, $3),
         ('edm-ui-click', 0, 9, NULL, 'empty message')",
    )
    .bind(vec![b'{'; 990_000])
    .bind(b"{not json".to_vec())
    .bind("x".repeat(5000))
    .execute(&pool)
    .await
    .unwrap();

    edm_stats::db::migrate(&pool).await.unwrap();
    let rows: Vec<(i64, Option<i32>, Option<i64>, i32)> = sqlx::query_as(
        "SELECT \"offset\", octet_length(payload), payload_bytes, octet_length(error)
         FROM dead_letters ORDER BY \"offset\"",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (7, Some(1024), Some(990_000), 22),
            (8, Some(9), Some(9), 1024),
            (9, None, None, 13),
        ],
        "payloads cut to 1,024 bytes with their size kept, reasons to 1,024 characters"
    );
}
