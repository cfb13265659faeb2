//! What an input record is to edm-trending: a valid event of its topic with
//! the id its retries share, or the reason it is skipped; and reading back
//! the ids of an input partition's dedup window from Kafka, so that a
//! partition taken over decides retries exactly as its previous owner
//! would have ([`edm_events::recent_ids`], edm-stats' rule).
//!
//! An event's id is its `edm-event-id` header's, else its body's
//! `event_id`, as edm-stats takes it; a record whose header is present but
//! unusable is skipped, as edm-stats sets it aside.

use std::time::{Duration, Instant};

use edm_events::event::{retry_id, Properties};
use edm_events::recent_ids::RecentIds;
use edm_events::{Event, EVENT_ID_HEADER};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::progress::InputTopic;
use crate::settings::Settings;

/// A valid event of its input topic.
pub struct InputEvent<'a> {
    /// The event.
    pub event: Event,
    /// Its `edm-event-id` header's value, when it has the header (checked).
    header_id: Option<&'a str>,
}

impl InputEvent<'_> {
    /// The id its retries share, if it has one: the header's, else the
    /// body's ([`retry_id`]).
    pub fn id(&self) -> Option<&str> {
        self.header_id.or(self.event.event_id.as_deref())
    }
}

/// Reads `message` of input `topic`: a valid event of that topic with its
/// id, or why it is skipped.
pub fn input_event<'a>(
    message: &'a BorrowedMessage<'_>,
    topic: InputTopic,
) -> Result<InputEvent<'a>, String> {
    let event = match message.payload().map(Event::parse) {
        Some(Ok(event)) => event,
        Some(Err(e)) => return Err(format!("not a valid event: {e}")),
        None => return Err("it has no value".to_owned()),
    };
    match (topic, &event.properties) {
        (InputTopic::Clicks, Properties::Click(_))
        | (InputTopic::PageLoads, Properties::PageLoad(_)) => {}
        _ => return Err(format!("an {} event on another topic", event.topic)),
    }
    let header = message
        .headers()
        .and_then(|headers| headers.iter().find(|h| h.key == EVENT_ID_HEADER))
        .map(|header| header.value);
    // Checked here; the body's id, when the header is absent, is read by
    // `id()` without a copy.
    let header_id = retry_id(header, None)?;
    Ok(InputEvent { event, header_id })
}

/// Reads input partitions' recent offsets back, on a consumer of its own
/// (assigned partitions, no group membership, no commits).
pub struct WindowReader {
    consumer: BaseConsumer,
    timeout: Duration,
}

impl WindowReader {
    /// The reader; `settings.kafka_timeout` bounds how long a read-back
    /// may go without a record.
    pub fn new(settings: &Settings) -> KafkaResult<Self> {
        let consumer = settings
            .kafka
            .client_config("edm-trending-dedup-window")
            // librdkafka wants a group even for assigned partitions; this
            // one never joins nor commits (see the changelog reader).
            .set("group.id", settings.names().group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            // A window that begins before the log's start is read from it.
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "10")
            .create()?;
        Ok(Self {
            consumer,
            timeout: settings.kafka_timeout,
        })
    }

    /// Gives `recent` the ids of offsets `[from, to)` of `wire_topic`'s
    /// `partition` (input `topic`), in order; returns how many records
    /// were read.
    pub fn read(
        &self,
        wire_topic: &str,
        partition: i32,
        topic: InputTopic,
        (from, to): (i64, i64),
        recent: &mut RecentIds,
    ) -> KafkaResult<u64> {
        if from >= to {
            return Ok(0);
        }
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(wire_topic, partition, Offset::Offset(from))?;
        self.consumer.assign(&assignment)?;
        let read = self.read_assigned(topic, to, recent);
        self.consumer.unassign()?;
        read
    }

    fn read_assigned(
        &self,
        topic: InputTopic,
        to: i64,
        recent: &mut RecentIds,
    ) -> KafkaResult<u64> {
        let mut read = 0;
        let mut last_progress = Instant::now();
        let mut last_error = None;
        loop {
            if last_progress.elapsed() > self.timeout {
                return Err(last_error.unwrap_or(KafkaError::MessageConsumption(
                    RDKafkaErrorCode::OperationTimedOut,
                )));
            }
            match self.consumer.poll(Duration::from_millis(500)) {
                None => continue,
                Some(Err(KafkaError::PartitionEOF(_))) => return Ok(read),
                // librdkafka recovers from what it reports here (a broker
                // down, a connection lost), and the reports wait in the
                // queue until the next read-back polls: one from an
                // outage long over must not fail it. No progress for the
                // Kafka timeout does.
                Some(Err(e)) => last_error = Some(e),
                Some(Ok(message)) => {
                    last_progress = Instant::now();
                    if message.offset() >= to {
                        return Ok(read);
                    }
                    read += 1;
                    if let Ok(input) = input_event(&message, topic) {
                        recent.is_duplicate(message.offset(), input.id());
                    }
                    if message.offset() + 1 >= to {
                        return Ok(read);
                    }
                }
            }
        }
    }
}
