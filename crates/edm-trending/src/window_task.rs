//! Stage 2, a window task: each record of its repartition partition goes
//! through its [`WindowStore`]; the changelog updates (to the changelog
//! partition of the same number) and the results it returns are written in
//! the cycle, with the repartition offset. The results hold the task's
//! products only: they go to the partials topic, as
//! [`PartialsRecord`]s, each time followed by the task's watermark once it
//! passes a closing instant, for the merge step ([`crate::merge`]). Its
//! products' per-minute counts go to `edm-trending-counts`: final ones in
//! the cycle that closed their minute, provisional ones at most once a
//! second ([`crate::minute_counts`]).
//!
//! Task `i`'s producer has the stable transactional id
//! `<application id>-windows-<i>`, so an instance that takes the task over
//! fences the previous owner at once (and aborts its open transaction)
//! before it restores the store from its changelog partition. The
//! task learns the input topics' partition counts from their metadata
//! (again every [`PARTITIONS_REFRESH`]): the store's watermark waits for
//! every one of them. No record of the repartition topic moves time past this
//! processor's clock plus `EDM_TRENDING_MAX_CLOCK_SKEW_SECS`, whoever wrote
//! it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerGroupMetadata};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::BaseRecord;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::changelog_reader::{restore, RestoreFailure};
use crate::event_time::Clock;
use crate::journal::{Journal, MAX_JOURNAL_BYTES};
use crate::merge::PartialsRecord;
use crate::metrics::{Metrics, StatusLabel};
use crate::minute_counts::{LiveCounts, MinuteCount};
use crate::names::Names;
use crate::processor::{Fatal, Interrupted, RebalanceCounter};
use crate::producer::StageProducer;
use crate::progress::source_of;
use crate::settings::{ProcessingGuarantee, Settings};
use crate::throttled_log::{cap_to_clock, Throttled};
use crate::window::{last_closing_at_or_before, Window};
use crate::{coalesce, ChangelogUpdate, Counters, Processed, RepartitionRecord, WindowStore};

/// How often the input topic's partition count is read again.
pub const PARTITIONS_REFRESH: Duration = Duration::from_secs(30);
/// The longest a question for an input partition's end offset waits.
const END_ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// A window task, while this instance holds it.
pub struct WindowTask {
    /// Its repartition partition (and changelog partition).
    partition: i32,
    /// Its producer (transactional id `<application id>-windows-<i>`).
    pub producer: StageProducer,
    /// The last watermark written to the partials topic, rounded down to
    /// a closing instant (see [`last_closing_at_or_before`]).
    watermark_written: Option<i64>,
    /// The watermark last committed so.
    watermark_committed: Option<i64>,
    store: WindowStore,
    guarantee: ProcessingGuarantee,
    /// The open cycle's changelog updates.
    changelog: Vec<ChangelogUpdate>,
    /// The windows the open cycle closed.
    closed: Vec<Window>,
    /// About how large the open cycle's journal would be.
    journal_bytes: usize,
    /// A journal record is in the changelog and must be retired by the
    /// first exactly-once transaction.
    retire_journal: bool,
    /// The repartition offset after the last record read in the open cycle.
    next_offset: Option<i64>,
    /// Clicks read in the open cycle.
    cycle_clicks: u64,
    /// Provisional per-minute counts not written yet.
    live: LiveCounts,
    /// The committed repartition offset (`None`: the log's start).
    committed: Option<i64>,
    /// The store's counters when they were last added to the metrics.
    reported: Counters,
    partitions_read_at: Option<Instant>,
    /// Under at least once: each input partition's end offset as last
    /// asked, against which the repartition records' input offsets are
    /// checked.
    input_ends: BTreeMap<i32, i64>,
    skipped: Throttled,
    capped: Throttled,
}

