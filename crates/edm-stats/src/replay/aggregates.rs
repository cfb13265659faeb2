//! The aggregates a replay rebuilds, counted in memory with the live
//! consumer's rule ([`Tally`]): valid events add to their button's or device
//! type's minute, a retried event id is skipped by the live consumer's
//! rule ([`PartitionIds`]: within the dedup window of its partition), and
//! malformed events are skipped (the live consumer already keeps them as
//! dead letters).

use sqlx::{Postgres, Transaction};

use crate::consumer::dedup::PartitionIds;
use crate::consumer::record::{Consumed, Record};
use crate::tally::{Tables, Tally};

/// Counts per minute, plus what was read.
#[derive(Debug)]
pub struct Aggregates {
    /// Each partition's recent ids, as the live consumer keeps them.
    recent: PartitionIds,
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
    /// Empty aggregates; `dedup_window_events` as the live consumer is
    /// configured (`EDM_STATS_DEDUP_WINDOW_EVENTS`).
    pub fn new(dedup_window_events: u64) -> Self {
        Self {
            recent: PartitionIds::new(dedup_window_events),
            tally: Tally::default(),
            read: 0,
            counted: 0,
            duplicates: 0,
            malformed: 0,
        }
    }

    /// Counts one message (each partition's in offset order).
    pub fn add(&mut self, consumed: &Consumed) {
        self.read += 1;
        let duplicate = self.recent.is_duplicate(consumed);
        match &consumed.record {
            Record::Malformed { .. } => self.malformed += 1,
            Record::Event { .. } if duplicate => self.duplicates += 1,
            Record::Event { event, .. } => {
                self.tally.add(event, consumed.partition);
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
