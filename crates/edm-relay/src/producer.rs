//! The relay's Kafka producer. Every send resolves to one of four outcomes
//! a caller can act on: delivered (acks=all), refused before anything was
//! sent (retry later), outcome unknown (the broker may have it: retry with
//! the same event id), or rejected by Kafka (do not retry).
//!
//! It is a thin layer over rdkafka's `ThreadedProducer` rather than its
//! `FutureProducer` because only the delivery callback can still ask
//! librdkafka whether a failed message was possibly persisted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edm_config::KafkaSettings;
use edm_events::EVENT_ID_HEADER;
use edm_runtime::StopSignal;
use rdkafka::bindings as rdsys;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};
use tokio::sync::oneshot;

use crate::metrics::{Metrics, Outcome};

/// Where an acknowledged event was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Partition of the topic.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// Why an event was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProduceError {
    /// The local queue is full: the relay is overloaded. Nothing was sent.
    #[error("the producer queue is full")]
    QueueFull,
    /// The brokers could not be reached in time. Nothing was written.
    #[error("Kafka is unavailable")]
    Unavailable,
    /// The write timed out after it may have reached the broker.
    #[error("the delivery outcome is unknown")]
    OutcomeUnknown,
    /// Kafka refused the event (unknown topic, too large, not authorised…).
    #[error("Kafka rejected the event: {0}")]
    Rejected(String),
}

/// One event on its way to Kafka.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Wire topic name (prefix included).
    pub topic: &'a str,
    /// Partition key: the visitor id, so one visitor's events stay in order.
    pub key: &'a str,
    /// The event's JSON, as the client sent it.
    pub payload: &'a [u8],
    /// Travels as the `edm-event-id` header.
    pub event_id: &'a str,
}

type DeliverySender = oneshot::Sender<Result<Delivered, ProduceError>>;

/// Turns librdkafka's delivery reports into [`ProduceError`]s, and counts
/// each event's outcome here, where it is known for certain: a request
/// whose client went away before the answer still had its event written
/// (or not), and the books say so.
pub struct DeliveryContext {
    metrics: Metrics,
    kafka: Arc<KafkaSettings>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<DeliverySender>;

    fn delivery(&self, result: &DeliveryResult<'_>, tx: Self::DeliveryOpaque) {
        let (message, outcome) = match result {
            Ok(message) => (
                message,
                Ok(Delivered {
                    partition: message.partition(),
                    offset: message.offset(),
                }),
            ),
            Err((error, message)) => {
                // SAFETY: the message is valid for the duration of the callback.
                let status = unsafe { rdsys::rd_kafka_message_status(message.ptr()) };
                (message, Err(classify(error, status)))
            }
        };
        let topic = logical_topic(&self.kafka, message.topic());
        let counted = if outcome.is_ok() {
            Outcome::Accepted
        } else {
            Outcome::Failed
        };
        self.metrics.count(topic, counted);
        if tx.send(outcome).is_err() {
            let event_id = message
                .headers()
                .and_then(|headers| headers.iter().find(|h| h.key == EVENT_ID_HEADER))
                .and_then(|header| header.value)
                .map(String::from_utf8_lossy);
            tracing::info!(
                topic,
                event_id = ?event_id,
                outcome = counted.as_str(),
                "event settled after its client went away"
            );
        }
    }
}

/// The logical name of a wire topic, or `unknown`.
fn logical_topic(kafka: &KafkaSettings, wire: &str) -> &'static str {
    kafka.topic_from_wire(wire).map_or("unknown", |t| t.name())
}

fn classify(error: &KafkaError, status: rdsys::rd_kafka_msg_status_t) -> ProduceError {
    use rdsys::rd_kafka_msg_status_t::*;
    if status != RD_KAFKA_MSG_STATUS_NOT_PERSISTED {
        return ProduceError::OutcomeUnknown;
    }
    match error.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::NotEnoughReplicas
            | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::RequestTimedOut,
        ) => ProduceError::Unavailable,
        Some(RDKafkaErrorCode::QueueFull) => ProduceError::QueueFull,
        _ => ProduceError::Rejected(error.to_string()),
    }
}

/// The one producer of a relay process, shared by all requests. It counts
/// every event it is given ([`Metrics`]): `accepted` or `failed`.
#[derive(Clone)]
pub struct EventProducer {
    inner: Arc<ThreadedProducer<DeliveryContext>>,
    reachable: Arc<AtomicBool>,
    metrics: Metrics,
    /// Shared: a clone must not copy the brokers' names and certificates.
    kafka: Arc<KafkaSettings>,
}

impl EventProducer {
    /// Creates the producer: acks=all, idempotent, and every event settled
    /// (delivered or failed) within `delivery_timeout`.
    pub fn new(
        settings: &KafkaSettings,
        delivery_timeout: Duration,
        metrics: Metrics,
    ) -> Result<Self, KafkaError> {
        let kafka = Arc::new(settings.clone());
        let inner: ThreadedProducer<DeliveryContext> = settings
            .producer_config("edm-relay")
            .set(
                "message.timeout.ms",
                delivery_timeout.as_millis().to_string(),
            )
            .set(
                "request.timeout.ms",
                delivery_timeout.as_millis().min(30_000).to_string(),
            )
            .set("queue.buffering.max.messages", "200000")
            .set("queue.buffering.max.kbytes", "131072")
            .create_with_context(DeliveryContext {
                metrics: metrics.clone(),
                kafka: kafka.clone(),
            })?;
        Ok(Self {
            inner: Arc::new(inner),
            reachable: Arc::new(AtomicBool::new(true)),
            metrics,
            kafka,
        })
    }

