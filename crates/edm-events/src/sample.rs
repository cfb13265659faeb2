//! The records of the `edm-trending-sample` topic: a bounded, uniform
//! sample of the store's events, each record one sampled event and how
//! many events read with it it stands for. Written by edm-trending's
//! repartition stage (never through the relay); every reader parses and
//! validates them the same way, with [`SampleRecord::parse`].
//!
//! ```json
//! {"topic":"edm-trending-sample","event":{"topic":"edm-ui-click","uuid":"v","event_timestamp":1700000040000,"properties":{"button_id":"kit"}},
//!  "stands_for":37,"source":"edm-ui-click/2","offset":1234,"second":1700000041000}
//! ```
//!
//! Each cycle of the stage (one Kafka transaction) keeps, per input
//! partition, a uniform sample of at most k of the valid events it read
//! there (every event read equally likely to be kept), and writes the m
//! kept of the n read with `stands_for` adding up to exactly n over the m
//! records. So the records of a `source` state, together, how many events
//! that partition holds, and their number does not grow with the input
//! rate. `source` and `offset` name the sampled event's place in Kafka (a
//! reader can recognise a record read twice, and find the event);
//! `second` is the processing-time second in which the record was written,
//! for rates.
//!
//! Readers are tolerant: unknown fields are ignored, in the record and in
//! its event. Besides what the JSON Schema in the catalog states
//! ([`crate::catalog`]), parsing checks what a schema cannot: the record is
//! at most [`MAX_RECORD_BYTES`] and the event's topic is its source's.

use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::event::{from_json, require_record_body, Event, EventError};
use edm_config::Topic;

/// The logical topic of the records, as their `topic` field holds it.
pub const TOPIC_NAME: &str = Topic::Sample.name();

/// Largest record accepted, in bytes of JSON text: room for an event as
/// long as the relay's largest body (64 KiB) and the record's own fields.
pub const MAX_RECORD_BYTES: usize = 96 * 1024;

/// Largest event text a record carries as it was read; edm-trending writes
/// a longer event as the fields its topic defines ([`Event::to_json`]).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// One second, in milliseconds: `second` is a multiple of it.
pub const SECOND_MS: i64 = 1000;

/// The highest partition a `source` names (nine digits; Kafka topics have
/// far fewer partitions).
pub const MAX_PARTITION: i32 = 999_999_999;

/// The form of `source`, as an ECMA-262 pattern: a store topic, `/`, a
/// partition without sign or leading zero.
pub const SOURCE_PATTERN: &str = "^(edm-ui-click|edm-ui-pageload)/(0|[1-9][0-9]{0,8})$";

/// Where a sampled event was read: a partition of a store topic, written
/// `<topic>/<partition>`, e.g. `edm-ui-click/2` (logical: no
/// `KAFKA_PREFIX`). It is also the record's Kafka key, so one partition's
/// records stay in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SampleSource {
    /// `edm-ui-click` or `edm-ui-pageload`.
    pub topic: Topic,
    /// The partition, 0 to [`MAX_PARTITION`].
    pub partition: i32,
}

impl SampleSource {
    /// The source for `topic`'s `partition`, if it can be one.
    pub fn new(topic: Topic, partition: i32) -> Result<Self, EventError> {
        if !topic.is_store_event() {
            return Err(EventError::field(
                "source",
                "must name a topic of store events (edm-ui-click or edm-ui-pageload)",
            ));
        }
        if !(0..=MAX_PARTITION).contains(&partition) {
            return Err(EventError::field(
                "source",
                format!("must name a partition from 0 to {MAX_PARTITION}"),
            ));
        }
        Ok(Self { topic, partition })
    }
}

impl fmt::Display for SampleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

impl FromStr for SampleSource {
    type Err = EventError;

