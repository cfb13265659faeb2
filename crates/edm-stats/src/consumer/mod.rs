//! The Kafka side of edm-stats: a consumer in its own group that reads
//! batches (bounded by count and time) and writes each batch, with the
//! offsets it accounts for, in one Postgres transaction.
//!
//! The loop runs on a dedicated thread with a `BaseConsumer`, so the
//! rebalance callback can look up stored offsets synchronously before it
//! assigns partitions. Async database calls go through a runtime handle.
//!
//! A stored offset outside its partition's log is never skipped quietly:
//! librdkafka is told to stop there (`auto.offset.reset=error`) instead of
//! jumping, and the consumer then moves the stored offset to the log's
//! start, logs an error, and reports it (see [`status::OffsetReset`]).
//! Every batch is checked to begin where the stored offset says.
//!
//! Retried events are recognised in memory, per partition ([`dedup`]): on
//! assignment, and whenever it goes back to the stored offsets, the loop
//! first reads the dedup window before each stored offset back from Kafka.
//!
//! - [`dedup`]: which records are retries of one counted before.
//! - [`record`]: what a Kafka message becomes (an event or a dead letter).
//! - [`excerpt`]: what a dead letter keeps of a record (a bounded excerpt).
//! - [`store`]: the transaction: fencing, dedup, aggregates, offsets.
//! - [`status`]: what the API reports about the consumer.
//! - [`metrics`]: what the consumer counts for `/metrics`.

pub mod dedup;
pub mod excerpt;
pub mod metrics;
pub mod record;
pub mod status;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use edm_runtime::{Background, StopSignal};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaResult;
use rdkafka::message::BorrowedMessage;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};
use sqlx::PgPool;
use tokio::runtime::Handle;

use crate::replay::reader::{Range, Reader};
use crate::settings::Settings;
use dedup::PartitionIds;
use metrics::ConsumerMetrics;
use record::Consumed;
use status::{ConsumerStatus, OffsetReset, OffsetResetKind};
use store::{PartitionKey, StoreError, StoreSettings};

/// Partitions this instance owns, with the next offset stored for each
/// (`None`: nothing stored yet), and the ones whose assignment changed since
/// the loop last looked.
#[derive(Debug)]
struct Assignment {
    positions: HashMap<PartitionKey, Option<i64>>,
    changed: HashSet<PartitionKey>,
    /// Consumption is paused while Postgres fails. librdkafka keeps a pause
    /// across unassign and assign, so partitions assigned meanwhile are
    /// paused or resumed to match, and none stays paused for good.
    paused: bool,
    /// The recent event ids of the owned partitions.
    recent: PartitionIds,
}

/// rdkafka context: assigns partitions at the offsets stored in Postgres,
/// and records lag from librdkafka's statistics.
struct StatsContext {
    pool: PgPool,
    group: String,
    runtime: Handle,
    assignment: Arc<Mutex<Assignment>>,
    status: Arc<ConsumerStatus>,
    stop: StopSignal,
    db_timeout: Duration,
    /// Reads the dedup windows back (a consumer of its own, outside the
    /// group).
    reader: Reader,
}

/// How often offsets outside their log are checked again while one could
/// not be moved.
const OFFSET_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Delays between attempts while Postgres fails: 200 ms, doubling, at most
/// 5 s apart, for as long as it takes.
fn database_retry_delays() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .build()
}

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        let mut lags = HashMap::new();
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if p.partition >= 0 && p.consumer_lag >= 0 {
                    lags.insert((topic.clone(), *partition), p.consumer_lag);
                }
            }
        }
        self.status.set_lags(lags);
    }
}

