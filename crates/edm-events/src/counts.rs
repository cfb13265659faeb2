//! The records of the `edm-trending-counts` topic: how many clicks one
//! product got, or how many page loads one device type had, in one minute
//! of event time, counted by edm-trending's window tasks (never through
//! the relay). Every reader parses and
//! validates them the same way, with [`CountsRecord::parse`].
//!
//! ```json
//! {"topic":"edm-trending-counts","kind":"click","name":"kit","minute":1700000040000,"count":5,"final":true}
//! ```
//!
//! ```json
//! {"topic":"edm-trending-counts","kind":"pageload","name":"mobile","minute":1700000040000,"count":12,"final":true}
//! ```
//!
//! While the minute is open (its end plus edm-trending's grace period has
//! not passed every input partition's watermark), the name's record is
//! provisional (`"final": false`): the minute's count so far, written again
//! at most once a second while it grows. When the minute closes, the final
//! record is written once under the same key, in the same Kafka transaction
//! as the input it counted, so the topic, compacted, keeps exactly one
//! final count per (kind, name, minute) and replaces the provisional ones.
//! Clicks arriving for a minute after it closed are not in its count; the
//! `1m` record of `edm-trending` for that minute says how many
//! (`late_clicks`). Page loads arriving late are counted in edm-trending's
//! metrics only.
//!
//! The key is `<kind>:<minute>:<name>` ([`CountsRecord::key_of`]), e.g.
//! `click:1700000040000:kit`, so the name, which may hold `:`, comes last.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{
    check_text, from_json, require_record_body, EventError, MAX_ID_CHARS,
    NO_CONTROL_CHARACTERS_PATTERN,
};
use edm_config::Topic;

/// The logical topic of the records, as their `topic` field holds it.
pub const TOPIC_NAME: &str = Topic::Counts.name();

/// One minute, in milliseconds: records count minutes of event time that
/// start at a multiple of it.
pub const MINUTE_MS: i64 = 60_000;

/// Largest record accepted, in bytes of JSON text: the longest name makes
/// a record of about 1.2 KiB, which leaves room for fields added later.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// What a record counts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum CountKind {
    /// Clicks on a product: `name` is the clicks' `properties.button_id`.
    #[serde(rename = "click")]
    Click,
    /// Page loads from a device type: `name` is the type its user agent
    /// gives ([`crate::device::device_type`]: `desktop`, `mobile`,
    /// `tablet`, `bot` or `other`).
    #[serde(rename = "pageload")]
    PageLoad,
}

impl CountKind {
    /// The kind's name in records and keys: `"click"`.
    pub const fn name(self) -> &'static str {
        match self {
            CountKind::Click => "click",
            CountKind::PageLoad => "pageload",
        }
    }
}

impl std::fmt::Display for CountKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A record of the `edm-trending-counts` topic. Readers ignore fields they
/// do not know, so fields may be added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = true))]
pub struct CountsRecord {
    /// The logical topic, always `edm-trending-counts`.
    #[schemars(extend("const" = TOPIC_NAME))]
    pub topic: String,
    /// What is counted: `click` (clicks per product) or `pageload` (page
    /// loads per device type).
    pub kind: CountKind,
    /// What the count is of: for `click`, the product (`button_id`); for
    /// `pageload`, the device type.
    #[schemars(length(min = 1, max = MAX_ID_CHARS), pattern(NO_CONTROL_CHARACTERS_PATTERN))]
    pub name: String,
    /// The minute counted: its first millisecond of event time (epoch ms,
    /// a multiple of 60,000); it lasts until `minute + 60000`, exclusive.
    #[schemars(range(min = 0), extend("multipleOf" = MINUTE_MS))]
    pub minute: i64,
    /// Clicks or page loads counted in the minute: all of them once
    /// `final`, so far before. An upper bound when `overcount` is not 0.
    #[schemars(range(min = 1))]
    pub count: u64,
    /// How many of `count` may belong to other names (0, and left out, when
    /// the count is exact): edm-trending keeps at most
    /// `EDM_TRENDING_MAX_PRODUCTS_PER_WINDOW` products per minute and window
    /// task, and past that the least-clicked product's place and count go
    /// to the newcomer. Always less than `count`.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 0))]
    pub overcount: u64,
    /// `true` once the minute closed: this count will not change. `false`:
    /// a provisional count, replaced by a later record of the same key.
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// Whether a count is zero (and so left out of the record).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CountsRecord {
    /// The record's Kafka key: `<kind>:<minute>:<name>`.
    pub fn key_of(kind: CountKind, minute: i64, name: &str) -> String {
        format!("{kind}:{minute}:{name}")
    }