    /// Reads `<topic>/<partition>` as [`SOURCE_PATTERN`] states it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || {
            EventError::field(
                "source",
                "must be <topic>/<partition>, e.g. edm-ui-click/2 (a store topic, a partition \
                 without sign or leading zero)",
            )
        };
        let (topic, partition) = s.split_once('/').ok_or_else(malformed)?;
        let topic: Topic = topic.parse().map_err(|_| malformed())?;
        let digits_only = !partition.is_empty() && partition.bytes().all(|b| b.is_ascii_digit());
        if !digits_only
            || partition.len() > 9
            || (partition.len() > 1 && partition.starts_with('0'))
        {
            return Err(malformed());
        }
        let partition: i32 = partition.parse().map_err(|_| malformed())?;
        Self::new(topic, partition)
    }
}

impl Serialize for SampleSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SampleSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        text.parse().map_err(|e: EventError| {
            let message = e.to_string();
            serde::de::Error::custom(message.trim_start_matches("source: ").to_owned())
        })
    }
}

/// The schema of `source`: a string of [`SOURCE_PATTERN`].
fn source_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": SOURCE_PATTERN,
    })
}

/// A record of the `edm-trending-sample` topic. Readers ignore fields they
/// do not know, so fields may be added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(extend("additionalProperties" = true))]
pub struct SampleRecord {
    /// The logical topic, always `edm-trending-sample`.
    #[schemars(extend("const" = TOPIC_NAME))]
    pub topic: String,
    /// The sampled event, a click or a page load, valid as its own topic's
    /// schema states (its `topic` is the source's).
    #[schemars(schema_with = "crate::catalog::store_event_schema")]
    pub event: Event,
    /// How many events of `source`, read in the same cycle, this record
    /// stands for (itself included): over the records of a source, these
    /// add up to the events edm-trending read there.
    #[schemars(range(min = 1))]
    pub stands_for: u64,
    /// Where the event was read: `<topic>/<partition>`, e.g.
    /// `edm-ui-click/2` (without KAFKA_PREFIX); also the Kafka key.
    #[schemars(schema_with = "source_schema")]
    pub source: SampleSource,
    /// The event's offset in that partition: with `source`, its identity.
    #[schemars(range(min = 0))]
    pub offset: i64,
    /// The processing-time second in which edm-trending wrote the record:
    /// epoch ms, a multiple of 1,000. Summing `stands_for` by second gives
    /// events read per second.
    #[schemars(range(min = 0), extend("multipleOf" = SECOND_MS))]
    pub second: i64,
}

/// A record as it is read, the event still text.
#[derive(Deserialize)]
struct Envelope<'a> {
    topic: String,
    #[serde(borrow)]
    event: &'a RawValue,
    stands_for: u64,
    source: SampleSource,
    offset: i64,
    second: i64,
}

/// A record as edm-trending writes it: the event's text as it was read.
#[derive(Serialize)]
struct Written<'a> {
    topic: &'static str,
    event: &'a RawValue,
    stands_for: u64,
    source: SampleSource,
    offset: i64,
    second: i64,
}

impl SampleRecord {
    /// This record's Kafka key: its source, e.g. `edm-ui-click/2`.
    pub fn key(&self) -> String {
        self.source.to_string()
    }

    /// The JSON text of a record whose event is `event_json` (the text of
    /// an event [`Event::parse`] accepted, kept as it is). Fails if the
    /// text is not JSON.
    pub fn json_text(
        event_json: &str,
        stands_for: u64,
        source: SampleSource,
        offset: i64,
        second: i64,
    ) -> Result<Vec<u8>, serde_json::Error> {
        let event: &RawValue = serde_json::from_str(event_json.trim())?;
        serde_json::to_vec(&Written {
            topic: TOPIC_NAME,
            event,
            stands_for,
            source,
            offset,
            second,
        })
    }

