//! The records of the repartition topic: the single-partition log the
//! store processes in order. The stage reading `edm-ui-click` writes one per
//! click: key = the button id's UTF-8 bytes, value =
//! `{"event_time":<ms>,"event_id":"<id>"}` (`event_id` only when the click
//! had one).
//!
//! Decoding checks the shape only. Whether the event time is in the
//! accepted range is [`WindowStore::process`](crate::WindowStore::process)'s
//! check, so that such records are counted in its metrics.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::store::MAX_BUTTON_ID_BYTES;

/// A click on its way to the window store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepartitionRecord {
    /// The product clicked (`properties.button_id`); the record key.
    pub button_id: String,
    /// The click's event time (see [`event_time`](crate::event_time())), epoch ms.
    pub event_time: i64,
    /// The click's event id, when it had one (for tracing).
    pub event_id: Option<String>,
}

/// Why a repartition record cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RepartitionError {
    /// The record has no key.
    #[error("the record has no key (the key is the button id)")]
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
        "the value is not {{\"event_time\":<integer ms>,\"event_id\":<optional string>}}: {0}"
    )]
    InvalidValue(String),
}

/// The JSON value of a repartition record.
#[derive(Serialize, Deserialize)]
struct RepartitionValue<'a> {
    event_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    event_id: Option<std::borrow::Cow<'a, str>>,
}

impl RepartitionRecord {
    /// The record key: the button id's UTF-8 bytes.
    pub fn key(&self) -> Vec<u8> {
        self.button_id.as_bytes().to_vec()
    }

    /// The record value: `{"event_time":<ms>,"event_id":"<id>"}`.
    /// Serializing this plain data does not fail in practice; the error is
    /// passed on rather than hidden.
    pub fn value(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&RepartitionValue {
            event_time: self.event_time,
            event_id: self.event_id.as_deref().map(Into::into),
        })
    }

    /// Decodes a record read from the repartition topic. Unknown fields in
    /// the value are ignored.
    pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Self, RepartitionError> {
        let key = key.ok_or(RepartitionError::MissingKey)?;
        if key.len() > MAX_BUTTON_ID_BYTES {
            return Err(RepartitionError::KeyTooLong(key.len()));
        }
        let button_id = std::str::from_utf8(key)
            .map_err(|_| RepartitionError::KeyNotUtf8)?
            .to_owned();
        let value = value.ok_or(RepartitionError::MissingValue)?;
        let parsed: RepartitionValue<'_> = serde_json::from_slice(value)
            .map_err(|e| RepartitionError::InvalidValue(e.to_string()))?;
        Ok(Self {
            button_id,
            event_time: parsed.event_time,
            event_id: parsed.event_id.map(|id| id.into_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_value_is_the_documented_json() {
        let record = RepartitionRecord {
            button_id: "kit".into(),
            event_time: 1_700_000_000_000,
            event_id: Some("e-1".into()),
        };
        assert_eq!(record.key(), b"kit".to_vec());
        assert_eq!(
            record.value().unwrap(),
            br#"{"event_time":1700000000000,"event_id":"e-1"}"#.to_vec()
        );
        let without_id = RepartitionRecord {
            event_id: None,
            ..record
        };
        assert_eq!(
            without_id.value().unwrap(),
            br#"{"event_time":1700000000000}"#.to_vec()
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_escaped_ids_are_read() {
        let record = RepartitionRecord::decode(
            Some(b"mug"),
            Some(br#"{"schema":2,"event_id":"a\"b","event_time":5}"#),
        );
        assert_eq!(
            record,
            Ok(RepartitionRecord {
                button_id: "mug".into(),
                event_time: 5,
                event_id: Some("a\"b".into()),
            })
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
        for garbage in [
            &b""[..],
            b"{",
            br#"{"event_time":5"#,
            br#"{"event_id":"x"}"#,
            br#"{"event_time":1.5}"#,
            br#"{"event_time":"5"}"#,
            br#"{"event_time":99999999999999999999}"#,
            br#"{"event_time":5,"event_id":7}"#,
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

    proptest! {
        #[test]
        fn every_record_decodes_to_itself(
            button_id in "\\PC{0,40}|[\\x00-\\x7f]{0,8}",
            event_time in any::<i64>(),
            event_id in prop::option::of("\\PC{0,20}"),
        ) {
            let record = RepartitionRecord { button_id, event_time, event_id };
            let value = record.value().unwrap();
            prop_assert_eq!(
                RepartitionRecord::decode(Some(&record.key()), Some(&value)),
                Ok(record)
            );
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(
            key in prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
            value in prop::option::of(prop::collection::vec(any::<u8>(), 0..32)),
        ) {
            if let Ok(record) = RepartitionRecord::decode(key.as_deref(), value.as_deref()) {
                prop_assert_eq!(Some(record.key()), key);
            }
        }
    }
}