    /// This record's Kafka key ([`Self::key_of`]).
    pub fn key(&self) -> String {
        Self::key_of(self.kind, self.minute, &self.name)
    }

    /// Parses and validates one record from its JSON text (a Kafka
    /// message's value). Errors name the field at fault, as
    /// [`crate::Event::parse`]'s do.
    pub fn parse(json: &[u8]) -> Result<Self, EventError> {
        require_record_body(json, MAX_RECORD_BYTES)?;
        let record: CountsRecord = from_json(json, "")?;
        record.validate()?;
        Ok(record)
    }

    /// Checks what serde's types do not.
    fn validate(&self) -> Result<(), EventError> {
        if self.topic != TOPIC_NAME {
            return Err(EventError::field(
                "topic",
                format!("must be {TOPIC_NAME} in a counts record"),
            ));
        }
        check_text("name", &self.name, 1, MAX_ID_CHARS)?;
        if self.minute < 0 || self.minute % MINUTE_MS != 0 {
            return Err(EventError::field(
                "minute",
                "must be a minute's start: epoch ms, a multiple of 60000, not negative",
            ));
        }
        if self.count == 0 {
            return Err(EventError::field("count", "must be at least 1"));
        }
        if self.overcount >= self.count {
            return Err(EventError::field("overcount", "must be less than count"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn record() -> Value {
        json!({"topic":"edm-trending-counts","kind":"click","name":"the-camper's-kit",
               "minute":1_700_000_040_000_i64,"count":5,"final":true})
    }

    fn field_of(v: &Value) -> String {
        CountsRecord::parse(v.to_string().as_bytes())
            .unwrap_err()
            .field_name()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn what_edm_trending_writes_parses_and_reads_back_the_same() {
        let r = CountsRecord::parse(record().to_string().as_bytes()).unwrap();
        assert_eq!(r.kind, CountKind::Click);
        assert_eq!(r.count, 5);
        assert!(r.is_final);
        assert_eq!(r.key(), "click:1700000040000:the-camper's-kit");
        let text = serde_json::to_vec(&r).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&text).unwrap(), record());
    }

    #[test]
    fn records_that_break_a_rule_name_the_field() {
        let cases: [(&str, Value); 8] = [
            ("topic", json!("edm-trending")),
            ("kind", json!("scroll")),
            ("name", json!("")),
            ("name", json!("a\u{7}b")),
            ("minute", json!(1_700_000_040_001_i64)),
            ("minute", json!(-60_000)),
            ("count", json!(0)),
            ("final", json!("yes")),
        ];
        for (field, value) in cases {
            let mut bad = record();
            bad[field] = value.clone();
            assert_eq!(field_of(&bad), field, "{field} = {value}");
        }
        let mut bad = record();
        bad["overcount"] = json!(5);
        assert_eq!(field_of(&bad), "overcount");
        let mut missing = record();
        missing.as_object_mut().unwrap().remove("final");
        assert!(CountsRecord::parse(missing.to_string().as_bytes()).is_err());
    }

    #[test]
    fn oversized_text_is_refused_before_it_is_parsed() {
        let mut big = record();
        big["padding"] = json!("x".repeat(MAX_RECORD_BYTES));
        assert_eq!(field_of(&big), "body");
    }
}
