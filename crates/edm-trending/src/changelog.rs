//! The changelog: every change the store makes, as Kafka records for a
//! compacted topic, their encoding and decoding, and [`coalesce`] for the
//! runtime's per-transaction batches.
//!
//! # Encoding
//! Keys start with a tag byte that says what the record is; integers are
//! big-endian:
//!
//! | record | key | value |
//! |---|---|---|
//! | input progress | `b"W"`, partition `i32` | watermark `i64`, next offset `i64` |
//! | closed through | `b"G"` (exactly one byte) | the watermark windows were closed at, `i64` |
//! | count | `b"C"`, spec byte (`b'1'`/`b'5'`), start `i64`, button id's UTF-8 bytes | clicks `u64` (>= 1), then overcount `u64` (>= 1) only when there is one |
//! | closed window | `b"R"`, spec byte, start `i64` | its result, see [`ClosedWindow`] |
//! | page loads | `b"L"`, `b'1'`, the minute's start `i64`, device type's UTF-8 bytes | page loads `u64` (>= 1) |
//! | journal | `b"J"` (exactly one byte) | one at-least-once cycle's change, see [`Journal`] |
//! | legacy stream time | `b"T"` (exactly one byte) | `i64`: written before watermarks, read and ignored |
//!
//! Counts, page loads and closed windows are deleted with tombstones
//! (no value), so compaction keeps the changelog to what is open. A count
//! key's prefix is fixed-width (10 bytes), so the button id is the rest of
//! the key whatever bytes it holds, and two different (spec, start,
//! button id) never share a key; every other key has its own tag and a
//! fixed length. Never change a tag or a spec byte: restored changelogs
//! hold them. A new format gets new tags. Every value has one encoding, so
//! whatever decodes encodes back to the same bytes.

use std::collections::HashSet;

use thiserror::Error;

use crate::counts::Count;
use crate::event_time::{is_valid_event_time, MAX_EVENT_TIME_MS};
use crate::journal::Journal;
use crate::output::{ProductClicks, WindowResult};
use crate::progress::PartitionProgress;
use crate::store::MAX_BUTTON_ID_BYTES;
use crate::window::{Window, WindowSpec};
use edm_events::device::DEVICE_TYPES;

/// Tag byte of the legacy stream-time key.
const STREAM_TIME_TAG: u8 = b'T';
/// Tag byte of input-progress keys.
const PROGRESS_TAG: u8 = b'W';
/// Tag byte of the closed-through key.
const CLOSED_THROUGH_TAG: u8 = b'G';
/// Tag byte of count keys.
const COUNT_TAG: u8 = b'C';
/// Tag byte of closed-window keys.
const CLOSED_TAG: u8 = b'R';
/// Tag byte of page-load count keys.
const PAGE_LOADS_TAG: u8 = b'L';
/// Tag byte of the journal key.
const JOURNAL_TAG: u8 = b'J';
/// Length of a window key (and of a count key before the button id): tag,
/// spec, start.
const WINDOW_KEY_LEN: usize = 1 + 1 + 8;
/// Length of an input-progress key: tag, partition.
const PROGRESS_KEY_LEN: usize = 1 + 4;
/// Most products a closed window's result lists (as `edm-events` allows).
const MAX_CLOSED_TOP: usize = edm_events::trending::MAX_TOP_PRODUCTS;

/// One record to write to the changelog topic. `value: None` is a
/// tombstone: compaction removes the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChangelogUpdate {
    /// The Kafka record key.
    pub key: Vec<u8>,
    /// The Kafka record value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

/// A closed window kept for late clicks: its result as emitted (with the
/// late clicks so far), and whether a record with more late clicks is
/// still to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedWindow {
    /// The result, `late_clicks` included.
    pub result: WindowResult,
    /// Late clicks came since the last record of this window was written.
    pub pending: bool,
}

