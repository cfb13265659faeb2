//! Rebuilding a [`WindowStore`] from its changelog topic, read from the
//! beginning: [`Restorer`] applies the records one by one (the runtime
//! feeds it as it polls), and [`WindowStore::restore`] does it for an
//! iterator.
//!
//! The changelog is compacted, so a key may appear several times (the last
//! record wins), older values may be gone, and a tombstone may stand for a
//! count whose values were all compacted away. A record that does not
//! decode (another producer can write any bytes to the topic) changes
//! nothing: the restore skips it and reports it, naming the record and the
//! fault, and goes on. Stream-time records written before watermarks are
//! read and ignored. The latest [`Journal`] (at-least-once processing) is
//! applied after everything else.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::changelog::{ChangelogError, ChangelogRecord, ClosedWindow};
use crate::config::TrendingConfig;
use crate::counts::{Count, WindowCounts};
use crate::journal::Journal;
use crate::progress::{InputProgress, PartitionProgress};
use crate::store::WindowStore;
use crate::window::Window;

/// How many key bytes a [`RestoreError`] shows.
const SHOWN_KEY_BYTES: usize = 32;

/// A changelog record a restore cannot use, and skipped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("changelog record #{position} (key {key_hex}) cannot be restored: {reason}")]
pub struct RestoreError {
    /// The record's position among those read, from 0.
    pub position: u64,
    /// The record's key in hex (its first 32 bytes, then `…`).
    pub key_hex: String,
    /// What is wrong with it.
    pub reason: ChangelogError,
}

/// A store being rebuilt from changelog records, in changelog order.
#[derive(Debug, Clone)]
pub struct Restorer {
    config: TrendingConfig,
    progress: BTreeMap<i32, PartitionProgress>,
    closed_through: Option<i64>,
    counts: BTreeMap<Window, BTreeMap<String, Count>>,
    closed: BTreeMap<Window, ClosedWindow>,
    page_loads: BTreeMap<(Window, String), u64>,
    /// The latest journal, applied by [`finish`](Self::finish).
    journal: Option<Journal>,
    /// A journal record (or its tombstone) was read.
    journal_seen: bool,
    read: u64,
    skipped: u64,
}

impl Restorer {
    /// A restore that has read no record yet.
    pub fn new(config: TrendingConfig) -> Self {
        Self {
            config,
            progress: BTreeMap::new(),
            closed_through: None,
            counts: BTreeMap::new(),
            closed: BTreeMap::new(),
            page_loads: BTreeMap::new(),
            journal: None,
            journal_seen: false,
            read: 0,
            skipped: 0,
        }
    }

    /// Applies the next changelog record (`value: None` is a tombstone). A
    /// record that does not decode changes nothing and is returned as the
    /// error; the restore goes on with the next one.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RestoreError> {
        let position = self.read;
        self.read = self.read.saturating_add(1);
        let record = ChangelogRecord::decode(key, value).map_err(|reason| {
            self.skipped = self.skipped.saturating_add(1);
            RestoreError {
                position,
                key_hex: hex(key),
                reason,
            }
        })?;
        self.apply_record(record);
        Ok(())
    }

    /// Applies one decoded record.
    fn apply_record(&mut self, record: ChangelogRecord) {
        match record {
            ChangelogRecord::LegacyStreamTime(_) => {}
            ChangelogRecord::Journal(journal) => {
                self.journal = Some(journal);
                self.journal_seen = true;
            }
            ChangelogRecord::JournalDeleted => {
                self.journal = None;
                self.journal_seen = true;
            }
            ChangelogRecord::Progress {
                partition,
                progress,
            } => {
                self.progress.insert(partition, progress);
            }
            ChangelogRecord::ClosedThrough(time) => self.closed_through = Some(time),
            ChangelogRecord::Count {
                window,
                button_id,
                count,
            } => {
                self.counts
                    .entry(window)
                    .or_default()
                    .insert(button_id, count);
            }
            ChangelogRecord::CountDeleted { window, button_id } => {
                if let Some(counts) = self.counts.get_mut(&window) {
                    counts.remove(&button_id);
                    if counts.is_empty() {
                        self.counts.remove(&window);
                    }
                }
            }
            ChangelogRecord::PageLoads {
                minute,
                device,
                count,
            } => {
                self.page_loads.insert((minute, device), count);
            }
            ChangelogRecord::PageLoadsDeleted { minute, device } => {
                self.page_loads.remove(&(minute, device));
            }
            ChangelogRecord::Closed { window, closed } => {
                self.closed.insert(window, closed);
            }
            ChangelogRecord::ClosedDeleted { window } => {
                self.closed.remove(&window);
            }
        }
    }

    /// Whether the changelog holds a journal record or its tombstone (an
    /// exactly-once task then retires it in its first transaction).
    pub fn journal_seen(&self) -> bool {
        self.journal_seen
    }

    /// How many records have been read (skipped ones included).
    pub fn read(&self) -> u64 {
        self.read
    }

    /// How many records were skipped because they did not decode.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The restored store, the latest journal applied last. Its counters
    /// start at zero.
    pub fn finish(mut self) -> WindowStore {
        if let Some(journal) = self.journal.take() {
            for window in &journal.closed {
                self.counts.remove(window);
            }
            for update in journal.updates {
                // Every update in a journal decoded when it was read.
                if let Ok(record) = update.decode() {
                    self.apply_record(record);
                }
            }
        }
        let windows = self
            .counts
            .into_iter()
            .map(|(window, counts)| (window, WindowCounts::from_counts(counts)))
            .collect();
        WindowStore::from_parts(
            self.config,
            InputProgress::from_parts(self.progress),
            self.closed_through,
            windows,
            self.closed,
            self.page_loads,
        )
    }
}

