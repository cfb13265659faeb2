//! What edm-stats reports at `/metrics` (through the shared
//! [`edm_runtime::metrics`] registry, next to the HTTP request metrics):
//!
//! | metric | what |
//! |---|---|
//! | `edm_stats_events_total{topic, outcome}` | events read and `counted`, skipped as a `duplicate` (its id seen within its partition's dedup window) or stored as a `dead_letter` |
//! | `edm_stats_batch_events` | histogram: events per committed Postgres transaction |
//! | `edm_stats_batch_duration_seconds` | histogram: time to write and commit one batch |
//! | `edm_stats_batch_errors_total{kind}` | batches not committed: `database` (retried), `refused` (Postgres refused a record's content; the record became a dead letter) or `conflict` (another instance owns the partition) |
//! | `edm_stats_offset_resets_total{kind}` | stored offsets found outside their log (`past_end`, `before_start`); counting went on from the log's start |
//! | `edm_stats_records_lost_total` | records never counted because retention deleted them before they were read |
//! | `edm_stats_dedup_ids` | event ids held in memory to recognise retries: at most `EDM_STATS_DEDUP_WINDOW_EVENTS` per owned partition |
//! | `edm_stats_consumer_lag{topic, partition}` | messages behind the end of each owned partition |
//! | `edm_stats_consumer_running` | 1 while the consumer runs, 0 while starting, degraded or stopped |
//! | `edm_stats_api_answers_total{route, source}` | answers of the cached API routes: from the `cache`, `shared` (waited for another request's query for the same URL) or from the `database` (the queries run) |

use std::sync::Arc;

use edm_runtime::metrics::{MetricsBuilder, PartitionLag, ServiceMetrics};
use edm_runtime::register_metrics;
use prometheus_client::metrics::gauge::Gauge;

use crate::consumer::metrics::{logical_topic, ConsumerMetrics};
use crate::consumer::status::{ConsumerState, ConsumerStatus};
use crate::routes::ApiMetrics;

/// The service's metrics: HTTP, the consumer's, the API's answers, and lag
/// and state read from `status` at each scrape.
pub fn service_metrics(
    status: Arc<ConsumerStatus>,
    consumer: &ConsumerMetrics,
    api: &ApiMetrics,
) -> ServiceMetrics {
    let mut builder = MetricsBuilder::new("edm_stats");
    let registry = builder.service();
    consumer.register(registry);
    api.register(registry);
    let kafka = consumer.kafka.clone();
    let lag = PartitionLag::register(registry);
    let running = Gauge::<i64>::default();
    register_metrics!(registry, {
        "consumer_running": running.clone() => "1 while the consumer runs; 0 while starting, degraded (Postgres failing) or stopped";
    });
    builder
        .before_scrape(move || {
            let snapshot = status.snapshot();
            running.set(i64::from(snapshot.state == ConsumerState::Running));
            lag.set_all(snapshot.partitions.into_iter().filter_map(|p| {
                let topic = logical_topic(&kafka, &p.topic);
                p.lag.map(|lag| (topic, p.partition, lag))
            }));
        })
        .build()
}
