//! edm-stats when the stored offsets no longer match the log: the topic was
//! deleted and created again while the service was stopped, or retention
//! deleted records it had not read yet. Neither is skipped quietly: the
//! consumer goes on from the log's start and reports the reset.

use std::time::Duration;

use crate::common::*;
use edm_config::Topic;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::postgres::TestDatabase;
use serde_json::Value;

/// Produces `count` clicks from distinct visitors (spread over the
/// partitions), numbered from `first`.
async fn produce_clicks(topics: &TestTopics, first: i64, count: i64) {
    let items: Vec<(String, String)> = (first..first + count)
        .map(|n| {
            let visitor = format!("visitor-{n}");
            let event = click(&visitor, "the-camper's-kit", T0 + n * 1000).to_string();
            (visitor, event)
        })
        .collect();
    RawProducer::new(&topics.settings)
        .send_all(&topics.name(Topic::Click), &items)
        .await;
}

/// The resets `/api/v1/consumer` reports, and the one `/ready` counts.
async fn resets(stats: &TestStats) -> (Vec<Value>, u64) {
    let (_, consumer) = stats.get_json("/api/v1/consumer").await;
    let (status, ready) = stats.get_json("/ready").await;
    assert_eq!(status, 200, "counting goes on, so it stays ready: {ready}");
    (
        consumer["offset_resets"].as_array().unwrap().clone(),
        ready["offset_resets"].as_u64().unwrap(),
    )
}

/// The value of a metric line that starts with `prefix`.
async fn metric(stats: &TestStats, prefix: &str) -> Option<f64> {
    stats
        .metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_created_again_while_stopped_is_counted_from_its_start_and_reported() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let env = service_env(&topics.prefix, &[("DATABASE_URL", &db.url)]);
    let stats = TestStats::spawn(env.clone()).await;
    produce_clicks(&topics, 0, 60).await;
    wait_for_totals(&stats.http, &stats.url, 60, 0, Duration::from_secs(30)).await;
    stats.shutdown().await.unwrap();

    // Each partition's stored offset (about 20) is now past its new log's
    // end: the old rule read the new log from its start and dropped every
    // record below the stored offset as "already counted".
    topics.recreate(Topic::Click).await;
    produce_clicks(&topics, 100, 6).await;
    let stats = TestStats::spawn(env).await;
    wait_for_totals(&stats.http, &stats.url, 66, 0, Duration::from_secs(30)).await;

    let (resets, counted) = resets(&stats).await;
    assert!(!resets.is_empty(), "the reset is reported");
    assert_eq!(counted, resets.len() as u64);
    for reset in &resets {
        assert_eq!(reset["kind"], "past_end", "{reset}");
        assert_eq!(reset["topic"], topics.name(Topic::Click));
        assert!(
            reset["stored"].as_i64() > reset["log_end"].as_i64(),
            "{reset}"
        );
        assert_eq!(reset["log_start"], 0);
        assert_eq!(reset["records_lost"], 0);
    }
    assert_eq!(
        metric(&stats, "edm_stats_offset_resets_total{kind=\"past_end\"} ").await,
        Some(resets.len() as f64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_before_they_were_read_are_reported_as_lost_and_counting_goes_on() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let env = service_env(&topics.prefix, &[("DATABASE_URL", &db.url)]);
    let stats = TestStats::spawn(env.clone()).await;
    produce_clicks(&topics, 0, 30).await;
    wait_for_totals(&stats.http, &stats.url, 30, 0, Duration::from_secs(30)).await;
    stats.shutdown().await.unwrap();

    // While it is stopped, 30 more arrive and retention deletes them all.
    produce_clicks(&topics, 100, 30).await;
    topics.delete_all_records(Topic::Click).await;
    produce_clicks(&topics, 200, 6).await;
    let stats = TestStats::spawn(env).await;
    wait_for_totals(&stats.http, &stats.url, 36, 0, Duration::from_secs(30)).await;

    let (resets, _) = resets(&stats).await;
    assert!(!resets.is_empty(), "the loss is reported");
    let lost: i64 = resets
        .iter()
        .map(|r| {
            assert_eq!(r["kind"], "before_start", "{r}");
            r["records_lost"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(lost, 30, "{resets:?}");
    assert_eq!(
        metric(&stats, "edm_stats_records_lost_total ").await,
        Some(30.0)
    );
}