impl WindowStore {
    /// A store rebuilt from changelog records `(key, value)` read from the
    /// beginning of the changelog topic, in order (`value: None` is a
    /// tombstone), and the records it skipped. It then processes records
    /// exactly as the store that wrote the changelog did after its last
    /// update there.
    pub fn restore<K, V>(
        config: TrendingConfig,
        records: impl IntoIterator<Item = (K, Option<V>)>,
    ) -> (Self, Vec<RestoreError>)
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut restorer = Restorer::new(config);
        let mut skipped = Vec::new();
        for (key, value) in records {
            if let Err(e) = restorer.apply(key.as_ref(), value.as_ref().map(AsRef::as_ref)) {
                skipped.push(e);
            }
        }
        (restorer.finish(), skipped)
    }
}

/// `key` in lowercase hex, cut after [`SHOWN_KEY_BYTES`] bytes.
fn hex(key: &[u8]) -> String {
    let mut text: String = key
        .iter()
        .take(SHOWN_KEY_BYTES)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if key.len() > SHOWN_KEY_BYTES {
        text.push('…');
    }
    if text.is_empty() {
        text.push_str("empty");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WindowSpec;

    #[test]
    fn an_undecodable_record_is_skipped_and_named() {
        let window = Window::new(WindowSpec::OneMinute, 60_000).unwrap();
        let good = ChangelogRecord::Count {
            window,
            button_id: "a".into(),
            count: Count {
                clicks: 3,
                overcount: 0,
            },
        }
        .encode();
        let good = (good.key, good.value);
        let bad = (b"Zz".to_vec(), Some(vec![1]));
        let (store, skipped) = WindowStore::restore(TrendingConfig::default(), [bad, good.clone()]);
        assert_eq!(
            skipped,
            vec![RestoreError {
                position: 0,
                key_hex: "5a7a".into(),
                reason: ChangelogError::UnknownTag(b'Z'),
            }]
        );
        assert_eq!(
            skipped[0].to_string(),
            "changelog record #0 (key 5a7a) cannot be restored: \
             the key starts with the unknown tag byte 0x5a (expected one of 'W', 'G', 'C', 'L', 'R', 'J', 'T')"
        );
        assert_eq!(store.open_entries(), 1, "the records after it are restored");
    }

    #[test]
    fn long_and_empty_keys_are_shown_briefly() {
        assert_eq!(hex(&[]), "empty");
        assert_eq!(hex(&[0, 255]), "00ff");
        let long = hex(&[0xab; 40]);
        assert_eq!(long, format!("{}…", "ab".repeat(32)));
    }

    #[test]
    fn the_last_record_per_key_wins_and_tombstones_delete() {
        let mut restorer = Restorer::new(TrendingConfig::default());
        let window = Window::new(WindowSpec::OneMinute, 60_000).unwrap();
        let count = |n| ChangelogRecord::Count {
            window,
            button_id: "a".into(),
            count: Count {
                clicks: n,
                overcount: 0,
            },
        };
        let deleted = ChangelogRecord::CountDeleted {
            window,
            button_id: "b".into(),
        };
        let progress = |watermark| ChangelogRecord::Progress {
            partition: 0,
            progress: PartitionProgress {
                watermark,
                next_offset: 3,
            },
        };
        for record in [
            ChangelogRecord::LegacyStreamTime(70_000),
            progress(70_000),
            count(1),
            deleted.clone(), // a tombstone whose values were compacted away
            count(4),
            progress(90_000),
            ChangelogRecord::ClosedThrough(30_000),
        ] {
            let update = record.encode();
            restorer
                .apply(&update.key, update.value.as_deref())
                .unwrap();
        }
        assert_eq!((restorer.read(), restorer.skipped()), (7, 0));
        let store = restorer.finish();
        assert_eq!(store.watermark(), Some(30_000));
        assert_eq!(store.progress().partition(0).unwrap().watermark, 90_000);
        assert_eq!(store.open_entries(), 1);
        let counts: Vec<(Window, Vec<(&str, u64)>)> = store
            .open_counts()
            .map(|(w, c)| (w, c.into_iter().map(|(id, n)| (id, n.clicks)).collect()))
            .collect();
        assert_eq!(counts, vec![(window, vec![("a", 4)])]);

        let mut emptied = Restorer::new(TrendingConfig::default());
        for record in [
            count(2),
            ChangelogRecord::CountDeleted {
                window,
                button_id: "a".into(),
            },
        ] {
            let update = record.encode();
            emptied.apply(&update.key, update.value.as_deref()).unwrap();
        }
        let store = emptied.finish();
        assert_eq!((store.open_entries(), store.open_windows()), (0, 0));
        assert_eq!(store.watermark(), None);
    }
}
