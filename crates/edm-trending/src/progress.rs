//! [`InputProgress`]: how far each partition of the input topics
//! (`edm-ui-click` and `edm-ui-pageload`) has come, in event time and in
//! offsets, and the watermark they give together.
//!
//! Input partitions are named by a *source id*: partition `p` of the click
//! topic is `p`, partition `p` of the page-load topic is
//! [`PAGE_LOAD_SOURCES`]` + p` ([`source_id`], [`source_of`]). Repartition
//! records and changelog keys carry source ids.
//!
//! A partition's watermark is the latest event time of its clicks, raised
//! further by the repartition stage's progress records while the partition
//! is read to its end (then it follows the processor's clock). The store's
//! watermark is the smallest of them over every partition of the input:
//! windows close only once every partition has passed their end plus
//! grace, so a partition read faster than the others (a backlog caught up
//! unevenly) makes none of their on-time clicks late. Until every
//! partition has reported, there is no watermark and nothing closes.

use std::collections::BTreeMap;

/// The source id of page-load partition 0: page-load partition `p` is
/// `PAGE_LOAD_SOURCES + p` (Kafka topics have far fewer partitions). Never
/// change it: changelogs and repartition logs hold source ids.
pub const PAGE_LOAD_SOURCES: i32 = 1 << 20;

/// An input topic of edm-trending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputTopic {
    /// `edm-ui-click`.
    Clicks,
    /// `edm-ui-pageload`.
    PageLoads,
}

/// The source id of `topic`'s partition `partition`.
pub fn source_id(topic: InputTopic, partition: i32) -> i32 {
    match topic {
        InputTopic::Clicks => partition,
        InputTopic::PageLoads => PAGE_LOAD_SOURCES.saturating_add(partition),
    }
}

/// The input topic and partition a source id names.
pub fn source_of(id: i32) -> (InputTopic, i32) {
    if id >= PAGE_LOAD_SOURCES {
        (InputTopic::PageLoads, id - PAGE_LOAD_SOURCES)
    } else {
        (InputTopic::Clicks, id)
    }
}

/// How many partitions each input topic has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputPartitions {
    /// `edm-ui-click`'s.
    pub clicks: i32,
    /// `edm-ui-pageload`'s.
    pub page_loads: i32,
}

impl InputPartitions {
    /// Every input partition's source id.
    pub fn source_ids(self) -> impl Iterator<Item = i32> {
        (0..self.clicks.max(0))
            .chain((0..self.page_loads.max(0)).map(|p| source_id(InputTopic::PageLoads, p)))
    }

    /// Whether `id` names one of the input partitions.
    pub fn has(self, id: i32) -> bool {
        let (topic, partition) = source_of(id);
        let count = match topic {
            InputTopic::Clicks => self.clicks,
            InputTopic::PageLoads => self.page_loads,
        };
        (0..count).contains(&partition)
    }
}

/// One input partition's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionProgress {
    /// Event time every window decision of this partition has reached
    /// (epoch ms): the latest of its clicks' event times and of the
    /// watermarks its progress records carried.
    pub watermark: i64,
    /// The input offset after the last record accounted for.
    pub next_offset: i64,
}

/// Where a repartition record comes from: its input partition and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source {
    /// The input partition's source id (see [`source_id`]).
    pub partition: i32,
    /// The record's offset there (for a progress record: the offset up to
    /// which the partition was read).
    pub offset: i64,
}

/// The progress of every input partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputProgress {
    partitions: BTreeMap<i32, PartitionProgress>,
    /// How many partitions the input topics have, once the runtime said so.
    input_partitions: Option<InputPartitions>,
}

impl InputProgress {
    /// Progress as a restore reads it.
    pub(crate) fn from_parts(partitions: BTreeMap<i32, PartitionProgress>) -> Self {
        Self {
            partitions,
            input_partitions: None,
        }
    }

    /// Sets how many partitions the input topics have (the runtime reads
    /// it from the topics' metadata).
    pub(crate) fn set_input_partitions(&mut self, partitions: InputPartitions) {
        self.input_partitions = Some(partitions);
    }

    /// How many partitions the input topics have, if known.
    pub fn input_partitions(&self) -> Option<InputPartitions> {
        self.input_partitions
    }

    /// Whether source id `partition` is one of the input partitions (any
    /// source id while their number is not known).
    pub(crate) fn is_input_partition(&self, partition: i32) -> bool {
        partition >= 0 && self.input_partitions.is_none_or(|p| p.has(partition))
    }

