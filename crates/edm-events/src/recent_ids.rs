//! Retries recognised without a database: the ids of a partition's last
//! `window` offsets ([`RecentIds`]). A record is a duplicate when its
//! event id appeared among the `window` offsets before it in the same
//! partition. The rule depends only on the log, never on batching,
//! restarts or which process reads: a reader that starts at offset S
//! first reads `[S - window, S)` (ids only) and then decides exactly as a
//! reader of the whole log would. edm-stats and edm-trending apply it
//! alike, so a retried event counts once in both.
//!
//! Retries stay in one partition: the relay keys every event by its
//! visitor id, and a retry carries the same visitor and id.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;

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

/// Hashes a digest by its own bits: digests are already keyed at random,
/// so hashing them again (SipHash, twice an id) would only cost time.
#[derive(Debug, Default)]
struct DigestBits(u64);

impl Hasher for DigestBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, digest: u128) {
        self.0 ^= (digest as u64) ^ ((digest >> 64) as u64);
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
    present: HashMap<u128, u32, BuildHasherDefault<DigestBits>>,
}

impl RecentIds {
    /// An empty window of `window` offsets (0: nothing is a duplicate).
    pub fn new(window: u64, digest: Arc<IdDigest>) -> Self {
        Self {
            window: i64::try_from(window).unwrap_or(i64::MAX),
            digest,
            order: VecDeque::new(),
            present: HashMap::default(),
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
            self.release(digest);
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

    /// Forgets the ids of offsets `from` and later: they will be read
    /// again (a rewind to `from`).
    pub fn forget_from(&mut self, from: i64) {
        while let Some(&(offset, digest)) = self.order.back() {
            if offset < from {
                break;
            }
            self.order.pop_back();
            self.release(digest);
        }
    }

    /// Counts one fewer `digest` in the window (it left `order`).
    fn release(&mut self, digest: u128) {
        if let Some(n) = self.present.get_mut(&digest) {
            *n -= 1;
            if *n == 0 {
                self.present.remove(&digest);
            }
        }
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
    fn ids_forgotten_from_a_rewind_are_decided_again_as_the_first_time() {
        let mut ids = RecentIds::new(10, IdDigest::new());
        assert!(!ids.is_duplicate(0, Some("a")));
        assert!(!ids.is_duplicate(1, Some("b")));
        assert!(ids.is_duplicate(2, Some("a")));
        // The cycle that read 1 and 2 is rolled back: read again, 1 is
        // new and 2 a retry of 0, as before.
        ids.forget_from(1);
        assert_eq!(ids.len(), 1);
        assert!(!ids.is_duplicate(1, Some("b")));
        assert!(ids.is_duplicate(2, Some("a")));
        ids.forget_from(0);
        assert!(ids.is_empty());
        assert!(!ids.is_duplicate(2, Some("a")));
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