/// What a changelog record says, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangelogRecord {
    /// Stream time as versions before watermarks wrote it; ignored.
    LegacyStreamTime(i64),
    /// An input partition's progress.
    Progress {
        /// The input partition.
        partition: i32,
        /// Its watermark and next offset.
        progress: PartitionProgress,
    },
    /// Windows whose `end + grace` is at or before this were closed.
    ClosedThrough(i64),
    /// The count of `button_id` in `window` is now `count`.
    Count {
        /// The window counted in.
        window: Window,
        /// The product.
        button_id: String,
        /// Its clicks and overcount.
        count: Count,
    },
    /// The count of `button_id` in `window` is gone (the window closed, or
    /// another product took its place).
    CountDeleted {
        /// The window.
        window: Window,
        /// The product.
        button_id: String,
    },
    /// `device`'s page loads in the minute (a `1m` window) are now `count`.
    PageLoads {
        /// The minute.
        minute: Window,
        /// The device type.
        device: String,
        /// Page loads counted (at least 1).
        count: u64,
    },
    /// `device`'s page loads in the minute are gone (the minute closed).
    PageLoadsDeleted {
        /// The minute.
        minute: Window,
        /// The device type.
        device: String,
    },
    /// A closed window kept for late clicks.
    Closed {
        /// The window.
        window: Window,
        /// Its result and whether an update is due.
        closed: ClosedWindow,
    },
    /// A closed window no longer kept.
    ClosedDeleted {
        /// The window.
        window: Window,
    },
    /// The last at-least-once cycle's change (applied at the end of a
    /// restore).
    Journal(Journal),
    /// No journal to apply.
    JournalDeleted,
}

