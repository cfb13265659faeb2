//! The consume-process-produce loop, the Kafka Streams way: two stages in
//! one consumer group (the application id), each writing its output and its
//! input offsets in one Kafka transaction per cycle.
//!
//! 1. **Repartition** (as many tasks as `edm-ui-click` has partitions,
//!    shared by the instances): each click is parsed and written, keyed by
//!    its product, to the single-partition repartition topic. Its producer's
//!    transactional id is this process's own; a zombie is fenced by the
//!    group's generation when it tries to commit offsets.
//! 2. **Windows** (one task, on the instance that holds the repartition
//!    partition): each record goes through the [`WindowStore`]; its
//!    changelog updates and the results of the windows it closes are
//!    written. Its transactional id is stable, so an instance that takes the
//!    task over fences the previous owner at once (and aborts its open
//!    transaction) before restoring the store from the changelog.
//!
//! A cycle gathers records for `EDM_TRENDING_COMMIT_INTERVAL_MS` (or
//! `EDM_TRENDING_MAX_BATCH_RECORDS`) and then commits both transactions. A
//! cycle that fails, or that a rebalance interrupts, is aborted instead: the
//! consumer goes back to the committed offsets and the window store is
//! restored again from the changelog, so nothing of it stays visible to a
//! `read_committed` reader or in memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edm_events::Event;
use edm_runtime::StopSignal;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::changelog_reader::{restore, RestoreFailure};
use crate::metrics::Metrics;
use crate::names::Names;
use crate::settings::Settings;
use crate::{coalesce, event_time, ChangelogUpdate, RepartitionRecord, WindowStore};

type TxProducer = ThreadedProducer<DefaultProducerContext>;

/// Counts the consumer's rebalances, so that a cycle can tell whether one
/// happened while it ran.
#[derive(Default)]
pub struct RebalanceCounter(AtomicU64);

impl ClientContext for RebalanceCounter {}

impl ConsumerContext for RebalanceCounter {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Why the processor stopped for good (anything else is retried).
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// A client could not be created from the settings.
    #[error("creating a Kafka client: {0}")]
    Client(KafkaError),
    /// The store cannot be restored (an undecodable changelog record).
    #[error(transparent)]
    Restore(RestoreFailure),
    /// A record could not be encoded.
    #[error("encoding a record: {0}")]
    Encode(serde_json::Error),
}

/// The window task: its producer, its store and the open cycle's output.
struct WindowTask {
    producer: TxProducer,
    store: WindowStore,
    in_transaction: bool,
    changelog: Vec<ChangelogUpdate>,
    next_offset: Option<i64>,
}

/// The repartition stage's open cycle.
struct RepartitionStage {
    producer: TxProducer,
    in_transaction: bool,
    next_offsets: BTreeMap<i32, i64>,
}

/// The running processor. Build it with [`Processor::new`] and drive it
/// with [`Processor::run`] on a thread of its own (every call blocks).
pub struct Processor {
    settings: Settings,
    names: Names,
    consumer: BaseConsumer<RebalanceCounter>,
    repartition: RepartitionStage,
    windows: Option<WindowTask>,
    /// Set while the window task, fenced, waits for the group to move on.
    fenced: Option<Fenced>,
    metrics: Metrics,
}

/// When the window task's producer was fenced: the rebalance count then,
/// and the moment.
struct Fenced {
    at_rebalance: u64,
    since: Instant,
}

/// What ended a cycle early.
enum Interrupted {
    /// A rebalance: the cycle's records may include revoked partitions.
    Rebalance,
    /// Kafka refused something, or a restore did not finish; the cycle is
    /// aborted and retried.
    Kafka(KafkaError),
    /// The processor cannot go on.
    Fatal(Fatal),
}

impl From<KafkaError> for Interrupted {
    fn from(e: KafkaError) -> Self {
        Interrupted::Kafka(e)
    }
}

