//! Retries counted once, without a database row per event: each
//! partition an instance owns keeps the ids of its recent offsets
//! ([`edm_events::recent_ids`], the rule edm-trending applies too).
//!
//! Each partition's recent ids live in memory with the instance that owns
//! it, and Postgres writes per batch follow products × minutes, not
//! events. An instance that takes a partition over at stored offset S
//! first reads `[S - window, S)` back from Kafka (ids only, nothing
//! counted) and then decides exactly as the previous owner would have,
//! and `edm-stats replay` applies the same rule to the whole log.

use std::collections::HashMap;
use std::sync::Arc;

use edm_events::recent_ids::{IdDigest, RecentIds};

use super::record::{Consumed, Record};
use super::store::PartitionKey;

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