    /// Parses and validates one record from its JSON text (a Kafka
    /// message's value). Errors name the field at fault, as
    /// [`crate::Event::parse`]'s do (the event's fields as `event.<field>`).
    pub fn parse(json: &[u8]) -> Result<Self, EventError> {
        require_record_body(json, MAX_RECORD_BYTES)?;
        let envelope: Envelope = from_json(json, "")?;
        if envelope.topic != TOPIC_NAME {
            return Err(EventError::field(
                "topic",
                format!("must be {TOPIC_NAME} in a sample record"),
            ));
        }
        let event = Event::parse(envelope.event.get().as_bytes()).map_err(in_event)?;
        if envelope.stands_for == 0 {
            return Err(EventError::field("stands_for", "must be at least 1"));
        }
        if envelope.offset < 0 {
            return Err(EventError::field("offset", "must not be negative"));
        }
        if envelope.second < 0 || envelope.second % SECOND_MS != 0 {
            return Err(EventError::field(
                "second",
                "must be a second's start: epoch ms, a multiple of 1000, not negative",
            ));
        }
        if event.topic != envelope.source.topic {
            return Err(EventError::field(
                "event.topic",
                format!(
                    "is {}, but the source is a partition of {}",
                    event.topic, envelope.source.topic
                ),
            ));
        }
        Ok(Self {
            topic: envelope.topic,
            event,
            stands_for: envelope.stands_for,
            source: envelope.source,
            offset: envelope.offset,
            second: envelope.second,
        })
    }
}

/// An error of the embedded event, named under `event`.
fn in_event(e: EventError) -> EventError {
    match e {
        EventError::Syntax(problem) => EventError::field("event", problem),
        EventError::Field { field, problem } if field == "body" => {
            EventError::field("event", problem)
        }
        EventError::Field { field, problem } => {
            EventError::field(format!("event.{field}"), problem)
        }
    }
}

