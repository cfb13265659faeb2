//! Counters of what the relay did with events, exposed at `/metrics` in
//! the Prometheus text format.

use prometheus_client::encoding::{text::encode, EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What happened to an event.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    /// Acknowledged by the brokers.
    Accepted,
    /// Refused as invalid; nothing written.
    Rejected,
    /// Valid, but Kafka did not acknowledge it.
    Failed,
}

/// Labels of the events counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// Logical topic, or `unknown` when the event was unreadable.
    pub topic: String,
    /// What happened.
    pub outcome: Outcome,
}

/// The relay's metrics registry.
pub struct Metrics {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("edm_relay");
        let events = Family::<EventLabels, Counter>::default();
        registry.register("events", "Events by topic and outcome", events.clone());
        let in_flight = Gauge::default();
        registry.register(
            "producer_in_flight",
            "Events queued in the producer and not yet acknowledged",
            in_flight.clone(),
        );
        Self {
            registry,
            events,
            in_flight,
        }
    }
}

impl Metrics {
    /// Counts one event.
    pub fn count(&self, topic: &str, outcome: Outcome) {
        self.events
            .get_or_create(&EventLabels {
                topic: topic.to_owned(),
                outcome,
            })
            .inc();
    }

    /// How many events ended in `outcome` for `topic` so far.
    pub fn get(&self, topic: &str, outcome: Outcome) -> u64 {
        self.events
            .get_or_create(&EventLabels {
                topic: topic.to_owned(),
                outcome,
            })
            .get()
    }

    /// The registry in Prometheus text format.
    pub fn render(&self, in_flight: i64) -> String {
        self.in_flight.set(in_flight);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
