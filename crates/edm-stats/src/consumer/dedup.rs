//! Retries counted once, without a database row per event: a record is a
//! duplicate when its event id appeared among the `window` offsets before
//! it in the same partition ([`RecentIds`]).
//!
//! Retries stay in one partition: the relay keys every event by its
//! visitor id, and a retry carries the same visitor and id. So each
//! partition's recent ids live in memory with the instance that owns it,
//! and Postgres writes per batch follow products × minutes, not events.
//! The rule depends only on the log, never on batching, restarts or which
//! instance reads: an instance that takes a partition over at stored
//! offset S first reads `[S - window, S)` back from Kafka (ids only,
//! nothing counted) and then decides exactly as the previous owner would
//! have, and `edm-stats replay` applies the same rule to the whole log.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

use super::record::{Consumed, Record};
use super::store::PartitionKey;

/// Turns event ids into 128-bit digests keyed at random per process: the
/// window keeps 16 bytes per id whatever its length, and no producer can
/// aim an id at another's digest (about one accidental collision in
/// 10^28 comparisons).
#[derive(Debug, Clone, Default)]
pub struct IdDigest {
    high: RandomState,
    low: RandomState,
}

impl IdDigest {
    /// A digest keyed at random.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn of(&self, id: &str) -> u128 {
        (u128::from(self.high.hash_one(id)) << 64) | u128::from(self.low.hash_one(id))
    }
}

/// The ids of one partition's last `window` offsets.
#[derive(Debug)]
pub struct RecentIds {
    window: i64,
    digest: Arc<IdDigest>,
    /// (offset, digest) of each record with an id, oldest first.
    order: VecDeque<(i64, u128)>,
    /// How many times each digest is in `order`.
    present: HashMap<u128, u32>,
}

impl RecentIds {
    /// An empty window of `window` offsets (0: nothing is a duplicate).
    pub fn new(window: u64, digest: Arc<IdDigest>) -> Self {
        Self {
            window: i64::try_from(window).unwrap_or(i64::MAX),
            digest,
            order: VecDeque::new(),
            present: HashMap::new(),
        }
    }

    /// Takes the record at `offset` (offsets only grow) and says whether
    /// its id appeared within the window before it.
    pub fn is_duplicate(&mut self, offset: i64, id: Option<&str>) -> bool {
        let oldest_kept = offset.saturating_sub(self.window);
        while let Some(&(seen_at, digest)) = self.order.front() {
            if seen_at >= oldest_kept {
                break;
            }
            self.order.pop_front();
            if let Some(n) = self.present.get_mut(&digest) {
                *n -= 1;
                if *n == 0 {
                    self.present.remove(&digest);
                }
            }
        }
        let Some(id) = id.filter(|_| self.window > 0) else {
            return false;
        };
        let digest = self.digest.of(id);
        self.order.push_back((offset, digest));
        let seen = self.present.entry(digest).or_default();
        *seen += 1;
        *seen > 1
    }

    /// Ids held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// The recent ids of every partition an instance reads.
#[derive(Debug)]
pub struct PartitionIds {
    window: u64,
    digest: Arc<IdDigest>,
    /// By topic, then partition: a record's topic finds its partitions
    /// without building an owned key for each record.
    partitions: HashMap<String, HashMap<i32, RecentIds>>,
}

impl PartitionIds {
    /// No partition yet; each gets a window of `window` offsets.
    pub fn new(window: u64) -> Self {
        Self {
            window,
            digest: IdDigest::new(),
            partitions: HashMap::new(),
        }
    }

    /// Offsets each partition's window covers.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Forgets `key`'s ids: it is read from a new position next (its
    /// window is read back first, see [`PartitionIds::is_duplicate`]).
    pub fn forget(&mut self, key: &PartitionKey) {
        if let Some(partitions) = self.partitions.get_mut(&key.0) {
            partitions.remove(&key.1);
        }
    }