impl ConsumerContext for StatsContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let keys: Vec<PartitionKey> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let Some(stored) = self.load_offsets(&keys) else {
                    return; // stopping
                };
                let mut assignment = self.assignment.lock().unwrap();
                if !self.read_back(&mut assignment.recent, &stored) {
                    return; // stopping
                }
                for key in &keys {
                    let next = stored.get(key).copied();
                    let offset = next.map_or(Offset::Beginning, Offset::Offset);
                    let _ = tpl.set_partition_offset(&key.0, key.1, offset);
                    assignment.positions.insert(key.clone(), next);
                    assignment.changed.insert(key.clone());
                }
                tracing::info!(partitions = ?keys, "assigned; resuming from stored offsets");
                let assigned = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                assigned.and_then(|()| {
                    if assignment.paused {
                        consumer.pause(tpl)
                    } else {
                        consumer.resume(tpl)
                    }
                })
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let mut assignment = self.assignment.lock().unwrap();
                for key in &keys {
                    assignment.positions.remove(key);
                    assignment.recent.forget(key);
                    assignment.changed.insert(key.clone());
                }
                tracing::info!(partitions = ?keys, "revoked");
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::error!("rebalance error: {other:?}");
                let mut assignment = self.assignment.lock().unwrap();
                let all: Vec<_> = assignment.positions.keys().cloned().collect();
                for key in &all {
                    assignment.recent.forget(key);
                }
                assignment.changed.extend(all);
                assignment.positions.clear();
                consumer.unassign()
            }
        };
        if let Err(e) = result {
            tracing::error!("applying the rebalance failed: {e}");
        }
        self.status
            .set_assignment(&self.assignment.lock().unwrap().positions);
    }
}

