//! A starting instance's backfill: the recent records of the partitions it
//! begins to read, read before the live consumer is given them and handed
//! to the hub oldest first across all partitions, as a long-running
//! instance would have published them. Its ring then holds the newest
//! records of every partition, and a client that reconnects to it after a
//! deploy resumes as it would anywhere else.
//!
//! Read partition by partition (as Kafka hands out a backlog) and cut to
//! the ring's bounds, the backlog of the partitions read last would push
//! out the recent records of the others: clients a few seconds behind on
//! those would be told `too_far_behind`.
//!
//! Each partition's range `[from, to)` is read with a throwaway consumer
//! that assigns partitions itself and never commits. What does not fit in
//! the ring goes, oldest first by the records' timestamps (a timestamp in
//! the future counts as now); a partition's ring then starts after the
//! last record that went. A partition whose range makes no progress for
//! [`STALL_TIMEOUT`] (or when the instance stops) is left out: its ring
//! starts at `to`, and clients resuming behind it start fresh, told so.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use edm_runtime::StopSignal;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::hub::{PartitionKey, RingBounds, StreamEvent};

/// How long a backfill may go without progress before the partitions left
/// are given up.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one poll waits, and how often read positions are looked at.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// One partition's backfill: offsets `[from, to)`.
#[derive(Debug, Clone)]
pub struct Range {
    /// The partition, as clients name it.
    pub key: PartitionKey,
    /// Its topic's name in Kafka (prefixed).
    pub wire_topic: String,
    /// The first offset to read.
    pub from: i64,
    /// The partition's end when it was looked up: where live records begin.
    pub to: i64,
}

/// What a backfill read: records to publish, in order, and where each
/// partition's ring starts.
#[derive(Debug, Default)]
pub struct Backfilled {
    /// The records kept, oldest first across partitions; each partition's in
    /// offset order.
    pub events: Vec<StreamEvent>,
    /// The first offset the ring can hand out, per partition read.
    pub ring_starts: HashMap<PartitionKey, i64>,
}

/// The newest records of several partitions within the ring's bounds.
#[derive(Debug)]
pub struct Newest {
    bounds: RingBounds,
    /// Timestamps after this count as this (ms since the epoch).
    now_ms: i64,
    /// Each partition's records kept, in offset order (a `BTreeMap`, so that
    /// records of one timestamp come out in one order).
    kept: BTreeMap<PartitionKey, VecDeque<StreamEvent>>,
    events: usize,
    bytes: usize,
    /// Per partition, the offset after the last record that went.
    gone_until: HashMap<PartitionKey, i64>,
}

impl Newest {
    /// Nothing kept yet; `now_ms` bounds the timestamps.
    pub fn new(bounds: RingBounds, now_ms: i64) -> Self {
        Self {
            bounds,
            now_ms,
            kept: BTreeMap::new(),
            events: 0,
            bytes: 0,
            gone_until: HashMap::new(),
        }
    }

    /// Keeps `event` (the next of its partition), then lets the oldest go
    /// while more than the ring holds are kept.
    pub fn push(&mut self, event: StreamEvent) {
        self.events += 1;
        self.bytes += event.size();
        self.kept.entry(event.key).or_default().push_back(event);
        while self.events > self.bounds.events
            || (self.bytes > self.bounds.bytes && self.events > 1)
        {
            let Some(gone) = self.pop_oldest() else {
                break;
            };
            self.gone_until.insert(gone.key, gone.offset + 1);
        }
    }

    /// Forgets a partition's records (its range was not read to the end).
    pub fn forget(&mut self, key: PartitionKey) {
        for event in self.kept.remove(&key).unwrap_or_default() {
            self.events -= 1;
            self.bytes -= event.size();
        }
    }

    /// The first offset of `key` that the records kept can hand out: after
    /// the last one that went, else `from`.
    pub fn ring_start(&self, key: PartitionKey, from: i64) -> i64 {
        self.gone_until.get(&key).copied().unwrap_or(from)
    }

    /// The records kept, oldest first.
    pub fn into_ordered(mut self) -> Vec<StreamEvent> {
        let mut ordered = Vec::with_capacity(self.events);
        while let Some(event) = self.pop_oldest() {
            ordered.push(event);
        }
        ordered
    }