/// Why a changelog record cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChangelogError {
    /// The key has no bytes.
    #[error("the key is empty")]
    EmptyKey,
    /// The key's first byte is no known tag.
    #[error(
        "the key starts with the unknown tag byte 0x{0:02x} (expected one of 'W', 'G', 'C', 'L', 'R', 'J', 'T')"
    )]
    UnknownTag(u8),
    /// A fixed-length key has another length.
    #[error("a {what} key must be {expected} bytes, got {len} bytes")]
    KeyLength {
        /// Whose key.
        what: &'static str,
        /// Its length.
        expected: usize,
        /// The key's length.
        len: usize,
    },
    /// A count key is too short to hold its spec and start.
    #[error("a count key must be at least {WINDOW_KEY_LEN} bytes, got {0} bytes")]
    ShortCountKey(usize),
    /// A window key's spec byte is no known spec.
    #[error("the key's window spec byte 0x{0:02x} is unknown (expected '1' or '5')")]
    UnknownWindowSpec(u8),
    /// A window key's start is not the start of a window of its spec.
    #[error("the key's window start {start} is not a {spec} window start (a multiple of 60000 within the accepted range)")]
    InvalidWindowStart {
        /// The key's spec.
        spec: WindowSpec,
        /// The key's start.
        start: i64,
    },
    /// A page-load key names no device type.
    #[error("a page-load key names no device type (expected one of desktop, mobile, tablet, bot, other)")]
    UnknownDevice,
    /// A button id is not UTF-8.
    #[error("a button id is not valid UTF-8")]
    ButtonIdNotUtf8,
    /// A button id is longer than any the store accepts.
    #[error("a button id is {0} bytes, more than the {MAX_BUTTON_ID_BYTES} accepted")]
    ButtonIdTooLong(usize),
    /// A value has the wrong length.
    #[error("the {what} value must be {expected} bytes, got {len} bytes")]
    ValueLength {
        /// Whose value.
        what: &'static str,
        /// The lengths allowed.
        expected: &'static str,
        /// The value's length.
        len: usize,
    },
    /// A count is 0 (counts are deleted instead).
    #[error("the count value is 0 (a count is at least 1; what is gone has a tombstone)")]
    ZeroCount,
    /// An overcount of 0 written out, or not below the clicks.
    #[error(
        "the count's overcount {overcount} must be at least 1 and less than its clicks {clicks}"
    )]
    InvalidOvercount {
        /// The clicks.
        clicks: u64,
        /// The overcount.
        overcount: u64,
    },
    /// A time outside the accepted event times.
    #[error("the time {0} is outside 0..={MAX_EVENT_TIME_MS}")]
    TimeOutOfRange(i64),
    /// A negative input partition or offset.
    #[error("the input {what} {value} is negative")]
    Negative {
        /// Partition or offset.
        what: &'static str,
        /// The value.
        value: i64,
    },
    /// A tombstone for a key that is never deleted.
    #[error("the {0} key has a tombstone (it is never deleted)")]
    UnexpectedTombstone(&'static str),
    /// A closed window's result cannot be read.
    #[error("the closed window's result is malformed: {0}")]
    MalformedResult(&'static str),
    /// A journal cannot be read.
    #[error("the journal is malformed: {0}")]
    MalformedJournal(&'static str),
}

impl ChangelogRecord {
    /// The record's key and value as written to Kafka.
    pub fn encode(&self) -> ChangelogUpdate {
        match self {
            ChangelogRecord::LegacyStreamTime(time) => ChangelogUpdate {
                key: vec![STREAM_TIME_TAG],
                value: Some(time.to_be_bytes().to_vec()),
            },
            ChangelogRecord::Progress {
                partition,
                progress,
            } => progress_update(*partition, *progress),
            ChangelogRecord::ClosedThrough(time) => closed_through_update(*time),
            ChangelogRecord::Count {
                window,
                button_id,
                count,
            } => count_update(*window, button_id, *count),
            ChangelogRecord::CountDeleted { window, button_id } => ChangelogUpdate {
                key: count_key(*window, button_id),
                value: None,
            },
            ChangelogRecord::PageLoads {
                minute,
                device,
                count,
            } => page_loads_update(*minute, device, *count),
            ChangelogRecord::PageLoadsDeleted { minute, device } => {
                page_loads_deleted(*minute, device)
            }
            ChangelogRecord::Closed { window, closed } => closed_update(*window, closed),
            ChangelogRecord::ClosedDeleted { window } => ChangelogUpdate {
                key: window_key(CLOSED_TAG, *window),
                value: None,
            },
            ChangelogRecord::Journal(journal) => journal.update(),
            ChangelogRecord::JournalDeleted => Journal::deleted(),
        }
    }

    /// Decodes a record read from the changelog topic.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Self, ChangelogError> {
        let Some((&tag, rest)) = key.split_first() else {
            return Err(ChangelogError::EmptyKey);
        };
        match tag {
            STREAM_TIME_TAG => {
                fixed_key("stream-time", key, 1)?;
                let value = value.ok_or(ChangelogError::UnexpectedTombstone("stream-time"))?;
                Ok(ChangelogRecord::LegacyStreamTime(time_value(
                    "stream time",
                    value,
                )?))
            }
            CLOSED_THROUGH_TAG => {
                fixed_key("closed-through", key, 1)?;
                let value = value.ok_or(ChangelogError::UnexpectedTombstone("closed-through"))?;
                Ok(ChangelogRecord::ClosedThrough(time_value(
                    "closed-through",
                    value,
                )?))
            }
            PROGRESS_TAG => {
                fixed_key("input-progress", key, PROGRESS_KEY_LEN)?;
                let partition = i32::from_be_bytes(rest.try_into().unwrap_or_default());
                non_negative("partition", i64::from(partition))?;
                let value = value.ok_or(ChangelogError::UnexpectedTombstone("input-progress"))?;
                let fields = integers::<2>("input-progress", "16", value)?;
                let watermark = fields[0] as i64;
                let next_offset = fields[1] as i64;
                if !is_valid_event_time(watermark) {
                    return Err(ChangelogError::TimeOutOfRange(watermark));
                }
                non_negative("offset", next_offset)?;
                Ok(ChangelogRecord::Progress {
                    partition,
                    progress: PartitionProgress {
                        watermark,
                        next_offset,
                    },
                })
            }
            COUNT_TAG => {
                let (window, button_id) = decode_count_key(key)?;
                match value {
                    None => Ok(ChangelogRecord::CountDeleted { window, button_id }),
                    Some(value) => Ok(ChangelogRecord::Count {
                        window,
                        button_id,
                        count: count_value(value)?,
                    }),
                }
            }
            PAGE_LOADS_TAG => {
                let (minute, device) = decode_count_key(key)?;
                if minute.spec() != WindowSpec::OneMinute
                    || !DEVICE_TYPES.contains(&device.as_str())
                {
                    return Err(ChangelogError::UnknownDevice);
                }
                match value {
                    None => Ok(ChangelogRecord::PageLoadsDeleted { minute, device }),
                    Some(value) => {
                        let count = integers::<1>("page-load", "8", value)?[0];
                        if count == 0 {
                            return Err(ChangelogError::ZeroCount);
                        }
                        Ok(ChangelogRecord::PageLoads {
                            minute,
                            device,
                            count,
                        })
                    }
                }
            }
            CLOSED_TAG => {
                let window = decode_window_key("closed-window", key)?;
                match value {
                    None => Ok(ChangelogRecord::ClosedDeleted { window }),
                    Some(value) => Ok(ChangelogRecord::Closed {
                        window,
                        closed: closed_value(window, value)?,
                    }),
                }
            }
            JOURNAL_TAG => {
                fixed_key("journal", key, 1)?;
                match value {
                    None => Ok(ChangelogRecord::JournalDeleted),
                    Some(value) => Ok(ChangelogRecord::Journal(Journal::decode(value)?)),
                }
            }
            tag => Err(ChangelogError::UnknownTag(tag)),
        }
    }
}

impl ChangelogUpdate {
    /// Decodes this update (see [`ChangelogRecord::decode`]).
    pub fn decode(&self) -> Result<ChangelogRecord, ChangelogError> {
        ChangelogRecord::decode(&self.key, self.value.as_deref())
    }
}

/// The update recording an input partition's progress.
pub(crate) fn progress_update(partition: i32, progress: PartitionProgress) -> ChangelogUpdate {
    let mut key = vec![PROGRESS_TAG];
    key.extend_from_slice(&partition.to_be_bytes());
    let mut value = progress.watermark.to_be_bytes().to_vec();
    value.extend_from_slice(&progress.next_offset.to_be_bytes());
    ChangelogUpdate {
        key,
        value: Some(value),
    }
}

/// The update recording the watermark windows were closed at.
pub(crate) fn closed_through_update(time: i64) -> ChangelogUpdate {
    ChangelogUpdate {
        key: vec![CLOSED_THROUGH_TAG],
        value: Some(time.to_be_bytes().to_vec()),
    }
}

/// The update recording `button_id`'s `count` in `window`.
pub(crate) fn count_update(window: Window, button_id: &str, count: Count) -> ChangelogUpdate {
    let mut value = count.clicks.to_be_bytes().to_vec();
    if count.overcount > 0 {
        value.extend_from_slice(&count.overcount.to_be_bytes());
    }
    ChangelogUpdate {
        key: count_key(window, button_id),
        value: Some(value),
    }
}

/// The tombstone of `button_id`'s count in `window`.
pub(crate) fn count_deleted(window: Window, button_id: &str) -> ChangelogUpdate {
    ChangelogUpdate {
        key: count_key(window, button_id),
        value: None,
    }
}

/// The update recording `device`'s page loads in `minute` (a `1m` window).
pub(crate) fn page_loads_update(minute: Window, device: &str, count: u64) -> ChangelogUpdate {
    let mut key = window_key(PAGE_LOADS_TAG, minute);
    key.extend_from_slice(device.as_bytes());
    ChangelogUpdate {
        key,
        value: Some(count.to_be_bytes().to_vec()),
    }
}

/// The tombstone of `device`'s page loads in `minute`.
pub(crate) fn page_loads_deleted(minute: Window, device: &str) -> ChangelogUpdate {
    let mut key = window_key(PAGE_LOADS_TAG, minute);
    key.extend_from_slice(device.as_bytes());
    ChangelogUpdate { key, value: None }
}

/// The update keeping a closed window for late clicks.
pub(crate) fn closed_update(window: Window, closed: &ClosedWindow) -> ChangelogUpdate {
    let result = &closed.result;
    let mut value = vec![u8::from(closed.pending)];
    for n in [result.clicks, result.products, result.late_clicks] {
        value.extend_from_slice(&n.to_be_bytes());
    }
    // At most MAX_CLOSED_TOP products with ids of at most 1024 bytes: the
    // lengths fit their u16 fields.
    value.extend_from_slice(&(result.top.len() as u16).to_be_bytes());
    for product in &result.top {
        value.extend_from_slice(&product.clicks.to_be_bytes());
        value.extend_from_slice(&product.overcount.to_be_bytes());
        value.extend_from_slice(&(product.button_id.len() as u16).to_be_bytes());
        value.extend_from_slice(product.button_id.as_bytes());
    }
    ChangelogUpdate {
        key: window_key(CLOSED_TAG, window),
        value: Some(value),
    }
}

/// The tombstone of a closed window no longer kept.
pub(crate) fn closed_deleted(window: Window) -> ChangelogUpdate {
    ChangelogUpdate {
        key: window_key(CLOSED_TAG, window),
        value: None,
    }
}

/// The key of `button_id`'s count in `window`.
pub(crate) fn count_key(window: Window, button_id: &str) -> Vec<u8> {
    let mut key = window_key(COUNT_TAG, window);
    key.extend_from_slice(button_id.as_bytes());
    key
}

/// `tag`, the window's spec byte and its start.
fn window_key(tag: u8, window: Window) -> Vec<u8> {
    let mut key = Vec::with_capacity(WINDOW_KEY_LEN + 16);
    key.push(tag);
    key.push(window.spec().code());
    key.extend_from_slice(&window.start().to_be_bytes());
    key
}

/// Checks that a fixed-length key is `expected` bytes.
fn fixed_key(what: &'static str, key: &[u8], expected: usize) -> Result<(), ChangelogError> {
    if key.len() == expected {
        Ok(())
    } else {
        Err(ChangelogError::KeyLength {
            what,
            expected,
            len: key.len(),
        })
    }
}

/// The window of a window key (no button id after it).
fn decode_window_key(what: &'static str, key: &[u8]) -> Result<Window, ChangelogError> {
    fixed_key(what, key, WINDOW_KEY_LEN)?;
    window_of(key)
}

/// The window named by a key's bytes 1..10 (the key is long enough).
fn window_of(key: &[u8]) -> Result<Window, ChangelogError> {
    let spec_code = key[1];
    let spec =
        WindowSpec::from_code(spec_code).ok_or(ChangelogError::UnknownWindowSpec(spec_code))?;
    let start = i64::from_be_bytes(key[2..WINDOW_KEY_LEN].try_into().unwrap_or_default());
    Window::new(spec, start).ok_or(ChangelogError::InvalidWindowStart { spec, start })
}

/// The window and button id of a count key (tag already checked).
fn decode_count_key(key: &[u8]) -> Result<(Window, String), ChangelogError> {
    if key.len() < WINDOW_KEY_LEN {
        return Err(ChangelogError::ShortCountKey(key.len()));
    }
    let window = window_of(key)?;
    Ok((window, button_id(&key[WINDOW_KEY_LEN..])?))
}

/// A button id's bytes as a button id the store accepts.
fn button_id(bytes: &[u8]) -> Result<String, ChangelogError> {
    if bytes.len() > MAX_BUTTON_ID_BYTES {
        return Err(ChangelogError::ButtonIdTooLong(bytes.len()));
    }
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| ChangelogError::ButtonIdNotUtf8)
}