    /// Takes `consumed` (each partition's records in offset order) and
    /// says whether it is a valid event whose id its partition saw within
    /// the window. Malformed records never are.
    pub fn is_duplicate(&mut self, consumed: &Consumed) -> bool {
        let Record::Event { event_id, .. } = &consumed.record else {
            return false;
        };
        if !self.partitions.contains_key(&consumed.topic) {
            self.partitions
                .insert(consumed.topic.clone(), HashMap::new());
        }
        let Some(partitions) = self.partitions.get_mut(&consumed.topic) else {
            return false; // inserted just above
        };
        let (window, digest) = (self.window, &self.digest);
        partitions
            .entry(consumed.partition)
            .or_insert_with(|| RecentIds::new(window, digest.clone()))
            .is_duplicate(consumed.offset, event_id.as_deref())
    }

    /// Ids held over every partition.
    pub fn len(&self) -> usize {
        self.partitions
            .values()
            .flat_map(HashMap::values)
            .map(RecentIds::len)
            .sum()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_seen_within_the_window_is_a_duplicate_and_one_past_it_is_not() {
        let mut ids = RecentIds::new(10, IdDigest::new());
        assert!(!ids.is_duplicate(0, Some("a")));
        assert!(!ids.is_duplicate(1, Some("b")));
        assert!(ids.is_duplicate(5, Some("a")), "5 offsets later");
        // The retry at 5 is remembered too: 14 is within 10 of it.
        assert!(ids.is_duplicate(14, Some("a")));
        // 12 offsets after "b": forgotten.
        assert!(!ids.is_duplicate(13, Some("b")));
        assert!(!ids.is_duplicate(30, Some("a")));
    }

    #[test]
    fn records_without_an_id_never_match_and_the_window_holds_at_most_its_size() {
        let mut ids = RecentIds::new(100, IdDigest::new());
        for offset in 0..1_000 {
            assert!(!ids.is_duplicate(offset, None));
            assert!(!ids.is_duplicate(offset * 2 + 10_000, Some(&format!("id-{offset}"))));
        }
        assert!(ids.len() <= 51, "{} ids held", ids.len());
    }

    #[test]
    fn a_zero_window_counts_everything() {
        let mut ids = RecentIds::new(0, IdDigest::new());
        assert!(!ids.is_duplicate(0, Some("a")));
        assert!(!ids.is_duplicate(1, Some("a")));
        assert!(ids.is_empty());
    }

    #[test]
    fn rebuilding_from_the_window_before_an_offset_decides_as_reading_all_did() {
        // A partition with retries at every distance; one reader reads it
        // all, another takes over at `stored` after reading back the window.
        let log: Vec<(i64, Option<String>)> = (0..500)
            .map(|o: i64| {
                // Every 7th without an id; "a" ids come back 30 offsets
                // later (within the window), "b" ids 111 (past it).
                let id = match (o % 7, o % 2) {
                    (0, _) => None,
                    (_, 0) => Some(format!("a{}", o % 20)),
                    _ => Some(format!("b{}", o % 37)),
                };
                (o * 3 / 2, id)
            })
            .collect();
        let digest = IdDigest::new();
        let mut whole = RecentIds::new(40, digest.clone());
        let all: Vec<bool> = log
            .iter()
            .map(|(o, id)| whole.is_duplicate(*o, id.as_deref()))
            .collect();
        assert!(all.iter().any(|d| *d) && all.iter().any(|d| !*d));
        let stored = 300;
        let mut taken_over = RecentIds::new(40, digest);
        for (o, id) in log
            .iter()
            .filter(|(o, _)| (stored - 40..stored).contains(o))
        {
            taken_over.is_duplicate(*o, id.as_deref());
        }
        for ((o, id), expected) in log.iter().zip(&all).filter(|((o, _), _)| *o >= stored) {
            assert_eq!(taken_over.is_duplicate(*o, id.as_deref()), *expected, "{o}");
        }
    }
}
