//! Restoring the window store from its changelog topic, as Kafka Streams
//! restores a state store: dyno disks are ephemeral, so the state is read
//! back from Kafka each time the window task is assigned. The changelog is
//! read from its beginning to its end with `read_committed` (aborted
//! updates are never seen), from assigned partitions: no group membership,
//! no committed offsets.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::settings::Settings;
use crate::{Restorer, WindowStore};

/// How a restore went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Changelog records read.
    pub records: u64,
    /// Time from the first fetch to the end of the log.
    pub took: Duration,
}

/// Why the store could not be restored; the task does not start then.
#[derive(Debug, thiserror::Error)]
pub enum RestoreFailure {
    /// Kafka refused or did not answer.
    #[error("reading the changelog {topic}: {source}")]
    Kafka {
        /// The changelog topic.
        topic: String,
        /// What Kafka said.
        source: KafkaError,
    },
    /// A record could not be decoded: restoring past it would give wrong
    /// results.
    #[error("the changelog {topic} holds a record this version cannot read at offset {offset}: {problem}")]
    Undecodable {
        /// The changelog topic.
        topic: String,
        /// The record's offset.
        offset: i64,
        /// What is wrong with it.
        problem: String,
    },
    /// The end was not reached in time.
    #[error("reading the changelog {topic} took more than {0:?}", .timeout)]
    TimedOut {
        /// The changelog topic.
        topic: String,
        /// The limit.
        timeout: Duration,
    },
}

/// Logs client errors except the end of the partition, which here is the
/// expected end of the restore, not a problem.
struct EndIsExpected;

impl ClientContext for EndIsExpected {
    fn error(&self, error: KafkaError, reason: &str) {
        let end = matches!(error, KafkaError::PartitionEOF(_))
            || matches!(error, KafkaError::Global(RDKafkaErrorCode::PartitionEOF));
        if !end {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

impl ConsumerContext for EndIsExpected {}

/// Reads partition 0 of `changelog` to its end into a new store.
pub fn restore(
    settings: &Settings,
    changelog: &str,
) -> Result<(WindowStore, RestoreSummary), RestoreFailure> {
    let kafka = |source| RestoreFailure::Kafka {
        topic: changelog.to_owned(),
        source,
    };
    let consumer: BaseConsumer<EndIsExpected> = settings
        .kafka
        .client_config("edm-trending-restore")
        // librdkafka wants a group even for assigned partitions. This one
        // never joins (no subscription) nor commits; it is the application
        // id because a basic Heroku plan allows only the groups made ahead.
        .set("group.id", settings.names().group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "52428800")
        // An empty or short changelog ends at once rather than after a
        // broker-side wait.
        .set("fetch.wait.max.ms", "10")
        .create_with_context(EndIsExpected)
        .map_err(kafka)?;
    let started = Instant::now();
    let timeout = settings.kafka_timeout.max(Duration::from_secs(120));
    // With the partition's leader known before the assignment, librdkafka
    // looks up the start offset at once instead of retrying 500 ms later.
    consumer
        .fetch_metadata(Some(changelog), settings.kafka_timeout)
        .map_err(kafka)?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(changelog, 0, Offset::Beginning)
        .map_err(kafka)?;
    consumer.assign(&assignment).map_err(kafka)?;

    let mut restorer = Restorer::new(settings.store);
    loop {
        if started.elapsed() > timeout {
            return Err(RestoreFailure::TimedOut {
                topic: changelog.to_owned(),
                timeout,
            });
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(kafka(e)),
            Some(Ok(message)) => {
                restorer
                    .apply(message.key().unwrap_or_default(), message.payload())
                    .map_err(|e| RestoreFailure::Undecodable {
                        topic: changelog.to_owned(),
                        offset: message.offset(),
                        problem: e.to_string(),
                    })?;
            }
        }
    }
    let summary = RestoreSummary {
        records: restorer.applied(),
        took: started.elapsed(),
    };
    Ok((restorer.finish(), summary))
}
