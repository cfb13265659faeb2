//! Stage 1, the repartition stage: each click read from `edm-ui-click` is
//! given its event time (capped by this processor's clock, see
//! [`event_time`](crate::event_time())) and written, keyed by its product,
//! to the repartition topic with where it was read: the partition is the
//! key's murmur2 hash modulo the partition count, as Kafka's Java clients
//! place keyed records, so each product is one window task's. Page loads
//! read from `edm-ui-pageload` go the same way, keyed by their device type
//! ([`edm_events::device::device_type`]), as [`PageLoadBatch`]es. Input
//! partitions of both topics are named by their source id
//! ([`crate::progress::source_id`]). At the end
//! of each cycle the stage writes progress records for the input
//! partitions it has read to their end, to every repartition partition
//! (each window task's watermark waits for every input partition), so that
//! windows close on a quiet store.
//!
//! # Batches
//! Under exactly once the stage writes no record per click: it gathers the
//! cycle's clicks by (minute of event time, input partition, product), and
//! its page loads by (minute, input partition, device type), and writes
//! each group as one [`ClickBatch`] or [`PageLoadBatch`] at the end of the
//! cycle, minutes in order, before the cycle's progress records. A transaction commits
//! or aborts the cycle whole, so a batch is never written twice or in part.
//! Under at least once a crash makes the stage read clicks again, in
//! cycles cut elsewhere, and the window store recognises a click read
//! twice by its input offset in the order it was read: each click (and
//! page load) keeps its own record there.
//!
//! # The sample
//! Each valid click and page load also goes through the cycle's
//! [`Sampler`]: a uniform reservoir of at most `k` events per input
//! partition. At the end of the cycle, after the batches and before the
//! progress records, each partition that read `n` events writes its
//! `min(n, k)` kept ones to `edm-trending-sample`, keyed by their source
//! (`edm-ui-click/2`), their `stands_for` adding up to `n`, in the cycle's
//! transaction: an aborted cycle writes none, so the committed records of
//! a partition state exactly how many events it holds. Under at least once
//! a crash may write a cycle's sample again (its events read again, in
//! cycles cut elsewhere). Records the stage skips are neither sampled nor
//! counted.
//!
//! # Progress of what was read
//! A task hears of an input partition through the records of its own
//! products (or device types), which may be none: so at the end of a
//! cycle that read a partition, once the latest event time read from it
//! passes a closing instant, a progress record carries that instant (and
//! the offset read to) to every task.
//!
//! # Progress of a quiet partition
//! Every second at most, for a partition whose rounded clock watermark
//! (the processor's clock minus `EDM_TRENDING_MAX_CLOCK_SKEW_SECS`, rounded
//! down to the last instant at which windows close) is ahead of what it
//! last wrote, the stage asks the broker for the partition's end offset. It
//! notes the time it asked (`asked`). Once it has read up to that end,
//! every record written before `asked` is behind it, so the partition's
//! watermark is at least `asked` minus the skew: a progress record says
//! so. Records still on their way then are within the skew or the grace
//! period. A busy partition reaches its noted end a moment later; a
//! backlog only once it is read. Rounding means a quiet partition writes
//! one progress record a minute.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edm_events::device::device_type;
use edm_events::event::Properties;
use edm_events::recent_ids::{IdDigest, RecentIds};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::BaseRecord;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::event_time::{event_time, Adjustment, Clock};
use crate::input_event::{input_event, WindowReader};
use crate::metrics::Metrics;
use crate::names::Names;
use crate::processor::{Interrupted, RebalanceCounter};
use crate::producer::StageProducer;
use crate::progress::{source_id, source_of, InputTopic, Source};
use crate::repartition::{
    ClickBatch, ClickRecord, PageLoadBatch, ProgressRecord, RepartitionRecord,
};
use crate::sampler::{kept_text, Sampler};
use crate::throttled_log::Throttled;
use crate::window::last_closing_at_or_before;
use crate::window_task::PARTITIONS_REFRESH;

