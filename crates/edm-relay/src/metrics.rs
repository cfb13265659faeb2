//! What the relay did with events, for `/metrics` (through the shared
//! [`edm_runtime::metrics`] registry, next to the HTTP request metrics):
//!
//! | metric | what |
//! |---|---|
//! | `edm_relay_events_total{topic, outcome}` | events `accepted` (acknowledged by the brokers), `rejected` (invalid, nothing written) or `failed` (valid, not acknowledged) |
//! | `edm_relay_producer_queue_depth` | events queued in the producer and not yet acknowledged |
//! | `edm_relay_kafka_reachable` | 1 while the last probe reached the cluster |

use edm_runtime::metrics::{MetricsBuilder, ServiceMetrics};
use edm_runtime::register_metrics;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::producer::EventProducer;

/// What happened to an event.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged by the brokers.
    Accepted,
    /// Refused as invalid; nothing written.
    Rejected,
    /// Valid, but Kafka did not acknowledge it.
    Failed,
}

impl Outcome {
    /// The label value: `accepted`, `rejected` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// Labels of the events counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// Logical topic, or `unknown` when the event was unreadable.
    pub topic: &'static str,
    /// What happened.
    pub outcome: Outcome,
}

/// The relay's own metrics.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    events: Family<EventLabels, Counter>,
    queue_depth: Gauge,
    kafka_reachable: Gauge,
}

impl Metrics {
    /// Registers the relay's metrics next to the HTTP ones; the producer's
    /// queue and reachability are read at each scrape.
    pub fn register(&self, producer: EventProducer) -> ServiceMetrics {
        let mut builder = MetricsBuilder::new("edm_relay");
        register_metrics!(builder.service(), {
            "events": self.events.clone() => "Events by logical topic and outcome (accepted, rejected, failed)";
            "producer_queue_depth": self.queue_depth.clone() => "Events queued in the producer and not yet acknowledged by the brokers";
            "kafka_reachable": self.kafka_reachable.clone() => "1 while the last probe reached the Kafka cluster, else 0";
        });
        let gauges = self.clone();
        builder
            .before_scrape(move || {
                gauges.queue_depth.set(i64::from(producer.in_flight()));
                gauges
                    .kafka_reachable
                    .set(i64::from(producer.is_reachable()));
            })
            .build()
    }

    /// Counts one event.
    pub fn count(&self, topic: &'static str, outcome: Outcome) {
        self.events
            .get_or_create(&EventLabels { topic, outcome })
            .inc();
    }

    /// How many events ended in `outcome` for `topic` so far.
    pub fn get(&self, topic: &'static str, outcome: Outcome) -> u64 {
        self.events
            .get(&EventLabels { topic, outcome })
            .map_or(0, |c| c.get())
    }
}
