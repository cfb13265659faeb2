//! One batch, one transaction: check that this instance still owns each
//! partition's offset (fencing), add the aggregates (retries, marked by
//! [`super::dedup`], are skipped), keep dead letters, and store the next
//! offsets. Its statements follow the partitions, products and minutes a
//! batch touches, not its events.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::PgPool;

use super::record::{Consumed, Record};
use crate::tally::{Tables, Tally};

/// (wire topic, partition).
pub type PartitionKey = (String, i32);

/// How a batch is written.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Wire name of the consumer group; offsets are stored per group.
    pub group: String,
    /// Dead letters kept.
    pub dead_letter_max: i64,
    /// Longest a database call may take before it counts as failed.
    pub timeout: std::time::Duration,
}

/// `work`, given up after `limit`: a database that stopped answering (cut
/// off the network) counts as failing, so the consumer reports itself
/// degraded and retries instead of waiting for good. A batch whose commit
/// went unanswered is safe to retry: the fencing check then finds the
/// offsets already moved and the batch is read again, not counted twice.
pub async fn within<T, E: From<sqlx::Error>>(
    limit: std::time::Duration,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("Postgres did not answer within {limit:?}"),
        ))
        .into())
    })
}

/// Why a batch was not written (nothing of it was).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stored offset moved: another instance owns the partition now.
    #[error("offset of {topic}/{partition} was advanced by another instance")]
    Conflict {
        /// Wire topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// Postgres refused what the batch holds (a data exception, a broken
    /// constraint, a value over one of its limits): writing the same
    /// records again can never succeed.
    #[error(transparent)]
    Refused(sqlx::Error),
    /// Postgres failed or could not be reached; the same batch may succeed
    /// later.
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if refuses_content(&e) {
            Self::Refused(e)
        } else {
            Self::Database(e)
        }
    }
}

/// Whether Postgres refused the data itself: SQLSTATE classes 22 (data
/// exception), 23 (integrity constraint violation) and 54 (program limit
/// exceeded). Everything else (connections, deadlocks, serialization
/// failures, timeouts, a missing table) may pass when retried.
fn refuses_content(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    db.code()
        .is_some_and(|code| matches!(code.get(..2), Some("22" | "23" | "54")))
}

/// Events of one wire topic in a committed batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicCounts {
    /// Added to the aggregates.
    pub counted: u64,
    /// Skipped: their id was counted already.
    pub duplicates: u64,
    /// Stored as dead letters.
    pub dead_letters: u64,
}

/// What a committed batch did.
#[derive(Debug, Default, Clone)]
pub struct Written {
    /// Events added to the aggregates.
    pub counted: u64,
    /// Events skipped because their id was already counted.
    pub duplicates: u64,
    /// Malformed events stored as dead letters.
    pub dead_letters: u64,
    /// The offsets now stored.
    pub next_offsets: Vec<(PartitionKey, i64)>,
    /// The same counts per wire topic, for the metrics.
    pub per_topic: HashMap<String, TopicCounts>,
}

/// The stored next offsets of `keys` (absent when none is stored).
pub async fn load_offsets(
    pool: &PgPool,
    group: &str,
    keys: &[PartitionKey],
) -> Result<HashMap<PartitionKey, i64>, sqlx::Error> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1",
    )
    .bind(group)
    .fetch_all(pool)
    .await?;
    let wanted: HashSet<&PartitionKey> = keys.iter().collect();
    Ok(rows
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .filter(|(k, _)| wanted.contains(k))
        .collect())
}

/// Moves the stored next offset of `key` from `from` to `to`; `false` when
/// it was not `from` any more (another instance moved it).
pub async fn move_offset(
    pool: &PgPool,
    group: &str,
    key: &PartitionKey,
    from: i64,
    to: i64,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE consumer_offsets SET next_offset = $4, updated_at = now()
         WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND next_offset = $5",
    )
    .bind(group)
    .bind(&key.0)
    .bind(key.1)
    .bind(to)
    .bind(from)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// Writes `batch` in one transaction. `positions` holds, per partition, the
