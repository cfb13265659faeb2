//! What a Kafka message becomes: a valid event with its id, or a dead
//! letter that says why it could not be counted (an excerpt of it, see
//! [`super::excerpt`]).

use edm_config::KafkaSettings;
use edm_events::event::retry_id;
use edm_events::{Event, EVENT_ID_HEADER};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::Message;

use super::excerpt::{cut_text, Excerpt};

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
    /// A retry: its event id appeared within its partition's dedup window
    /// (set by the consumer, see [`super::dedup`]); not counted again.
    pub duplicate: bool,
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
        /// The start of the raw payload, and its size.
        payload: Option<Excerpt>,
        /// Why, cut to the excerpt size.
        error: String,
    },
}

/// Reads one message. Never fails: bad content becomes [`Record::Malformed`],
/// which keeps at most `excerpt_bytes` of the payload and of the reason.
pub fn parse(
    message: &BorrowedMessage<'_>,
    kafka: &KafkaSettings,
    excerpt_bytes: usize,
) -> Consumed {
    let topic = message.topic().to_owned();
    let payload = message.payload();
    let malformed =
        |payload: Option<&[u8]>, error: String| Record::malformed(payload, error, excerpt_bytes);
    let record = match (kafka.topic_from_wire(&topic), payload) {
        (None, _) => malformed(payload, "not an EDM topic".into()),
        (_, None) => malformed(None, "empty message".into()),
        (Some(expected), Some(bytes)) => match Event::parse(bytes) {
            Ok(event) if event.topic == expected => {
                match retry_id(event_id_header(message), event.event_id.as_deref()) {
                    Ok(id) => Record::Event {
                        event_id: id.map(str::to_owned),
                        event: Box::new(event),
                    },
                    Err(problem) => malformed(payload, problem.to_owned()),
                }
            }
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
        duplicate: false,
    }
}

impl Consumed {
    /// Whether [`Self::set_aside`] leaves less for Postgres to refuse: not
    /// for a dead letter that is a reason alone (then a refusal is not
    /// about content, and is retried like any failure).
    pub fn can_be_set_aside(&self) -> bool {
        !matches!(self.record, Record::Malformed { payload: None, .. })
    }

    /// Turns a record Postgres refused into a dead letter that says why: an
    /// event keeps its fields as parsed (unknown ones dropped), a dead
    /// letter whose payload was refused keeps the reason only; both within
    /// `excerpt_bytes`.
    pub fn set_aside(&mut self, refusal: &sqlx::Error, excerpt_bytes: usize) {
        let payload = match &self.record {
            Record::Event { event, .. } => serde_json::to_vec(event).ok(),
            Record::Malformed { .. } => None,
        };
        self.record = Record::malformed(
            payload.as_deref(),
            format!("Postgres refused it: {refusal}"),
            excerpt_bytes,
        );
    }
}

impl Record {
    /// A dead letter that keeps at most `excerpt_bytes` of `payload` (and
    /// its full size) and of `error`.
    pub fn malformed(payload: Option<&[u8]>, error: String, excerpt_bytes: usize) -> Self {
        Record::Malformed {
            payload: payload.map(|p| Excerpt::of(p, excerpt_bytes)),
            error: cut_text(error, excerpt_bytes),
        }
    }
}

/// The `edm-event-id` header's value, when the message has the header.
fn event_id_header<'a>(message: &'a BorrowedMessage<'_>) -> Option<Option<&'a [u8]>> {
    message
        .headers()
        .and_then(|headers| headers.iter().find(|h| h.key == EVENT_ID_HEADER))
        .map(|header| header.value)
}