impl Processor {
    /// Creates the clients and subscribes; nothing is read yet.
    pub fn new(settings: Settings, metrics: Metrics) -> Result<Self, Fatal> {
        let names = settings.names();
        let consumer: BaseConsumer<RebalanceCounter> = settings
            .kafka
            .consumer_config("edm-trending", &settings.application_id)
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create_with_context(RebalanceCounter::default())
            .map_err(Fatal::Client)?;
        consumer
            .subscribe(&[&names.input, &names.repartition])
            .map_err(Fatal::Client)?;
        let producer = transactional_producer(&settings, &names.repartition_transactional_id)
            .map_err(Fatal::Client)?;
        Ok(Self {
            repartition: RepartitionStage {
                producer,
                in_transaction: false,
                next_offsets: BTreeMap::new(),
            },
            settings,
            names,
            consumer,
            windows: None,
            fenced: None,
            metrics,
        })
    }

    /// Runs cycles until `stop` is set, then commits the last one and leaves
    /// the group.
    pub fn run(mut self, stop: &StopSignal) -> Result<(), Fatal> {
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            match self.cycle(stop) {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    self.metrics.last_good_cycle_ms.set(now);
                }
                Err(Interrupted::Rebalance) => {
                    tracing::info!(
                        "a rebalance interrupted the cycle; it is aborted and read again"
                    );
                    self.abort_cycle(stop);
                }
                Err(Interrupted::Fatal(fatal)) => {
                    self.abort_cycle(stop);
                    return Err(fatal);
                }
                Err(Interrupted::Kafka(e)) => {
                    tracing::warn!("aborting the cycle: {e}");
                    self.metrics.aborted_cycles.inc();
                    self.abort_cycle(stop);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.consumer.unsubscribe();
        Ok(())
    }

    /// One cycle: the window task matches the assignment, records are
    /// gathered, both transactions commit.
    fn cycle(&mut self, stop: &StopSignal) -> Result<(), Interrupted> {
        let rebalances = self.consumer.context().0.load(Ordering::SeqCst);
        self.match_assignment(rebalances)?;
        let deadline = Instant::now() + self.settings.commit_interval;
        let mut records = 0;
        while records < self.settings.max_batch_records && !stop.is_cancelled() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let polled = self.consumer.poll(left);
            if self.consumer.context().0.load(Ordering::SeqCst) != rebalances {
                return Err(Interrupted::Rebalance);
            }
            match polled {
                None => {}
                Some(Err(e)) => tracing::warn!("Kafka: {e}"),
                Some(Ok(message)) => {
                    records += 1;
                    if message.topic() == self.names.input {
                        repartition_click(
                            &mut self.repartition,
                            &self.names,
                            &self.metrics,
                            &message,
                        )?;
                    } else if message.topic() == self.names.repartition {
                        count_click(self.windows.as_mut(), &self.names, &self.metrics, &message)?;
                    }
                }
            }
        }
        self.commit()
    }

