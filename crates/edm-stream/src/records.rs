//! What edm-stream streams from each topic, and under which Socket.io event
//! name:
//!
//! | topic | valid when | Socket.io event |
//! |---|---|---|
//! | `edm-ui-click`, `edm-ui-pageload` | `edm_events::Event::parse` accepts it, on its own topic | `event` |
//! | `edm-trending` | `edm_events::TrendingRecord::parse` accepts it | `trending` |
//! | `edm-trending-counts` (not among the topics edm-stream reads yet: [`Topic::STREAMED`]) | `edm_events::CountsRecord::parse` accepts it | `counts` |
//!
//! Each carries the same two arguments: the record's JSON text exactly as it
//! was in Kafka, and its position. A message that is not valid for its
//! topic is skipped and counted in `edm_stream_invalid_events_total`.

use edm_config::Topic;
use edm_events::{CountsRecord, Event, TrendingRecord};

/// The kinds of record streamed, each under its own Socket.io event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The store's click and page-load events: `event`.
    StoreEvent,
    /// edm-trending's window results: `trending`.
    Trending,
    /// edm-trending's per-minute counts: `counts`.
    Counts,
}

impl Kind {
    /// Every kind, in the order of [`Kind::index`].
    pub const ALL: [Kind; 3] = [Kind::StoreEvent, Kind::Trending, Kind::Counts];
    /// How many kinds there are (for per-kind arrays).
    pub const COUNT: usize = Kind::ALL.len();

    /// The kind of `topic`'s records.
    pub const fn of(topic: Topic) -> Self {
        match topic {
            Topic::Click | Topic::PageLoad => Kind::StoreEvent,
            Topic::Trending => Kind::Trending,
            Topic::Counts => Kind::Counts,
        }
    }

    /// The Socket.io event its records are emitted as.
    pub const fn socket_event(self) -> &'static str {
        match self {
            Kind::StoreEvent => "event",
            Kind::Trending => "trending",
            Kind::Counts => "counts",
        }
    }

    /// Its place in a per-kind array.
    pub const fn index(self) -> usize {
        match self {
            Kind::StoreEvent => 0,
            Kind::Trending => 1,
            Kind::Counts => 2,
        }
    }
}

/// The JSON text of `payload`, a message read from `topic`, if it is a
/// record edm-stream streams; otherwise why not (for the debug log).
pub fn streamable(topic: Topic, payload: Option<&[u8]>) -> Result<&str, String> {
    let payload = payload.ok_or("the message has no value")?;
    let text = std::str::from_utf8(payload).map_err(|_| "the message is not UTF-8".to_owned())?;
    match Kind::of(topic) {
        Kind::StoreEvent => match Event::parse(payload) {
            Ok(event) if event.topic == topic => Ok(text),
            Ok(event) => Err(format!("an {} event on the {topic} topic", event.topic)),
            Err(e) => Err(format!("not a valid event: {e}")),
        },
        Kind::Trending => TrendingRecord::parse(payload)
            .map(|_| text)
            .map_err(|e| format!("not a valid trending record: {e}")),
        Kind::Counts => CountsRecord::parse(payload)
            .map(|_| text)
            .map_err(|e| format!("not a valid counts record: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLICK: &str = r#"{"topic":"edm-ui-click","uuid":"v","event_timestamp":1763800000000,"properties":{"button_id":"kit"}}"#;
    const RECORD: &str = r#"{"topic":"edm-trending","event_id":"trending-1m-1763799960000","window":{"name":"1m","size_seconds":60,"advance_seconds":60,"start":1763799960000,"end":1763800020000},"clicks":2,"products":1,"top":[{"button_id":"kit","clicks":2}]}"#;

    #[test]
    fn store_events_go_out_as_event_and_trending_records_as_trending() {
        assert_eq!(Kind::of(Topic::Click).socket_event(), "event");
        assert_eq!(Kind::of(Topic::PageLoad).socket_event(), "event");
        assert_eq!(Kind::of(Topic::Trending).socket_event(), "trending");
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }

    #[test]
    fn each_topic_streams_its_own_records_only() {
        assert_eq!(streamable(Topic::Click, Some(CLICK.as_bytes())), Ok(CLICK));
        assert_eq!(
            streamable(Topic::Trending, Some(RECORD.as_bytes())),
            Ok(RECORD)
        );
        // A click on the trending topic, a record on the click topic, a
        // click on the page-load topic: all skipped, saying why.
        let err = streamable(Topic::Trending, Some(CLICK.as_bytes())).unwrap_err();
        assert!(err.starts_with("not a valid trending record"), "{err}");
        assert!(streamable(Topic::Click, Some(RECORD.as_bytes())).is_err());
        assert_eq!(
            streamable(Topic::PageLoad, Some(CLICK.as_bytes())),
            Err("an edm-ui-click event on the edm-ui-pageload topic".to_owned())
        );
        assert!(streamable(Topic::Trending, None).is_err());
        assert!(streamable(Topic::Trending, Some(b"\xff\xfe")).is_err());
    }
}
