//! [`StageProducer`]: how a stage writes its output and stands behind its
//! input offsets, under either processing guarantee
//! (`EDM_TRENDING_PROCESSING_GUARANTEE`):
//!
//! - **exactly once**: a transactional producer; a stage's records and its
//!   input offsets go in one transaction per cycle, which commits or
//!   aborts as a whole.
//! - **at least once**: an idempotent producer without transactions (basic
//!   Heroku plans may not grant transactional ids); a stage waits until its
//!   records are delivered, then commits its input offsets in the consumer
//!   group. A crash between the two writes the cycle's records again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerGroupMetadata};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, ToBytes};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};

use crate::processor::RebalanceCounter;
use crate::settings::{ProcessingGuarantee, Settings};

/// Counts records the brokers did not take, so that a stage never stands
/// behind input whose output was lost.
#[derive(Default)]
pub struct DeliveryFailures(AtomicU64);

impl ClientContext for DeliveryFailures {}

impl ProducerContext for DeliveryFailures {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.fetch_add(1, Ordering::SeqCst);
            tracing::warn!("a record was not delivered: {e}");
        }
    }
}

/// A stage's producer.
pub struct StageProducer {
    producer: ThreadedProducer<DeliveryFailures>,
    guarantee: ProcessingGuarantee,
    /// A transaction is open (exactly once), or records were sent since the
    /// last commit (at least once).
    open: bool,
    /// Delivery failures seen at the last commit.
    failures_seen: u64,
}

impl StageProducer {
    /// A producer for `settings`' guarantee; `transactional_id` is used
    /// under exactly once, where creating the producer also fences any
    /// other producer with the same id. A broker that refuses the id gets
    /// an error naming the setting that avoids it.
    pub fn new(settings: &Settings, transactional_id: &str) -> Result<Self, KafkaError> {
        let mut config = settings.kafka.producer_config("edm-trending");
        // Keyed records go where Kafka's Java clients put them (murmur2 of
        // the key): the repartition topic's products, one task each.
        config.set("partitioner", "murmur2_random");
        if settings.guarantee == ProcessingGuarantee::ExactlyOnce {
            config.set("transactional.id", transactional_id).set(
                "transaction.timeout.ms",
                settings.transaction_timeout.as_millis().to_string(),
            );
        }
        let producer: ThreadedProducer<DeliveryFailures> =
            config.create_with_context(DeliveryFailures::default())?;
        if settings.guarantee == ProcessingGuarantee::ExactlyOnce {
            producer.init_transactions(settings.kafka_timeout)?;
        }
        Ok(Self {
            producer,
            guarantee: settings.guarantee,
            open: false,
            failures_seen: 0,
        })
    }

    /// Whether records were sent, or a transaction begun, since the last
    /// commit.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Begins the cycle's transaction if none is open (exactly once).
    pub fn begin(&mut self) -> Result<(), KafkaError> {
        if !self.open {
            // Marked first: a failed begin is aborted (or the producer
            // replaced) like any other.
            self.open = true;
            if self.guarantee == ProcessingGuarantee::ExactlyOnce {
                self.producer.begin_transaction()?;
            }
        }
        Ok(())
    }

    /// Enqueues a record in the open cycle, waiting while the producer's
    /// queue is full.
    pub fn send<K, P>(&mut self, mut record: BaseRecord<'_, K, P>) -> Result<(), KafkaError>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.begin()?;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Waits until every record sent is delivered; an error if one was not
    /// (or the wait passed `deadline`).
    pub fn delivered(&mut self, deadline: Instant) -> Result<(), KafkaError> {
        // rdkafka's flush waits on the producer's event queue in 100 ms
        // steps, and a ThreadedProducer's own thread takes the delivery
        // reports from that queue, so each step lasted the full 100 ms:
        // waiting here until nothing is in flight makes a commit's flush
        // immediate.
        while self.producer.in_flight_count() > 0 {
            if Instant::now() >= deadline {
                return Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let failures = self.producer.context().0.load(Ordering::SeqCst);
        if failures != self.failures_seen {
            self.failures_seen = failures;
            return Err(KafkaError::Flush(RDKafkaErrorCode::MessageTimedOut));
        }
        Ok(())
    }

    /// Commits the cycle: its records and `offsets` (the next input offset
    /// of each partition read) together under exactly once; under at least
    /// once, the offsets in the group once every record is delivered.
    pub fn commit(
        &mut self,
        offsets: &TopicPartitionList,
        consumer: &BaseConsumer<RebalanceCounter>,
        group: &ConsumerGroupMetadata,
        timeout: Duration,
    ) -> Result<(), KafkaError> {
        let deadline = Instant::now() + timeout;
        match self.guarantee {
            ProcessingGuarantee::ExactlyOnce => {
                self.begin()?;
                self.producer
                    .send_offsets_to_transaction(offsets, group, timeout)?;
                self.delivered(deadline)?;
                self.producer
                    .commit_transaction(deadline.saturating_duration_since(Instant::now()))?;
            }
            ProcessingGuarantee::AtLeastOnce => {
                self.delivered(deadline)?;
                if offsets.count() > 0 {
                    consumer.commit(offsets, CommitMode::Sync)?;
                }
            }
        }
        self.open = false;
        Ok(())
    }

    /// Gives the open cycle up: aborts its transaction (exactly once); under
    /// at least once what was sent stays sent.
    pub fn abort(&mut self, timeout: Duration) -> Result<(), KafkaError> {
        let was_open = std::mem::replace(&mut self.open, false);
        if was_open && self.guarantee == ProcessingGuarantee::ExactlyOnce {
            self.producer.abort_transaction(timeout)?;
        }
        Ok(())
    }
}

/// Whether `error` says another producer with the same transactional id
/// (or a newer group generation) has taken over.
pub fn fenced(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode::{
        FencedInstanceId, InvalidProducerEpoch, ProducerFenced,
    };
    match error {
        KafkaError::Transaction(e) => {
            e.is_fatal()
                || matches!(
                    e.code(),
                    ProducerFenced | InvalidProducerEpoch | FencedInstanceId
                )
        }
        other => matches!(
            other.rdkafka_error_code(),
            Some(ProducerFenced | InvalidProducerEpoch | FencedInstanceId)
        ),
    }
}

/// Whether `error` says the brokers do not let this client use
/// transactional ids (a plan without TransactionalId rights).
pub fn transactions_refused(error: &KafkaError) -> bool {
    let code = match error {
        KafkaError::Transaction(e) => Some(e.code()),
        other => other.rdkafka_error_code(),
    };
    matches!(
        code,
        Some(
            RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
        )
    )
}
