//! What edm-stream streams from each topic, and under which Socket.io event
//! name:
//!
//! | topic | valid when | Socket.io event |
//! |---|---|---|
//! | `edm-ui-click`, `edm-ui-pageload` | `edm_events::Event::parse` accepts it, on its own topic | `event` |
//! | `edm-trending` | `edm_events::TrendingRecord::parse` accepts it | `trending` |
//! | `edm-trending-counts` | `edm_events::CountsRecord::parse` accepts it | `counts` |
//! | `edm-trending-sample` (read in summary mode only, see [`crate::mode`]) | `edm_events::SampleRecord::parse` accepts it | `sample` |
//!
//! Each carries the same two arguments: the record's JSON text exactly as it
//! was in Kafka, and its position. A message that is not valid for its
//! topic is skipped and counted in `edm_stream_invalid_events_total`.
//!
//! A valid record longer than `EDM_STREAM_MAX_RECORD_BYTES` (any producer
//! may add fields: the relay keeps the ones it does not know) is streamed
//! as the fields its topic defines, re-encoded
//! (`edm_stream_trimmed_records_total`), or, when even that is too long,
//! skipped (`edm_stream_oversized_records_total`, and a warning).

use std::borrow::Cow;

use edm_config::Topic;
use edm_events::{CountsRecord, Event, SampleRecord, TrendingRecord};

/// The kinds of record streamed, each under its own Socket.io event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The store's click and page-load events: `event`.
    StoreEvent,
    /// edm-trending's window results: `trending`.
    Trending,
    /// edm-trending's per-minute counts: `counts`.
    Counts,
    /// edm-trending's sample of the store's events: `sample`.
    Sample,
}

impl Kind {
    /// Every kind, in the order of [`Kind::index`].
    pub const ALL: [Kind; 4] = [Kind::StoreEvent, Kind::Trending, Kind::Counts, Kind::Sample];
    /// How many kinds there are (for per-kind arrays).
    pub const COUNT: usize = Kind::ALL.len();

    /// The kind of `topic`'s records.
    pub const fn of(topic: Topic) -> Self {
        match topic {
            Topic::Click | Topic::PageLoad => Kind::StoreEvent,
            Topic::Trending => Kind::Trending,
            Topic::Counts => Kind::Counts,
            Topic::Sample => Kind::Sample,
        }
    }

    /// The Socket.io event its records are emitted as.
    pub const fn socket_event(self) -> &'static str {
        match self {
            Kind::StoreEvent => "event",
            Kind::Trending => "trending",
            Kind::Counts => "counts",
            Kind::Sample => "sample",
        }
    }

    /// Its place in a per-kind array.
    pub const fn index(self) -> usize {
        match self {
            Kind::StoreEvent => 0,
            Kind::Trending => 1,
            Kind::Counts => 2,
            Kind::Sample => 3,
        }
    }
}

/// Why a message is not streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unstreamable {
    /// It is not a valid record of its topic (why, for the debug log).
    Invalid(String),
    /// It is valid, but longer than the cap even without the fields its
    /// topic does not define (its length in bytes).
    Oversized(usize),
}

/// A record as it is streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streamed<'a> {
    /// Its JSON text.
    pub text: Cow<'a, str>,
    /// Whether the text is the record re-encoded without the fields its
    /// topic does not define (it was longer than the cap).
    pub trimmed: bool,
    /// For a counts record: its minute and key (`kind:minute:name`), by
    /// which the hub keeps the latest count of each.
    pub count_key: Option<(i64, String)>,
}

/// A valid record of one of the streamed kinds.
enum Record {
    StoreEvent(Event),
    Trending(TrendingRecord),
    Counts(CountsRecord),
    Sample(SampleRecord),
}

