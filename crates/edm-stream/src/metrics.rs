//! What edm-stream reports at `/metrics` (through the shared
//! [`edm_runtime::metrics`] registry, next to the HTTP request metrics):
//!
//! | metric | what |
//! |---|---|
//! | `edm_stream_events_total{topic}` | events (and trending records) read from Kafka and published to clients |
//! | `edm_stream_invalid_events_total{topic}` | messages skipped because they were not valid events (or trending records) of their topic |
//! | `edm_stream_trimmed_records_total{topic}` | records longer than `EDM_STREAM_MAX_RECORD_BYTES`, streamed as the fields their topic defines |
//! | `edm_stream_oversized_records_total{topic}` | records longer than the cap even so, not streamed (each also a warning) |
//! | `edm_stream_deliveries_total{topic}` | events handed to a client's socket |
//! | `edm_stream_stalled_disconnects_total` | clients whose full socket buffers were disconnected to keep what such buffers hold within `EDM_STREAM_STALLED_CLIENT_BYTES` |
//! | `edm_stream_client_drops_total` | events slow clients lost: they left the ring before the client read them |
//! | `edm_stream_event_age_seconds` | histogram: from a click or page load's Kafka timestamp (set when the relay produced it) to its publication to clients |
//! | `edm_stream_clients` | connected Socket.io clients |
//! | `edm_stream_summary_mode` | 1 while the store's rate keeps raw events off ([`crate::mode`]), else 0 |
//! | `edm_stream_store_events_per_second` | the store's rate, from the raw topics' ends, when the mode was last decided |
//! | `edm_stream_consumer_lag{topic, partition}` | messages behind the end of each partition |
//! | `edm_stream_partitions` | partitions read |
//! | `edm_stream_kafka_reachable` | 1 while the last metadata lookup reached the cluster |

use std::sync::atomic::Ordering;
use std::sync::Arc;

use edm_config::KafkaSettings;
use edm_runtime::metrics::{MetricsBuilder, PartitionLag, ServiceMetrics};
use edm_runtime::register_metrics;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;

use crate::consumer::ConsumerHealth;
use crate::hub::Hub;
use crate::mode::{Mode, ModeReport};

/// The service's metrics; gauges are read from the hub and the consumer at
/// each scrape.
pub fn service_metrics(
    hub: Arc<Hub>,
    health: Arc<ConsumerHealth>,
    kafka: KafkaSettings,
    mode: watch::Receiver<ModeReport>,
) -> ServiceMetrics {
    let mut builder = MetricsBuilder::new("edm_stream");
    let registry = builder.service();
    let counters = &hub.counters;
    let clients = Gauge::<i64>::default();
    let partitions = Gauge::<i64>::default();
    let reachable = Gauge::<i64>::default();
    let summary_mode = Gauge::<i64>::default();
    let store_rate = Gauge::<i64>::default();
    register_metrics!(registry, {
        "events": counters.events.clone() => "Events read from Kafka and published to clients, by logical topic";
        "invalid_events": counters.invalid.clone() => "Messages skipped because they were not valid events (or trending records) of their topic, by logical topic";
        "trimmed_records": counters.trimmed.clone() => "Records longer than EDM_STREAM_MAX_RECORD_BYTES, streamed as the fields their topic defines, by logical topic";
        "oversized_records": counters.oversized.clone() => "Records longer than EDM_STREAM_MAX_RECORD_BYTES even without the fields their topic does not define, not streamed, by logical topic";
        "deliveries": counters.deliveries.clone() => "Events handed to a client's socket, by logical topic";
        "stalled_disconnects": counters.stalled_disconnects.clone() => "Clients whose full socket buffers were disconnected to keep what such buffers hold within EDM_STREAM_STALLED_CLIENT_BYTES";
        "client_drops": counters.drops.clone() => "Events slow clients lost: they left the ring before the client read them";
        "resumes": counters.resumes.clone() => "Clients that reconnected with positions, by outcome (resumed, too_far_behind)";
        "event_age_seconds": counters.event_age.clone() => "Time from a click or page load's Kafka timestamp (when the relay produced it) to its publication to clients";
        "clients": clients.clone() => "Connected Socket.io clients";
        "partitions": partitions.clone() => "Partitions read";
        "kafka_reachable": reachable.clone() => "1 while the last metadata lookup reached the Kafka cluster, else 0";
        "summary_mode": summary_mode.clone() => "1 while the store's rate keeps raw events off (EDM_STREAM_RAW_EVENTS_PER_SECOND), else 0";
        "store_events_per_second": store_rate.clone() => "The store's rate, from the raw topics' ends, when the mode was last decided";
    });
    let lag = PartitionLag::register(registry);
    builder
        .before_scrape(move || {
            clients.set(hub.client_count() as i64);
            partitions.set(health.partitions.load(Ordering::Relaxed));
            reachable.set(i64::from(health.reachable.load(Ordering::Relaxed)));
            let report = *mode.borrow();
            summary_mode.set(i64::from(report.mode == Mode::Summary));
            store_rate.set(report.events_per_second as i64);
            let lags = health
                .partition_lag
                .lock()
                .map(|l| l.clone())
                .unwrap_or_default();
            lag.set_all(lags.into_iter().map(|((wire, partition), lag)| {
                let topic = kafka
                    .topic_from_wire(&wire)
                    .map_or(wire, |t| t.name().to_owned());
                (topic, partition, lag)
            }));
        })
        .build()
}
