//! The records of the repartition topic: the log the window task processes
//! in order. The stage reading `edm-ui-click` writes two kinds:
//!
//! - a **click**, one per click: key = the button id's UTF-8 bytes, value =
//!   `{"event_time":<ms>,"event_id":"<id>","partition":<p>,"offset":<o>}`:
//!   the event time it decided (carried, so the window task never needs a
//!   clock to replay it), the event id when the click had one, and where
//!   the click was read (its input partition and offset);
//! - a **click batch**, under exactly once, one per product, minute and
//!   input partition in each of its cycles: key = the button id, value =
//!   `{"event_time":<ms>,"partition":<p>,"offsets":[<o1>,<o2 - o1>,...]}`:
//!   the latest event time of the clicks (all in one minute, so all in the
//!   same windows) and their input offsets, ascending, each but the first
//!   written as its distance from the one before. The offsets are the
//!   clicks' identities (how a check tells each click was counted once);
//!   the count is how many there are.
//! - a **page-load batch**, one per device type, minute and page-load
//!   partition in each cycle (under at least once, one per page load): key
//!   = the device type (`desktop`, `mobile`, `tablet`, `bot`, `other`),
//!   value = `{"kind":"pageload","event_time":<ms>,"partition":<source id>,"offsets":[...]}`,
//!   as a click batch, the partition being the page-load partition's
//!   source id ([`crate::progress::source_id`]);
//! - a **progress** record: no key, value =
//!   `{"watermark":<ms>,"partition":<p>,"next_offset":<o>}`: input partition
//!   `p` was read up to offset `o`, and its watermark is at least `ms`
//!   (written when the partition was read to its end, so that windows
//!   close on a quiet store).
//!
//! Records written before watermarks carried neither `partition` nor
//! `offset`; they are still counted. Decoding checks the shape only.
//! Whether an event time is in the accepted range is
//! [`WindowStore::process`](crate::WindowStore::process)'s check, so that
//! such records are counted in its metrics.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::progress::Source;
use crate::store::MAX_BUTTON_ID_BYTES;
use edm_events::device::DEVICE_TYPES;

/// The most clicks one batch record may hold.
pub const MAX_BATCH_CLICKS: usize = 1_000_000;

/// A record of the repartition topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepartitionRecord {
    /// A click on its way to the window store.
    Click(ClickRecord),
    /// Clicks of one product in one minute from one input partition.
    Clicks(ClickBatch),
    /// Page loads of one device type in one minute from one page-load
    /// partition.
    PageLoads(PageLoadBatch),
    /// How far an input partition has been read.
    Progress(ProgressRecord),
}

/// A click on its way to the window store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickRecord {
    /// The product clicked (`properties.button_id`); the record key.
    pub button_id: String,
    /// The click's event time (see [`event_time`](crate::event_time)),
    /// epoch ms.
    pub event_time: i64,
    /// The click's event id, when it had one (for tracing).
    pub event_id: Option<String>,
    /// Where the click was read; `None` in records written before
    /// watermarks.
    pub source: Option<Source>,
}

/// Clicks of one product, within one minute of event time, read from one
/// input partition in one cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickBatch {
    /// The product clicked; the record key.
    pub button_id: String,
    /// The latest event time of the clicks, epoch ms.
    pub event_time: i64,
    /// The input partition they were read from.
    pub partition: i32,
    /// Their input offsets, ascending (at least one).
    pub offsets: Vec<i64>,
}

impl ClickBatch {
    /// How many clicks the batch holds.
    pub fn clicks(&self) -> u64 {
        self.offsets.len() as u64
    }

    /// Where its last click was read.
    pub fn last(&self) -> Source {
        Source {
            partition: self.partition,
            offset: self.offsets.last().copied().unwrap_or_default(),
        }
    }
}

/// Page loads of one device type, within one minute of event time, read
/// from one page-load partition in one cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLoadBatch {
    /// The device type (one of [`DEVICE_TYPES`]); the record key.
    pub device: String,
    /// The latest event time of the page loads, epoch ms.
    pub event_time: i64,
    /// The page-load partition's source id.
    pub partition: i32,
    /// Their input offsets, ascending (at least one).
    pub offsets: Vec<i64>,
}