impl Record {
    /// `payload` as a record of `topic`, or why it is not one.
    fn parse(topic: Topic, payload: &[u8]) -> Result<Self, Unstreamable> {
        use Unstreamable::Invalid;
        match Kind::of(topic) {
            Kind::StoreEvent => match Event::parse(payload) {
                Ok(event) if event.topic == topic => Ok(Self::StoreEvent(event)),
                Ok(event) => Err(Invalid(format!(
                    "an {} event on the {topic} topic",
                    event.topic
                ))),
                Err(e) => Err(Invalid(format!("not a valid event: {e}"))),
            },
            Kind::Trending => TrendingRecord::parse(payload)
                .map(Self::Trending)
                .map_err(|e| Invalid(format!("not a valid trending record: {e}"))),
            Kind::Counts => CountsRecord::parse(payload)
                .map(Self::Counts)
                .map_err(|e| Invalid(format!("not a valid counts record: {e}"))),
            Kind::Sample => SampleRecord::parse(payload)
                .map(Self::Sample)
                .map_err(|e| Invalid(format!("not a valid sample record: {e}"))),
        }
    }

    /// A counts record's minute and key.
    fn count_key(&self) -> Option<(i64, String)> {
        match self {
            Self::Counts(record) => Some((record.minute, record.key())),
            _ => None,
        }
    }

    /// The fields its topic defines, as JSON text.
    fn to_json(&self) -> String {
        match self {
            Self::StoreEvent(event) => event.to_json(),
            Self::Trending(record) => serde_json::to_string(record).expect("a record encodes"),
            Self::Counts(record) => serde_json::to_string(record).expect("a record encodes"),
            Self::Sample(record) => serde_json::to_string(record).expect("a record encodes"),
        }
    }
}

