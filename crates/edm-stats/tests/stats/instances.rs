//! Three edm-stats instances in one consumer group under sustained load on
//! the same few rows (the current minute of three buttons): every event is
//! counted exactly once, and all three keep making progress.

use std::time::Duration;

use crate::common::*;
use edm_config::Topic;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::postgres::TestDatabase;
use serde_json::Value;

/// Events written, in bursts of [`BURST`] a second.
const EVENTS: i64 = 30_000;
const BURST: i64 = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_hot_rows_count_exactly_and_keep_going() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let env = service_env(
        &topics.prefix,
        &[
            ("DATABASE_URL", &db.url),
            ("EDM_STATS_BATCH_MAX_WAIT_MS", "50"),
        ],
    );
    let instances = [
        TestStats::spawn(env.clone()).await,
        TestStats::spawn(env.clone()).await,
        TestStats::spawn(env).await,
    ];
    let producer = RawProducer::new(&topics.settings);
    let topic = topics.name(Topic::Click);
    for burst in 0..EVENTS / BURST {
        let started = std::time::Instant::now();
        let events: Vec<(String, String)> = (0..BURST)
            .map(|i| {
                let n = burst * BURST + i;
                let visitor = format!("v{}", n % 50);
                // Three buttons, one minute: every batch of every instance
                // updates the same three rows.
                let button = format!("hot-{}", n % 3);
                (
                    visitor.clone(),
                    click(&visitor, &button, T0 + n % 1000).to_string(),
                )
            })
            .collect();
        producer.send_all(&topic, &events).await;
        if let Some(rest) = Duration::from_secs(1).checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    let first = &instances[0];
    wait_for_totals(&first.http, &first.url, EVENTS, 0, Duration::from_secs(120)).await;
    let (_, counts) = first.get_json("/api/clickCount").await;
    let sums: Vec<i64> = counts
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["sum"].as_i64().unwrap())
        .collect();
    assert_eq!(sums, [EVENTS / 3; 3], "{counts}");
    let mut counted_by_instances = 0;
    for instance in &instances {
        let (_, consumer): (u16, Value) = instance.get_json("/api/v1/consumer").await;
        assert_eq!(consumer["state"], "running", "{consumer}");
        counted_by_instances += consumer["events_counted"].as_i64().unwrap();
    }
    assert_eq!(
        counted_by_instances, EVENTS,
        "each event counted by one instance"
    );
}