    /// One partition's progress, if it has reported.
    pub fn partition(&self, partition: i32) -> Option<PartitionProgress> {
        self.partitions.get(&partition).copied()
    }

    /// Every partition that has reported, in order.
    pub fn partitions(&self) -> impl Iterator<Item = (i32, PartitionProgress)> + '_ {
        self.partitions.iter().map(|(p, progress)| (*p, *progress))
    }

    /// Records that `partition` was read up to `next_offset` with
    /// watermark `watermark`; returns the partition's progress if it
    /// changed. Watermarks and offsets only move forward.
    pub(crate) fn advance(
        &mut self,
        partition: i32,
        next_offset: i64,
        watermark: i64,
    ) -> Option<PartitionProgress> {
        let entry = self
            .partitions
            .entry(partition)
            .or_insert(PartitionProgress {
                watermark: i64::MIN,
                next_offset: i64::MIN,
            });
        let before = *entry;
        entry.watermark = entry.watermark.max(watermark);
        entry.next_offset = entry.next_offset.max(next_offset);
        (*entry != before).then_some(*entry)
    }

    /// The smallest watermark over every input partition of both topics,
    /// once every one has reported and their number is known (none while
    /// the click topic has no partition).
    pub fn watermark(&self) -> Option<i64> {
        let partitions = self.input_partitions?;
        if partitions.clicks <= 0 {
            return None;
        }
        partitions
            .source_ids()
            .map(|p| self.partitions.get(&p).map(|progress| progress.watermark))
            .try_fold(i64::MAX, |least, w| w.map(|w| least.min(w)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advance(
        progress: &mut InputProgress,
        partition: i32,
        offset: i64,
        watermark: i64,
    ) -> Option<PartitionProgress> {
        progress.advance(partition, offset + 1, watermark)
    }

    #[test]
    fn the_watermark_is_the_slowest_partitions_once_all_have_reported() {
        let mut progress = InputProgress::default();
        advance(&mut progress, 0, 5, 1_000);
        assert_eq!(progress.watermark(), None, "the partition count is unknown");
        progress.set_input_partitions(InputPartitions {
            clicks: 2,
            page_loads: 1,
        });
        assert_eq!(progress.watermark(), None, "partition 1 has not reported");
        advance(&mut progress, 1, 0, 400);
        let loads = source_id(InputTopic::PageLoads, 0);
        assert_eq!(progress.watermark(), None, "page loads have not reported");
        advance(&mut progress, loads, 0, 300);
        assert_eq!(progress.watermark(), Some(300), "page loads hold it");
        advance(&mut progress, loads, 1, 5_000);
        assert_eq!(progress.watermark(), Some(400));
        advance(&mut progress, 1, 1, 2_000);
        assert_eq!(progress.watermark(), Some(1_000));
    }

    #[test]
    fn source_ids_name_each_topics_partitions_apart() {
        let loads = source_id(InputTopic::PageLoads, 3);
        assert_eq!(source_of(loads), (InputTopic::PageLoads, 3));
        assert_eq!(source_of(3), (InputTopic::Clicks, 3));
        let partitions = InputPartitions {
            clicks: 2,
            page_loads: 4,
        };
        assert!(partitions.has(loads) && partitions.has(1));
        assert!(!partitions.has(2) && !partitions.has(source_id(InputTopic::PageLoads, 4)));
        assert_eq!(partitions.source_ids().count(), 6);
    }

    #[test]
    fn progress_never_goes_back() {
        let mut progress = InputProgress::default();
        assert!(advance(&mut progress, 0, 9, 1_000).is_some());
        // An older click, or the same record read again: nothing moves.
        assert_eq!(advance(&mut progress, 0, 3, 500), None);
        assert_eq!(
            progress.partition(0),
            Some(PartitionProgress {
                watermark: 1_000,
                next_offset: 10
            })
        );
        assert!(advance(&mut progress, 0, 3, 1_500).is_some());
        assert_eq!(progress.partition(0).unwrap().next_offset, 10);
    }

    #[test]
    fn partitions_outside_the_topic_do_not_count() {
        let mut progress = InputProgress::default();
        assert!(progress.is_input_partition(7));
        progress.set_input_partitions(InputPartitions {
            clicks: 3,
            page_loads: 0,
        });
        assert!(progress.is_input_partition(2));
        assert!(!progress.is_input_partition(3));
        assert!(!progress.is_input_partition(-1));
        for p in 0..3 {
            advance(&mut progress, p, 0, 100 + i64::from(p));
        }
        advance(&mut progress, 9, 0, 1);
        assert_eq!(progress.watermark(), Some(100));
    }
}
