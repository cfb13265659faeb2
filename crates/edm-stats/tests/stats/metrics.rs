//! What an operator scrapes from edm-stats' `/metrics` after it counted
//! events: events by topic and outcome, batch sizes and durations, lag per
//! partition, the API's requests and the queries its answers took.

use std::time::{Duration, Instant};

use crate::common::*;
use edm_config::Topic;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::postgres::TestDatabase;

/// The value of the sample whose line starts with `series` (exact labels).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_counted_events_batches_lag_and_requests() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let producer = RawProducer::new(&topics.settings);
    let clicks = topics.name(Topic::Click);
    for i in 0..20 {
        let event = click("v1", "the-camper's-kit", T0 + i);
        let id = format!("id-{i}");
        producer
            .send(&clicks, "v1", event.to_string().as_bytes(), Some(&id))
            .await;
    }
    // A retry of an event already sent, and a message that is no event.
    let again = click("v1", "the-camper's-kit", T0).to_string();
    producer
        .send(&clicks, "v1", again.as_bytes(), Some("id-0"))
        .await;
    producer.send(&clicks, "v1", b"not json", None).await;

    let stats = TestStats::spawn(service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])).await;
    wait_for_totals(&stats.http, &stats.url, 20, 0, Duration::from_secs(30)).await;

    // Lag comes from librdkafka's statistics, every 5 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let text = stats
            .http
            .get(format!("{}/metrics", stats.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("edm_stats_consumer_lag{") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let value = |series: &str| {
        sample(&metrics, series).unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
    };
    assert_eq!(
        value(r#"edm_stats_events_total{topic="edm-ui-click",outcome="counted"}"#),
        20.0
    );
    assert_eq!(
        value(r#"edm_stats_events_total{topic="edm-ui-click",outcome="duplicate"}"#),
        1.0
    );
    assert_eq!(
        value(r#"edm_stats_events_total{topic="edm-ui-click",outcome="dead_letter"}"#),
        1.0
    );
    assert!(value("edm_stats_batch_events_count") >= 1.0);
    assert_eq!(value("edm_stats_batch_events_sum"), 22.0);
    assert!(value("edm_stats_batch_duration_seconds_count") >= 1.0);
    assert_eq!(value("edm_stats_consumer_running"), 1.0);
    let lag: f64 = (0..4)
        .filter_map(|p| {
            sample(
                &metrics,
                &format!(r#"edm_stats_consumer_lag{{topic="edm-ui-click",partition="{p}"}}"#),
            )
        })
        .sum();
    assert_eq!(lag, 0.0, "caught up on every partition:\n{metrics}");
    assert!(
        metrics.contains(r#"edm_stats_consumer_lag{topic="edm-ui-click",partition=""#),
        "{metrics}"
    );
    assert!(
        value(r#"http_requests_total{method="GET",route="/api/v1/totals",status="200"}"#) >= 1.0
    );
    // The queries the cached routes ran, apart from answers they did not
    // need a query for.
    let queries = value(r#"edm_stats_api_answers_total{route="/api/v1/totals",source="database"}"#);
    assert!(queries >= 1.0, "{metrics}");
    assert!(
        metrics.contains("# HELP edm_stats_api_answers Answers of the cached API routes"),
        "{metrics}"
    );
}