impl PageLoadBatch {
    /// How many page loads the batch holds.
    pub fn page_loads(&self) -> u64 {
        self.offsets.len() as u64
    }
}

/// The value's `kind` for page-load batches.
const PAGE_LOAD_KIND: &str = "pageload";

/// How far an input partition has been read, and its watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressRecord {
    /// The input partition.
    pub partition: i32,
    /// Every record before this offset has been read.
    pub next_offset: i64,
    /// The partition's watermark (epoch ms).
    pub watermark: i64,
}

/// Why a repartition record cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RepartitionError {
    /// A click record has no key.
    #[error("the record has no key (a click's key is the button id)")]
    MissingKey,
    /// The key is not UTF-8.
    #[error("the key (the button id) is not valid UTF-8")]
    KeyNotUtf8,
    /// The key is longer than any button id the store accepts.
    #[error("the key (the button id) is {0} bytes, more than the {MAX_BUTTON_ID_BYTES} accepted")]
    KeyTooLong(usize),
    /// The record has no value.
    #[error("the record has no value")]
    MissingValue,
    /// The value is not the expected JSON.
    #[error(
        "the value is neither a click {{\"event_time\":<integer ms>,\"event_id\":<optional string>,\"partition\":<optional integer>,\"offset\":<optional integer>}}, a batch {{\"event_time\":<integer ms>,\"partition\":<integer>,\"offsets\":[<first>,<distance to the next>,...]}} nor progress {{\"watermark\":<integer ms>,\"partition\":<integer>,\"next_offset\":<integer>}}: {0}"
    )]
    InvalidValue(String),
    /// A page-load batch's key is no device type.
    #[error("a page-load batch's key is not a device type (expected one of desktop, mobile, tablet, bot, other)")]
    UnknownDevice,
    /// A source partition or offset is negative, or only one is given.
    #[error("the record's partition and offset must both be given, and not be negative")]
    InvalidSource,
}

/// The JSON value of a repartition record: a click's fields or a progress
/// record's.
#[derive(Serialize, Deserialize)]
struct RepartitionValue<'a> {
    /// `pageload` for a page-load batch; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    event_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watermark: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partition: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_offset: Option<i64>,
    /// A batch's offsets: the first, then each one's distance from the one
    /// before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offsets: Option<Vec<i64>>,
}

impl RepartitionRecord {
    /// The record key: a click's button id; a progress record has none.
    pub fn key(&self) -> Option<Vec<u8>> {
        match self {
            RepartitionRecord::Click(click) => Some(click.button_id.as_bytes().to_vec()),
            RepartitionRecord::Clicks(batch) => Some(batch.button_id.as_bytes().to_vec()),
            RepartitionRecord::PageLoads(batch) => Some(batch.device.as_bytes().to_vec()),
            RepartitionRecord::Progress(_) => None,
        }
    }

    /// The record value (see the module documentation). Serializing this
    /// plain data does not fail in practice; the error is passed on rather
    /// than hidden.
    pub fn value(&self) -> Result<Vec<u8>, serde_json::Error> {
        let value = match self {
            RepartitionRecord::Click(click) => RepartitionValue {
                kind: None,
                event_time: Some(click.event_time),
                event_id: click.event_id.as_deref().map(Into::into),
                watermark: None,
                partition: click.source.map(|s| s.partition),
                offset: click.source.map(|s| s.offset),
                next_offset: None,
                offsets: None,
            },
            RepartitionRecord::Clicks(batch) => RepartitionValue {
                kind: None,
                event_time: Some(batch.event_time),
                event_id: None,
                watermark: None,
                partition: Some(batch.partition),
                offset: None,
                next_offset: None,
                offsets: Some(deltas(&batch.offsets)),
            },
            RepartitionRecord::PageLoads(batch) => RepartitionValue {
                kind: Some(PAGE_LOAD_KIND.into()),
                event_time: Some(batch.event_time),
                event_id: None,
                watermark: None,
                partition: Some(batch.partition),
                offset: None,
                next_offset: None,
                offsets: Some(deltas(&batch.offsets)),
            },
            RepartitionRecord::Progress(progress) => RepartitionValue {
                kind: None,
                event_time: None,
                event_id: None,
                watermark: Some(progress.watermark),
                partition: Some(progress.partition),
                offset: None,
                next_offset: Some(progress.next_offset),
                offsets: None,
            },
        };
        serde_json::to_vec(&value)
    }