/// A value of exactly `N` big-endian `u64`s.
fn integers<const N: usize>(
    what: &'static str,
    expected: &'static str,
    value: &[u8],
) -> Result<[u64; N], ChangelogError> {
    if value.len() != N * 8 {
        return Err(ChangelogError::ValueLength {
            what,
            expected,
            len: value.len(),
        });
    }
    let mut out = [0u64; N];
    for (n, chunk) in out.iter_mut().zip(value.chunks_exact(8)) {
        *n = u64::from_be_bytes(chunk.try_into().unwrap_or_default());
    }
    Ok(out)
}

/// A time value: one `i64` within the accepted event times.
fn time_value(what: &'static str, value: &[u8]) -> Result<i64, ChangelogError> {
    let [time] = integers::<1>(what, "8", value)?;
    let time = time as i64;
    if !is_valid_event_time(time) {
        return Err(ChangelogError::TimeOutOfRange(time));
    }
    Ok(time)
}

/// Refuses a negative partition or offset.
fn non_negative(what: &'static str, value: i64) -> Result<(), ChangelogError> {
    if value < 0 {
        return Err(ChangelogError::Negative { what, value });
    }
    Ok(())
}

/// A count value: clicks, and an overcount when there is one.
fn count_value(value: &[u8]) -> Result<Count, ChangelogError> {
    let (clicks, overcount) = match value.len() {
        8 => (integers::<1>("count", "8 or 16", value)?[0], 0),
        16 => {
            let [clicks, overcount] = integers::<2>("count", "8 or 16", value)?;
            if overcount == 0 || overcount >= clicks {
                return Err(ChangelogError::InvalidOvercount { clicks, overcount });
            }
            (clicks, overcount)
        }
        len => {
            return Err(ChangelogError::ValueLength {
                what: "count",
                expected: "8 or 16",
                len,
            })
        }
    };
    if clicks == 0 {
        return Err(ChangelogError::ZeroCount);
    }
    Ok(Count { clicks, overcount })
}