/// stored offset this instance expects (`None`: nothing stored yet); every
/// record's partition must be in it.
pub async fn write_batch(
    pool: &PgPool,
    settings: &StoreSettings,
    batch: &[Consumed],
    positions: &HashMap<PartitionKey, Option<i64>>,
) -> Result<Written, StoreError> {
    let mut next_offsets: BTreeMap<PartitionKey, i64> = BTreeMap::new();
    for r in batch {
        let next = next_offsets
            .entry((r.topic.clone(), r.partition))
            .or_default();
        *next = (*next).max(r.offset + 1);
    }

    let mut tx = pool.begin().await?;

    // Fencing: the stored offset must still be the one we started from.
    // It comes first: `edm-stats replay` holds batches back by locking
    // consumer_offsets, which works because a batch writes it before the
    // aggregates.
    for ((topic, partition), next) in &next_offsets {
        let expected = positions
            .get(&(topic.clone(), *partition))
            .copied()
            .flatten();
        let rows = match expected {
            Some(expected) => sqlx::query(
                "UPDATE consumer_offsets SET next_offset = $4, updated_at = now()
                 WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND next_offset = $5",
            )
            .bind(&settings.group)
            .bind(topic)
            .bind(partition)
            .bind(next)
            .bind(expected),
            None => sqlx::query(
                "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&settings.group)
            .bind(topic)
            .bind(partition)
            .bind(next),
        }
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if rows != 1 {
            return Err(StoreError::Conflict {
                topic: topic.clone(),
                partition: *partition,
            });
        }
    }

    let mut written = Written::default();
    // The tally's rows are this batch's partitions' own (the table's key
    // holds the partition), so no other instance writes them meanwhile.
    let mut tally = Tally::default();
    let mut dead = DeadLetterRows::default();
    for r in batch {
        match &r.record {
            Record::Event { .. } if r.duplicate => {
                written.duplicates += 1;
                topic_counts(&mut written.per_topic, &r.topic).duplicates += 1;
            }
            Record::Event { event, .. } => {
                tally.add(event, r.partition);
                written.counted += 1;
                topic_counts(&mut written.per_topic, &r.topic).counted += 1;
            }
            Record::Malformed { payload, error } => {
                // Already an excerpt (see `Record::malformed`).
                dead.topic.push(r.topic.clone());
                dead.partition.push(r.partition);
                dead.offset.push(r.offset);
                dead.payload
                    .push(payload.as_ref().map(|p| p.bytes.as_slice()));
                dead.payload_bytes
                    .push(payload.as_ref().map(|p| p.full_bytes as i64));
                dead.error.push(error.as_str());
                written.dead_letters += 1;
                topic_counts(&mut written.per_topic, &r.topic).dead_letters += 1;
            }
        }
    }

    tally.write(&mut tx, Tables::LIVE).await?;
    if !dead.topic.is_empty() {
        sqlx::query(
            "INSERT INTO dead_letters (topic, partition, \"offset\", payload, payload_bytes, error)
             SELECT * FROM UNNEST($1::text[], $2::int[], $3::bigint[], $4::bytea[], $5::bigint[],
                                  $6::text[])",
        )
        .bind(&dead.topic)
        .bind(&dead.partition)
        .bind(&dead.offset)
        .bind(&dead.payload)
        .bind(&dead.payload_bytes)
        .bind(&dead.error)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - $1")
            .bind(settings.dead_letter_max)
            .execute(&mut *tx)
            .await?;
    }

    tx.commit().await?;
    written.next_offsets = next_offsets.into_iter().collect();
    Ok(written)
}

/// A batch's dead letters, a column each, for one `INSERT … UNNEST`.
#[derive(Default)]
struct DeadLetterRows<'a> {
    topic: Vec<String>,
    partition: Vec<i32>,
    offset: Vec<i64>,
    /// The payload's excerpt.
    payload: Vec<Option<&'a [u8]>>,
    /// The whole payload's size.
    payload_bytes: Vec<Option<i64>>,
    error: Vec<&'a str>,
}

/// The counts of `topic` in `per_topic`, created on first use.
fn topic_counts<'a>(
    per_topic: &'a mut HashMap<String, TopicCounts>,
    topic: &str,
) -> &'a mut TopicCounts {
    if !per_topic.contains_key(topic) {
        per_topic.insert(topic.to_owned(), TopicCounts::default());
    }
    per_topic.get_mut(topic).expect("inserted above")
}
