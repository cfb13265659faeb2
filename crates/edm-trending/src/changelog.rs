//! The changelog: every change the store makes, as Kafka records for a
//! compacted topic, their encoding and decoding, and [`coalesce`] for the
//! runtime's per-transaction batches.
//!
//! # Encoding
//! Keys start with a tag byte that says what the record is:
//!
//! | record      | key                                                          | value                          |
//! |-------------|--------------------------------------------------------------|--------------------------------|
//! | stream time | `b"T"` (exactly one byte)                                    | the time, `i64` big-endian     |
//! | count       | `b"C"`, spec byte (`b'1'`/`b'5'`), start `i64` big-endian, button id's UTF-8 bytes | the count, `u64` big-endian (>= 1) |
//! | closed count| the count's key                                              | none (a tombstone)             |
//!
//! A count key's prefix is fixed-width (10 bytes), so the button id is the
//! rest of the key whatever bytes it holds, and two different
//! (spec, start, button id) never share a key; the stream-time key is one
//! byte long, so it cannot be a count key. Never change a tag or a spec
//! byte: restored changelogs hold them. A new format gets new tags.

use std::collections::HashSet;

use thiserror::Error;

use crate::event_time::{is_valid_event_time, MAX_EVENT_TIME_MS};
use crate::store::MAX_BUTTON_ID_BYTES;
use crate::window::{Window, WindowSpec};

/// Tag byte of the stream-time key.
const STREAM_TIME_TAG: u8 = b'T';
/// Tag byte of count keys.
const COUNT_TAG: u8 = b'C';
/// Length of a count key before the button id: tag, spec, start.
const COUNT_KEY_PREFIX_LEN: usize = 1 + 1 + 8;

/// One record to write to the changelog topic. `value: None` is a
/// tombstone: compaction removes the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChangelogUpdate {
    /// The Kafka record key.
    pub key: Vec<u8>,
    /// The Kafka record value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

/// What a changelog record says, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangelogRecord {
    /// Stream time is now this (epoch ms).
    StreamTime(i64),
    /// The count of `button_id` in `window` is now `count` (at least 1).
    Count {
        /// The window counted in.
        window: Window,
        /// The product.
        button_id: String,
        /// Clicks so far.
        count: u64,
    },
    /// The count of `button_id` in `window` is gone: the window closed.
    CountDeleted {
        /// The closed window.
        window: Window,
        /// The product.
        button_id: String,
    },
}

/// Why a changelog record cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChangelogError {
    /// The key has no bytes.
    #[error("the key is empty")]
    EmptyKey,
    /// The key's first byte is no known tag.
    #[error("the key starts with the unknown tag byte 0x{0:02x} (expected 'T' or 'C')")]
    UnknownTag(u8),
    /// The stream-time key has bytes after its tag.
    #[error("the stream-time key must be exactly 1 byte, got {0} bytes")]
    LongStreamTimeKey(usize),
    /// A count key is too short to hold its spec and start.
    #[error("a count key must be at least {COUNT_KEY_PREFIX_LEN} bytes, got {0} bytes")]
    ShortCountKey(usize),
    /// A count key's spec byte is no known spec.
    #[error("the count key's window spec byte 0x{0:02x} is unknown (expected '1' or '5')")]
    UnknownWindowSpec(u8),
    /// A count key's start is not the start of a window of its spec.
    #[error("the count key's window start {start} is not a {spec} window start (a multiple of 60000 within the accepted range)")]
    InvalidWindowStart {
        /// The key's spec.
        spec: WindowSpec,
        /// The key's start.
        start: i64,
    },
    /// A count key's button id is not UTF-8.
    #[error("the count key's button id is not valid UTF-8")]
    ButtonIdNotUtf8,
    /// A count key's button id is longer than any the store accepts.
    #[error(
        "the count key's button id is {0} bytes, more than the {MAX_BUTTON_ID_BYTES} accepted"
    )]
    ButtonIdTooLong(usize),
    /// A value is not 8 bytes.
    #[error("the {what} value must be 8 bytes, got {len} bytes")]
    ValueLength {
        /// Whose value: "stream time" or "count".
        what: &'static str,
        /// The value's length.
        len: usize,
    },
    /// A count value is 0 (the store deletes counts instead).
    #[error("the count value is 0 (a count is at least 1; closed counts are tombstones)")]
    ZeroCount,
    /// A stream time outside the accepted event times.
    #[error("the stream time {0} is outside 0..={MAX_EVENT_TIME_MS}")]
    StreamTimeOutOfRange(i64),
    /// A tombstone for the stream-time key (the store never deletes it).
    #[error("the stream-time key has a tombstone (stream time is never deleted)")]
    StreamTimeTombstone,
}

