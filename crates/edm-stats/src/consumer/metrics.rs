//! The consumer's own metrics, recorded by the consumer thread as batches
//! commit or fail (registered for `/metrics` by [`crate::metrics`]).

use std::collections::HashMap;
use std::time::Duration;

use edm_config::KafkaSettings;
use edm_runtime::metrics::Registry;
use edm_runtime::register_metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::store::TopicCounts;

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

/// Labels of the batch errors and offset resets counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Batch errors: `database`, `refused` or `conflict`; offset resets:
    /// `past_end` or `before_start`.
    pub kind: &'static str,
}

/// The consumer's metrics, recorded by the consumer thread.
#[derive(Debug, Clone)]
pub struct ConsumerMetrics {
    events: Family<EventLabels, Counter>,
    batch_events: Histogram,
    batch_seconds: Histogram,
    batch_errors: Family<KindLabels, Counter>,
    offset_resets: Family<KindLabels, Counter>,
    records_lost: Counter,
    dedup_ids: Gauge,
    /// Turns wire topic names into logical ones.
    pub(crate) kafka: KafkaSettings,
}

impl ConsumerMetrics {
    /// Empty metrics; `kafka` names the topics.
    pub fn new(kafka: KafkaSettings) -> Self {
        Self {
            events: Family::default(),
            batch_events: Histogram::new(BATCH_SIZE_BUCKETS),
            batch_seconds: Histogram::new(BATCH_SECONDS_BUCKETS),
            batch_errors: Family::default(),
            offset_resets: Family::default(),
            records_lost: Counter::default(),
            dedup_ids: Gauge::default(),
            kafka,
        }
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        register_metrics!(registry, {
            "events": self.events.clone() => "Events read, by logical topic and outcome (counted, duplicate, dead_letter)";
            "batch_events": self.batch_events.clone() => "Events per committed Postgres transaction";
            "batch_duration_seconds": self.batch_seconds.clone() => "Time to write and commit one batch";
            "batch_errors": self.batch_errors.clone() => "Batches not committed, by kind (database: retried; refused: Postgres refused a record, which became a dead letter; conflict: partition moved)";
            "offset_resets": self.offset_resets.clone() => "Stored offsets found outside their partition's log, by kind (past_end, before_start); counting went on from the log's start";
            "records_lost": self.records_lost.clone() => "Records never counted because the log no longer held them (deleted by retention before they were read)";
            "dedup_ids": self.dedup_ids.clone() => "Event ids held in the owned partitions' dedup windows (at most EDM_STATS_DEDUP_WINDOW_EVENTS each)";
        });
    }

    fn logical(&self, wire: &str) -> String {
        logical_topic(&self.kafka, wire)
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
        self.batch_errors.get_or_create(&KindLabels { kind }).inc();
    }

    /// Sets the ids held in the dedup windows.
    pub(crate) fn set_dedup_ids(&self, ids: usize) {
        self.dedup_ids.set(i64::try_from(ids).unwrap_or(i64::MAX));
    }

    pub(crate) fn record_offset_reset(&self, kind: &'static str, records_lost: i64) {
        self.offset_resets.get_or_create(&KindLabels { kind }).inc();
        self.records_lost.inc_by(records_lost.max(0) as u64);
    }
}

/// The logical name of a wire topic (the wire name when it is not an EDM topic).
pub(crate) fn logical_topic(kafka: &KafkaSettings, wire: &str) -> String {
    kafka
        .topic_from_wire(wire)
        .map_or_else(|| wire.to_owned(), |t| t.name().to_owned())
}