impl WindowTask {
    /// Takes task `partition`: a producer with the task's transactional id
    /// (which fences the previous owner), the store restored from its
    /// changelog partition, and the committed offset.
    pub fn open(
        settings: &Settings,
        names: &Names,
        metrics: &Metrics,
        consumer: &BaseConsumer<RebalanceCounter>,
        partition: i32,
    ) -> Result<Self, Interrupted> {
        let producer = StageProducer::new(settings, &names.windows_transactional_id(partition))?;
        let restored = restore(
            settings,
            &names.changelog,
            partition,
            &metrics.skipped_changelog,
        );
        let (store, summary) = match restored {
            Ok(restored) => restored,
            Err(RestoreFailure::Kafka { source, .. }) => return Err(Interrupted::Kafka(source)),
            Err(missing @ RestoreFailure::MissingPartition { .. }) => {
                return Err(Interrupted::Fatal(Fatal::Topics(missing.to_string())));
            }
            Err(stalled @ RestoreFailure::Stalled { .. }) => {
                tracing::warn!("{stalled}; trying again");
                return Err(Interrupted::Kafka(rdkafka::error::KafkaError::Canceled));
            }
        };
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition(&names.repartition, partition);
        let committed = consumer
            .committed_offsets(wanted, settings.kafka_timeout)?
            .elements()
            .first()
            .and_then(|e| match e.offset() {
                Offset::Offset(n) => Some(n),
                _ => None,
            });
        tracing::info!(
            task = partition,
            changelog_partition = partition,
            records = summary.records,
            skipped = summary.skipped,
            millis = summary.took.as_millis() as u64,
            watermark = store.watermark(),
            "window task {partition} assigned; store restored from changelog partition {partition}"
        );
        metrics.restores.inc();
        metrics.window_tasks.inc();
        metrics.last_restore_records.set(summary.records as i64);
        metrics
            .last_restore_millis
            .set(summary.took.as_millis() as i64);
        Ok(Self {
            partition,
            producer,
            watermark_written: None,
            watermark_committed: None,
            reported: *store.counters(),
            store,
            guarantee: settings.guarantee,
            changelog: Vec::new(),
            closed: Vec::new(),
            journal_bytes: 0,
            retire_journal: summary.journal_seen
                && settings.guarantee == ProcessingGuarantee::ExactlyOnce,
            next_offset: None,
            cycle_clicks: 0,
            live: LiveCounts::default(),
            committed,
            partitions_read_at: None,
            input_ends: BTreeMap::new(),
            skipped: Throttled::default(),
            capped: Throttled::default(),
        })
    }