    /// Creates (fencing the previous owner, restoring the store) or drops
    /// the window task to match the current assignment.
    fn match_assignment(&mut self, rebalances: u64) -> Result<(), Interrupted> {
        let assignment = self.consumer.assignment()?;
        let owned = assignment
            .elements_for_topic(&self.names.repartition)
            .iter()
            .any(|p| p.partition() == 0);
        // Fenced by a newer owner: the task is not taken back before the
        // group has moved on, or the two would fence each other in turn.
        // The partition stays paused meanwhile. A fence that no rebalance
        // follows (the broker expired a stalled transaction, or another
        // producer took the id) is waited out for the Kafka timeout, then
        // the task is taken back.
        let mut resumed = false;
        if let Some(fenced) = &self.fenced {
            let waited = fenced.since.elapsed() >= self.settings.kafka_timeout;
            if owned && fenced.at_rebalance == rebalances && !waited {
                return Ok(());
            }
            if owned && waited {
                tracing::warn!(
                    "no rebalance followed the fence within {:?}; the window task is taken back",
                    self.settings.kafka_timeout
                );
            }
            self.fenced = None;
            self.pause_window_partition(false);
            resumed = owned;
        }
        if owned && self.windows.is_none() {
            let producer =
                transactional_producer(&self.settings, &self.names.windows_transactional_id)?;
            let (store, summary) = match restore(&self.settings, &self.names.changelog) {
                Ok(restored) => restored,
                Err(RestoreFailure::Kafka { source, .. }) => {
                    return Err(Interrupted::Kafka(source))
                }
                Err(RestoreFailure::TimedOut { topic, timeout }) => {
                    tracing::warn!(
                        "reading the changelog {topic} took more than {timeout:?}; trying again"
                    );
                    return Err(Interrupted::Kafka(KafkaError::Canceled));
                }
                Err(undecodable) => return Err(Interrupted::Fatal(Fatal::Restore(undecodable))),
            };
            tracing::info!(
                records = summary.records,
                millis = summary.took.as_millis() as u64,
                stream_time = store.stream_time(),
                "window task assigned; store restored from the changelog"
            );
            self.metrics.restores.inc();
            self.metrics.window_task.set(1);
            self.metrics
                .last_restore_records
                .set(summary.records as i64);
            self.metrics
                .last_restore_millis
                .set(summary.took.as_millis() as i64);
            self.windows = Some(WindowTask {
                producer,
                store,
                in_transaction: false,
                changelog: Vec::new(),
                next_offset: None,
            });
            if resumed {
                // Records fetched before the pause may have been dropped:
                // read on from what is committed.
                self.rewind();
            }
        } else if !owned && self.windows.is_some() {
            tracing::info!("window task revoked");
            self.windows = None;
            self.metrics.window_task.set(0);
        }
        Ok(())
    }

    /// Commits both stages' transactions with their input offsets.
    fn commit(&mut self) -> Result<(), Interrupted> {
        let timeout = self.settings.kafka_timeout;
        let Some(group) = self.consumer.group_metadata() else {
            return Err(Interrupted::Rebalance);
        };
        if let Some(task) = self.windows.as_mut() {
            if task.in_transaction {
                for update in coalesce(std::mem::take(&mut task.changelog)) {
                    let mut record = BaseRecord::<[u8], [u8]>::to(&self.names.changelog)
                        .partition(0)
                        .key(&update.key[..]);
                    if let Some(value) = &update.value {
                        record = record.payload(&value[..]);
                    }
                    send(&task.producer, record)?;
                }
                let mut offsets = TopicPartitionList::new();
                if let Some(next) = task.next_offset {
                    offsets.add_partition_offset(
                        &self.names.repartition,
                        0,
                        Offset::Offset(next),
                    )?;
                }
                task.producer
                    .send_offsets_to_transaction(&offsets, &group, timeout)?;
                commit_when_delivered(&task.producer, timeout)?;
                task.in_transaction = false;
                task.next_offset = None;
            }
        }
        let stage = &mut self.repartition;
        if stage.in_transaction || !stage.next_offsets.is_empty() {
            if !stage.in_transaction {
                stage.in_transaction = true;
                stage.producer.begin_transaction()?;
            }
            let mut offsets = TopicPartitionList::new();
            for (&partition, &next) in &stage.next_offsets {
                offsets.add_partition_offset(&self.names.input, partition, Offset::Offset(next))?;
            }
            stage
                .producer
                .send_offsets_to_transaction(&offsets, &group, timeout)?;
            commit_when_delivered(&stage.producer, timeout)?;
            stage.in_transaction = false;
            stage.next_offsets.clear();
        }
        self.metrics.committed_cycles.inc();
        Ok(())
    }

