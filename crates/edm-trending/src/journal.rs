//! [`Journal`]: one cycle's changelog updates in a single record, which is
//! what makes at-least-once processing exact.
//!
//! Without transactions, a crash can leave only some of a cycle's
//! changelog records written. So under `at_least_once` the window task
//! first writes the cycle's whole change as one record under the key
//! `b"J"` (a single record is written whole or not at all), waits until it
//! is delivered, and only then writes the per-key records that compaction
//! keeps. A restore applies the latest journal after everything else: the
//! per-key records before it are the state before its cycle (every earlier
//! cycle finished), and the journal completes its own cycle however many of
//! its per-key records made it. A tombstone for `b"J"` (written by the
//! first exactly-once transaction after such a restore) retires it.
//!
//! Closed windows are named once (their counts are deleted as a whole on
//! restore) rather than by a tombstone per product, which keeps a journal
//! small; the window task also ends a cycle early once its journal would
//! pass [`MAX_JOURNAL_BYTES`].
//!
//! # Encoding
//! The closed windows: a `u32` count, then each as its spec byte and start
//! `i64`; the updates: a `u32` count, then each as its key (`u32` length,
//! bytes), a `u8` 1 and the value (`u32` length, bytes), or a `u8` 0 for a
//! tombstone. Integers are big-endian. Every update is itself a changelog
//! record that decodes.

use crate::changelog::{ChangelogError, ChangelogRecord, ChangelogUpdate};
use crate::window::{Window, WindowSpec};

/// The journal's key.
pub(crate) const JOURNAL_KEY: &[u8] = b"J";

/// The size past which a cycle's journal ends the cycle: a quarter of
/// Kafka's default largest record (1 MB), leaving room for the records
/// that complete the cycle's last click.
pub const MAX_JOURNAL_BYTES: usize = 256 * 1024;

/// One cycle's change to the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    /// Windows the cycle closed: every count of theirs is gone.
    pub closed: Vec<Window>,
    /// Every other update, one per key.
    pub updates: Vec<ChangelogUpdate>,
}

impl Journal {
    /// The record's value.
    pub fn encode(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(self.encoded_len());
        value.extend_from_slice(&(self.closed.len() as u32).to_be_bytes());
        for window in &self.closed {
            value.push(window.spec().code());
            value.extend_from_slice(&window.start().to_be_bytes());
        }
        value.extend_from_slice(&(self.updates.len() as u32).to_be_bytes());
        for update in &self.updates {
            value.extend_from_slice(&(update.key.len() as u32).to_be_bytes());
            value.extend_from_slice(&update.key);
            match &update.value {
                Some(v) => {
                    value.push(1);
                    value.extend_from_slice(&(v.len() as u32).to_be_bytes());
                    value.extend_from_slice(v);
                }
                None => value.push(0),
            }
        }
        value
    }

    /// How many bytes [`encode`](Self::encode) gives.
    pub fn encoded_len(&self) -> usize {
        8 + self.closed.len() * 9
            + self
                .updates
                .iter()
                .map(|u| 4 + u.key.len() + 1 + u.value.as_ref().map_or(0, |v| 4 + v.len()))
                .sum::<usize>()
    }

