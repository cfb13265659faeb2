//! Reads exact offset ranges of the stats topics, for a replay and for the
//! live consumer reading back a partition's recent ids when it is assigned
//! (see `consumer::dedup`), with a throwaway consumer that assigns partitions itself: it never joins the
//! live consumer group and never commits, so the live consumer does not
//! notice it. Its calls block; run them on a blocking thread.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use edm_config::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::ReplayError;
use crate::consumer::record::{self, Consumed};
use crate::consumer::store::PartitionKey;
use crate::settings::Settings;

/// How long Kafka metadata and watermark look-ups may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a read may go without any progress before it gives up.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often progress is logged during a long read.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// One partition of a stats topic, and what Kafka holds of it now.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    /// (wire topic, partition).
    pub key: PartitionKey,
    /// Earliest offset Kafka still retains.
    pub low: i64,
    /// Offset the next message will get.
    pub high: i64,
}

/// Offsets `[from, to)` of one partition.
#[derive(Debug, Clone)]
pub struct Range {
    /// (wire topic, partition).
    pub key: PartitionKey,
    /// First offset to read.
    pub from: i64,
    /// First offset not to read.
    pub to: i64,
}

/// The replay's consumer.
pub struct Reader {
    consumer: BaseConsumer,
    kafka: KafkaSettings,
    topics: Vec<String>,
}

impl Reader {
    /// A consumer for the configured topics. It carries the live group's id
    /// (on Heroku's basic plans only created groups are allowed) but only
    /// assigns partitions and never commits, so it never joins that group.
    pub fn new(settings: &Settings) -> KafkaResult<Self> {
        let consumer: BaseConsumer = settings
            .consumer
            .consumer_config("edm-stats-replay")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "50")
            .create()?;
        Ok(Self {
            consumer,
            kafka: settings.consumer.kafka.clone(),
            topics: settings.consumer.topic_names(),
        })
    }

    /// Every partition of the configured topics, in order.
    pub fn partition_keys(&self) -> Result<Vec<PartitionKey>, ReplayError> {
        let mut out = Vec::new();
        for topic in &self.topics {
            let metadata = self
                .consumer
                .fetch_metadata(Some(topic), LOOKUP_TIMEOUT)
                .map_err(|source| ReplayError::Kafka {
                    doing: format!("looking up topic {topic}"),
                    source,
                })?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if partitions.is_empty() {
                return Err(ReplayError::MissingTopic {
                    topic: topic.clone(),
                });
            }
            out.extend(partitions.into_iter().map(|p| (topic.clone(), p)));
        }
        out.sort();
        Ok(out)
    }

    /// What Kafka holds of one partition now.
    pub fn partition(&self, key: &PartitionKey) -> Result<PartitionInfo, ReplayError> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(&key.0, key.1, LOOKUP_TIMEOUT)
            .map_err(|source| ReplayError::Kafka {
                doing: format!("reading the offsets of {}/{}", key.0, key.1),
                source,
            })?;
        Ok(PartitionInfo {
            key: key.clone(),
            low,
            high,
        })
    }

    /// Reads every range and hands each message to `take`, each
    /// partition's in offset order; returns once every range is read, or
    /// fails when a partition makes no progress for a while.
    pub fn read(
        &self,
        ranges: &[Range],
        mut take: impl FnMut(Consumed),
    ) -> Result<(), ReplayError> {
        let mut remaining: HashMap<PartitionKey, (i64, i64)> = ranges
            .iter()
            .filter(|r| r.from < r.to)
            .map(|r| (r.key.clone(), (r.from, r.to)))
            .collect();
        if remaining.is_empty() {
            return Ok(());
        }
        let kafka_error = |doing: &str| {
            let doing = doing.to_owned();
            move |source| ReplayError::Kafka { doing, source }
        };
        let mut assignment = TopicPartitionList::new();
        for (key, (from, _)) in &remaining {
            assignment
                .add_partition_offset(&key.0, key.1, Offset::Offset(*from))
                .map_err(kafka_error("assigning partitions"))?;
        }
        self.consumer
            .assign(&assignment)
            .map_err(kafka_error("assigning partitions"))?;
        // A partition paused by an earlier read stays paused across assign.
        self.consumer
            .resume(&assignment)
            .map_err(kafka_error("resuming partitions"))?;

        let mut read: u64 = 0;
        let mut last_progress = Instant::now();
        let mut last_report = Instant::now();
        while !remaining.is_empty() {
            match self.consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    let key = (message.topic().to_owned(), message.partition());
                    let Some(&(from, to)) = remaining.get(&key) else {
                        continue; // read already, fetched ahead
                    };
                    let offset = message.offset();
                    if (from..to).contains(&offset) {
                        // Dead letters are only counted here: none of a
                        // payload is kept (excerpt of 0 bytes).
                        take(record::parse(&message, &self.kafka, 0));
                        read += 1;
                        last_progress = Instant::now();
                    }
                    if offset + 1 >= to {
                        self.finish(&mut remaining, &key);
                    }
                }
                Some(Err(source)) => {
                    tracing::warn!("replay consumer: {source}");
                }
                None => self.finish_those_past_their_end(&mut remaining),
            }
            if last_report.elapsed() >= PROGRESS_INTERVAL {
                tracing::info!(read, partitions_left = remaining.len(), "reading back");
                last_report = Instant::now();
            }
            if last_progress.elapsed() >= STALL_TIMEOUT {
                let mut stuck: Vec<String> = remaining
                    .iter()
                    .map(|(k, (_, to))| format!("{}/{} (up to offset {to})", k.0, k.1))
                    .collect();
                stuck.sort();
                return Err(ReplayError::Stalled {
                    partitions: stuck.join(", "),
                    seconds: STALL_TIMEOUT.as_secs(),
                });
            }
        }
        let _ = self.consumer.unassign();
        Ok(())
    }

    /// Marks a partition read and stops fetching it.
    fn finish(&self, remaining: &mut HashMap<PartitionKey, (i64, i64)>, key: &PartitionKey) {
        remaining.remove(key);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&key.0, key.1);
        let _ = self.consumer.pause(&tpl);
    }

    /// When nothing arrives: a partition whose read position already passed
    /// its end (the last offsets held no message, e.g. a transaction marker)
    /// is done too.
    fn finish_those_past_their_end(&self, remaining: &mut HashMap<PartitionKey, (i64, i64)>) {
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        let done: Vec<PartitionKey> = positions
            .elements()
            .iter()
            .filter_map(|e| {
                let key = (e.topic().to_owned(), e.partition());
                let (_, to) = remaining.get(&key)?;
                match e.offset() {
                    Offset::Offset(position) if position >= *to => Some(key),
                    _ => None,
                }
            })
            .collect();
        for key in done {
            self.finish(remaining, &key);
        }
    }
}