    /// Aborts both open transactions, puts every assigned partition back at
    /// its committed offset and drops the window store (restored again on
    /// the next cycle).
    fn abort_cycle(&mut self, stop: &StopSignal) {
        let timeout = self.settings.kafka_timeout;
        if self.repartition.in_transaction {
            if let Err(e) = self.repartition.producer.abort_transaction(timeout) {
                tracing::warn!(
                    "aborting the repartition transaction: {e}; starting a new producer"
                );
                // A new producer with the same id aborts what is left open.
                let mut wait = Duration::from_millis(100);
                loop {
                    match transactional_producer(
                        &self.settings,
                        &self.names.repartition_transactional_id,
                    ) {
                        Ok(producer) => {
                            self.repartition.producer = producer;
                            break;
                        }
                        Err(e) if !stop.is_cancelled() => {
                            tracing::warn!("starting the repartition producer: {e}; trying again");
                            std::thread::sleep(wait);
                            wait = (wait * 2).min(Duration::from_secs(5));
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        self.repartition.in_transaction = false;
        self.repartition.next_offsets.clear();
        // A window task that took no record in this cycle keeps its store:
        // it matches the committed changelog. One that did is dropped and
        // restored from the changelog at the next cycle.
        if self
            .windows
            .as_ref()
            .is_some_and(|task| task.in_transaction)
        {
            if let Some(task) = self.windows.take() {
                self.metrics.window_task.set(0);
                if let Err(e) = task.producer.abort_transaction(timeout) {
                    if fenced(&e) {
                        // Another instance owns the task now: it is not
                        // taken back before the group has moved on.
                        tracing::warn!(
                            "the window task was fenced ({e}); it waits for the next rebalance"
                        );
                        self.fenced = Some(Fenced {
                            at_rebalance: self.consumer.context().0.load(Ordering::SeqCst),
                            since: Instant::now(),
                        });
                        self.pause_window_partition(true);
                    } else {
                        tracing::warn!(
                            "aborting the window transaction: {e}; the task starts again"
                        );
                    }
                }
            }
        }
        self.rewind();
    }

    /// Pauses or resumes fetching the repartition topic (the window task's
    /// input); a partition no longer assigned is left as it is.
    fn pause_window_partition(&self, pause: bool) {
        let mut partition = TopicPartitionList::new();
        partition.add_partition(&self.names.repartition, 0);
        let done = if pause {
            self.consumer.pause(&partition)
        } else {
            self.consumer.resume(&partition)
        };
        if let Err(e) = done {
            tracing::debug!("pausing or resuming the repartition topic: {e}");
        }
    }

    /// Seeks every assigned partition to its committed offset (the start
    /// of the log when none is committed).
    fn rewind(&self) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let committed = match self
            .consumer
            .committed_offsets(assignment, self.settings.kafka_timeout)
        {
            Ok(committed) => committed,
            Err(e) => {
                tracing::warn!("reading the committed offsets: {e}");
                return;
            }
        };
        for element in committed.elements() {
            let offset = match element.offset() {
                Offset::Offset(n) => Offset::Offset(n),
                _ => Offset::Beginning,
            };
            if let Err(e) = self.consumer.seek(
                element.topic(),
                element.partition(),
                offset,
                self.settings.kafka_timeout,
            ) {
                tracing::warn!(
                    topic = element.topic(),
                    partition = element.partition(),
                    "seeking back to the committed offset: {e}"
                );
            }
        }
    }
}

/// Stage 1: a click from the input topic, written keyed by product.
fn repartition_click(
    stage: &mut RepartitionStage,
    names: &Names,
    metrics: &Metrics,
    message: &BorrowedMessage<'_>,
) -> Result<(), Interrupted> {
    stage
        .next_offsets
        .insert(message.partition(), message.offset() + 1);
    // Skipped records still move the offset on: counted and logged, loudly.
    let skip = |why: std::fmt::Arguments<'_>| {
        metrics.skipped_inputs.inc();
        tracing::warn!(
            partition = message.partition(),
            offset = message.offset(),
            "skipping an input record: {why}"
        );
        Ok(())
    };
    let event = match message.payload().map(Event::parse) {
        Some(Ok(event)) => event,
        Some(Err(e)) => return skip(format_args!("not a valid event: {e}")),
        None => return skip(format_args!("it has no value")),
    };
    let Some(button_id) = event.button_id() else {
        return skip(format_args!("not a click"));
    };
    let record = RepartitionRecord {
        button_id: button_id.to_owned(),
        event_time: event_time(event.event_timestamp, message.timestamp().to_millis()),
        event_id: event.event_id.clone(),
    };
    let value = record
        .value()
        .map_err(|e| Interrupted::Fatal(Fatal::Encode(e)))?;
    if !stage.in_transaction {
        // Marked first: a failed begin replaces the producer on abort.
        stage.in_transaction = true;
        stage.producer.begin_transaction()?;
    }
    metrics.clicks_repartitioned.inc();
    send(
        &stage.producer,
        BaseRecord::to(&names.repartition)
            .partition(0)
            .key(&record.key())
            .payload(&value),
    )?;
    Ok(())
}

/// Stage 2: a click from the repartition topic, through the store.
fn count_click(
    task: Option<&mut WindowTask>,
    names: &Names,
    metrics: &Metrics,
    message: &BorrowedMessage<'_>,
) -> Result<(), Interrupted> {
    let Some(task) = task else {
        // Assigned during this cycle: the rebalance check aborts it.
        return Err(Interrupted::Rebalance);
    };
    task.next_offset = Some(message.offset() + 1);
    let record = match RepartitionRecord::decode(message.key(), message.payload()) {
        Ok(record) => record,
        Err(e) => {
            metrics.skipped_repartition.inc();
            tracing::warn!(
                offset = message.offset(),
                "skipping a repartition record: {e}"
            );
            return Ok(());
        }
    };
    let processed = match task.store.process(&record.button_id, record.event_time) {
        Ok(processed) => processed,
        Err(refused) => {
            tracing::warn!(
                offset = message.offset(),
                "the window store refused a click: {refused}"
            );
            return Ok(());
        }
    };
    if !task.in_transaction {
        // Marked first: the store has taken the record, so a failed begin
        // must drop the task (and a fatal producer with it) on abort.
        task.in_transaction = true;
        task.producer.begin_transaction()?;
    }
    metrics.clicks_counted.inc();
    task.changelog.extend(processed.changelog);
    for result in processed.emitted {
        let output = result
            .to_record()
            .map_err(|e| Interrupted::Fatal(Fatal::Encode(e)))?;
        send(
            &task.producer,
            BaseRecord::to(&names.output)
                .key(&output.key)
                .payload(&output.value),
        )?;
        metrics.windows_emitted.inc();
    }
    Ok(())
}

/// A transactional producer with `id`, its transactions initialised (which
/// fences any other producer with the same id).
fn transactional_producer(settings: &Settings, id: &str) -> Result<TxProducer, KafkaError> {
    let producer: TxProducer = settings
        .kafka
        .producer_config("edm-trending")
        .set("transactional.id", id)
        .set(
            "transaction.timeout.ms",
            settings.transaction_timeout.as_millis().to_string(),
        )
        .create()?;
    producer.init_transactions(settings.kafka_timeout)?;
    Ok(producer)
}

/// Whether `error` says another producer with the same transactional id
/// (or a newer group generation) has taken over.
fn fenced(error: &KafkaError) -> bool {
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

/// Enqueues a record, waiting while the producer's queue is full.
/// Commits `producer`'s transaction once its records are delivered.
///
/// rdkafka's `commit_transaction` flushes first by waiting on the
/// producer's event queue in 100 ms steps; a `ThreadedProducer`'s own thread
/// takes the delivery reports from that queue, so each step lasted the full
/// 100 ms and every commit after a fresh send took at least that long (the
/// window task's every cycle). Waiting here until nothing is in flight makes
/// that flush immediate.
fn commit_when_delivered(producer: &TxProducer, timeout: Duration) -> Result<(), KafkaError> {
    let deadline = Instant::now() + timeout;
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            return Err(KafkaError::Flush(
                rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    producer.commit_transaction(deadline.saturating_duration_since(Instant::now()))
}

fn send<K, P>(producer: &TxProducer, mut record: BaseRecord<'_, K, P>) -> Result<(), KafkaError>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                back,
            )) => {
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e),
        }
    }
}
