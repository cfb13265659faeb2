//! Restoring the window store from its changelog topic, as Kafka Streams
//! restores a state store: dyno disks are ephemeral, so the state is read
//! back from Kafka each time a window task is assigned. The task's own
//! partition of the changelog (task `i`'s is partition `i`) is read from
//! its beginning to its end with `read_committed` (aborted
//! updates are never seen), from assigned partitions: no group membership,
//! no committed offsets. A record that does not decode is skipped, counted
//! and logged with its offset. The restore gives up (and is tried again)
//! only when no record has come for `EDM_TRENDING_KAFKA_TIMEOUT_SECS`: a
//! long changelog on a slow broker is read to its end, however long that
//! takes.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use prometheus_client::metrics::counter::Counter;

use crate::settings::Settings;
use crate::throttled_log::Throttled;
use crate::{Restorer, WindowStore};

/// How a restore went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Changelog records read.
    pub records: u64,
    /// Records skipped because they did not decode.
    pub skipped: u64,
    /// The changelog holds a journal (at-least-once) record or its tombstone.
    pub journal_seen: bool,
    /// Time from the first fetch to the end of the log.
    pub took: Duration,
}

/// Why the store could not be restored; the task does not start then, and
/// is tried again.
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
    /// The changelog has no partition for the task: it was created with
    /// fewer partitions than the repartition topic.
    #[error(
        "the changelog {topic} has {partitions} partitions, none for window task {task}: create \
         it with as many partitions as the repartition topic (topology.json's internal_topics)"
    )]
    MissingPartition {
        /// The changelog topic.
        topic: String,
        /// The task.
        task: i32,
        /// The changelog's partition count.
        partitions: usize,
    },
    /// No record came for the timeout before the end was reached.
    #[error("reading the changelog {topic}: no record for {timeout:?} after {read} records, before its end")]
    Stalled {
        /// The changelog topic.
        topic: String,
        /// How long it waited for a record.
        timeout: Duration,
        /// Records read before it stalled.
        read: u64,
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

/// Reads partition `partition` of `changelog` to its end into a new store;
/// each record skipped is counted in `skipped`.
pub fn restore(
    settings: &Settings,
    changelog: &str,
    partition: i32,
    skipped: &Counter,
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
    let mut last_record = started;
    // With the partition's leader known before the assignment, librdkafka
    // looks up the start offset at once instead of retrying 500 ms later.
    let metadata = consumer
        .fetch_metadata(Some(changelog), settings.kafka_timeout)
        .map_err(kafka)?;
    if let Some(topic) = metadata
        .topics()
        .iter()
        .find(|t| t.name() == changelog && t.error().is_none())
    {
        let partitions = topic.partitions().len();
        if !topic.partitions().iter().any(|p| p.id() == partition) {
            return Err(RestoreFailure::MissingPartition {
                topic: changelog.to_owned(),
                task: partition,
                partitions,
            });
        }
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(changelog, partition, Offset::Beginning)
        .map_err(kafka)?;
    consumer.assign(&assignment).map_err(kafka)?;

    let mut restorer = Restorer::new(settings.store);
    let mut logged = Throttled::default();
    loop {
        if last_record.elapsed() > settings.kafka_timeout {
            return Err(RestoreFailure::Stalled {
                topic: changelog.to_owned(),
                timeout: settings.kafka_timeout,
                read: restorer.read(),
            });
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(kafka(e)),
            Some(Ok(message)) => {
                last_record = Instant::now();
                let applied = restorer.apply(message.key().unwrap_or_default(), message.payload());
                if let Err(e) = applied {
                    skipped.inc();
                    if let Some(held_back) = logged.allow() {
                        tracing::warn!(
                            topic = changelog,
                            offset = message.offset(),
                            held_back,
                            "skipping a changelog record: {e}"
                        );
                    }
                }
            }
        }
    }
    let summary = RestoreSummary {
        records: restorer.read(),
        skipped: restorer.skipped(),
        journal_seen: restorer.journal_seen(),
        took: started.elapsed(),
    };
    Ok((restorer.finish(), summary))
}
