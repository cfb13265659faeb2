//! Clicks per product and page loads per device type, per minute, for
//! every consumer: the records of the `edm-trending-counts` topic
//! ([`edm_events::CountsRecord`]).
//!
//! A window task's `1m` windows are the click counts, and its page-load
//! counts per minute the others: while a minute is open
//! the store reports each product's new count ([`MinuteCount`], not final),
//! and when the minute closes it reports every product's final count. The
//! task writes the final counts in the cycle that closed the minute (the
//! same Kafka transaction as the repartition offsets it counted), and the
//! provisional ones at most once a second ([`LiveCounts`]): the latest
//! count of each product whose count moved since the last write, for
//! minutes still open. A product that lost its place in a full minute (see
//! [`crate::counts`]) gets a tombstone, so no provisional count of it stays
//! behind in the compacted topic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use edm_events::{CountKind, CountsRecord};

use crate::counts::Count;

/// How often provisional counts are written, at most.
pub const LIVE_INTERVAL: Duration = Duration::from_secs(1);

/// One product's clicks, or one device type's page loads, in one minute,
/// as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteCount {
    /// Clicks or page loads.
    pub kind: CountKind,
    /// The minute's start (epoch ms).
    pub minute: i64,
    /// The product, or the device type.
    pub name: String,
    /// Its count; `None` when a product lost its place in the minute.
    pub count: Option<Count>,
    /// Whether the minute has closed.
    pub is_final: bool,
}

impl MinuteCount {
    /// The record's key: `<kind>:<minute>:<name>`.
    pub fn key(&self) -> String {
        CountsRecord::key_of(self.kind, self.minute, &self.name)
    }

    /// The record's value; `None` (a tombstone) for a product that lost
    /// its place.
    pub fn value(&self) -> Result<Option<Vec<u8>>, serde_json::Error> {
        let Some(count) = self.count else {
            return Ok(None);
        };
        serde_json::to_vec(&CountsRecord {
            topic: edm_events::counts::TOPIC_NAME.to_owned(),
            kind: self.kind,
            name: self.name.clone(),
            minute: self.minute,
            count: count.clicks,
            overcount: count.overcount,
            is_final: self.is_final,
        })
        .map(Some)
    }
}

/// The provisional counts a window task has not written yet.
#[derive(Debug, Default)]
pub struct LiveCounts {
    /// The latest count of each (kind, minute, name) that moved.
    pending: BTreeMap<(CountKind, i64, String), Count>,
    /// When provisional counts were last taken for writing.
    written_at: Option<Instant>,
}

impl LiveCounts {
    /// Takes in what the store reported: a provisional count waits for the
    /// next write; a final count or a withdrawal replaces what waited for
    /// its key and is returned, to be written now.
    pub fn note(&mut self, update: MinuteCount) -> Option<MinuteCount> {
        let key = (update.kind, update.minute, update.name);
        match update.count {
            Some(count) if !update.is_final => {
                self.pending.insert(key, count);
                None
            }
            count => {
                self.pending.remove(&key);
                let (kind, minute, name) = key;
                Some(MinuteCount {
                    kind,
                    minute,
                    name,
                    count,
                    is_final: update.is_final,
                })
            }
        }
    }

    /// The provisional counts to write now, if [`LIVE_INTERVAL`] has passed
    /// since the last write (none otherwise).
    pub fn take_due(&mut self, now: Instant) -> Vec<MinuteCount> {
        if self.pending.is_empty()
            || self
                .written_at
                .is_some_and(|at| now.duration_since(at) < LIVE_INTERVAL)
        {
            return Vec::new();
        }
        self.written_at = Some(now);
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|((kind, minute, name), count)| MinuteCount {
                kind,
                minute,
                name,
                count: Some(count),
                is_final: false,
            })
            .collect()
    }

    /// Forgets what waits (an aborted cycle: the store is restored and
    /// counts again).
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(button_id: &str, clicks: Option<u64>, is_final: bool) -> MinuteCount {
        MinuteCount {
            kind: CountKind::Click,
            minute: 1_700_000_040_000,
            name: button_id.into(),
            count: clicks.map(|clicks| Count {
                clicks,
                overcount: 0,
            }),
            is_final,
        }
    }

    #[test]
    fn provisional_counts_wait_a_second_and_only_the_latest_is_written() {
        let mut live = LiveCounts::default();
        let start = Instant::now();
        assert_eq!(live.note(update("kit", Some(1), false)), None);
        assert_eq!(live.note(update("kit", Some(2), false)), None);
        assert_eq!(live.take_due(start), vec![update("kit", Some(2), false)]);
        live.note(update("kit", Some(3), false));
        assert!(live.take_due(start + Duration::from_millis(500)).is_empty());
        assert_eq!(
            live.take_due(start + LIVE_INTERVAL),
            vec![update("kit", Some(3), false)]
        );
    }

    #[test]
    fn a_final_count_or_a_withdrawal_replaces_the_waiting_provisional_one() {
        let mut live = LiveCounts::default();
        live.note(update("kit", Some(4), false));
        live.note(update("mug", Some(1), false));
        assert_eq!(
            live.note(update("kit", Some(5), true)),
            Some(update("kit", Some(5), true))
        );
        assert_eq!(
            live.note(update("mug", None, false)),
            Some(update("mug", None, false))
        );
        assert!(live.take_due(Instant::now()).is_empty());
    }

    #[test]
    fn the_record_is_the_catalogued_json_under_its_key() {
        let final_count = update("kit", Some(5), true);
        assert_eq!(final_count.key(), "click:1700000040000:kit");
        let value = final_count.value().unwrap().unwrap();
        let record = CountsRecord::parse(&value).unwrap();
        assert!(record.is_final);
        assert_eq!((record.count, record.overcount), (5, 0));
        assert_eq!(record.key(), final_count.key());
        assert_eq!(update("kit", None, false).value().unwrap(), None);
    }
}
