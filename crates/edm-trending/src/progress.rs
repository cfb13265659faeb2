//! [`InputProgress`]: how far each partition of the input topic
//! (`edm-ui-click`) has come, in event time and in offsets, and the
//! watermark they give together.
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
    /// The partition of `edm-ui-click`.
    pub partition: i32,
    /// The record's offset there (for a progress record: the offset up to
    /// which the partition was read).
    pub offset: i64,
}

/// The progress of every input partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputProgress {
    partitions: BTreeMap<i32, PartitionProgress>,
    /// How many partitions the input topic has, once the runtime said so.
    input_partitions: Option<i32>,
}

impl InputProgress {
    /// Progress as a restore reads it.
    pub(crate) fn from_parts(partitions: BTreeMap<i32, PartitionProgress>) -> Self {
        Self {
            partitions,
            input_partitions: None,
        }
    }

    /// Sets how many partitions the input topic has (the runtime reads it
    /// from the topic's metadata).
    pub(crate) fn set_input_partitions(&mut self, count: i32) {
        self.input_partitions = Some(count.max(0));
    }

    /// How many partitions the input topic has, if known.
    pub fn input_partitions(&self) -> Option<i32> {
        self.input_partitions
    }

    /// Whether `partition` is one of the input topic's (any partition
    /// while their number is not known).
    pub(crate) fn is_input_partition(&self, partition: i32) -> bool {
        partition >= 0 && self.input_partitions.is_none_or(|count| partition < count)
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

    /// The smallest watermark over every input partition, once every one
    /// has reported and their number is known.
    pub fn watermark(&self) -> Option<i64> {
        let count = self.input_partitions?;
        if count == 0 {
            return None;
        }
        (0..count)
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
        progress.set_input_partitions(2);
        assert_eq!(progress.watermark(), None, "partition 1 has not reported");
        advance(&mut progress, 1, 0, 400);
        assert_eq!(progress.watermark(), Some(400));
        advance(&mut progress, 1, 1, 2_000);
        assert_eq!(progress.watermark(), Some(1_000));
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
        progress.set_input_partitions(3);
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