    /// Reads a journal's value.
    pub fn decode(value: &[u8]) -> Result<Self, ChangelogError> {
        let malformed = ChangelogError::MalformedJournal;
        let mut rest = value;
        let mut take = |n: usize| -> Result<&[u8], ChangelogError> {
            let (taken, left) = rest.split_at_checked(n).ok_or(malformed("it ends early"))?;
            rest = left;
            Ok(taken)
        };
        let u32_at = |bytes: &[u8]| u32::from_be_bytes(bytes.try_into().unwrap_or_default());
        let closed_count = u32_at(take(4)?) as usize;
        let mut closed = Vec::with_capacity(closed_count.min(1024));
        for _ in 0..closed_count {
            let bytes = take(9)?;
            let spec = WindowSpec::from_code(bytes[0])
                .ok_or(ChangelogError::UnknownWindowSpec(bytes[0]))?;
            let start = i64::from_be_bytes(bytes[1..].try_into().unwrap_or_default());
            closed.push(
                Window::new(spec, start)
                    .ok_or(ChangelogError::InvalidWindowStart { spec, start })?,
            );
        }
        let update_count = u32_at(take(4)?) as usize;
        let mut updates = Vec::with_capacity(update_count.min(4096));
        for _ in 0..update_count {
            let key_len = u32_at(take(4)?) as usize;
            let key = take(key_len)?.to_vec();
            let value = match take(1)?[0] {
                0 => None,
                1 => {
                    let len = u32_at(take(4)?) as usize;
                    Some(take(len)?.to_vec())
                }
                _ => return Err(malformed("an update's value flag is not 0 or 1")),
            };
            let update = ChangelogUpdate { key, value };
            if update.key == JOURNAL_KEY {
                return Err(malformed("it holds a journal"));
            }
            update.decode()?;
            updates.push(update);
        }
        if !rest.is_empty() {
            return Err(malformed("bytes follow its last update"));
        }
        Ok(Self { closed, updates })
    }

    /// The record writing this journal.
    pub fn update(&self) -> ChangelogUpdate {
        ChangelogUpdate {
            key: JOURNAL_KEY.to_vec(),
            value: Some(self.encode()),
        }
    }

    /// The tombstone retiring a journal.
    pub fn deleted() -> ChangelogUpdate {
        ChangelogUpdate {
            key: JOURNAL_KEY.to_vec(),
            value: None,
        }
    }

    /// The journal of a cycle: its coalesced `updates`, without the count
    /// tombstones of the windows it `closed`.
    pub fn of_cycle(closed: &[Window], updates: &[ChangelogUpdate]) -> Self {
        let closed_window = |update: &ChangelogUpdate| {
            update.value.is_none()
                && matches!(update.decode(), Ok(ChangelogRecord::CountDeleted { window, .. }) if closed.contains(&window))
        };
        Self {
            closed: closed.to_vec(),
            updates: updates
                .iter()
                .filter(|u| !closed_window(u))
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counts::Count;

    fn window(start: i64) -> Window {
        Window::new(WindowSpec::OneMinute, start).unwrap()
    }

    #[test]
    fn a_journal_reads_back_as_written_and_leaves_closed_windows_tombstones_out() {
        let count = |w, id: &str, clicks| {
            ChangelogRecord::Count {
                window: w,
                button_id: id.into(),
                count: Count {
                    clicks,
                    overcount: 0,
                },
            }
            .encode()
        };
        let gone = |w, id: &str| {
            ChangelogRecord::CountDeleted {
                window: w,
                button_id: id.into(),
            }
            .encode()
        };
        let updates = vec![
            gone(window(0), "a"),
            gone(window(0), "b"),
            gone(window(60_000), "evicted"),
            count(window(60_000), "c", 4),
            ChangelogRecord::ClosedThrough(70_000).encode(),
        ];
        let journal = Journal::of_cycle(&[window(0)], &updates);
        assert_eq!(journal.closed, vec![window(0)]);
        assert_eq!(journal.updates, updates[2..].to_vec());
        let value = journal.encode();
        assert_eq!(value.len(), journal.encoded_len());
        assert_eq!(Journal::decode(&value), Ok(journal.clone()));
        for cut in 0..value.len() {
            assert!(
                Journal::decode(&value[..cut]).is_err(),
                "cut to {cut} bytes"
            );
        }
        let mut longer = value.clone();
        longer.push(0);
        assert!(Journal::decode(&longer).is_err());
        assert_eq!(
            journal.update().decode(),
            Ok(ChangelogRecord::Journal(journal))
        );
        assert_eq!(
            Journal::deleted().decode(),
            Ok(ChangelogRecord::JournalDeleted)
        );
    }
}