/// Reads a closed window's value (see [`closed_update`]).
fn closed_value(window: Window, value: &[u8]) -> Result<ClosedWindow, ChangelogError> {
    let mut reader = Reader(value);
    let pending = match reader.take(1)?[0] {
        0 => false,
        1 => true,
        _ => {
            return Err(ChangelogError::MalformedResult(
                "its flags byte is not 0 or 1",
            ))
        }
    };
    let clicks = reader.u64()?;
    let products = reader.u64()?;
    let late_clicks = reader.u64()?;
    let listed = usize::from(u16::from_be_bytes(
        reader.take(2)?.try_into().unwrap_or_default(),
    ));
    if listed > MAX_CLOSED_TOP {
        return Err(ChangelogError::MalformedResult(
            "it lists more than 100 products",
        ));
    }
    let mut top = Vec::with_capacity(listed);
    for _ in 0..listed {
        let product_clicks = reader.u64()?;
        let overcount = reader.u64()?;
        let len = usize::from(u16::from_be_bytes(
            reader.take(2)?.try_into().unwrap_or_default(),
        ));
        let id = button_id(reader.take(len)?)?;
        if product_clicks == 0 || overcount >= product_clicks {
            return Err(ChangelogError::MalformedResult(
                "a product has no clicks, or an overcount not below its clicks",
            ));
        }
        top.push(ProductClicks {
            button_id: id,
            clicks: product_clicks,
            overcount,
        });
    }
    if !reader.0.is_empty() {
        return Err(ChangelogError::MalformedResult(
            "bytes follow its last product",
        ));
    }
    // A window kept for late clicks alone lists nothing and has no clicks.
    let late_only = clicks == 0 && products == 0 && listed == 0 && late_clicks > 0;
    if !late_only && (clicks == 0 || listed == 0 || products < listed as u64) {
        return Err(ChangelogError::MalformedResult(
            "it has no clicks or lists no product (without being late clicks alone), or has \
             fewer products than it lists",
        ));
    }
    let ordered = top.windows(2).all(|pair| pair[0].clicks >= pair[1].clicks);
    let listed_clicks = top
        .iter()
        .fold(0u64, |sum, product| sum.saturating_add(product.clicks));
    if !ordered || listed_clicks > clicks {
        return Err(ChangelogError::MalformedResult(
            "its products are not ordered most clicks first, or add up to more than its clicks",
        ));
    }
    Ok(ClosedWindow {
        result: WindowResult {
            window,
            clicks,
            products,
            top,
            late_clicks,
        },
        pending,
    })
}

