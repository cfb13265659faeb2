//! What a Kafka message becomes: a valid event with its id, or a dead
//! letter that says why it could not be counted.

use edm_config::KafkaSettings;
use edm_events::{Event, EVENT_ID_HEADER};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::Message;

/// A message read from Kafka, with where it came from.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Wire topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// What it contained.
    pub record: Record,
}

/// The content of a message.
#[derive(Debug, Clone)]
pub enum Record {
    /// A valid event; `event_id` (from the `edm-event-id` header or the
    /// body) identifies client retries of the same event.
    Event {
        /// The event's id, when it has one.
        event_id: Option<String>,
        /// The event.
        event: Box<Event>,
    },
    /// Could not be counted: kept in the dead-letter table.
    Malformed {
        /// The raw payload.
        payload: Option<Vec<u8>>,
        /// Why.
        error: String,
    },
}

/// Reads one message. Never fails: bad content becomes [`Record::Malformed`].
pub fn parse(message: &BorrowedMessage<'_>, kafka: &KafkaSettings) -> Consumed {
    let topic = message.topic().to_owned();
    let payload = message.payload();
    let record = match (kafka.topic_from_wire(&topic), payload) {
        (None, _) => malformed(payload, "not an EDM topic".into()),
        (_, None) => malformed(None, "empty message".into()),
        (Some(expected), Some(bytes)) => match Event::parse(bytes) {
            Ok(event) if event.topic == expected => Record::Event {
                event_id: header_event_id(message).or_else(|| event.event_id.clone()),
                event: Box::new(event),
            },
            Ok(event) => malformed(
                payload,
                format!("a {} event on the {} topic", event.topic, expected),
            ),
            Err(e) => malformed(payload, e.to_string()),
        },
    };
    Consumed {
        topic,
        partition: message.partition(),
        offset: message.offset(),
        record,
    }
}

fn malformed(payload: Option<&[u8]>, error: String) -> Record {
    Record::Malformed {
        payload: payload.map(<[u8]>::to_vec),
        error,
    }
}

/// The `edm-event-id` header, when present and sane.
fn header_event_id(message: &BorrowedMessage<'_>) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == EVENT_ID_HEADER)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
        .filter(|id| !id.is_empty() && id.len() <= 256)
        .map(str::to_owned)
}