/// The JSON text of `payload`, a message read from `topic`, if it is a
/// record edm-stream streams: as it is when it has at most `max_bytes`,
/// else as the fields its topic defines, re-encoded, when those fit.
pub fn streamable(
    topic: Topic,
    payload: Option<&[u8]>,
    max_bytes: usize,
) -> Result<Streamed<'_>, Unstreamable> {
    use Unstreamable::Invalid;
    let payload = payload.ok_or_else(|| Invalid("the message has no value".to_owned()))?;
    let text =
        std::str::from_utf8(payload).map_err(|_| Invalid("the message is not UTF-8".to_owned()))?;
    let record = Record::parse(topic, payload)?;
    let count_key = record.count_key();
    if text.len() <= max_bytes {
        return Ok(Streamed {
            text: Cow::Borrowed(text),
            trimmed: false,
            count_key,
        });
    }
    let known = record.to_json();
    if known.len() <= max_bytes {
        Ok(Streamed {
            text: Cow::Owned(known),
            trimmed: true,
            count_key,
        })
    } else {
        Err(Unstreamable::Oversized(text.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 8192;
    const CLICK: &str = r#"{"topic":"edm-ui-click","uuid":"v","event_timestamp":1763800000000,"properties":{"button_id":"kit"}}"#;
    const RECORD: &str = r#"{"topic":"edm-trending","event_id":"trending-1m-1763799960000","window":{"name":"1m","size_seconds":60,"advance_seconds":60,"start":1763799960000,"end":1763800020000},"clicks":2,"products":1,"top":[{"button_id":"kit","clicks":2}]}"#;

    #[test]
    fn store_events_go_out_as_event_and_trending_records_as_trending() {
        assert_eq!(Kind::of(Topic::Click).socket_event(), "event");
        assert_eq!(Kind::of(Topic::PageLoad).socket_event(), "event");
        assert_eq!(Kind::of(Topic::Trending).socket_event(), "trending");
        assert_eq!(Kind::of(Topic::Sample).socket_event(), "sample");
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }

    #[test]
    fn each_topic_streams_its_own_records_only() {
        let as_is = |text| {
            Ok(Streamed {
                text: Cow::Borrowed(text),
                trimmed: false,
                count_key: None,
            })
        };
        assert_eq!(
            streamable(Topic::Click, Some(CLICK.as_bytes()), CAP),
            as_is(CLICK)
        );
        assert_eq!(
            streamable(Topic::Trending, Some(RECORD.as_bytes()), CAP),
            as_is(RECORD)
        );
        // A click on the trending topic, a record on the click topic, a
        // click on the page-load topic: all skipped, saying why.
        let Err(Unstreamable::Invalid(err)) =
            streamable(Topic::Trending, Some(CLICK.as_bytes()), CAP)
        else {
            panic!("a click is not a trending record")
        };
        assert!(err.starts_with("not a valid trending record"), "{err}");
        assert!(streamable(Topic::Click, Some(RECORD.as_bytes()), CAP).is_err());
        assert_eq!(
            streamable(Topic::PageLoad, Some(CLICK.as_bytes()), CAP),
            Err(Unstreamable::Invalid(
                "an edm-ui-click event on the edm-ui-pageload topic".to_owned()
            ))
        );
        assert!(streamable(Topic::Trending, None, CAP).is_err());
        assert!(streamable(Topic::Trending, Some(b"\xff\xfe"), CAP).is_err());
    }

    #[test]
    fn a_counts_record_goes_out_as_it_is_with_its_minute_and_key() {
        let counts = r#"{"topic":"edm-trending-counts","kind":"click","name":"kit","minute":1763799960000,"count":5,"final":false}"#;
        assert_eq!(
            streamable(Topic::Counts, Some(counts.as_bytes()), CAP),
            Ok(Streamed {
                text: Cow::Borrowed(counts),
                trimmed: false,
                count_key: Some((1_763_799_960_000, "click:1763799960000:kit".to_owned())),
            })
        );
        assert!(streamable(Topic::Counts, Some(CLICK.as_bytes()), CAP).is_err());
    }

    #[test]
    fn a_sample_record_goes_out_as_sample_and_nothing_else_does() {
        let sample = format!(
            r#"{{"topic":"edm-trending-sample","event":{CLICK},"stands_for":3,"source":"edm-ui-click/0","offset":5,"second":1763800001000}}"#
        );
        assert_eq!(
            streamable(Topic::Sample, Some(sample.as_bytes()), CAP),
            Ok(Streamed {
                text: Cow::Borrowed(sample.as_str()),
                trimmed: false,
                count_key: None,
            })
        );
        // Its event alone is not a sample record, nor is it a click.
        let Err(Unstreamable::Invalid(err)) =
            streamable(Topic::Sample, Some(CLICK.as_bytes()), CAP)
        else {
            panic!("a click is not a sample record")
        };
        assert!(err.starts_with("not a valid sample record"), "{err}");
        assert!(streamable(Topic::Click, Some(sample.as_bytes()), CAP).is_err());
        assert!(streamable(Topic::Sample, Some(b"\x00garbage"), CAP).is_err());
    }

    #[test]
    fn a_long_record_goes_out_as_its_known_fields_or_not_at_all() {
        // 60 KB of a field no topic defines: the click without it.
        let mut padded: serde_json::Value = serde_json::from_str(CLICK).unwrap();
        padded["padding"] = "x".repeat(60_000).into();
        let padded = padded.to_string();
        let streamed = streamable(Topic::Click, Some(padded.as_bytes()), CAP).unwrap();
        assert!(streamed.trimmed);
        assert!(streamed.text.len() <= CAP);
        let event = Event::parse(streamed.text.as_bytes()).unwrap();
        assert_eq!(event, Event::parse(CLICK.as_bytes()).unwrap());
        assert!(!streamed.text.contains("padding"));
        // Under a cap shorter than its known fields, it is not streamed.
        assert_eq!(
            streamable(Topic::Click, Some(padded.as_bytes()), 64),
            Err(Unstreamable::Oversized(padded.len()))
        );
        // Exactly at the cap: as it was.
        let exact = streamable(Topic::Click, Some(CLICK.as_bytes()), CLICK.len()).unwrap();
        assert!(!exact.trimmed);
    }
}