/// How `n` events read in a cycle are stated by `m` sampled records
/// (`1 <= m <= n`): each stands for `n / m`, the first `n % m` for one
/// more, so that they add up to `n`. Empty when `m` is 0 or above `n`.
pub fn stands_for(n: u64, m: usize) -> impl Iterator<Item = u64> {
    let m = m as u64;
    let (each, more) = if m == 0 || m > n {
        (0, 0)
    } else {
        (n / m, n % m)
    };
    let m = if each == 0 { 0 } else { m };
    (0..m).map(move |i| each + u64::from(i < more))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn record() -> Value {
        json!({"topic":"edm-trending-sample",
               "event":{"topic":"edm-ui-click","uuid":"v","event_timestamp":1_700_000_040_000_i64,
                        "properties":{"button_id":"kit","description":"button click"}},
               "stands_for":37,"source":"edm-ui-click/2","offset":1234,"second":1_700_000_041_000_i64})
    }

    fn field_of(v: &Value) -> String {
        SampleRecord::parse(v.to_string().as_bytes())
            .unwrap_err()
            .field_name()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn what_edm_trending_writes_parses_and_reads_back_the_same() {
        let r = SampleRecord::parse(record().to_string().as_bytes()).unwrap();
        assert_eq!(r.event.topic, Topic::Click);
        assert_eq!(r.stands_for, 37);
        assert_eq!(
            r.source,
            SampleSource {
                topic: Topic::Click,
                partition: 2
            }
        );
        assert_eq!(r.key(), "edm-ui-click/2");
        let text = serde_json::to_vec(&r).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&text).unwrap(), record());
        // As edm-trending writes it: the event's text kept as it was read.
        let event_text = " {\"topic\":\"edm-ui-click\",\"uuid\":\"v\",\"event_timestamp\":1700000040000,\"properties\":{\"button_id\":\"kit\",\"description\":\"button click\"},\"x\":[1]}\n";
        let written =
            SampleRecord::json_text(event_text, 37, r.source, 1234, 1_700_000_041_000).unwrap();
        let mut expected = record();
        expected["event"]["x"] = json!([1]);
        assert_eq!(serde_json::from_slice::<Value>(&written).unwrap(), expected);
        assert_eq!(SampleRecord::parse(&written).unwrap(), r);
    }

    #[test]
    fn a_page_load_from_a_page_load_partition_is_a_sample_too() {
        let mut v = record();
        v["event"] = json!({"topic":"edm-ui-pageload","uuid":"v","event_timestamp":1_700_000_040_000_i64,
                            "properties":{"user_agent":"Mozilla/5.0","url":"https://example.com"}});
        v["source"] = json!("edm-ui-pageload/0");
        assert!(SampleRecord::parse(v.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn records_that_break_a_rule_name_the_field() {
        let cases: [(&str, &str, Value); 20] = [
            ("topic", "topic", json!("edm-trending-counts")),
            ("stands_for", "stands_for", json!(0)),
            ("stands_for", "stands_for", json!(-1)),
            ("stands_for", "stands_for", json!(1.5)),
            ("offset", "offset", json!(-1)),
            ("offset", "offset", json!("12")),
            ("second", "second", json!(1_700_000_041_001_i64)),
            ("second", "second", json!(-1000)),
            ("source", "source", json!("edm-ui-click")),
            ("source", "source", json!("edm-ui-click/02")),
            ("source", "source", json!("edm-ui-click/-1")),
            ("source", "source", json!("edm-ui-click/+1")),
            ("source", "source", json!("edm-ui-click/1000000000")),
            ("source", "source", json!("edm-trending/0")),
            ("source", "source", json!("edm-ui-click/0/1")),
            ("source", "source", json!(2)),
            // The source is a page-load partition, the event a click.
            ("source", "event.topic", json!("edm-ui-pageload/2")),
            ("event", "event", json!("{}")),
            ("event", "event", json!([1])),
            ("event", "event.topic", json!({"topic":"edm-trending"})),
        ];
        for (field, named, value) in cases {
            let mut bad = record();
            bad[field] = value.clone();
            assert_eq!(field_of(&bad), named, "{field} = {value}");
        }
        let mut bad = record();
        bad["event"]["properties"]["button_id"] = json!("");
        assert_eq!(field_of(&bad), "event.properties.button_id");
        let mut bad = record();
        bad["event"].as_object_mut().unwrap().remove("uuid");
        assert_eq!(field_of(&bad), "event.uuid");
        for missing in ["event", "stands_for", "source", "offset", "second", "topic"] {
            let mut bad = record();
            bad.as_object_mut().unwrap().remove(missing);
            assert_eq!(field_of(&bad), missing, "{missing} left out");
        }
    }

    #[test]
    fn garbage_and_oversized_text_are_refused_before_they_are_read() {
        let mut big = record();
        big["padding"] = json!("x".repeat(MAX_RECORD_BYTES));
        assert_eq!(field_of(&big), "body");
        for garbage in [&b""[..], b"\xff\xfe", b"[]", b"null", b"{", b"{}{}", b"42"] {
            assert!(SampleRecord::parse(garbage).is_err(), "{garbage:?}");
        }
        // An event longer than a record may hold is refused with it.
        let mut long = record();
        long["event"]["padding"] = json!("x".repeat(MAX_RECORD_BYTES));
        assert_eq!(field_of(&long), "body");
    }

    #[test]
    fn sources_read_back_as_written() {
        for (text, topic, partition) in [
            ("edm-ui-click/0", Topic::Click, 0),
            ("edm-ui-pageload/17", Topic::PageLoad, 17),
            ("edm-ui-click/999999999", Topic::Click, MAX_PARTITION),
        ] {
            let source: SampleSource = text.parse().unwrap();
            assert_eq!(source, SampleSource::new(topic, partition).unwrap());
            assert_eq!(source.to_string(), text);
        }
        assert!(SampleSource::new(Topic::Counts, 0).is_err());
        assert!(SampleSource::new(Topic::Click, -1).is_err());
    }

    #[test]
    fn stated_totals_add_up_to_what_was_read() {
        for n in [1_u64, 2, 3, 7, 37, 100, 1_000_003] {
            for m in [1_usize, 2, 3, 5, 37] {
                let shares: Vec<u64> = stands_for(n, m).collect();
                if m as u64 > n {
                    assert!(shares.is_empty());
                    continue;
                }
                assert_eq!(shares.len(), m);
                assert_eq!(shares.iter().sum::<u64>(), n, "n {n}, m {m}");
                assert!(shares.iter().all(|&s| s >= 1));
                assert!(shares.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
            }
        }
        assert_eq!(stands_for(5, 0).count(), 0);
    }
}
