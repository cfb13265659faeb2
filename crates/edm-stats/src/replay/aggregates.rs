//! The aggregates a replay rebuilds, counted in memory with the live
//! consumer's rule ([`Tally`]): valid events add to their button's or device
//! type's minute, an event id counts only the first time it is seen (when
//! deduplication is on), and malformed events are skipped (the live
//! consumer already keeps them as dead letters).

use std::collections::HashSet;

use sqlx::{Postgres, Transaction};

use crate::consumer::record::{Consumed, Record};
use crate::tally::{Tables, Tally};

/// Counts per minute, plus what was read.
#[derive(Debug, Default)]
pub struct Aggregates {
    /// Whether event ids are deduplicated (as `EDM_STATS_DEDUP_WINDOW_SECS`
    /// > 0 makes the live consumer do).
    dedup: bool,
    /// Event ids counted so far in this replay.
    seen: HashSet<String>,
    /// Counts not yet written.
    tally: Tally,
    /// Messages read.
    pub read: u64,
    /// Events counted.
    pub counted: u64,
    /// Events skipped because their id was counted before.
    pub duplicates: u64,
    /// Messages that are not valid events.
    pub malformed: u64,
}

impl Aggregates {
    /// Empty aggregates; `dedup` as the live consumer is configured.
    pub fn new(dedup: bool) -> Self {
        Self {
            dedup,
            ..Self::default()
        }
    }

    /// Counts one message.
    pub fn add(&mut self, consumed: &Consumed) {
        self.read += 1;
        match &consumed.record {
            Record::Malformed { .. } => self.malformed += 1,
            Record::Event { event_id, event } => {
                if let (true, Some(id)) = (self.dedup, event_id) {
                    if !self.seen.insert(id.clone()) {
                        self.duplicates += 1;
                        return;
                    }
                }
                self.tally.add(event);
                self.counted += 1;
            }
        }
    }

    /// Adds the counts held so far to the staging `tables` and forgets
    /// them; the ids seen and the tallies are kept.
    pub async fn flush_into(
        &mut self,
        tx: &mut Transaction<'_, Postgres>,
        tables: Tables,
    ) -> Result<(), sqlx::Error> {
        self.tally.write(tx, tables).await
    }
}