impl StatsContext {
    /// Replaces the recent ids of each partition in `stored` with those of
    /// the dedup window before its stored offset, read back from Kafka
    /// (from the log's start if it begins later), retrying while Kafka
    /// fails; `false` when the service is stopping.
    fn read_back(&self, recent: &mut PartitionIds, stored: &HashMap<PartitionKey, i64>) -> bool {
        let window = i64::try_from(recent.window()).unwrap_or(i64::MAX);
        let mut delays = database_retry_delays();
        loop {
            for key in stored.keys() {
                recent.forget(key);
            }
            if window == 0 {
                return true;
            }
            let started = Instant::now();
            let result = stored
                .iter()
                .map(|(key, next)| {
                    let log = self.reader.partition(key)?;
                    Ok(Range {
                        key: key.clone(),
                        from: log.low.max(next.saturating_sub(window)),
                        to: (*next).min(log.high),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .and_then(|ranges| {
                    self.reader.read(&ranges, |consumed| {
                        recent.is_duplicate(&consumed);
                    })
                });
            match result {
                Ok(()) => {
                    if self.status.snapshot().state == status::ConsumerState::Degraded {
                        self.status.set_running();
                    }
                    tracing::info!(
                        partitions = stored.len(),
                        ids = recent.len(),
                        took = ?started.elapsed(),
                        "read the dedup windows back"
                    );
                    return true;
                }
                Err(e) => {
                    let backoff = delays.next().unwrap_or(Duration::from_secs(5));
                    self.status
                        .set_degraded(format!("reading the dedup windows back: {e}"));
                    tracing::warn!(
                        "cannot read the dedup windows back ({e}); retrying in {backoff:?}"
                    );
                    if self.stop.is_cancelled() {
                        return false;
                    }
                    std::thread::sleep(backoff);
                }
            }
        }
    }

    /// Stored offsets for `keys`, retrying while Postgres is away; `None`
    /// when the service is stopping.
    fn load_offsets(&self, keys: &[PartitionKey]) -> Option<HashMap<PartitionKey, i64>> {
        let mut delays = database_retry_delays();
        loop {
            let backoff = delays.next().unwrap_or(Duration::from_secs(5));
            match self.runtime.block_on(store::within(
                self.db_timeout,
                store::load_offsets(&self.pool, &self.group, keys),
            )) {
                Ok(offsets) => {
                    if self.status.snapshot().state == status::ConsumerState::Degraded {
                        self.status.set_running();
                    }
                    return Some(offsets);
                }
                Err(e) => {
                    self.status.set_degraded(format!("loading offsets: {e}"));
                    tracing::warn!("cannot load stored offsets ({e}); retrying in {backoff:?}");
                }
            }
            if self.stop.is_cancelled() {
                return None;
            }
            std::thread::sleep(backoff);
        }
    }
}

/// Creates the consumer, subscribes, and runs the loop in `background`
/// on a thread of its own; when the service stops, the loop writes what it
/// holds and leaves the group.
pub fn start(
    settings: &Settings,
    pool: PgPool,
    status: Arc<ConsumerStatus>,
    metrics: ConsumerMetrics,
    background: &Background,
) -> KafkaResult<()> {
    let stop = background.stop_signal();
    let assignment = Arc::new(Mutex::new(Assignment {
        positions: HashMap::new(),
        changed: HashSet::new(),
        paused: false,
        recent: PartitionIds::new(settings.dedup_window_events),
    }));
    let group = settings.consumer.group_name();
    let context = StatsContext {
        pool: pool.clone(),
        group: group.clone(),
        runtime: Handle::current(),
        assignment: assignment.clone(),
        status: status.clone(),
        stop: stop.clone(),
        db_timeout: settings.db_timeout,
        reader: Reader::new(settings)?,
    };
    let consumer: BaseConsumer<StatsContext> = settings
        .consumer
        .consumer_config("edm-stats")
        // Offsets live in Postgres; Kafka only gets a copy for lag tools.
        .set("enable.auto.commit", "false")
        .set("statistics.interval.ms", "5000")
        // An offset outside the log stops the partition with an error the
        // loop handles, instead of a silent jump (see the module doc).
        .set("auto.offset.reset", "error")
        .create_with_context(context)?;
    let topics = settings.consumer.topic_names();
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topic_refs)?;
    status.set_group(&group);
    let worker = Worker {
        consumer,
        runtime: Handle::current(),
        pool,
        store: StoreSettings {
            group,
            dead_letter_max: settings.dead_letter_max,
            timeout: settings.db_timeout,
        },
        kafka: settings.consumer.kafka.clone(),
        assignment,
        status,
        metrics,
        stop,
        max_events: settings.batch_max_events,
        max_wait: settings.batch_max_wait,
        excerpt_bytes: settings.dead_letter_excerpt_bytes,
        restarts: Mutex::default(),
    };
    background.spawn_blocking("kafka consumer", move |_| worker.run());
    Ok(())
}

/// The consumer loop's state.
struct Worker {
    consumer: BaseConsumer<StatsContext>,
    runtime: Handle,
    pool: PgPool,
    store: StoreSettings,
    kafka: edm_config::KafkaSettings,
    assignment: Arc<Mutex<Assignment>>,
    status: Arc<ConsumerStatus>,
    metrics: ConsumerMetrics,
    stop: StopSignal,
    max_events: usize,
    max_wait: Duration,
    /// Most bytes a dead letter keeps of a payload and of its reason.
    excerpt_bytes: usize,
    /// Partitions to assign again at a new offset (see
    /// [`Worker::move_offsets_into_logs`]).
    restarts: Mutex<HashMap<PartitionKey, i64>>,
}

impl Worker {
    fn run(self) {
        let mut batch: Vec<Consumed> = Vec::new();
        let mut batch_started: Option<Instant> = None;
        // Set when librdkafka found an offset outside a log; checked until
        // every owned partition is back inside its log.
        let mut offsets_to_check = false;
        let mut last_offset_check: Option<Instant> = None;
        self.status.set_running();
        loop {
            let stopping = self.stop.is_cancelled();
            let due = batch.len() >= self.max_events
                || batch_started.is_some_and(|t| t.elapsed() >= self.max_wait)
                || (stopping && !batch.is_empty());
            if due {
                self.flush(&mut batch);
                batch_started = None;
            }
            if stopping {
                break;
            }
            if offsets_to_check
                && last_offset_check.is_none_or(|t| t.elapsed() >= OFFSET_CHECK_INTERVAL)
            {
                self.flush(&mut batch);
                batch_started = None;
                offsets_to_check = !self.move_offsets_into_logs();
                last_offset_check = Some(Instant::now());
            }
            let wait = batch_started
                .map_or(Duration::from_millis(100), |t| {
                    self.max_wait.saturating_sub(t.elapsed())
                })
                .min(Duration::from_millis(100));
            let polled = self.consumer.poll(wait);
            self.forget_changed_partitions(&mut batch);
            match polled {
                None => {}
                Some(Err(e))
                    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) =>
                {
                    tracing::warn!("an offset is outside its partition's log ({e}); checking");
                    offsets_to_check = true;
                }
                Some(Err(e)) => tracing::warn!("consumer error: {e}"),
                Some(Ok(message)) => {
                    if let Some(consumed) = self.accept(&message) {
                        batch.push(consumed);
                        batch_started.get_or_insert_with(Instant::now);
                    }
                }
            }
        }
        self.consumer.unsubscribe();
        self.status.set_stopped();
        tracing::info!("consumer stopped and left the group");
    }

    /// The message as a record to count, marked when it is a retry;
    /// `None` when it is already counted or not ours any more.
    fn accept(&self, message: &BorrowedMessage<'_>) -> Option<Consumed> {
        let mut assignment = self.assignment.lock().unwrap();
        let key = (message.topic().to_owned(), message.partition());
        match assignment.positions.get(&key) {
            None => return None,
            Some(Some(next)) if message.offset() < *next => return None,
            Some(_) => {}
        }
        let mut consumed = record::parse(message, &self.kafka, self.excerpt_bytes);
        consumed.duplicate = assignment.recent.is_duplicate(&consumed);
        Some(consumed)
    }

    /// Drops batched records of partitions that were assigned or revoked
    /// since they were read: they will be read again from the stored offset.
    fn forget_changed_partitions(&self, batch: &mut Vec<Consumed>) {
        let mut assignment = self.assignment.lock().unwrap();
        if assignment.changed.is_empty() {
            return;
        }
        let changed = std::mem::take(&mut assignment.changed);
        batch.retain(|r| !changed.contains(&(r.topic.clone(), r.partition)));
    }

    /// Writes the batch, retrying with backoff (consumption paused) while
    /// Postgres is unavailable; never drops an event it could not write.
    /// When Postgres refuses the content of a batch, the batch is written
    /// in halves until the refused record is alone, and that record becomes
    /// a dead letter saying why: no record can stop the counting.
    fn flush(&self, batch: &mut Vec<Consumed>) {
        let mut delays = database_retry_delays();
        let mut paused = false;
        let mut first_failure: Option<Instant> = None;
        // Records written at once: all, unless Postgres refused some.
        let mut part = usize::MAX;
        self.check_batch_start(batch);
        loop {
            self.forget_changed_partitions(batch);
            if batch.is_empty() {
                break;
            }
            let take = part.min(batch.len());
            let positions = self.assignment.lock().unwrap().positions.clone();
            let started = Instant::now();
            let result = self.runtime.block_on(store::within(
                self.store.timeout,
                store::write_batch(&self.pool, &self.store, &batch[..take], &positions),
            ));
            match result {
                Ok(written) => {
                    let mut assignment = self.assignment.lock().unwrap();
                    let mut commit = TopicPartitionList::new();
                    for (key, next) in &written.next_offsets {
                        if let Some(position) = assignment.positions.get_mut(key) {
                            *position = Some(*next);
                            let _ =
                                commit.add_partition_offset(&key.0, key.1, Offset::Offset(*next));
                        }
                    }
                    let took = started.elapsed();
                    self.status
                        .record_batch(&written, took, &assignment.positions);
                    self.metrics.record_batch(&written.per_topic, took);
                    self.metrics.set_dedup_ids(assignment.recent.len());
                    drop(assignment);
                    if commit.count() > 0 {
                        let _ = self.consumer.commit(&commit, CommitMode::Async);
                    }
                    batch.drain(..take);
                }
                Err(StoreError::Refused(e)) if take > 1 => {
                    tracing::warn!(
                        "Postgres refused a batch of {take} ({e}); writing it in halves"
                    );
                    part = take.div_ceil(2);
                }
                Err(StoreError::Refused(e)) if batch[0].can_be_set_aside() => {
                    batch[0].set_aside(&e, self.excerpt_bytes);
                    let r = &batch[0];
                    self.metrics.record_error("refused");
                    tracing::error!(
                        topic = r.topic,
                        partition = r.partition,
                        offset = r.offset,
                        "Postgres refused this record ({e}); keeping it as a dead letter"
                    );
                    part = usize::MAX;
                }
                Err(StoreError::Conflict { topic, partition }) => {
                    self.metrics.record_error("conflict");
                    tracing::warn!(
                        topic,
                        partition,
                        "another instance advanced this partition; re-reading stored offsets"
                    );
                    batch.clear();
                    self.reload_positions();
                    break;
                }
                Err(StoreError::Database(e) | StoreError::Refused(e)) => {
                    let backoff = delays.next().unwrap_or(Duration::from_secs(5));
                    self.metrics.record_error("database");
                    self.status.set_degraded(format!("writing a batch: {e}"));
                    tracing::warn!(
                        "cannot write a batch of {} events ({e}); retrying in {backoff:?}",
                        batch.len()
                    );
                    if !paused {
                        self.assignment.lock().unwrap().paused = true;
                        if let Ok(assigned) = self.consumer.assignment() {
                            let _ = self.consumer.pause(&assigned);
                        }
                        paused = true;
                    }
                    let failing_for = first_failure.get_or_insert_with(Instant::now).elapsed();
                    // Stopping: give up after a while; the offsets were not
                    // stored, so these events are read again at next start.
                    if self.stop.is_cancelled() && failing_for > Duration::from_secs(15) {
                        tracing::warn!(
                            "stopping with {} unwritten events; they will be read again",
                            batch.len()
                        );
                        batch.clear();
                        break;
                    }
                    self.idle(backoff, batch);
                }
            }
        }
        if paused {
            self.assignment.lock().unwrap().paused = false;
            if let Ok(assigned) = self.consumer.assignment() {
                let _ = self.consumer.resume(&assigned);
            }
            self.status.set_running();
            tracing::info!("Postgres is back; consuming again");
        }
    }

    /// Waits `duration` while still serving rebalances (consumption is
    /// paused, so a message here is rare; it is kept, not lost).
    fn idle(&self, duration: Duration, batch: &mut Vec<Consumed>) {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            if let Some(Ok(message)) = self.consumer.poll(Duration::from_millis(100)) {
                self.forget_changed_partitions(batch);
                batch.extend(self.accept(&message));
            }
        }
    }

    /// Checks that the batch begins, in each partition, at the stored
    /// offset. Later is normal where offsets hold no records (transaction
    /// markers, aborted or compacted records); if the log starts past the
    /// stored offset, the records in between were lost, and that is
    /// reported like any offset reset. (Earlier cannot happen: records
    /// below the stored offset are never batched.)
    fn check_batch_start(&self, batch: &[Consumed]) {
        let positions = self.assignment.lock().unwrap().positions.clone();
        let mut checked = HashSet::new();
        for r in batch {
            let key = (r.topic.clone(), r.partition);
            let Some(Some(next)) = positions.get(&key) else {
                continue;
            };
            if !checked.insert(key.clone()) || r.offset == *next {
                continue;
            }
            let Ok((low, high)) =
                self.consumer
                    .fetch_watermarks(&key.0, key.1, Duration::from_secs(5))
            else {
                continue;
            };
            if low > *next {
                self.report_offset_reset(OffsetReset {
                    topic: key.0,
                    partition: key.1,
                    kind: OffsetResetKind::BeforeStart,
                    stored: *next,
                    log_start: low,
                    log_end: high,
                    records_lost: low.min(r.offset) - next,
                    at: chrono::Utc::now(),
                });
            } else {
                tracing::debug!(
                    topic = key.0,
                    partition = key.1,
                    "offsets {next} to {} hold no records",
                    r.offset - 1
                );
            }
        }
    }

    /// Applies the rule for stored offsets outside their log: continue from
    /// the log's start (past the end, the log is new and all of it is
    /// counted; before the start, the records in between are gone), moving
    /// the stored offset there, with an error logged and the reset
    /// reported. `false` while some partition could not be checked.
    fn move_offsets_into_logs(&self) -> bool {
        let positions = self.assignment.lock().unwrap().positions.clone();
        let mut restarts = self.restarts.lock().unwrap();
        restarts.retain(|key, _| positions.contains_key(key));
        let mut done = true;
        for (key, stored) in positions {
            let Some(stored) = stored else {
                continue; // read from the beginning: always inside
            };
            let (low, high) =
                match self
                    .consumer
                    .fetch_watermarks(&key.0, key.1, Duration::from_secs(5))
                {
                    Ok(marks) => marks,
                    Err(e) => {
                        tracing::warn!("cannot read the log bounds of {}/{}: {e}", key.0, key.1);
                        done = false;
                        continue;
                    }
                };
            let Some(kind) = OffsetResetKind::of(stored, low, high) else {
                continue;
            };
            let moved = self.runtime.block_on(store::within(
                self.store.timeout,
                store::move_offset(&self.pool, &self.store.group, &key, stored, low),
            ));
            match moved {
                Ok(true) => {
                    let reset = OffsetReset {
                        topic: key.0.clone(),
                        partition: key.1,
                        kind,
                        stored,
                        log_start: low,
                        log_end: high,
                        records_lost: if kind == OffsetResetKind::BeforeStart {
                            low - stored
                        } else {
                            0
                        },
                        at: chrono::Utc::now(),
                    };
                    self.report_offset_reset(reset);
                    let mut assignment = self.assignment.lock().unwrap();
                    assignment.positions.insert(key.clone(), Some(low));
                    // Nothing before the log's start is left to read back.
                    assignment.recent.forget(&key);
                    drop(assignment);
                    restarts.insert(key, low);
                }
                Ok(false) => self.reload_positions(),
                Err(e) => {
                    tracing::warn!("cannot move the stored offset of {}/{}: {e}", key.0, key.1);
                    done = false;
                }
            }
        }
        // librdkafka stopped fetching these partitions (a seek is refused
        // in that state): assign them again at their new offset.
        restarts.retain(|key, offset| {
            let mut tpl = TopicPartitionList::new();
            let restarted = tpl
                .add_partition_offset(&key.0, key.1, Offset::Offset(*offset))
                .and_then(|()| self.consumer.incremental_unassign(&tpl))
                .and_then(|()| self.consumer.incremental_assign(&tpl));
            if let Err(e) = &restarted {
                tracing::warn!("restarting {}/{}: {e}", key.0, key.1);
            }
            restarted.is_err()
        });
        done &= restarts.is_empty();
        drop(restarts);
        self.status
            .set_assignment(&self.assignment.lock().unwrap().positions);
        done
    }

    /// Logs, counts and shows a stored offset found outside its log.
    fn report_offset_reset(&self, reset: OffsetReset) {
        tracing::error!(
            topic = reset.topic,
            partition = reset.partition,
            kind = reset.kind.name(),
            stored = reset.stored,
            log_start = reset.log_start,
            log_end = reset.log_end,
            records_lost = reset.records_lost,
            "the stored offset was outside the partition's log; counting goes on from the log's start"
        );
        self.metrics
            .record_offset_reset(reset.kind.name(), reset.records_lost);
        self.status.record_offset_reset(reset);
    }

    /// After a fencing conflict: take the stored offsets as the truth and
    /// seek every owned partition there.
    fn reload_positions(&self) {
        let keys: Vec<PartitionKey> = self
            .assignment
            .lock()
            .unwrap()
            .positions
            .keys()
            .cloned()
            .collect();
        let Ok(stored) = self.runtime.block_on(store::within(
            self.store.timeout,
            store::load_offsets(&self.pool, &self.store.group, &keys),
        )) else {
            return;
        };
        let mut assignment = self.assignment.lock().unwrap();
        let keys_without_offsets: Vec<&PartitionKey> =
            keys.iter().filter(|k| !stored.contains_key(*k)).collect();
        for key in keys_without_offsets {
            assignment.recent.forget(key);
        }
        if !self
            .consumer
            .context()
            .read_back(&mut assignment.recent, &stored)
        {
            return; // stopping
        }
        for key in keys {
            let next = stored.get(&key).copied();
            if let Some(position) = assignment.positions.get_mut(&key) {
                *position = next;
            }
            let offset = next.map_or(Offset::Beginning, Offset::Offset);
            if let Err(e) = self
                .consumer
                .seek(&key.0, key.1, offset, Duration::from_secs(5))
            {
                tracing::warn!("seeking {}/{}: {e}", key.0, key.1);
            }
        }
    }
}