    /// Reads the input topics' partition counts when it is due; windows
    /// the watermark then passes are closed in the open cycle.
    pub fn read_input_partitions(
        &mut self,
        consumer: &BaseConsumer<RebalanceCounter>,
        names: &Names,
        metrics: &Metrics,
        timeout: Duration,
    ) -> Result<(), Interrupted> {
        if self
            .partitions_read_at
            .is_some_and(|at| at.elapsed() < PARTITIONS_REFRESH)
        {
            return Ok(());
        }
        let mut counts = [0; 2];
        for (count, topic) in counts.iter_mut().zip([&names.input, &names.page_loads]) {
            let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
            let Some(n) = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len())
                .filter(|&n| n > 0)
            else {
                tracing::warn!(
                    topic,
                    "the input topic's metadata has no partitions; windows wait"
                );
                return Ok(());
            };
            *count = i32::try_from(n).unwrap_or(i32::MAX);
        }
        self.partitions_read_at = Some(Instant::now());
        let processed = self.store.set_input_partitions(counts[0], counts[1]);
        self.write(processed, names, metrics)
    }

    /// A record of the repartition topic, through the store. Records that
    /// do not decode, or that the store refuses, are skipped (counted, and
    /// logged at most every few seconds); the offset moves on.
    pub fn on_record(
        &mut self,
        message: &BorrowedMessage<'_>,
        consumer: &BaseConsumer<RebalanceCounter>,
        names: &Names,
        metrics: &Metrics,
        clock: Clock,
    ) -> Result<(), Interrupted> {
        self.next_offset = Some(message.offset() + 1);
        let offset = message.offset();
        let mut record = match RepartitionRecord::decode(message.key(), message.payload()) {
            Ok(record) => record,
            Err(e) => {
                metrics.skipped_repartition.inc();
                if let Some(held_back) = self.skipped.allow() {
                    tracing::warn!(offset, held_back, "skipping a repartition record: {e}");
                }
                return Ok(());
            }
        };
        if let Some((partition, next)) = self.beyond_the_input(&record, consumer, names) {
            metrics.skipped_repartition.inc();
            if let Some(held_back) = self.skipped.allow() {
                tracing::warn!(
                    offset,
                    partition,
                    next,
                    held_back,
                    "skipping a repartition record that names input offsets past the partition's \
                     end (another producer wrote it?)"
                );
            }
            return Ok(());
        }
        let (time, clicks) = match &mut record {
            RepartitionRecord::Click(click) => (&mut click.event_time, 1),
            RepartitionRecord::Clicks(batch) => {
                let clicks = batch.clicks();
                (&mut batch.event_time, clicks)
            }
            RepartitionRecord::PageLoads(batch) => (&mut batch.event_time, 0),
            RepartitionRecord::Progress(progress) => (&mut progress.watermark, 0),
        };
        self.cycle_clicks += clicks;
        cap_to_clock(
            time,
            clock,
            &mut self.capped,
            metrics,
            offset,
            "repartition",
        );
        match self.store.process(&record) {
            Ok(processed) => {
                metrics.clicks_counted.inc_by(clicks);
                self.write(processed, names, metrics)
            }
            Err(refused) => {
                metrics.skipped_repartition.inc();
                if let Some(held_back) = self.skipped.allow() {
                    tracing::warn!(
                        offset,
                        held_back,
                        "the window store refused a record: {refused}"
                    );
                }
                Ok(())
            }
        }
    }

    /// Under at least once, where a record claims the input was read up to
    /// (partition, next offset) past the partition's end: such a record no
    /// repartition stage wrote, and counting it would make the store skip
    /// real clicks as repeats. The end is asked again before refusing.
    fn beyond_the_input(
        &mut self,
        record: &RepartitionRecord,
        consumer: &BaseConsumer<RebalanceCounter>,
        names: &Names,
    ) -> Option<(i32, i64)> {
        if !self.store.config().skips_repeated_sources() {
            return None;
        }
        let (partition, next) = match record {
            RepartitionRecord::Click(click) => {
                let source = click.source?;
                (source.partition, source.offset.saturating_add(1))
            }
            RepartitionRecord::Clicks(batch) => {
                let last = batch.last();
                (last.partition, last.offset.saturating_add(1))
            }
            RepartitionRecord::PageLoads(batch) => {
                let last = batch.offsets.last().copied().unwrap_or_default();
                (batch.partition, last.saturating_add(1))
            }
            RepartitionRecord::Progress(progress) => (progress.partition, progress.next_offset),
        };
        if self
            .input_ends
            .get(&partition)
            .is_some_and(|end| next <= *end)
        {
            return None;
        }
        let (topic, topic_partition) = source_of(partition);
        match consumer.fetch_watermarks(names.input_topic(topic), topic_partition, END_ASK_TIMEOUT)
        {
            Ok((_, end)) => {
                self.input_ends.insert(partition, end);
                (next > end).then_some((partition, next))
            }
            // Not known now: counted as it claims (the store checks the rest).
            Err(_) => None,
        }
    }

    /// The task's number: its repartition and changelog partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Puts what the store returned in the open cycle: its partial results,
    /// then the watermark if it passed a closing instant (so the merge sees
    /// a window's partial before the watermark that closes it).
    fn write(
        &mut self,
        processed: Processed,
        names: &Names,
        metrics: &Metrics,
    ) -> Result<(), Interrupted> {
        if processed.changelog.is_empty()
            && processed.emitted.is_empty()
            && processed.minute_counts.is_empty()
        {
            return Ok(());
        }
        self.producer.begin()?;
        let task = self.partition;
        let mut partials: Vec<PartialsRecord> = processed
            .emitted
            .into_iter()
            .map(|result| PartialsRecord::Partial { task, result })
            .collect();
        let grace = self.store.config().grace_ms();
        if let Some(watermark) = self.store.watermark() {
            let closing = last_closing_at_or_before(watermark, grace);
            if self.watermark_written.is_none_or(|w| closing > w) {
                self.watermark_written = Some(closing);
                partials.push(PartialsRecord::Watermark {
                    task,
                    watermark: closing,
                });
            }
        }
        for record in partials {
            let value = record
                .value()
                .map_err(|e| Interrupted::Fatal(Fatal::Encode(e)))?;
            self.producer.send(
                BaseRecord::to(&names.partials)
                    .partition(0)
                    .key(&record.key())
                    .payload(&value),
            )?;
            if matches!(record, PartialsRecord::Partial { .. }) {
                metrics.partials_written.inc();
            }
        }
        for update in processed.minute_counts {
            if let Some(now) = self.live.note(update) {
                self.send_minute_count(&now, names, metrics)?;
            }
        }
        self.journal_bytes += processed
            .changelog
            .iter()
            .map(|u| 10 + u.key.len() + u.value.as_ref().map_or(0, Vec::len))
            .sum::<usize>();
        self.changelog.extend(processed.changelog);
        self.closed.extend(processed.closed);
        Ok(())
    }

    /// Sends one `edm-trending-counts` record in the open cycle.
    fn send_minute_count(
        &mut self,
        update: &MinuteCount,
        names: &Names,
        metrics: &Metrics,
    ) -> Result<(), Interrupted> {
        let key = update.key();
        let value = update
            .value()
            .map_err(|e| Interrupted::Fatal(Fatal::Encode(e)))?;
        let mut record = BaseRecord::<str, [u8]>::to(&names.counts).key(&key);
        if let Some(value) = &value {
            record = record.payload(&value[..]);
        }
        self.producer.send(record)?;
        let status = match (&update.count, update.is_final) {
            (None, _) => "withdrawn",
            (Some(_), true) => "final",
            (Some(_), false) => "provisional",
        };
        metrics
            .minute_counts_written
            .get_or_create(&StatusLabel { status })
            .inc();
        Ok(())
    }

    /// Whether the open cycle should end now: under at least once, its
    /// journal has reached [`MAX_JOURNAL_BYTES`].
    pub fn cycle_full(&self) -> bool {
        self.guarantee == ProcessingGuarantee::AtLeastOnce
            && self.journal_bytes >= MAX_JOURNAL_BYTES
    }

    /// The committed repartition offset (`None`: the log's start).
    pub fn committed(&self) -> Option<i64> {
        self.committed
    }

    /// Whether the open cycle changed the store (so an abort must restore it).
    pub fn changed(&self) -> bool {
        self.producer.is_open()
    }

    /// Commits the open cycle: the changelog updates (one per key) and the
    /// repartition offset, with the results already sent. Under at least
    /// once the results are delivered first, then the cycle's
    /// [`Journal`], then the per-key updates; only then is the offset
    /// committed.
    pub fn commit(
        &mut self,
        consumer: &BaseConsumer<RebalanceCounter>,
        group: &ConsumerGroupMetadata,
        names: &Names,
        metrics: &Metrics,
        timeout: Duration,
    ) -> Result<(), Interrupted> {
        let now = Instant::now();
        let deadline = now + timeout;
        let due = self.live.take_due(now);
        if !due.is_empty() {
            self.producer.begin()?;
            for update in &due {
                self.send_minute_count(update, names, metrics)?;
            }
        }
        let closed = std::mem::take(&mut self.closed);
        self.journal_bytes = 0;
        if self.producer.is_open() {
            let mut updates = coalesce(std::mem::take(&mut self.changelog));
            match self.guarantee {
                ProcessingGuarantee::AtLeastOnce if !updates.is_empty() => {
                    self.producer.delivered(deadline)?;
                    let journal = Journal::of_cycle(&closed, &updates).update();
                    self.producer.send(
                        BaseRecord::<[u8], [u8]>::to(&names.changelog)
                            .partition(self.partition)
                            .key(&journal.key[..])
                            .payload(journal.value.as_deref().unwrap_or_default()),
                    )?;
                    self.producer.delivered(deadline)?;
                }
                ProcessingGuarantee::ExactlyOnce if self.retire_journal => {
                    updates.push(Journal::deleted());
                }
                _ => {}
            }
            for update in updates {
                let mut record = BaseRecord::<[u8], [u8]>::to(&names.changelog)
                    .partition(self.partition)
                    .key(&update.key[..]);
                if let Some(value) = &update.value {
                    record = record.payload(&value[..]);
                }
                self.producer.send(record)?;
            }
        }
        if !self.producer.is_open() && self.next_offset.is_none() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        if let Some(next) = self.next_offset {
            offsets.add_partition_offset(
                &names.repartition,
                self.partition,
                Offset::Offset(next),
            )?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let had_changes = self.producer.is_open();
        self.producer.commit(&offsets, consumer, group, left)?;
        if had_changes {
            self.retire_journal = false;
        }
        self.watermark_committed = self.watermark_written;
        if let Some(next) = self.next_offset.take() {
            self.committed = Some(next);
        }
        metrics
            .clicks_committed
            .inc_by(std::mem::take(&mut self.cycle_clicks));
        self.report(metrics);
        Ok(())
    }

    /// The open cycle aborted: where the repartition topic must be read
    /// again from, if the cycle read it (`Some(None)`: the log's start).
    pub fn aborted(&mut self) -> Option<Option<i64>> {
        self.watermark_written = self.watermark_committed;
        self.cycle_clicks = 0;
        self.live.clear();
        self.changelog.clear();
        self.closed.clear();
        self.journal_bytes = 0;
        self.next_offset.take().map(|_| self.committed)
    }

    /// Adds the store's counters since the last report to the metrics.
    pub fn report(&mut self, metrics: &Metrics) {
        let now = *self.store.counters();
        metrics.add_store_counts(&self.reported, &now);
        self.reported = now;
    }

    /// The store's watermark, once it has one.
    pub fn watermark(&self) -> Option<i64> {
        self.store.watermark()
    }
}
