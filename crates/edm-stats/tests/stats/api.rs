//! edm-stats with real Kafka and Postgres: exact counts through the original
//! and the versioned API, retries counted once, malformed events set aside,
//! and parameters validated.

use std::time::Duration;

use crate::common::*;
use edm_config::Topic;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::postgres::TestDatabase;
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_every_event_exactly_and_serves_both_apis() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let producer = RawProducer::new(&topics.settings);
    let click_topic = topics.name(Topic::Click);
    let load_topic = topics.name(Topic::PageLoad);

    // 3 buttons over two days and two minutes; ids with quotes, commas, dots.
    let plan = [
        ("the-camper's-kit", 5, T0),
        ("bunum-wo-aa,-papua-new-guinea", 3, T0 + MINUTE),
        ("msr-reactor-2.5l-stove-system", 2, T0 + DAY),
    ];
    let mut n = 0;
    for (button, count, at) in plan {
        for i in 0..count {
            let event = click(&format!("v{}", i % 2), button, at + i);
            producer
                .send(
                    &click_topic,
                    &format!("v{}", i % 2),
                    event.to_string().as_bytes(),
                    Some(&format!("id-{n}")),
                )
                .await;
            n += 1;
        }
    }
    let desktop = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0";
    let phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148";
    for (i, ua) in [desktop, desktop, phone].iter().enumerate() {
        producer
            .send(
                &load_topic,
                "v0",
                pageload("v0", ua, T0).to_string().as_bytes(),
                Some(&format!("load-{i}")),
            )
            .await;
    }

    let stats = TestStats::spawn(service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])).await;
    wait_for_totals(&stats.http, &stats.url, 10, 3, SETTLE).await;

    let (status, counts) = stats.get_json("/api/clickCount").await;
    assert_eq!(status, 200);
    assert_eq!(
        counts,
        serde_json::json!([
            {"button_id": "the-camper's-kit", "sum": 5},
            {"button_id": "bunum-wo-aa,-papua-new-guinea", "sum": 3},
            {"button_id": "msr-reactor-2.5l-stove-system", "sum": 2},
        ])
    );
    let (_, history) = stats.get_json("/api/clickHistory").await;
    assert_eq!(
        history,
        serde_json::json!([
            {"Day": "2025-11-20T00:00:00.000Z", "clicks": 8},
            {"Day": "2025-11-21T00:00:00.000Z", "clicks": 2},
        ])
    );

    let (_, series) = stats
        .get_json(
            "/api/v1/clicks/series?bucket=minute&from=2025-11-20T10:00:00Z&to=2025-11-20T10:03:00Z",
        )
        .await;
    let counts: Vec<i64> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [5, 3, 0], "{series}");
    assert_eq!(series["points"][1]["start"], "2025-11-20T10:01:00.000Z");

    let (_, ranged) = stats
        .get_json("/api/v1/clicks?from=2025-11-21T00:00:00Z&limit=5")
        .await;
    assert_eq!(
        ranged["buttons"],
        serde_json::json!([{"button_id": "msr-reactor-2.5l-stove-system", "clicks": 2}])
    );
    let (_, top) = stats.get_json("/api/v1/clicks?limit=1").await;
    assert_eq!(top["buttons"].as_array().unwrap().len(), 1);
    // Paging one button at a time gives every button once, in order.
    let (_, all) = stats.get_json("/api/v1/clicks").await;
    assert_eq!(
        all["next_offset"],
        serde_json::Value::Null,
        "one page holds all"
    );
    let mut paged = Vec::new();
    let mut url = "/api/v1/clicks?limit=1".to_owned();
    loop {
        let (_, page) = stats.get_json(&url).await;
        paged.extend(page["buttons"].as_array().unwrap().iter().cloned());
        match page["next_offset"].as_i64() {
            Some(next) => url = format!("/api/v1/clicks?limit=1&offset={next}"),
            None => break,
        }
    }
    assert_eq!(serde_json::Value::from(paged), all["buttons"]);

    let (_, loads) = stats.get_json("/api/v1/pageloads").await;
    assert_eq!(loads["total"], 3);
    assert_eq!(
        loads["by_device"],
        serde_json::json!([{"device_type": "desktop", "loads": 2}, {"device_type": "mobile", "loads": 1}])
    );
    let (_, load_series) = stats.get_json("/api/v1/pageloads/series?bucket=day&from=2025-11-20T00:00:00Z&to=2025-11-22T00:00:00Z&device_type=mobile").await;
    let counts: Vec<i64> = load_series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [1, 0]);

    let (_, consumer) = stats.get_json("/api/v1/consumer").await;
    assert_eq!(consumer["state"], "running");
    assert_eq!(consumer["events_counted"], 13);
    assert_eq!(
        consumer["group"],
        format!("{}edm-consumer-group-2", topics.prefix)
    );
    assert_eq!(
        consumer["partitions"].as_array().unwrap().len(),
        6,
        "3 partitions x 2 topics"
    );
    let (ready, _) = stats.get_json("/ready").await;
    assert_eq!(ready, 200);
}