    /// Decodes a record read from the repartition topic. Unknown fields in
    /// the value are ignored.
    pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Self, RepartitionError> {
        let value = value.ok_or(RepartitionError::MissingValue)?;
        let parsed: RepartitionValue<'_> = serde_json::from_slice(value)
            .map_err(|e| RepartitionError::InvalidValue(e.to_string()))?;
        let invalid = |why: &str| RepartitionError::InvalidValue(why.to_owned());
        match (parsed.kind.as_deref(), parsed.event_time, parsed.watermark) {
            (Some(PAGE_LOAD_KIND), Some(event_time), None) => {
                let device = button_id(key)?;
                if !DEVICE_TYPES.contains(&device.as_str()) {
                    return Err(RepartitionError::UnknownDevice);
                }
                let (partition, offsets) = batch_source(&parsed)?;
                Ok(RepartitionRecord::PageLoads(PageLoadBatch {
                    device,
                    event_time,
                    partition,
                    offsets,
                }))
            }
            (Some(kind), _, _) => Err(invalid(&format!(
                "the kind {kind:?} is unknown (only page-load batches give one: \"{PAGE_LOAD_KIND}\")"
            ))),
            (None, Some(event_time), None) if parsed.offsets.is_some() => {
                let button_id = button_id(key)?;
                let (partition, offsets) = batch_source(&parsed)?;
                Ok(RepartitionRecord::Clicks(ClickBatch {
                    button_id,
                    event_time,
                    partition,
                    offsets,
                }))
            }
            (None, Some(event_time), None) => {
                let source = match (parsed.partition, parsed.offset) {
                    (Some(partition), Some(offset)) if partition >= 0 && offset >= 0 => {
                        Some(Source { partition, offset })
                    }
                    (None, None) => None,
                    _ => return Err(RepartitionError::InvalidSource),
                };
                let button_id = button_id(key)?;
                Ok(RepartitionRecord::Click(ClickRecord {
                    button_id,
                    event_time,
                    event_id: parsed.event_id.map(|id| id.into_owned()),
                    source,
                }))
            }
            (None, None, Some(watermark)) => match (parsed.partition, parsed.next_offset) {
                (Some(partition), Some(next_offset)) if partition >= 0 && next_offset >= 0 => {
                    Ok(RepartitionRecord::Progress(ProgressRecord {
                        partition,
                        next_offset,
                        watermark,
                    }))
                }
                _ => Err(RepartitionError::InvalidSource),
            },
            (None, Some(_), Some(_)) => Err(invalid("it has both event_time and watermark")),
            (None, None, None) => Err(invalid("missing field `event_time`")),
        }
    }
}

/// A batch's offsets as written: the first, then each one's distance from
/// the one before.
fn deltas(offsets: &[i64]) -> Vec<i64> {
    offsets
        .iter()
        .scan(0, |previous, &offset| {
            let delta = offset - *previous;
            *previous = offset;
            Some(delta)
        })
        .collect()
}

/// A batch's partition and absolute offsets, checked: a partition and no
/// offset or event id, 1 to [`MAX_BATCH_CLICKS`] offsets, ascending, none
/// negative.
fn batch_source(parsed: &RepartitionValue<'_>) -> Result<(i32, Vec<i64>), RepartitionError> {
    let (Some(partition), None, None, Some(offsets)) = (
        parsed.partition,
        parsed.offset,
        &parsed.event_id,
        &parsed.offsets,
    ) else {
        return Err(RepartitionError::InvalidValue(
            "a batch gives its partition, and no offset or event id".to_owned(),
        ));
    };
    if partition < 0
        || offsets.is_empty()
        || offsets.len() > MAX_BATCH_CLICKS
        || offsets.first().is_some_and(|first| *first < 0)
        || offsets.iter().skip(1).any(|delta| *delta < 1)
    {
        return Err(RepartitionError::InvalidSource);
    }
    let mut at = 0i64;
    let mut absolute = Vec::with_capacity(offsets.len());
    for delta in offsets {
        at = at
            .checked_add(*delta)
            .ok_or(RepartitionError::InvalidSource)?;
        absolute.push(at);
    }
    Ok((partition, absolute))
}