    /// Queues an event; the receiver resolves when Kafka settled it. An
    /// event that cannot even be queued is counted `failed` here.
    pub fn enqueue(
        &self,
        event: Outgoing<'_>,
    ) -> Result<oneshot::Receiver<Result<Delivered, ProduceError>>, ProduceError> {
        let queued = self.try_enqueue(&event);
        if queued.is_err() {
            let topic = logical_topic(&self.kafka, event.topic);
            self.metrics.count(topic, Outcome::Failed);
        }
        queued
    }

    fn try_enqueue(
        &self,
        event: &Outgoing<'_>,
    ) -> Result<oneshot::Receiver<Result<Delivered, ProduceError>>, ProduceError> {
        if !self.is_reachable() {
            return Err(ProduceError::Unavailable);
        }
        let (tx, rx) = oneshot::channel();
        let headers = OwnedHeaders::new().insert(Header {
            key: EVENT_ID_HEADER,
            value: Some(event.event_id),
        });
        let record = BaseRecord::with_opaque_to(event.topic, Box::new(tx))
            .key(event.key)
            .payload(event.payload)
            .headers(headers);
        match self.inner.send(record) {
            Ok(()) => Ok(rx),
            Err((err, _)) => Err(match err.rdkafka_error_code() {
                Some(RDKafkaErrorCode::QueueFull) => ProduceError::QueueFull,
                _ => ProduceError::Rejected(err.to_string()),
            }),
        }
    }

    /// Sends one event and waits until Kafka settled it.
    pub async fn send(&self, event: Outgoing<'_>) -> Result<Delivered, ProduceError> {
        let rx = self.enqueue(event)?;
        settle(rx).await
    }

    /// Whether the last probe reached the cluster.
    pub fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// Checks every `interval` whether the cluster answers, so that requests
    /// fail at once while it does not and succeed again as soon as it does;
    /// until `stop` fires.
    pub async fn probe_until(&self, interval: Duration, stop: StopSignal) {
        let probing = async {
            loop {
                self.probe(interval.max(Duration::from_millis(500))).await;
                tokio::time::sleep(interval).await;
            }
        };
        tokio::select! {
            () = probing => {}
            () = stop.cancelled() => {}
        }
    }

    /// Asks the cluster for its metadata once (waiting up to `timeout`) and
    /// records whether it answered; returns that.
    pub async fn probe(&self, timeout: Duration) -> bool {
        let inner = self.inner.clone();
        let ok = tokio::task::spawn_blocking(move || {
            inner.client().fetch_metadata(None, timeout).is_ok()
        })
        .await
        .unwrap_or(false);
        let was = self.reachable.swap(ok, Ordering::Relaxed);
        if was != ok {
            if ok {
                tracing::info!("Kafka is reachable again");
            } else {
                tracing::warn!("Kafka is unreachable; refusing events until it is back");
            }
        }
        ok
    }

    /// Events queued but not yet settled.
    pub fn in_flight(&self) -> i32 {
        self.inner.in_flight_count()
    }

    /// Waits up to `timeout` for queued events to be settled.
    pub async fn flush(&self, timeout: Duration) {
        let inner = self.inner.clone();
        let _ = tokio::task::spawn_blocking(move || inner.flush(timeout)).await;
    }
}

/// Waits for a queued event's delivery report.
pub async fn settle(
    rx: oneshot::Receiver<Result<Delivered, ProduceError>>,
) -> Result<Delivered, ProduceError> {
    // A dropped sender means librdkafka discarded the message without a
    // report (only at shutdown): we cannot know whether it was written.
    rx.await.unwrap_or(Err(ProduceError::OutcomeUnknown))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdsys::rd_kafka_msg_status_t::*;

    fn failed(code: RDKafkaErrorCode) -> KafkaError {
        KafkaError::MessageProduction(code)
    }

    #[test]
    fn a_timeout_after_sending_is_an_unknown_outcome_not_a_failure() {
        let e = failed(RDKafkaErrorCode::MessageTimedOut);
        assert_eq!(
            classify(&e, RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED),
            ProduceError::OutcomeUnknown
        );
        assert_eq!(
            classify(&e, RD_KAFKA_MSG_STATUS_NOT_PERSISTED),
            ProduceError::Unavailable
        );
    }

    #[test]
    fn broker_trouble_is_retryable_and_bad_events_are_not() {
        for code in [
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::NotEnoughReplicas,
            RDKafkaErrorCode::LeaderNotAvailable,
        ] {
            assert_eq!(
                classify(&failed(code), RD_KAFKA_MSG_STATUS_NOT_PERSISTED),
                ProduceError::Unavailable
            );
        }
        let too_large = classify(
            &failed(RDKafkaErrorCode::MessageSizeTooLarge),
            RD_KAFKA_MSG_STATUS_NOT_PERSISTED,
        );
        assert!(matches!(too_large, ProduceError::Rejected(_)));
        let unauthorised = classify(
            &failed(RDKafkaErrorCode::TopicAuthorizationFailed),
            RD_KAFKA_MSG_STATUS_NOT_PERSISTED,
        );
        assert!(matches!(unauthorised, ProduceError::Rejected(_)));
    }
}