/// How often a partition's end offset is asked for, at most.
const END_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The longest an end-offset question holds up a cycle (a hung broker
/// costs the check, not the cycle's commit).
const END_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a gathered batch counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum BatchKind {
    /// Clicks on a product.
    Clicks,
    /// Page loads from a device type.
    PageLoads,
}

/// One assigned input partition.
#[derive(Debug)]
struct InputPartition {
    /// Where reading resumes after an aborted cycle: the committed offset
    /// (`None`: the start of the log).
    committed: Option<i64>,
    /// The next offset to read, once known (a record was read, or the
    /// committed offset is).
    position: Option<i64>,
    /// Records of this partition were read in the open cycle.
    read: bool,
    /// The watermark of the last progress record committed.
    progress_committed: i64,
    /// The watermark of the last progress record written (maybe in the
    /// open cycle).
    progress_written: i64,
    /// The latest event time read from it (the watermark its records
    /// give, as a window store counts it).
    read_watermark: Option<i64>,
    /// An end offset asked for and not reached yet: when it was asked
    /// (epoch ms) and the end then.
    end_check: Option<(i64, i64)>,
    /// When the end offset was last asked for.
    checked_at: Option<Instant>,
    /// The ids of its recent offsets, by which retries are not counted
    /// again.
    recent: RecentIds,
}

impl InputPartition {
    /// The progress record saying that this partition (source id
    /// `partition`) was read up to `next_offset` with `watermark`, if that
    /// is further than the last one written (which it then is).
    fn progress(
        &mut self,
        partition: i32,
        next_offset: i64,
        watermark: i64,
    ) -> Option<RepartitionRecord> {
        if watermark <= self.progress_written {
            return None;
        }
        self.progress_written = watermark;
        Some(RepartitionRecord::Progress(ProgressRecord {
            partition,
            next_offset,
            watermark,
        }))
    }
}

/// Clicks of one product (or page loads of one device type) in one minute
/// from one input partition, read in the open cycle.
#[derive(Debug, Default)]
struct Gathered {
    /// Their latest event time.
    event_time: i64,
    /// Their input offsets, in the order read.
    offsets: Vec<i64>,
}

/// The repartition stage.
pub struct RepartitionStage {
    /// Its producer (transactional id: this process's own).
    pub producer: StageProducer,
    /// Under exactly once, the open cycle's clicks and page loads by
    /// (minute, input source, kind, product or device type), written as
    /// batches when it ends; `None` under at least once (a record per
    /// click or page load).
    batches: Option<BTreeMap<(i64, i32, BatchKind, String), Gathered>>,
    /// The assigned input partitions, by source id.
    inputs: BTreeMap<i32, InputPartition>,
    /// The open cycle's sample of the events read, for
    /// `edm-trending-sample`; `None` when `EDM_TRENDING_SAMPLE_PER_SECOND`
    /// is 0.
    sampler: Option<Sampler>,
    adjusted: BTreeMap<&'static str, Throttled>,
    skipped: Throttled,
    /// The repartition topic's partition count, and when it was read.
    window_tasks: Option<(i32, Instant)>,
    /// How retries are recognised in each input partition.
    dedup: InputDedup,
}

/// How the stage recognises retries: the ids of each input partition's
/// last `window` offsets, read back when the partition is assigned.
pub struct InputDedup {
    /// Offsets each input partition's window covers (0: none).
    pub window: u64,
    /// The digest the windows keep ids as.
    pub digest: Arc<IdDigest>,
    /// Reads a window back from Kafka.
    pub reader: WindowReader,
}

impl RepartitionStage {
    /// The stage with no partition yet; `batched`: clicks are written in
    /// batches (exactly once only, see the module documentation);
    /// `sampler`: the sample's reservoirs, if it writes one.
    pub fn new(
        producer: StageProducer,
        batched: bool,
        sampler: Option<Sampler>,
        dedup: InputDedup,
    ) -> Self {
        Self {
            producer,
            batches: batched.then(BTreeMap::new),
            inputs: BTreeMap::new(),
            sampler,
            adjusted: BTreeMap::new(),
            skipped: Throttled::default(),
            window_tasks: None,
            dedup,
        }
    }

    /// Matches the stage's partitions to `assigned` (source ids); the
    /// committed offsets of partitions new to it are asked for, and the
    /// ids of the dedup window before each read back.
    pub fn sync_assignment(
        &mut self,
        consumer: &BaseConsumer<RebalanceCounter>,
        names: &Names,
        assigned: &[i32],
        timeout: Duration,
    ) -> Result<(), Interrupted> {
        self.inputs.retain(|p, _| assigned.contains(p));
        let new: Vec<i32> = assigned
            .iter()
            .copied()
            .filter(|p| !self.inputs.contains_key(p))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let mut wanted = TopicPartitionList::new();
        for p in &new {
            let (topic, partition) = source_of(*p);
            wanted.add_partition(names.input_topic(topic), partition);
        }
        let committed = consumer.committed_offsets(wanted, timeout)?;
        for element in committed.elements() {
            let offset = match element.offset() {
                Offset::Offset(n) => Some(n),
                _ => None,
            };
            let topic = if element.topic() == names.page_loads {
                InputTopic::PageLoads
            } else {
                InputTopic::Clicks
            };
            let mut recent = RecentIds::new(self.dedup.window, self.dedup.digest.clone());
            if let Some(next) = offset.filter(|_| self.dedup.window > 0) {
                let window = i64::try_from(self.dedup.window).unwrap_or(i64::MAX);
                let started = Instant::now();
                let read = self.dedup.reader.read(
                    element.topic(),
                    element.partition(),
                    topic,
                    (next.saturating_sub(window).max(0), next),
                    &mut recent,
                )?;
                tracing::info!(
                    topic = element.topic(),
                    partition = element.partition(),
                    read,
                    ids = recent.len(),
                    took = ?started.elapsed(),
                    "read the dedup window back"
                );
            }
            self.inputs.insert(
                source_id(topic, element.partition()),
                InputPartition {
                    committed: offset,
                    position: offset,
                    read: false,
                    progress_committed: i64::MIN,
                    progress_written: i64::MIN,
                    read_watermark: None,
                    end_check: None,
                    checked_at: None,
                    recent,
                },
            );
        }
        Ok(())
    }

    /// Whether the stage knows source `partition` (it is assigned and synced).
    pub fn has(&self, partition: i32) -> bool {
        self.inputs.contains_key(&partition)
    }

    /// A click or page load from input source `partition` (see
    /// [`source_id`]), written keyed by product or device type. Records
    /// that are not valid events of their topic are skipped (counted, and
    /// logged at most every few seconds); their offsets still move on.
    pub fn on_record(
        &mut self,
        message: &BorrowedMessage<'_>,
        partition: i32,
        names: &Names,
        metrics: &Metrics,
        clock: Clock,
    ) -> Result<(), Interrupted> {
        let offset = message.offset();
        if let Some(input) = self.inputs.get_mut(&partition) {
            input.position = Some(offset + 1);
            input.read = true;
        }
        let skip = |why: std::fmt::Arguments<'_>, skipped: &mut Throttled| {
            metrics.skipped_inputs.inc();
            if let Some(held_back) = skipped.allow() {
                tracing::warn!(
                    partition,
                    offset,
                    held_back,
                    "skipping an input record: {why}"
                );
            }
            Ok(())
        };
        let parsed = match input_event(message, source_of(partition).0) {
            Ok(parsed) => parsed,
            Err(why) => return skip(format_args!("{why}"), &mut self.skipped),
        };
        let event = &parsed.event;
        let (kind, name) = match &event.properties {
            Properties::Click(click) => (BatchKind::Clicks, click.button_id.as_str()),
            Properties::PageLoad(load) => (BatchKind::PageLoads, device_type(&load.user_agent)),
        };
        if let Some(input) = self.inputs.get_mut(&partition) {
            if input.recent.is_duplicate(offset, parsed.id()) {
                metrics.duplicate_inputs.inc();
                return Ok(());
            }
        }
        let time = event_time(
            event.event_timestamp,
            message.timestamp().to_millis(),
            clock,
        );
        if let Some(adjustment) = time.adjustment {
            self.note_adjustment(adjustment, metrics, partition, offset, clock);
        }
        if let Some(input) = self.inputs.get_mut(&partition) {
            input.read_watermark = Some(input.read_watermark.map_or(time.ms, |w| w.max(time.ms)));
        }
        if kind == BatchKind::Clicks {
            metrics.clicks_repartitioned.inc();
        } else {
            metrics.page_loads_repartitioned.inc();
        }
        if let Some(sampler) = self.sampler.as_mut() {
            // The text is copied only if the event is kept.
            let payload = message.payload().unwrap_or_default();
            sampler.offer(partition, offset, || kept_text(payload, event));
        }
        if let Some(batches) = self.batches.as_mut() {
            let minute = time.ms - time.ms.rem_euclid(60_000);
            let gathered = batches
                .entry((minute, partition, kind, name.to_owned()))
                .or_default();
            gathered.event_time = if gathered.offsets.is_empty() {
                time.ms
            } else {
                gathered.event_time.max(time.ms)
            };
            gathered.offsets.push(offset);
            return Ok(());
        }
        let record = match kind {
            BatchKind::Clicks => RepartitionRecord::Click(ClickRecord {
                button_id: name.to_owned(),
                event_time: time.ms,
                event_id: event.event_id.clone(),
                source: Some(Source { partition, offset }),
            }),
            BatchKind::PageLoads => RepartitionRecord::PageLoads(PageLoadBatch {
                device: name.to_owned(),
                event_time: time.ms,
                partition,
                offsets: vec![offset],
            }),
        };
        self.write(&record, names, None)?;
        metrics.repartition_records.inc();
        Ok(())
    }

    /// Writes the open cycle's batches, minutes in order (before its
    /// progress records: see [`write_progress`](Self::write_progress)).
    pub fn write_batches(&mut self, names: &Names, metrics: &Metrics) -> Result<(), Interrupted> {
        let Some(batches) = self.batches.as_mut() else {
            return Ok(());
        };
        for ((_, partition, kind, name), gathered) in std::mem::take(batches) {
            let record = match kind {
                BatchKind::Clicks => RepartitionRecord::Clicks(ClickBatch {
                    button_id: name,
                    event_time: gathered.event_time,
                    partition,
                    offsets: gathered.offsets,
                }),
                BatchKind::PageLoads => RepartitionRecord::PageLoads(PageLoadBatch {
                    device: name,
                    event_time: gathered.event_time,
                    partition,
                    offsets: gathered.offsets,
                }),
            };
            self.write(&record, names, None)?;
            metrics.repartition_records.inc();
        }
        Ok(())
    }

    /// Writes the open cycle's sample to `edm-trending-sample` (after its
    /// batches, before its progress records), dated `clock`'s second.
    pub fn write_sample(
        &mut self,
        names: &Names,
        metrics: &Metrics,
        clock: Clock,
    ) -> Result<(), Interrupted> {
        let Some(sampler) = self.sampler.as_mut() else {
            return Ok(());
        };
        let second = clock.now_ms - clock.now_ms.rem_euclid(1000);
        for record in sampler.take(second) {
            let out = BaseRecord::<String, Vec<u8>>::to(&names.sample)
                .key(&record.key)
                .payload(&record.value);
            self.producer.send(out)?;
            metrics.sample_records.inc();
        }
        Ok(())
    }

    /// Counts an event time that was not the click's own, and says so in
    /// the log (at most every few seconds per kind).
    fn note_adjustment(
        &mut self,
        adjustment: Adjustment,
        metrics: &Metrics,
        partition: i32,
        offset: i64,
        clock: Clock,
    ) {
        metrics.note_adjusted_time(adjustment);
        if let Some(held_back) = self.adjusted.entry(adjustment.label()).or_default().allow() {
            match adjustment {
                Adjustment::AheadOfClock => tracing::warn!(
                    partition,
                    offset,
                    held_back,
                    capped_at = clock.latest(),
                    "an input record is dated after this processor's clock plus \
                     EDM_TRENDING_MAX_CLOCK_SKEW_SECS; its event time is capped there"
                ),
                Adjustment::NoRecordTime => tracing::warn!(
                    partition,
                    offset,
                    held_back,
                    "an input record has no usable Kafka timestamp; the time it was read stands in"
                ),
            }
        }
    }

    /// Writes one record to the repartition topic: to `partition`, or, if
    /// `None`, where its key's murmur2 hash puts it (the producer's
    /// partitioner).
    fn write(
        &mut self,
        record: &RepartitionRecord,
        names: &Names,
        partition: Option<i32>,
    ) -> Result<(), Interrupted> {
        let value = record
            .value()
            .map_err(|e| Interrupted::Fatal(crate::processor::Fatal::Encode(e)))?;
        let key = record.key();
        let mut out = BaseRecord::<Vec<u8>, Vec<u8>>::to(&names.repartition).payload(&value);
        if let Some(partition) = partition {
            out = out.partition(partition);
        }
        if let Some(key) = &key {
            out = out.key(key);
        }
        self.producer.send(out)?;
        Ok(())
    }

    /// Writes progress records for the partitions read to the end they had
    /// when last asked; asks again (at most every second) where the
    /// clock's rounded watermark is ahead of what was written.
    pub fn write_progress(
        &mut self,
        consumer: &BaseConsumer<RebalanceCounter>,
        names: &Names,
        metrics: &Metrics,
        clock: Clock,
        grace_ms: i64,
        timeout: Duration,
    ) -> Result<(), Interrupted> {
        let Some(tasks) = self.window_tasks(consumer, names, timeout) else {
            return Ok(());
        };
        let target = last_closing_at_or_before(clock.now_ms - clock.max_skew_ms, grace_ms);
        // librdkafka's own position also moves past what it never hands
        // over: transaction markers another producer's transactions leave.
        let positions = consumer.position().unwrap_or_default();
        let mut records = Vec::new();
        for (&partition, input) in self.inputs.iter_mut() {
            let (topic, topic_partition) = source_of(partition);
            let topic = names.input_topic(topic);
            if let Some(Offset::Offset(n)) = positions
                .find_partition(topic, topic_partition)
                .map(|e| e.offset())
            {
                input.position = Some(input.position.map_or(n, |p| p.max(n)));
            }
            // What was read moves every task's watermark for this
            // partition, not only the tasks its records went to (a task
            // may own no product, or no device type, of it): once a
            // closing instant, to every task.
            if let (true, Some(read), Some(position)) =
                (input.read, input.read_watermark, input.position)
            {
                let watermark = last_closing_at_or_before(read, grace_ms);
                records.extend(input.progress(partition, position, watermark));
            }
            if target <= input.progress_written {
                continue;
            }
            if input.end_check.is_none()
                && input
                    .checked_at
                    .is_none_or(|at| at.elapsed() >= END_CHECK_INTERVAL)
            {
                input.checked_at = Some(Instant::now());
                let asked = clock.now_ms;
                match consumer.fetch_watermarks(
                    topic,
                    topic_partition,
                    timeout.min(END_CHECK_TIMEOUT),
                ) {
                    Ok((low, high)) => {
                        // Nothing committed: reading starts at the log's start.
                        input.position.get_or_insert(low);
                        input.end_check = Some((asked, high));
                    }
                    Err(e) => tracing::debug!(partition, "asking for the end offset: {e}"),
                }
            }
            let Some((asked, end)) = input.end_check else {
                continue;
            };
            let Some(position) = input.position.filter(|p| *p >= end) else {
                continue;
            };
            input.end_check = None;
            let watermark = last_closing_at_or_before(asked - clock.max_skew_ms, grace_ms);
            records.extend(input.progress(partition, position, watermark));
        }
        for record in &records {
            for partition in 0..tasks {
                self.write(record, names, Some(partition))?;
                metrics.repartition_records.inc();
            }
        }
        Ok(())
    }

    /// The repartition topic's partition count, read again every
    /// [`PARTITIONS_REFRESH`]; `None` while it cannot be read.
    fn window_tasks(
        &mut self,
        consumer: &BaseConsumer<RebalanceCounter>,
        names: &Names,
        timeout: Duration,
    ) -> Option<i32> {
        if let Some((count, at)) = self.window_tasks {
            if at.elapsed() < PARTITIONS_REFRESH {
                return Some(count);
            }
        }
        let read = consumer
            .fetch_metadata(Some(&names.repartition), timeout.min(END_CHECK_TIMEOUT))
            .ok()
            .and_then(|metadata| {
                metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == names.repartition && t.error().is_none())
                    .map(|t| t.partitions().len())
            })
            .filter(|&n| n > 0)
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        match read {
            Some(count) => self.window_tasks = Some((count, Instant::now())),
            None => tracing::warn!(
                topic = names.repartition,
                "the repartition topic's partition count could not be read; progress records wait"
            ),
        }
        read.or(self.window_tasks.map(|(count, _)| count))
    }

    /// The next offset of each partition read in the open cycle, for the
    /// commit.
    pub fn offsets(&self, names: &Names) -> Result<TopicPartitionList, Interrupted> {
        let mut offsets = TopicPartitionList::new();
        for (&partition, input) in &self.inputs {
            if let (true, Some(next)) = (input.read, input.position) {
                let (topic, partition) = source_of(partition);
                offsets.add_partition_offset(
                    names.input_topic(topic),
                    partition,
                    Offset::Offset(next),
                )?;
            }
        }
        Ok(offsets)
    }

    /// The open cycle committed.
    pub fn committed(&mut self) {
        for input in self.inputs.values_mut() {
            if input.read {
                input.committed = input.position;
                input.read = false;
            }
            input.progress_committed = input.progress_written;
        }
    }

    /// The open cycle aborted: the partitions it read (source ids), and
    /// where each must be read again from (`None`: the log's start).
    pub fn aborted(&mut self) -> Vec<(i32, Option<i64>)> {
        if let Some(batches) = self.batches.as_mut() {
            batches.clear();
        }
        if let Some(sampler) = self.sampler.as_mut() {
            sampler.clear();
        }
        let mut rewind = Vec::new();
        for (&partition, input) in self.inputs.iter_mut() {
            if input.read {
                rewind.push((partition, input.committed));
                input.position = input.committed;
                input.read = false;
                input
                    .recent
                    .forget_from(input.committed.unwrap_or(i64::MIN));
            }
            input.progress_written = input.progress_committed;
        }
        rewind
    }
}