/// Reads a value front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ChangelogError> {
        let (taken, rest) = self
            .0
            .split_at_checked(n)
            .ok_or(ChangelogError::MalformedResult("it ends early"))?;
        self.0 = rest;
        Ok(taken)
    }

    fn u64(&mut self) -> Result<u64, ChangelogError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
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

    fn exact(clicks: u64) -> Count {
        Count {
            clicks,
            overcount: 0,
        }
    }

    fn count(spec: WindowSpec, start: i64, id: &str, clicks: u64) -> ChangelogRecord {
        ChangelogRecord::Count {
            window: window(spec, start),
            button_id: id.to_owned(),
            count: exact(clicks),
        }
    }

    fn closed(pending: bool) -> ChangelogRecord {
        let w = window(WindowSpec::FiveMinutes, 120_000);
        ChangelogRecord::Closed {
            window: w,
            closed: ClosedWindow {
                result: WindowResult {
                    window: w,
                    clicks: 9,
                    products: 3,
                    late_clicks: 2,
                    top: vec![
                        ProductClicks {
                            button_id: "kit".into(),
                            clicks: 5,
                            overcount: 1,
                        },
                        ProductClicks {
                            button_id: "".into(),
                            clicks: 3,
                            overcount: 0,
                        },
                    ],
                },
                pending,
            },
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
        let approximate = ChangelogRecord::Count {
            window: window(WindowSpec::OneMinute, 0),
            button_id: "x".into(),
            count: Count {
                clicks: 3,
                overcount: 2,
            },
        }
        .encode();
        assert_eq!(
            approximate.value,
            Some([3u64.to_be_bytes(), 2u64.to_be_bytes()].concat())
        );
        let progress = ChangelogRecord::Progress {
            partition: 2,
            progress: PartitionProgress {
                watermark: 1_700_000_000_000,
                next_offset: 17,
            },
        }
        .encode();
        assert_eq!(progress.key, b"W\0\0\0\x02".to_vec());
        assert_eq!(
            progress.value,
            Some([1_700_000_000_000i64.to_be_bytes(), 17i64.to_be_bytes()].concat())
        );
        let through = ChangelogRecord::ClosedThrough(1_700_000_000_000).encode();
        assert_eq!(through.key, b"G".to_vec());
        assert_eq!(
            through.value,
            Some(1_700_000_000_000i64.to_be_bytes().to_vec())
        );
        let kept = closed(true).encode();
        let mut key = b"R5".to_vec();
        key.extend_from_slice(&120_000i64.to_be_bytes());
        assert_eq!(kept.key, key);
        let value = kept.value.unwrap();
        assert_eq!(value[0], 1, "pending");
        assert_eq!(value.len(), 1 + 3 * 8 + 2 + (8 + 8 + 2 + 3) + (8 + 8 + 2));
    }

    #[test]
    fn a_changelog_written_before_watermarks_still_reads() {
        let legacy = ChangelogUpdate {
            key: b"T".to_vec(),
            value: Some(70_000i64.to_be_bytes().to_vec()),
        };
        assert_eq!(
            legacy.decode(),
            Ok(ChangelogRecord::LegacyStreamTime(70_000))
        );
        // Its counts had 8-byte values, as exact counts still do.
        let old_count = ChangelogUpdate {
            key: count(WindowSpec::OneMinute, 60_000, "a", 1).encode().key,
            value: Some(4u64.to_be_bytes().to_vec()),
        };
        assert_eq!(
            old_count.decode(),
            Ok(count(WindowSpec::OneMinute, 60_000, "a", 4))
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
                keys.insert(ChangelogRecord::ClosedDeleted { window }.encode().key);
                total += 1;
            }
        }
        keys.insert(ChangelogRecord::ClosedThrough(0).encode().key);
        keys.insert(ChangelogRecord::LegacyStreamTime(0).encode().key);
        keys.insert(ChangelogRecord::JournalDeleted.encode().key);
        assert_eq!(keys.len(), total + 3, "every key is distinct");
    }

    #[test]
    fn garbage_and_truncated_records_are_refused_with_the_reason() {
        let good = count(WindowSpec::OneMinute, 120_000, "kit", 2).encode();
        let decode = |key: &[u8], value: Option<&[u8]>| ChangelogRecord::decode(key, value);
        assert_eq!(decode(b"", Some(b"x")), Err(ChangelogError::EmptyKey));
        assert_eq!(decode(b"Xabc", None), Err(ChangelogError::UnknownTag(b'X')));
        assert_eq!(
            decode(b"TT", Some(&[0; 8])),
            Err(ChangelogError::KeyLength {
                what: "stream-time",
                expected: 1,
                len: 2
            })
        );
        assert_eq!(
            decode(b"G", None),
            Err(ChangelogError::UnexpectedTombstone("closed-through"))
        );
        assert_eq!(
            decode(b"G", Some(&[0; 7])),
            Err(ChangelogError::ValueLength {
                what: "closed-through",
                expected: "8",
                len: 7
            })
        );
        assert_eq!(
            decode(b"G", Some(&(-1i64).to_be_bytes())),
            Err(ChangelogError::TimeOutOfRange(-1))
        );
        assert_eq!(
            decode(b"W\xff\xff\xff\xff", Some(&[0; 16])),
            Err(ChangelogError::Negative {
                what: "partition",
                value: -1
            })
        );
        assert!(decode(b"W\0\0\0", Some(&[0; 16])).is_err());
        for len in 0..WINDOW_KEY_LEN {
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
        let mut too_long = good.key[..WINDOW_KEY_LEN].to_vec();
        too_long.extend(std::iter::repeat_n(b'a', MAX_BUTTON_ID_BYTES + 1));
        assert_eq!(
            decode(&too_long, None),
            Err(ChangelogError::ButtonIdTooLong(MAX_BUTTON_ID_BYTES + 1))
        );
        assert!(matches!(
            decode(&good.key, Some(&[0, 1, 2])),
            Err(ChangelogError::ValueLength { what: "count", .. })
        ));
        assert_eq!(
            decode(&good.key, Some(&[0; 8])),
            Err(ChangelogError::ZeroCount)
        );
        for (clicks, overcount) in [(3u64, 0u64), (3, 3), (3, 4)] {
            let value = [clicks.to_be_bytes(), overcount.to_be_bytes()].concat();
            assert_eq!(
                decode(&good.key, Some(&value)),
                Err(ChangelogError::InvalidOvercount { clicks, overcount })
            );
        }
        let kept = closed(false).encode();
        let value = kept.value.unwrap();
        for cut in 0..value.len() {
            assert!(
                decode(&kept.key, Some(&value[..cut])).is_err(),
                "a closed window cut to {cut} bytes is refused"
            );
        }
        let mut longer = value.clone();
        longer.push(0);
        assert!(decode(&kept.key, Some(&longer)).is_err());
        let mut bad_flag = value.clone();
        bad_flag[0] = 2;
        assert!(decode(&kept.key, Some(&bad_flag)).is_err());
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

    fn any_count() -> impl Strategy<Value = Count> {
        (1u64.., any::<u64>()).prop_map(|(clicks, n)| Count {
            clicks,
            overcount: n % clicks,
        })
    }

    proptest! {
        #[test]
        fn every_record_decodes_to_itself(
            window in any_window(),
            id in "\\PC{0,40}|[\\x00-\\x7f]{0,8}",
            count in any_count(),
            time in 0i64..=MAX_EVENT_TIME_MS,
            partition in 0i32..,
            next_offset in 0i64..,
            pending in any::<bool>(),
            late_clicks in any::<u64>(),
            deleted in any::<bool>(),
        ) {
            let records = if deleted {
                vec![
                    ChangelogRecord::CountDeleted { window, button_id: id },
                    ChangelogRecord::ClosedDeleted { window },
                ]
            } else {
                let top = vec![ProductClicks {
                    button_id: id.clone(),
                    clicks: count.clicks,
                    overcount: count.overcount,
                }];
                let result = WindowResult { window, clicks: count.clicks, products: 1, top, late_clicks };
                vec![
                    ChangelogRecord::Count { window, button_id: id, count },
                    ChangelogRecord::Closed { window, closed: ClosedWindow { result, pending } },
                ]
            };
            for record in records.into_iter().chain([
                ChangelogRecord::ClosedThrough(time),
                ChangelogRecord::LegacyStreamTime(time),
                ChangelogRecord::Progress {
                    partition,
                    progress: PartitionProgress { watermark: time, next_offset },
                },
            ]) {
                prop_assert_eq!(record.encode().decode(), Ok(record));
            }
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
            value in prop::option::of(prop::collection::vec(any::<u8>(), 0..48)),
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
