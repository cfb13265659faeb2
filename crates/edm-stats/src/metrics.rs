//! What edm-stats reports at `/metrics` (through the shared
//! [`edm_config::metrics`] registry, next to the HTTP request metrics):
//!
//! | metric | what |
//! |---|---|
//! | `edm_stats_events_total{topic, outcome}` | events read and `counted`, skipped as a `duplicate` (id already counted) or stored as a `dead_letter` |
//! | `edm_stats_batch_events` | histogram: events per committed Postgres transaction |
//! | `edm_stats_batch_duration_seconds` | histogram: time to write and commit one batch |
//! | `edm_stats_batch_errors_total{kind}` | batches not committed: `database` (retried) or `conflict` (another instance owns the partition) |
//! | `edm_stats_consumer_lag{topic, partition}` | messages behind the end of each owned partition |
//! | `edm_stats_consumer_running` | 1 while the consumer runs, 0 while starting, degraded or stopped |

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use edm_config::metrics::{MetricsBuilder, PartitionLag, ServiceMetrics};
use edm_config::KafkaSettings;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::consumer::status::{ConsumerState, ConsumerStatus};

/// Upper bounds of the batch-size buckets (events).
const BATCH_SIZE_BUCKETS: [f64; 10] = [
    1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];
/// Upper bounds of the batch-duration buckets (seconds): 1 ms to 10 s.
const BATCH_SECONDS_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Labels of the events counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// Logical topic (the wire name when it is not an EDM topic).
    pub topic: String,
    /// `counted`, `duplicate` or `dead_letter`.
    pub outcome: &'static str,
}

/// Labels of the batch errors counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `database` or `conflict`.
    pub kind: &'static str,
}

/// Events of one wire topic in a committed batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicCounts {
    /// Added to the aggregates.
    pub counted: u64,
    /// Skipped: their id was counted already.
    pub duplicates: u64,
    /// Stored as dead letters.
    pub dead_letters: u64,
}

/// The consumer's metrics, recorded by the consumer thread.
#[derive(Debug, Clone)]
pub struct ConsumerMetrics {
    events: Family<EventLabels, Counter>,
    batch_events: Histogram,
    batch_seconds: Histogram,
    batch_errors: Family<ErrorLabels, Counter>,
    /// Turns wire topic names into logical ones; set when the consumer starts.
    kafka: Arc<OnceLock<KafkaSettings>>,
}

impl Default for ConsumerMetrics {
    fn default() -> Self {
        Self {
            events: Family::default(),
            batch_events: Histogram::new(BATCH_SIZE_BUCKETS),
            batch_seconds: Histogram::new(BATCH_SECONDS_BUCKETS),
            batch_errors: Family::default(),
            kafka: Arc::default(),
        }
    }
}

impl ConsumerMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "events",
            "Events read, by logical topic and outcome (counted, duplicate, dead_letter)",
            self.events.clone(),
        );
        registry.register(
            "batch_events",
            "Events per committed Postgres transaction",
            self.batch_events.clone(),
        );
        registry.register(
            "batch_duration_seconds",
            "Time to write and commit one batch",
            self.batch_seconds.clone(),
        );
        registry.register(
            "batch_errors",
            "Batches not committed, by kind (database: retried; conflict: partition moved)",
            self.batch_errors.clone(),
        );
    }

    /// Remembers how wire topic names map to logical ones.
    pub(crate) fn set_kafka(&self, kafka: &KafkaSettings) {
        let _ = self.kafka.set(kafka.clone());
    }

    fn logical(&self, wire: &str) -> String {
        self.kafka
            .get()
            .and_then(|k| k.topic_from_wire(wire))
            .map_or_else(|| wire.to_owned(), |t| t.name().to_owned())
    }

    /// Records a committed batch.
    pub(crate) fn record_batch(&self, per_topic: &HashMap<String, TopicCounts>, took: Duration) {
        let mut total = 0;
        for (wire, counts) in per_topic {
            let topic = self.logical(wire);
            for (outcome, n) in [
                ("counted", counts.counted),
                ("duplicate", counts.duplicates),
                ("dead_letter", counts.dead_letters),
            ] {
                if n > 0 {
                    self.events
                        .get_or_create(&EventLabels {
                            topic: topic.clone(),
                            outcome,
                        })
                        .inc_by(n);
                }
                total += n;
            }
        }
        self.batch_events.observe(total as f64);
        self.batch_seconds.observe(took.as_secs_f64());
    }

    /// Records a batch that was not committed.
    pub(crate) fn record_error(&self, kind: &'static str) {
        self.batch_errors.get_or_create(&ErrorLabels { kind }).inc();
    }
}

/// The service's metrics: HTTP, the consumer's, and lag and state read from
/// `status` at each scrape.
pub fn service_metrics(status: Arc<ConsumerStatus>, kafka: KafkaSettings) -> ServiceMetrics {
    let mut builder = MetricsBuilder::new("edm_stats");
    let registry = builder.service();
    status.metrics.register(registry);
    let lag = PartitionLag::register(registry);
    let running = Gauge::<i64>::default();
    registry.register(
        "consumer_running",
        "1 while the consumer runs; 0 while starting, degraded (Postgres failing) or stopped",
        running.clone(),
    );
    builder
        .before_scrape(move || {
            let snapshot = status.snapshot();
            running.set(i64::from(snapshot.state == ConsumerState::Running));
            lag.set_all(snapshot.partitions.into_iter().filter_map(|p| {
                let topic = kafka
                    .topic_from_wire(&p.topic)
                    .map_or(p.topic, |t| t.name().to_owned());
                p.lag.map(|lag| (topic, p.partition, lag))
            }));
        })
        .build()
}
