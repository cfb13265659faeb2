//! The merge step at run time: the [`Merger`] on the partials topic's one
//! partition, writing each window's global result to `edm-trending` in the
//! cycle's transaction, with the partials offset.
//!
//! Its state is rebuilt from the partials topic itself, not from a
//! changelog: each commit stands behind the [`Merger::restart_offset`] (the
//! consumer group's offset for the partition) and records, in the commit's
//! metadata, the offset it processed to. An instance that takes the step
//! over (its producer's stable transactional id `<application id>-merge`
//! fences the previous owner) reads from the committed offset and replays
//! the records before the processed one without writing anything, which
//! gives the state the previous owner had at its last commit. The merge
//! learns how many window tasks there are from the repartition topic's
//! partition count. A watermark dated after this processor's clock plus
//! `EDM_TRENDING_MAX_CLOCK_SKEW_SECS` is capped there, as the window tasks
//! cap times.

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerGroupMetadata};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::BaseRecord;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::event_time::Clock;
use crate::merge::{Merger, PartialsRecord};
use crate::metrics::Metrics;
use crate::names::Names;
use crate::processor::{Fatal, Interrupted, RebalanceCounter};
use crate::producer::StageProducer;
use crate::settings::Settings;
use crate::throttled_log::{cap_to_clock, Throttled};

/// The merge step, while this instance holds it.
pub struct MergeTask {
    /// Its producer (transactional id `<application id>-merge`).
    pub producer: StageProducer,
    merger: Merger,
    /// Records before this offset were processed by an earlier owner:
    /// replayed without writing.
    replay_to: i64,
    /// The partials offset after the last record read in the open cycle.
    next_offset: Option<i64>,
    /// The committed (restart) offset (`None`: the log's start).
    committed: Option<i64>,
    skipped: Throttled,
    capped: Throttled,
}

impl MergeTask {
    /// Takes the merge step: a producer with its transactional id (which
    /// fences the previous owner), the number of window tasks, and where
    /// the previous owner's output stops.
    pub fn open(
        settings: &Settings,
        names: &Names,
        metrics: &Metrics,
        consumer: &BaseConsumer<RebalanceCounter>,
    ) -> Result<Self, Interrupted> {
        let producer = StageProducer::new(settings, &names.merge_transactional_id)?;
        let tasks = partition_count(consumer, &names.repartition, settings)?;
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition(&names.partials, 0);
        let committed = consumer.committed_offsets(wanted, settings.kafka_timeout)?;
        let element = committed.elements().into_iter().next();
        let restart = element.as_ref().and_then(|e| match e.offset() {
            Offset::Offset(n) => Some(n),
            _ => None,
        });
        let metadata = element.as_ref().map_or("", |e| e.metadata());
        let replay_to = match (restart, metadata.parse::<i64>()) {
            (Some(restart), Ok(processed)) if processed >= restart => processed,
            (Some(restart), _) => {
                tracing::warn!(
                    restart,
                    metadata,
                    "the merge step's committed offset has no processed offset in its metadata \
                     (another client committed it?): nothing is replayed silently"
                );
                restart
            }
            (None, _) => 0,
        };
        let store = settings.store;
        tracing::info!(
            tasks,
            restart = restart.unwrap_or(0),
            replay_to,
            "merge step assigned"
        );
        metrics.merge_task.set(1);
        Ok(Self {
            producer,
            merger: Merger::new(tasks, store.grace_ms(), store.top_n()),
            replay_to,
            next_offset: None,
            committed: restart,
            skipped: Throttled::default(),
            capped: Throttled::default(),
        })
    }

    /// A record of the partials topic, through the merge. Records that do
    /// not decode, or that the merge refuses, are skipped (counted, and
    /// logged at most every few seconds).
    pub fn on_record(
        &mut self,
        message: &BorrowedMessage<'_>,
        names: &Names,
        metrics: &Metrics,
        clock: Clock,
    ) -> Result<(), Interrupted> {
        let offset = message.offset();
        self.next_offset = Some(offset + 1);
        let mut record = match PartialsRecord::decode(message.payload()) {
            Ok(record) => record,
            Err(e) => return self.skip(metrics, offset, &e),
        };
        if let PartialsRecord::Watermark { watermark, .. } = &mut record {
            cap_to_clock(
                watermark,
                clock,
                &mut self.capped,
                metrics,
                offset,
                "partials",
            );
        }
        let results = match self.merger.process(offset, record) {
            Ok(results) => results,
            Err(refused) => return self.skip(metrics, offset, &refused),
        };
        if offset < self.replay_to {
            return Ok(());
        }
        for result in results {
            let output = result
                .to_record()
                .map_err(|e| Interrupted::Fatal(Fatal::Encode(e)))?;
            self.producer.send(
                BaseRecord::to(&names.output)
                    .key(&output.key)
                    .payload(&output.value),
            )?;
            metrics.windows_emitted.inc();
        }
        Ok(())
    }

    /// Counts and logs a skipped record.
    fn skip(
        &mut self,
        metrics: &Metrics,
        offset: i64,
        why: &dyn std::fmt::Display,
    ) -> Result<(), Interrupted> {
        metrics.skipped_partials.inc();
        if let Some(held_back) = self.skipped.allow() {
            tracing::warn!(offset, held_back, "skipping a partials record: {why}");
        }
        Ok(())
    }

    /// Commits the open cycle: the results sent, and the restart offset
    /// with the processed offset in its metadata.
    pub fn commit(
        &mut self,
        consumer: &BaseConsumer<RebalanceCounter>,
        group: &ConsumerGroupMetadata,
        names: &Names,
        timeout: std::time::Duration,
    ) -> Result<(), Interrupted> {
        let Some(next) = self.next_offset else {
            return Ok(());
        };
        let restart = self.merger.restart_offset(next);
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(&names.partials, 0, Offset::Offset(restart))?;
        if let Some(mut element) = offsets.find_partition(&names.partials, 0) {
            element.set_metadata(next.to_string());
        }
        self.producer.commit(&offsets, consumer, group, timeout)?;
        self.next_offset = None;
        self.committed = Some(restart);
        Ok(())
    }

    /// The committed (restart) offset (`None`: the log's start).
    pub fn committed(&self) -> Option<i64> {
        self.committed
    }

    /// The open cycle aborted: where the partials topic must be read again
    /// from, if the cycle read it (`Some(None)`: the log's start). The
    /// merge's state then holds records of the aborted cycle: the task is
    /// opened again, which replays them.
    pub fn aborted(&mut self) -> Option<Option<i64>> {
        self.next_offset.take().map(|_| self.committed)
    }
}

/// How many partitions `topic` has: the number of window tasks.
fn partition_count(
    consumer: &BaseConsumer<RebalanceCounter>,
    topic: &str,
    settings: &Settings,
) -> Result<i32, Interrupted> {
    let metadata = consumer.fetch_metadata(Some(topic), settings.kafka_timeout)?;
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len())
        .filter(|&n| n > 0)
        .map(|n| i32::try_from(n).unwrap_or(i32::MAX))
        .ok_or_else(|| {
            Interrupted::Kafka(rdkafka::error::KafkaError::MetadataFetch(
                rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
            ))
        })
}