impl ChangelogRecord {
    /// The record's key and value as written to Kafka.
    pub fn encode(&self) -> ChangelogUpdate {
        match self {
            ChangelogRecord::StreamTime(time) => stream_time_update(*time),
            ChangelogRecord::Count {
                window,
                button_id,
                count,
            } => count_update(*window, button_id, *count),
            ChangelogRecord::CountDeleted { window, button_id } => ChangelogUpdate {
                key: count_key(*window, button_id),
                value: None,
            },
        }
    }

    /// Decodes a record read from the changelog topic.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Self, ChangelogError> {
        match key.split_first() {
            None => Err(ChangelogError::EmptyKey),
            Some((&STREAM_TIME_TAG, rest)) => {
                if !rest.is_empty() {
                    return Err(ChangelogError::LongStreamTimeKey(key.len()));
                }
                let value = value.ok_or(ChangelogError::StreamTimeTombstone)?;
                let time = i64::from_be_bytes(eight_bytes("stream time", value)?);
                if !is_valid_event_time(time) {
                    return Err(ChangelogError::StreamTimeOutOfRange(time));
                }
                Ok(ChangelogRecord::StreamTime(time))
            }
            Some((&COUNT_TAG, _)) => {
                let (window, button_id) = decode_count_key(key)?;
                match value {
                    None => Ok(ChangelogRecord::CountDeleted { window, button_id }),
                    Some(value) => {
                        let count = u64::from_be_bytes(eight_bytes("count", value)?);
                        if count == 0 {
                            return Err(ChangelogError::ZeroCount);
                        }
                        Ok(ChangelogRecord::Count {
                            window,
                            button_id,
                            count,
                        })
                    }
                }
            }
            Some((&tag, _)) => Err(ChangelogError::UnknownTag(tag)),
        }
    }
}

impl ChangelogUpdate {
    /// Decodes this update (see [`ChangelogRecord::decode`]).
    pub fn decode(&self) -> Result<ChangelogRecord, ChangelogError> {
        ChangelogRecord::decode(&self.key, self.value.as_deref())
    }
}

/// The update recording that stream time is now `time`.
pub(crate) fn stream_time_update(time: i64) -> ChangelogUpdate {
    ChangelogUpdate {
        key: vec![STREAM_TIME_TAG],
        value: Some(time.to_be_bytes().to_vec()),
    }
}

/// The update recording that `button_id` has `count` clicks in `window`.
pub(crate) fn count_update(window: Window, button_id: &str, count: u64) -> ChangelogUpdate {
    ChangelogUpdate {
        key: count_key(window, button_id),
        value: Some(count.to_be_bytes().to_vec()),
    }
}

/// The key of `button_id`'s count in `window`.
pub(crate) fn count_key(window: Window, button_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(COUNT_KEY_PREFIX_LEN + button_id.len());
    key.push(COUNT_TAG);
    key.push(window.spec().code());
    key.extend_from_slice(&window.start().to_be_bytes());
    key.extend_from_slice(button_id.as_bytes());
    key
}

/// The window and button id of a count key (tag already checked).
fn decode_count_key(key: &[u8]) -> Result<(Window, String), ChangelogError> {
    let (prefix, id) = key
        .split_at_checked(COUNT_KEY_PREFIX_LEN)
        .ok_or(ChangelogError::ShortCountKey(key.len()))?;
    let spec_code = prefix[1];
    let spec =
        WindowSpec::from_code(spec_code).ok_or(ChangelogError::UnknownWindowSpec(spec_code))?;
    let mut start_bytes = [0u8; 8];
    start_bytes.copy_from_slice(&prefix[2..]);
    let start = i64::from_be_bytes(start_bytes);
    let window =
        Window::new(spec, start).ok_or(ChangelogError::InvalidWindowStart { spec, start })?;
    if id.len() > MAX_BUTTON_ID_BYTES {
        return Err(ChangelogError::ButtonIdTooLong(id.len()));
    }
    let button_id = std::str::from_utf8(id)
        .map_err(|_| ChangelogError::ButtonIdNotUtf8)?
        .to_owned();
    Ok((window, button_id))
}