/// A click's or batch's key: the button id.
fn button_id(key: Option<&[u8]>) -> Result<String, RepartitionError> {
    let key = key.ok_or(RepartitionError::MissingKey)?;
    if key.len() > MAX_BUTTON_ID_BYTES {
        return Err(RepartitionError::KeyTooLong(key.len()));
    }
    Ok(std::str::from_utf8(key)
        .map_err(|_| RepartitionError::KeyNotUtf8)?
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn click(source: Option<Source>) -> RepartitionRecord {
        RepartitionRecord::Click(ClickRecord {
            button_id: "kit".into(),
            event_time: 1_700_000_000_000,
            event_id: Some("e-1".into()),
            source,
        })
    }

    #[test]
    fn a_page_load_batch_is_keyed_by_device_and_reads_back() {
        let batch = RepartitionRecord::PageLoads(PageLoadBatch {
            device: "mobile".into(),
            event_time: 1_700_000_000_000,
            partition: crate::progress::PAGE_LOAD_SOURCES + 1,
            offsets: vec![7, 9],
        });
        assert_eq!(batch.key(), Some(b"mobile".to_vec()));
        let value = batch.value().unwrap();
        assert_eq!(
            value,
            br#"{"kind":"pageload","event_time":1700000000000,"partition":1048577,"offsets":[7,2]}"#
                .to_vec()
        );
        assert_eq!(
            RepartitionRecord::decode(Some(b"mobile"), Some(&value)),
            Ok(batch)
        );
        // Another producer's keys and kinds are refused, not counted.
        assert_eq!(
            RepartitionRecord::decode(Some(b"toaster"), Some(&value)),
            Err(RepartitionError::UnknownDevice)
        );
        let other_kind = br#"{"kind":"scroll","event_time":1,"partition":0,"offsets":[1]}"#;
        assert!(matches!(
            RepartitionRecord::decode(Some(b"mobile"), Some(other_kind)),
            Err(RepartitionError::InvalidValue(_))
        ));
    }

    #[test]
    fn the_values_are_the_documented_json() {
        let record = click(Some(Source {
            partition: 2,
            offset: 41,
        }));
        assert_eq!(record.key(), Some(b"kit".to_vec()));
        assert_eq!(
            record.value().unwrap(),
            br#"{"event_time":1700000000000,"event_id":"e-1","partition":2,"offset":41}"#.to_vec()
        );
        let progress = RepartitionRecord::Progress(ProgressRecord {
            partition: 1,
            next_offset: 7,
            watermark: 1_700_000_030_000,
        });
        let batch = RepartitionRecord::Clicks(ClickBatch {
            button_id: "mug".into(),
            event_time: 1_700_000_000_000,
            partition: 3,
            offsets: vec![100, 104, 105],
        });
        assert_eq!(batch.key(), Some(b"mug".to_vec()));
        assert_eq!(
            batch.value().unwrap(),
            br#"{"event_time":1700000000000,"partition":3,"offsets":[100,4,1]}"#.to_vec()
        );
        assert_eq!(progress.key(), None);
        assert_eq!(
            progress.value().unwrap(),
            br#"{"watermark":1700000030000,"partition":1,"next_offset":7}"#.to_vec()
        );
    }

    #[test]
    fn records_written_before_watermarks_still_decode() {
        let record = RepartitionRecord::decode(
            Some(b"mug"),
            Some(br#"{"schema":2,"event_id":"a\"b","event_time":5}"#),
        );
        assert_eq!(
            record,
            Ok(RepartitionRecord::Click(ClickRecord {
                button_id: "mug".into(),
                event_time: 5,
                event_id: Some("a\"b".into()),
                source: None,
            }))
        );
    }

    #[test]
    fn broken_records_are_refused_with_the_reason() {
        let value: &[u8] = br#"{"event_time":5}"#;
        assert_eq!(
            RepartitionRecord::decode(None, Some(value)),
            Err(RepartitionError::MissingKey)
        );
        assert_eq!(
            RepartitionRecord::decode(Some(&[0xc3]), Some(value)),
            Err(RepartitionError::KeyNotUtf8)
        );
        let long = vec![b'a'; MAX_BUTTON_ID_BYTES + 1];
        assert_eq!(
            RepartitionRecord::decode(Some(&long), Some(value)),
            Err(RepartitionError::KeyTooLong(MAX_BUTTON_ID_BYTES + 1))
        );
        assert_eq!(
            RepartitionRecord::decode(Some(b"a"), None),
            Err(RepartitionError::MissingValue)
        );
        for half in [
            &br#"{"event_time":5,"partition":1}"#[..],
            br#"{"event_time":5,"offset":1}"#,
            br#"{"event_time":5,"partition":-1,"offset":1}"#,
            br#"{"watermark":5,"partition":1}"#,
            br#"{"watermark":5,"next_offset":-1,"partition":0}"#,
            br#"{"event_time":5,"partition":1,"offsets":[]}"#,
            br#"{"event_time":5,"partition":1,"offsets":[-1]}"#,
            br#"{"event_time":5,"partition":1,"offsets":[3,0]}"#,
            br#"{"event_time":5,"partition":-1,"offsets":[3]}"#,
            br#"{"event_time":5,"partition":1,"offsets":[9223372036854775807,1]}"#,
        ] {
            assert_eq!(
                RepartitionRecord::decode(Some(b"a"), Some(half)),
                Err(RepartitionError::InvalidSource),
                "{}",
                String::from_utf8_lossy(half)
            );
        }
        for garbage in [
            &b""[..],
            b"{",
            br#"{"event_time":5"#,
            br#"{"event_id":"x"}"#,
            br#"{"event_time":1.5}"#,
            br#"{"event_time":"5"}"#,
            br#"{"event_time":99999999999999999999}"#,
            br#"{"event_time":5,"event_id":7}"#,
            br#"{"event_time":5,"watermark":5}"#,
            br#"{"event_time":5,"offsets":[1]}"#,
            br#"{"event_time":5,"partition":1,"offset":1,"offsets":[1]}"#,
            b"\xff\xfe",
        ] {
            let result = RepartitionRecord::decode(Some(b"a"), Some(garbage));
            assert!(
                matches!(result, Err(RepartitionError::InvalidValue(_))),
                "{:?} gives {result:?}",
                String::from_utf8_lossy(garbage)
            );
        }
        let message = RepartitionRecord::decode(Some(b"a"), Some(br#"{"event_id":"x"}"#))
            .unwrap_err()
            .to_string();
        assert!(message.contains("event_time"), "{message}");
    }

    fn any_record() -> impl Strategy<Value = RepartitionRecord> {
        prop_oneof![
            (
                "\\PC{0,40}|[\\x00-\\x7f]{0,8}",
                any::<i64>(),
                prop::option::of("\\PC{0,20}"),
                prop::option::of((0i32.., 0i64..)),
            )
                .prop_map(|(button_id, event_time, event_id, source)| {
                    RepartitionRecord::Click(ClickRecord {
                        button_id,
                        event_time,
                        event_id,
                        source: source.map(|(partition, offset)| Source { partition, offset }),
                    })
                }),
            (
                "\\PC{0,40}",
                any::<i64>(),
                0i32..,
                0i64..1_000_000_000,
                prop::collection::vec(1i64..1_000, 0..20),
            )
                .prop_map(|(button_id, event_time, partition, first, deltas)| {
                    let offsets = std::iter::once(first)
                        .chain(deltas.into_iter().scan(first, |at, d| {
                            *at += d;
                            Some(*at)
                        }))
                        .collect();
                    RepartitionRecord::Clicks(ClickBatch {
                        button_id,
                        event_time,
                        partition,
                        offsets,
                    })
                }),
            (0i32.., 0i64.., any::<i64>()).prop_map(|(partition, next_offset, watermark)| {
                RepartitionRecord::Progress(ProgressRecord {
                    partition,
                    next_offset,
                    watermark,
                })
            }),
        ]
    }

    proptest! {
        #[test]
        fn every_record_decodes_to_itself(record in any_record()) {
            let value = record.value().unwrap();
            prop_assert_eq!(
                RepartitionRecord::decode(record.key().as_deref(), Some(&value)),
                Ok(record)
            );
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(
            key in prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
            value in prop::option::of(prop::collection::vec(any::<u8>(), 0..32)),
        ) {
            if let Ok(RepartitionRecord::Click(click)) =
                RepartitionRecord::decode(key.as_deref(), value.as_deref())
            {
                prop_assert_eq!(Some(click.button_id.into_bytes()), key);
            }
        }
    }
}