    /// Takes the oldest of the partitions' first records.
    fn pop_oldest(&mut self) -> Option<StreamEvent> {
        let now_ms = self.now_ms;
        let key = *self
            .kept
            .iter()
            .filter_map(|(key, events)| Some((key, events.front()?.timestamp_ms.min(now_ms))))
            .min_by_key(|(key, timestamp)| (*timestamp, **key))?
            .0;
        let events = self.kept.get_mut(&key)?;
        let event = events.pop_front()?;
        if events.is_empty() {
            self.kept.remove(&key);
        }
        self.events -= 1;
        self.bytes -= event.size();
        Some(event)
    }
}

/// Reads `ranges` with `consumer` (blocking: run it on a blocking thread),
/// turning each record into a stream event with `to_event` (`None`: not
/// streamed), and keeps the newest within `bounds`.
pub fn read(
    consumer: &BaseConsumer,
    ranges: &[Range],
    bounds: RingBounds,
    stop: &StopSignal,
    mut to_event: impl FnMut(&BorrowedMessage<'_>) -> Option<StreamEvent>,
) -> Backfilled {
    let mut newest = Newest::new(bounds, now_ms());
    let mut remaining: HashMap<(&str, i32), &Range> = ranges
        .iter()
        .filter(|r| r.from < r.to)
        .map(|r| ((r.wire_topic.as_str(), r.key.partition), r))
        .collect();
    let mut assignment = TopicPartitionList::new();
    for range in remaining.values() {
        let _ = assignment.add_partition_offset(
            &range.wire_topic,
            range.key.partition,
            Offset::Offset(range.from),
        );
    }
    if !remaining.is_empty() {
        if let Err(e) = consumer.assign(&assignment) {
            tracing::warn!("the backfill could not assign its partitions: {e}");
            remaining.clear();
            for range in ranges {
                newest.gone_until.insert(range.key, range.to);
            }
        }
    }
    let mut last_progress = Instant::now();
    let mut last_position_check = Instant::now();
    while !remaining.is_empty() && !stop.is_cancelled() {
        if last_progress.elapsed() >= STALL_TIMEOUT {
            break;
        }
        match consumer.poll(POLL_INTERVAL) {
            Some(Ok(message)) => {
                let place = (message.topic(), message.partition());
                if let Some(range) = remaining.get(&place).copied() {
                    last_progress = Instant::now();
                    let offset = message.offset();
                    if (range.from..range.to).contains(&offset) {
                        if let Some(event) = to_event(&message) {
                            newest.push(event);
                        }
                    }
                    if offset + 1 >= range.to {
                        let place = (range.wire_topic.as_str(), range.key.partition);
                        finish(consumer, &mut remaining, place);
                    }
                }
            }
            // Passed over: a broker that is down shows as no progress.
            Some(Err(e)) => tracing::debug!("backfill consumer: {e}"),
            None => {}
        }
        // A range that ends in a transaction marker is done when the read
        // position passes its end, which no record shows: looked at even
        // while other partitions keep records coming.
        if last_position_check.elapsed() >= POLL_INTERVAL {
            finish_those_past_their_end(consumer, &mut remaining);
            last_position_check = Instant::now();
        }
    }
    let _ = consumer.unassign();
    if !remaining.is_empty() {
        let mut left: Vec<String> = remaining.values().map(|r| r.key.to_string()).collect();
        left.sort();
        tracing::warn!(
            partitions = %left.join(", "),
            "the backfill of these partitions was not read (no progress for {}s, \
             or the instance is stopping): clients resuming behind their ends start fresh",
            STALL_TIMEOUT.as_secs()
        );
        for range in remaining.values() {
            newest.forget(range.key);
            newest.gone_until.insert(range.key, range.to);
        }
    }
    let ring_starts = ranges
        .iter()
        .map(|r| (r.key, newest.ring_start(r.key, r.from)))
        .collect();
    Backfilled {
        events: newest.into_ordered(),
        ring_starts,
    }
}

/// Marks a partition read, and stops fetching it (its live records are
/// the live consumer's).
fn finish<'a>(
    consumer: &BaseConsumer,
    remaining: &mut HashMap<(&'a str, i32), &'a Range>,
    place: (&'a str, i32),
) {
    remaining.remove(&place);
    let mut partition = TopicPartitionList::new();
    partition.add_partition(place.0, place.1);
    let _ = consumer.pause(&partition);
}

/// A partition whose read position passed its range's end (its last
/// offsets held no record, a transaction marker say) is read.
fn finish_those_past_their_end<'a>(
    consumer: &BaseConsumer,
    remaining: &mut HashMap<(&'a str, i32), &'a Range>,
) {
    let Ok(positions) = consumer.position() else {
        return;
    };
    let done: Vec<(&'a str, i32)> = remaining
        .iter()
        .filter(|((topic, partition), range)| {
            positions
                .find_partition(topic, *partition)
                .is_some_and(|p| matches!(p.offset(), Offset::Offset(at) if at >= range.to))
        })
        .map(|(place, _)| *place)
        .collect();
    for place in done {
        finish(consumer, remaining, place);
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use edm_config::Topic;

    use super::*;

    fn key(partition: i32) -> PartitionKey {
        PartitionKey {
            topic: Topic::Click,
            partition,
        }
    }

    fn event(partition: i32, offset: i64, timestamp_ms: i64) -> StreamEvent {
        StreamEvent::new(key(partition), offset, "{}", timestamp_ms)
    }

    fn bounds(events: usize) -> RingBounds {
        RingBounds {
            events,
            bytes: 1 << 20,
        }
    }

    fn places(events: &[StreamEvent]) -> Vec<(i32, i64)> {
        events.iter().map(|e| (e.key.partition, e.offset)).collect()
    }

    #[test]
    fn partitions_read_one_after_the_other_come_out_oldest_first_across_them() {
        let mut newest = Newest::new(bounds(100), 10_000);
        // Partition 0 read whole first, then partition 1: their records
        // alternate in time.
        for n in 0..3 {
            newest.push(event(0, n, 1_000 + 2 * n));
        }
        for n in 0..3 {
            newest.push(event(1, n, 1_001 + 2 * n));
        }
        assert_eq!(
            places(&newest.into_ordered()),
            [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]
        );
    }

    #[test]
    fn what_does_not_fit_goes_oldest_first_from_every_partition_alike() {
        let mut newest = Newest::new(bounds(4), 10_000);
        for n in 0..4 {
            newest.push(event(0, 10 + n, 1_000 + 2 * n));
        }
        for n in 0..4 {
            newest.push(event(1, 20 + n, 1_001 + 2 * n));
        }
        // The newest four: two of each partition, where a long-running
        // instance's ring would be.
        assert_eq!(newest.ring_start(key(0), 10), 12);
        assert_eq!(newest.ring_start(key(1), 20), 22);
        assert_eq!(
            places(&newest.into_ordered()),
            [(0, 12), (1, 22), (0, 13), (1, 23)]
        );
    }

    #[test]
    fn a_partition_with_nothing_gone_starts_where_it_was_read_from() {
        let mut newest = Newest::new(bounds(10), 10_000);
        newest.push(event(0, 5, 1_000));
        assert_eq!(newest.ring_start(key(0), 3), 3);
    }

    #[test]
    fn a_timestamp_in_the_future_counts_as_now_and_keeps_its_partitions_order() {
        let mut newest = Newest::new(bounds(3), 10_000);
        newest.push(event(0, 0, i64::MAX));
        newest.push(event(0, 1, 9_000));
        newest.push(event(1, 0, 9_500));
        newest.push(event(1, 1, 9_999));
        // Partition 0's first record counts as 10,000: partition 1's first
        // is the oldest head and goes.
        assert_eq!(newest.ring_start(key(1), 0), 1);
        assert_eq!(places(&newest.into_ordered()), [(1, 1), (0, 0), (0, 1)]);
    }

    #[test]
    fn the_bytes_bound_holds_too() {
        let mut newest = Newest::new(
            RingBounds {
                events: 100,
                bytes: 10,
            },
            10_000,
        );
        for n in 0..5 {
            // `"{}"` encodes as 4 bytes.
            newest.push(event(0, n, 1_000 + n));
        }
        assert_eq!(newest.ring_start(key(0), 0), 3);
        assert_eq!(places(&newest.into_ordered()), [(0, 3), (0, 4)]);
    }

    #[test]
    fn a_partition_forgotten_hands_back_its_room() {
        let mut newest = Newest::new(bounds(2), 10_000);
        newest.push(event(0, 0, 1_000));
        newest.push(event(1, 0, 1_001));
        newest.forget(key(0));
        newest.push(event(1, 1, 1_002));
        assert_eq!(newest.ring_start(key(1), 0), 0);
        assert_eq!(places(&newest.into_ordered()), [(1, 0), (1, 1)]);
    }
}