/// A retry read by another instance than the original (after a restart or
/// a rebalance) is still recognised: the new owner reads its partition's
/// dedup window back from Kafka before counting. A retry from further back
/// than the window counts again, as the window's documentation says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_read_by_the_next_owner_is_counted_once_within_the_window() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let producer = RawProducer::new(&topics.settings);
    let click_topic = topics.name(Topic::Click);
    let env = service_env(
        &topics.prefix,
        &[
            ("DATABASE_URL", &db.url),
            ("EDM_STATS_DEDUP_WINDOW_EVENTS", "20"),
        ],
    );
    // One visitor, so one partition: far at offset 0, 30 clicks without
    // an id, near at 31, 5 more.
    let send = |button: &'static str, id: Option<&'static str>| {
        let (producer, topic) = (&producer, &click_topic);
        async move {
            let event = click("v1", button, T0).to_string();
            producer.send(topic, "v1", event.as_bytes(), id).await;
        }
    };
    send("far", Some("far-id")).await;
    for _ in 0..30 {
        send("filler", None).await;
    }
    send("near", Some("near-id")).await;
    for _ in 0..5 {
        send("filler", None).await;
    }
    let first = TestStats::spawn(env.clone()).await;
    wait_for_totals(&first.http, &first.url, 37, 0, SETTLE).await;
    first.shutdown().await.unwrap();

    // The clients retry both (offsets 37 and 38): near is 6 offsets after
    // its original, far 38.
    send("near", Some("near-id")).await;
    send("far", Some("far-id")).await;
    let next = TestStats::spawn(env).await;
    wait_for_totals(&next.http, &next.url, 38, 0, SETTLE).await;
    let (_, counts) = next.get_json("/api/clickCount").await;
    let sum = |button: &str| {
        counts
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["button_id"] == button)
            .map(|row| row["sum"].as_i64().unwrap())
    };
    assert_eq!(
        (sum("near"), sum("far"), sum("filler")),
        (Some(1), Some(2), Some(35))
    );
    let (_, consumer) = next.get_json("/api/v1/consumer").await;
    assert_eq!(consumer["duplicates_skipped"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_event_is_counted_once_and_malformed_ones_are_set_aside() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let producer = RawProducer::new(&topics.settings);
    let click_topic = topics.name(Topic::Click);
    let stats = TestStats::spawn(service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])).await;

    let event = click("v1", "areopress-coffee-maker", T0).to_string();
    // The client retried after an unknown outcome: same id, three times.
    for _ in 0..3 {
        producer
            .send(&click_topic, "v1", event.as_bytes(), Some("retry-me"))
            .await;
    }
    let bad: [&[u8]; 4] = [
        b"{not json",
        br#"{"topic":"edm-ui-click","uuid":"v1","event_timestamp":1763632800000,"properties":{}}"#,
        br#"{"topic":"edm-ui-pageload","uuid":"v1","event_timestamp":1763632800000,"properties":{"user_agent":"x","url":"y"}}"#,
        b"\xff\xfe binary",
    ];
    for (i, payload) in bad.iter().enumerate() {
        producer.send(&click_topic, "v1", payload, None).await;
        // A good event without an id between the bad ones.
        producer
            .send(
                &click_topic,
                "v2",
                click("v2", "good", T0 + i as i64).to_string().as_bytes(),
                None,
            )
            .await;
    }

    wait_for_totals(&stats.http, &stats.url, 5, 0, SETTLE).await;
    let (_, counts) = stats.get_json("/api/clickCount").await;
    assert_eq!(
        counts,
        serde_json::json!([{"button_id": "good", "sum": 4}, {"button_id": "areopress-coffee-maker", "sum": 1}])
    );
    let (_, consumer) = stats.get_json("/api/v1/consumer").await;
    assert_eq!(consumer["duplicates_skipped"], 2);
    assert_eq!(consumer["dead_letters"], 4);

    let (status, letters) = stats.get_json("/api/v1/dead-letters?limit=10").await;
    assert_eq!(status, 200);
    let letters = letters.as_array().unwrap();
    assert_eq!(letters.len(), 4);
    assert!(letters
        .iter()
        .all(|l| l["topic"] == click_topic.as_str() && l["offset"].is_i64()));
    let errors: Vec<&str> = letters
        .iter()
        .map(|l| l["error"].as_str().unwrap())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("properties.button_id")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("edm-ui-pageload event on the edm-ui-click topic")),
        "{errors:?}"
    );
    assert!(letters.iter().any(|l| l["payload"] == "{not json"));

    // Pages of three, newest first: the next page starts below the last id.
    let (_, first) = stats.get_json("/api/v1/dead-letters?limit=3").await;
    let last_id = first[2]["id"].as_i64().unwrap();
    let (_, second) = stats
        .get_json(&format!("/api/v1/dead-letters?limit=3&before={last_id}"))
        .await;
    let mut paged = first.as_array().unwrap().clone();
    paged.extend(second.as_array().unwrap().iter().cloned());
    assert_eq!(&paged, letters, "two pages hold the four, once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_parameters_get_clear_errors() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let stats = TestStats::spawn(service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])).await;
    let cases = [
        ("/api/v1/clicks?limit=0", "limit"),
        (
            "/api/v1/clicks?limit=1;DROP%20TABLE%20click_counts",
            "limit",
        ),
        ("/api/v1/clicks?from=yesterday", "from"),
        (
            "/api/v1/clicks?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            "from",
        ),
        ("/api/v1/clicks?limit=5&limit=6", "limit"),
        ("/api/v1/clicks?order=desc", "order"),
        ("/api/v1/clicks/series?bucket=week", "bucket"),
        (
            "/api/v1/clicks/series?bucket=minute&from=2000-01-01T00:00:00Z",
            "from",
        ),
        (
            "/api/v1/pageloads/series?device_type=toaster",
            "device_type",
        ),
        ("/api/v1/totals?x=1", "x"),
    ];
    for (path, parameter) in cases {
        let (status, body) = stats.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "invalid_parameter");
        assert_eq!(body["parameter"], parameter, "{path}: {body}");
    }
    // SQL-shaped text is just a value that matches nothing.
    let (status, body) = stats
        .get_json("/api/v1/clicks/series?button_id=x'%20OR%20'1'='1")
        .await;
    assert_eq!(status, 200);
    assert!(body["points"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["count"] == 0));
    let (_, totals) = stats.get_json("/api/v1/totals").await;
    assert_eq!(totals["clicks"], 0, "tables intact and empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let stats = TestStats::spawn(service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])).await;
    let (status, doc) = stats.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/clickCount",
        "/api/clickHistory",
        "/api/v1/totals",
        "/api/v1/clicks",
        "/api/v1/clicks/series",
        "/api/v1/pageloads",
        "/api/v1/pageloads/series",
        "/api/v1/consumer",
        "/api/v1/dead-letters",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
        let (status, _) = stats.get_json(path).await;
        assert_eq!(status, 200, "{path} is served");
    }
    // A dead letter is an excerpt, and says where the whole record is.
    let letter = &doc["components"]["schemas"]["DeadLetter"]["properties"];
    for field in ["offset", "payload", "payload_bytes", "truncated"] {
        assert!(letter[field].is_object(), "DeadLetter.{field} missing");
    }
    let description = doc["paths"]["/api/v1/dead-letters"]["get"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains("whole record stays in Kafka"),
        "{description}"
    );
    let cors = stats
        .http
        .get(format!("{}/api/clickCount", stats.url))
        .header("origin", "http://localhost:3001")
        .send()
        .await
        .unwrap();
    assert_eq!(
        cors.headers()["access-control-allow-origin"],
        "http://localhost:3001"
    );
    let _: Value = cors.json().await.unwrap();
}
