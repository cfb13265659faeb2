//! Rebuilding a [`WindowStore`] from its changelog topic, read from the
//! beginning: [`Restorer`] applies the records one by one (the runtime
//! feeds it as it polls), and [`WindowStore::restore`] does it for an
//! iterator.
//!
//! The changelog is compacted, so a key may appear several times (the last
//! record wins), older values may be gone, and a tombstone may stand for a
//! count whose values were all compacted away. A record that does not
//! decode stops the restore with an error naming the record and the fault:
//! a store built from a changelog it does not understand would compute
//! wrong results.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::changelog::{ChangelogError, ChangelogRecord};
use crate::config::TrendingConfig;
use crate::store::WindowStore;
use crate::window::Window;

/// How many key bytes a [`RestoreError`] shows.
const SHOWN_KEY_BYTES: usize = 32;

/// A changelog record a restore cannot use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("changelog record #{position} (key {key_hex}) cannot be restored: {reason}")]
pub struct RestoreError {
    /// The record's position among those applied, from 0.
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
    stream_time: Option<i64>,
    windows: BTreeMap<Window, BTreeMap<String, u64>>,
    applied: u64,
}

impl Restorer {
    /// A restore that has applied no record yet.
    pub fn new(config: TrendingConfig) -> Self {
        Self {
            config,
            stream_time: None,
            windows: BTreeMap::new(),
            applied: 0,
        }
    }

    /// Applies the next changelog record (`value: None` is a tombstone).
    /// On error nothing is applied; the runtime should stop.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RestoreError> {
        let position = self.applied;
        let record = ChangelogRecord::decode(key, value).map_err(|reason| RestoreError {
            position,
            key_hex: hex(key),
            reason,
        })?;
        match record {
            ChangelogRecord::StreamTime(time) => self.stream_time = Some(time),
            ChangelogRecord::Count {
                window,
                button_id,
                count,
            } => {
                self.windows
                    .entry(window)
                    .or_default()
                    .insert(button_id, count);
            }
            ChangelogRecord::CountDeleted { window, button_id } => {
                if let Some(counts) = self.windows.get_mut(&window) {
                    counts.remove(&button_id);
                    if counts.is_empty() {
                        self.windows.remove(&window);
                    }
                }
            }
        }
        self.applied = self.applied.saturating_add(1);
        Ok(())
    }

    /// How many records have been applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The restored store. Its counters start at zero.
    pub fn finish(self) -> WindowStore {
        WindowStore::from_parts(self.config, self.stream_time, self.windows)
    }
}

impl WindowStore {
    /// A store rebuilt from changelog records `(key, value)` read from the
    /// beginning of the changelog topic, in order (`value: None` is a
    /// tombstone). It then processes records exactly as the store that
    /// wrote the changelog did after its last update there.
    pub fn restore<K, V>(
        config: TrendingConfig,
        records: impl IntoIterator<Item = (K, Option<V>)>,
    ) -> Result<Self, RestoreError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut restorer = Restorer::new(config);
        for (key, value) in records {
            restorer.apply(key.as_ref(), value.as_ref().map(AsRef::as_ref))?;
        }
        Ok(restorer.finish())
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

    #[test]
    fn an_undecodable_record_stops_the_restore_and_is_named() {
        let good = (b"T".to_vec(), Some(5i64.to_be_bytes().to_vec()));
        let bad = (b"Zz".to_vec(), Some(vec![1]));
        let error =
            WindowStore::restore(TrendingConfig::default(), [good.clone(), good, bad]).unwrap_err();
        assert_eq!(
            error,
            RestoreError {
                position: 2,
                key_hex: "5a7a".into(),
                reason: ChangelogError::UnknownTag(b'Z'),
            }
        );
        assert_eq!(
            error.to_string(),
            "changelog record #2 (key 5a7a) cannot be restored: \
             the key starts with the unknown tag byte 0x5a (expected 'T' or 'C')"
        );
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
        let window = Window::new(crate::WindowSpec::OneMinute, 60_000).unwrap();
        let count = |n| ChangelogRecord::Count {
            window,
            button_id: "a".into(),
            count: n,
        };
        let deleted = ChangelogRecord::CountDeleted {
            window,
            button_id: "b".into(),
        };
        for record in [
            ChangelogRecord::StreamTime(70_000),
            count(1),
            deleted.clone(), // a tombstone whose values were compacted away
            count(4),
            ChangelogRecord::StreamTime(90_000),
        ] {
            let update = record.encode();
            restorer
                .apply(&update.key, update.value.as_deref())
                .unwrap();
        }
        assert_eq!(restorer.applied(), 5);
        let store = restorer.finish();
        assert_eq!(store.stream_time(), Some(90_000));
        assert_eq!(store.open_entries(), 1);
        let counts: Vec<(Window, Vec<(String, u64)>)> = store
            .open_counts()
            .map(|(w, c)| (w, c.clone().into_iter().collect()))
            .collect();
        assert_eq!(counts, vec![(window, vec![("a".to_owned(), 4)])]);

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
        assert_eq!(store.stream_time(), None);
    }
}