/// `value` as exactly 8 bytes.
fn eight_bytes(what: &'static str, value: &[u8]) -> Result<[u8; 8], ChangelogError> {
    value.try_into().map_err(|_| ChangelogError::ValueLength {
        what,
        len: value.len(),
    })
}

/// One update per key, the last one given for it, in the order of those
/// last updates. Writing the result instead of `updates` leaves the
/// compacted changelog, and any store restored from it, the same; the
/// runtime uses it to write one batch per transaction.
pub fn coalesce(updates: impl IntoIterator<Item = ChangelogUpdate>) -> Vec<ChangelogUpdate> {
    let updates: Vec<ChangelogUpdate> = updates.into_iter().collect();
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(updates.len());
    let mut keep = vec![false; updates.len()];
    for (index, update) in updates.iter().enumerate().rev() {
        keep[index] = seen.insert(update.key.as_slice());
    }
    updates
        .into_iter()
        .zip(keep)
        .filter_map(|(update, keep)| keep.then_some(update))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn window(spec: WindowSpec, start: i64) -> Window {
        Window::new(spec, start).unwrap()
    }

    fn count(spec: WindowSpec, start: i64, id: &str, count: u64) -> ChangelogRecord {
        ChangelogRecord::Count {
            window: window(spec, start),
            button_id: id.to_owned(),
            count,
        }
    }

    #[test]
    fn keys_and_values_have_the_documented_bytes() {
        let update = count(WindowSpec::FiveMinutes, 60_000, "ab", 3).encode();
        let mut key = b"C5".to_vec();
        key.extend_from_slice(&60_000i64.to_be_bytes());
        key.extend_from_slice(b"ab");
        assert_eq!(update.key, key);
        assert_eq!(update.value, Some(vec![0, 0, 0, 0, 0, 0, 0, 3]));
        let time = ChangelogRecord::StreamTime(1_700_000_000_000).encode();
        assert_eq!(time.key, b"T".to_vec());
        assert_eq!(
            time.value,
            Some(1_700_000_000_000i64.to_be_bytes().to_vec())
        );
    }

    #[test]
    fn button_ids_that_look_like_separators_or_other_keys_do_not_collide() {
        let ids = [
            "",
            "a",
            "a:",
            ":a",
            "a\0",
            "\0a",
            "C",
            "T",
            "1m:0",
            "é",
            "e\u{301}",
            "😀",
            "a b",
            "\u{ffff}",
            "C1\0\0\0\0\0\0\0\0a",
        ];
        let mut keys = HashSet::new();
        let mut total = 0;
        for spec in WindowSpec::ALL {
            for start in [-240_000, 0, 60_000, 3_600_000] {
                let Some(window) = Window::new(spec, start) else {
                    continue;
                };
                for id in ids {
                    let record = ChangelogRecord::CountDeleted {
                        window,
                        button_id: id.to_owned(),
                    };
                    let update = record.encode();
                    assert_eq!(update.decode(), Ok(record), "{spec} {start} {id:?}");
                    keys.insert(update.key);
                    total += 1;
                }
            }
        }
        keys.insert(ChangelogRecord::StreamTime(0).encode().key);
        assert_eq!(keys.len(), total + 1, "every key is distinct");
    }

    #[test]
    fn garbage_and_truncated_records_are_refused_with_the_reason() {
        let good = count(WindowSpec::OneMinute, 120_000, "kit", 2).encode();
        let decode = |key: &[u8], value: Option<&[u8]>| ChangelogRecord::decode(key, value);
        assert_eq!(decode(b"", Some(b"x")), Err(ChangelogError::EmptyKey));
        assert_eq!(decode(b"Xabc", None), Err(ChangelogError::UnknownTag(b'X')));
        assert_eq!(
            decode(b"TT", Some(&[0; 8])),
            Err(ChangelogError::LongStreamTimeKey(2))
        );
        assert_eq!(decode(b"T", None), Err(ChangelogError::StreamTimeTombstone));
        assert_eq!(
            decode(b"T", Some(&[0; 7])),
            Err(ChangelogError::ValueLength {
                what: "stream time",
                len: 7
            })
        );
        assert_eq!(
            decode(b"T", Some(&(-1i64).to_be_bytes())),
            Err(ChangelogError::StreamTimeOutOfRange(-1))
        );
        for len in 0..COUNT_KEY_PREFIX_LEN {
            let truncated = &good.key[..len];
            let result = decode(truncated, good.value.as_deref());
            assert!(result.is_err(), "a key cut to {len} bytes is refused");
        }
        assert_eq!(
            decode(&good.key[..5], None),
            Err(ChangelogError::ShortCountKey(5))
        );
        let mut bad_spec = good.key.clone();
        bad_spec[1] = b'2';
        assert_eq!(
            decode(&bad_spec, None),
            Err(ChangelogError::UnknownWindowSpec(b'2'))
        );
        let mut unaligned = good.key.clone();
        unaligned[2..10].copy_from_slice(&120_001i64.to_be_bytes());
        assert_eq!(
            decode(&unaligned, None),
            Err(ChangelogError::InvalidWindowStart {
                spec: WindowSpec::OneMinute,
                start: 120_001
            })
        );
        let mut not_utf8 = good.key.clone();
        not_utf8.push(0xff);
        assert_eq!(
            decode(&not_utf8, None),
            Err(ChangelogError::ButtonIdNotUtf8)
        );
        let mut too_long = good.key[..COUNT_KEY_PREFIX_LEN].to_vec();
        too_long.extend(std::iter::repeat_n(b'a', MAX_BUTTON_ID_BYTES + 1));
        assert_eq!(
            decode(&too_long, None),
            Err(ChangelogError::ButtonIdTooLong(MAX_BUTTON_ID_BYTES + 1))
        );
        assert_eq!(
            decode(&good.key, Some(&[0, 1, 2])),
            Err(ChangelogError::ValueLength {
                what: "count",
                len: 3
            })
        );
        assert_eq!(
            decode(&good.key, Some(&[0; 8])),
            Err(ChangelogError::ZeroCount)
        );
        assert!(ChangelogError::UnknownTag(0x58)
            .to_string()
            .contains("0x58"));
    }

    #[test]
    fn coalescing_keeps_the_last_update_per_key_in_the_order_of_those_updates() {
        let a1 = ChangelogUpdate {
            key: b"a".to_vec(),
            value: Some(vec![1]),
        };
        let b1 = ChangelogUpdate {
            key: b"b".to_vec(),
            value: Some(vec![1]),
        };
        let a_gone = ChangelogUpdate {
            key: b"a".to_vec(),
            value: None,
        };
        let c1 = ChangelogUpdate {
            key: b"c".to_vec(),
            value: Some(vec![1]),
        };
        assert_eq!(
            coalesce([a1, b1.clone(), a_gone.clone(), c1.clone()]),
            vec![b1, a_gone, c1]
        );
        assert!(coalesce(Vec::new()).is_empty());
    }

    fn any_window() -> impl Strategy<Value = Window> {
        (
            prop::sample::select(WindowSpec::ALL.to_vec()),
            -4i64..=4_223_371_680,
        )
            .prop_filter_map("a valid window", |(spec, minute)| {
                Window::new(spec, minute * 60_000)
            })
    }

    proptest! {
        #[test]
        fn every_record_decodes_to_itself(
            window in any_window(),
            id in "\\PC{0,40}|[\\x00-\\x7f]{0,8}",
            count in 1u64..,
            time in 0i64..=MAX_EVENT_TIME_MS,
            deleted in any::<bool>(),
        ) {
            let record = if deleted {
                ChangelogRecord::CountDeleted { window, button_id: id }
            } else {
                ChangelogRecord::Count { window, button_id: id, count }
            };
            prop_assert_eq!(record.encode().decode(), Ok(record));
            let time = ChangelogRecord::StreamTime(time);
            prop_assert_eq!(time.encode().decode(), Ok(time));
        }

        #[test]
        fn distinct_counts_never_share_a_key(
            a in (any_window(), "\\PC{0,6}|[\\x00-\\x7f]{0,6}"),
            b in (any_window(), "\\PC{0,6}|[\\x00-\\x7f]{0,6}"),
        ) {
            prop_assert_eq!(count_key(a.0, &a.1) == count_key(b.0, &b.1), a == b);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(
            key in prop::collection::vec(any::<u8>(), 0..24),
            value in prop::option::of(prop::collection::vec(any::<u8>(), 0..12)),
        ) {
            if let Ok(record) = ChangelogRecord::decode(&key, value.as_deref()) {
                // Whatever decodes re-encodes to the same bytes: one meaning per key.
                let update = record.encode();
                prop_assert_eq!(update.key, key);
                prop_assert_eq!(update.value, value);
            }
        }
    }
}
