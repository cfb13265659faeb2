//! `edm-stats replay`: rebuilds the aggregates (`click_counts`,
//! `pageload_counts`) from what Kafka still retains and swaps them in, in
//! one transaction, while the live consumer keeps running.
//!
//! How it stays exact:
//! 1. It reads the live group's stored offsets S (`consumer_offsets`; a
//!    partition without a row has nothing counted yet) and reads every
//!    partition from its earliest retained offset up to S with a throwaway
//!    consumer, counting in memory the way the live consumer counts
//!    ([`aggregates`]). While the live consumer moves on, it catches up a few
//!    rounds without holding anything.
//! 2. In one transaction it stages those counts in temporary tables, then
//!    takes `LOCK TABLE consumer_offsets IN SHARE ROW EXCLUSIVE MODE`. Every
//!    live batch writes `consumer_offsets` (its fencing update) before it
//!    touches the aggregates, so the lock waits for a batch in flight to
//!    commit and holds the next one at its first statement; a table lock
//!    also covers partitions that have no row yet, which row locks would
//!    miss. API reads are not blocked.
//! 3. Under the lock it reads the now-current offsets C, reads and counts
//!    `[S, C)`, replaces the live tables' rows with the staged ones and
//!    commits. Readers see the old numbers until the commit and the new ones
//!    after it; the live consumer continues from C onto the new tables, so
//!    no event is lost or counted twice across the swap.
//!
//! Kafka keeps events only for the topics' retention period (24 hours by
//! default on Heroku): a replay refuses to drop counted events that Kafka no
//! longer has unless told to (`--allow-history-loss`).
//!
//! - [`aggregates`]: counting in memory and staging the counts.
//! - [`reader`]: reading exact offset ranges from Kafka.

pub mod aggregates;
pub mod reader;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edm_config::Topic;
use rdkafka::error::KafkaError;
use sqlx::{Postgres, Transaction};

use crate::consumer::store::{self, PartitionKey};
use crate::db;
use crate::settings::Settings;
use crate::tally::Tables;
use aggregates::Aggregates;
use reader::{PartitionInfo, Range, Reader};

/// Catch-up rounds before the final, locked one.
const MAX_CATCH_UP_ROUNDS: u32 = 5;
/// Catching up stops once the live consumer is at most this many messages
/// ahead: the rest is read while the live consumer waits.
const CATCH_UP_THRESHOLD: i64 = 1_000;
/// Longest the replay waits for the lock on `consumer_offsets`.
const LOCK_TIMEOUT: &str = "60s";

/// The temporary tables a replay rebuilds the aggregates in.
const STAGING: Tables = Tables {
    clicks: "replay_click_counts",
    loads: "replay_pageload_counts",
};

/// How to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Rebuild and compare, then roll back: nothing changes.
    pub dry_run: bool,
    /// Rebuild even when Kafka no longer retains events that the live
    /// aggregates count (they drop out of the totals).
    pub allow_history_loss: bool,
}

/// Why a replay did not complete. Nothing has changed when it fails.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A Kafka call failed.
    #[error("Kafka failed while {doing}: {source}")]
    Kafka {
        /// What the replay was doing.
        doing: String,
        /// The client's error.
        source: KafkaError,
    },
    /// Postgres could not be reached or configured.
    #[error("cannot use the database: {0:#}")]
    DatabaseSetup(anyhow::Error),
    /// A query failed.
    #[error("Postgres failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A configured topic does not exist.
    #[error("topic {topic} does not exist (create it with `./edm topics` or `heroku kafka:topics:create`)")]
    MissingTopic {
        /// Wire name of the topic.
        topic: String,
    },
    /// Kafka's retention removed events the live aggregates count.
    #[error(
        "Kafka no longer holds {messages} messages that the live aggregates count ({partitions}); \
         a replay would drop them from the totals. Rerun with --allow-history-loss to rebuild from what Kafka retains"
    )]
    HistoryLost {
        /// Messages counted by the live consumer that Kafka removed.
        messages: i64,
        /// Which partitions, with the offsets removed.
        partitions: String,
    },
    /// A stored offset lies past the end of its partition.
    #[error(
        "the stored offset of {topic}/{partition} ({stored}) is past the end of the partition ({end}); \
         was the topic deleted and created again?"
    )]
    OffsetPastEnd {
        /// Wire topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The offset stored in `consumer_offsets`.
        stored: i64,
        /// The partition's high watermark.
        end: i64,
    },
    /// A stored offset went backwards while the replay ran.
    #[error(
        "the stored offset of {topic}/{partition} went back from {was} to {now} while the replay ran; \
         run the replay again"
    )]
    OffsetWentBack {
        /// Wire topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Where the replay had read to.
        was: i64,
        /// What is stored now.
        now: i64,
    },
    /// Reading stopped making progress.
    #[error("no progress for {seconds} s reading {partitions}; is the broker reachable?")]
    Stalled {
        /// The partitions not read to their end.
        partitions: String,
        /// How long the reader waited.
        seconds: u64,
    },
    /// The blocking thread that reads Kafka ended abnormally.
    #[error("the Kafka reader thread ended unexpectedly")]
    ReaderStopped,
}

/// Total clicks and page loads in the aggregate tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Sum of `click_counts.clicks`.
    pub clicks: i64,
    /// Sum of `pageload_counts.loads`.
    pub pageloads: i64,
}

/// What a replay did.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Messages read from Kafka.
    pub events: u64,
    /// Events counted into the aggregates.
    pub counted: u64,
    /// Events skipped because their id was counted before.
    pub duplicates: u64,
    /// Messages that are not valid events (not counted).
    pub malformed: u64,
    /// Partitions read.
    pub partitions: usize,
    /// Catch-up rounds read while the live consumer moved on.
    pub catch_up_rounds: u32,
    /// The live tables just before the swap.
    pub before: Totals,
    /// The rebuilt tables.
    pub after: Totals,
    /// Counted messages that Kafka no longer held (with
    /// `--allow-history-loss`).
    pub history_lost: i64,
    /// How long the live consumer's writes waited for the replay.
    pub held: Duration,
    /// How long the whole replay took.
    pub elapsed: Duration,
    /// Whether it was a dry run (nothing changed).
    pub dry_run: bool,
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64();
        write!(
            f,
            "replayed {} events from {} partitions in {:.2} s ({:.0} events/s): \
             {} counted, {} duplicates, {} malformed; \
             clicks {} -> {}, page loads {} -> {}; live writes held {:.2} s",
            self.events,
            self.partitions,
            seconds,
            self.events as f64 / seconds.max(0.001),
            self.counted,
            self.duplicates,
            self.malformed,
            self.before.clicks,
            self.after.clicks,
            self.before.pageloads,
            self.after.pageloads,
            self.held.as_secs_f64(),
        )?;
        if self.history_lost > 0 {
            write!(
                f,
                "; {} counted messages no longer in Kafka were dropped",
                self.history_lost
            )?;
        }
        if self.dry_run {
            write!(f, "; dry run, nothing changed")?;
        }
        Ok(())
    }
}

/// Rebuilds the aggregates of `settings`' topics for its consumer group and
/// swaps them in (unless `options.dry_run`).
pub async fn run(
    settings: &Settings,
    options: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let started = Instant::now();
    let pool = db::connect(&settings.database)
        .await
        .map_err(ReplayError::DatabaseSetup)?;
    db::migrate(&pool)
        .await
        .map_err(ReplayError::DatabaseSetup)?;
    let group = settings.consumer.group_name();
    let reader = Arc::new(Reader::new(settings).map_err(|source| ReplayError::Kafka {
        doing: "creating the replay consumer".into(),
        source,
    })?);
    let keys = on_reader(&reader, |r| r.partition_keys()).await?;
    tracing::info!(
        %group,
        partitions = keys.len(),
        dry_run = options.dry_run,
        "replay: reading from the earliest retained offsets"
    );

    // 1. Up to what the live consumer has counted, then catch up. The
    // watermarks are read after the stored offsets: the live consumer only
    // stores offsets Kafka already holds, so a stored offset past the end
    // means the topic was created again, never that the consumer moved on.
    let stored = store::load_offsets(&pool, &group, &keys).await?;
    let partitions: Vec<PartitionInfo> = {
        let keys = keys.clone();
        on_reader(&reader, move |r| {
            keys.iter().map(|key| r.partition(key)).collect()
        })
        .await?
    };
    let history_lost = check_retention(&partitions, &stored, options)?;
    let mut position: HashMap<PartitionKey, i64> =
        partitions.iter().map(|p| (p.key.clone(), p.low)).collect();
    let mut aggregates = Aggregates::new(settings.dedup_window_events);
    let mut target = targets(&partitions, &stored);
    aggregates = read_ranges(&reader, aggregates, ranges(&position, &target)?).await?;
    position = target;
    let mut catch_up_rounds = 0;
    while catch_up_rounds < MAX_CATCH_UP_ROUNDS {
        let stored = store::load_offsets(&pool, &group, &keys).await?;
        target = targets(&partitions, &stored);
        let to_read = ranges(&position, &target)?;
        if to_read.iter().map(|r| r.to - r.from).sum::<i64>() <= CATCH_UP_THRESHOLD {
            break;
        }
        aggregates = read_ranges(&reader, aggregates, to_read).await?;
        position = target;
        catch_up_rounds += 1;
    }
    tracing::info!(
        read = aggregates.read,
        catch_up_rounds,
        "replay: caught up with the live consumer; finishing under the lock"
    );

    // 2. Stage, lock, finish, swap: one transaction.
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .execute(&mut *tx)
        .await?;
    for (staging, live) in [
        (STAGING.clicks, Tables::LIVE.clicks),
        (STAGING.loads, Tables::LIVE.loads),
    ] {
        sqlx::query(&format!(
            "CREATE TEMP TABLE {staging} (LIKE {live} INCLUDING ALL) ON COMMIT DROP"
        ))
        .execute(&mut *tx)
        .await?;
    }
    aggregates.flush_into(&mut tx, STAGING).await?;
    sqlx::query("LOCK TABLE consumer_offsets IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let held_since = Instant::now();
    let current = stored_offsets(&mut tx, &group).await?;
    let last = ranges(&position, &targets(&partitions, &current))?;
    aggregates = read_ranges(&reader, aggregates, last).await?;
    aggregates.flush_into(&mut tx, STAGING).await?;

    let before = totals(&mut tx, Tables::LIVE).await?;
    let rebuilt = totals(&mut tx, STAGING).await?;
    let replaces = |topic| settings.consumer.topics.contains(&topic);
    let after = Totals {
        clicks: if replaces(Topic::Click) {
            rebuilt.clicks
        } else {
            before.clicks
        },
        pageloads: if replaces(Topic::PageLoad) {
            rebuilt.pageloads
        } else {
            before.pageloads
        },
    };
    if options.dry_run {
        tx.rollback().await?;
    } else {
        if replaces(Topic::Click) {
            swap(
                &mut tx,
                Tables::LIVE.clicks,
                STAGING.clicks,
                "button_id, bucket, source_partition, clicks",
            )
            .await?;
        }
        if replaces(Topic::PageLoad) {
            swap(
                &mut tx,
                Tables::LIVE.loads,
                STAGING.loads,
                "bucket, device_type, source_partition, loads",
            )
            .await?;
        }
        tx.commit().await?;
    }
    let report = ReplayReport {
        events: aggregates.read,
        counted: aggregates.counted,
        duplicates: aggregates.duplicates,
        malformed: aggregates.malformed,
        partitions: partitions.len(),
        catch_up_rounds,
        before,
        after,
        history_lost,
        held: held_since.elapsed(),
        elapsed: started.elapsed(),
        dry_run: options.dry_run,
    };
    tracing::info!(
        events = report.events,
        counted = report.counted,
        duplicates = report.duplicates,
        malformed = report.malformed,
        seconds = report.elapsed.as_secs_f64(),
        held_seconds = report.held.as_secs_f64(),
        dry_run = report.dry_run,
        "replay finished"
    );
    Ok(report)
}

/// Checks the stored offsets against what Kafka holds; returns how many
/// counted messages Kafka no longer has (an error unless allowed).
fn check_retention(
    partitions: &[PartitionInfo],
    stored: &HashMap<PartitionKey, i64>,
    options: &ReplayOptions,
) -> Result<i64, ReplayError> {
    let mut lost = Vec::new();
    let mut messages = 0;
    for p in partitions {
        let Some(&next) = stored.get(&p.key) else {
            continue;
        };
        if next > p.high {
            return Err(ReplayError::OffsetPastEnd {
                topic: p.key.0.clone(),
                partition: p.key.1,
                stored: next,
                end: p.high,
            });
        }
        let gone = p.low.min(next);
        if gone > 0 {
            messages += gone;
            lost.push(format!("{}/{} offsets 0..{gone}", p.key.0, p.key.1));
        }
    }
    if messages > 0 {
        if !options.allow_history_loss {
            return Err(ReplayError::HistoryLost {
                messages,
                partitions: lost.join(", "),
            });
        }
        tracing::warn!(
            messages,
            partitions = lost.join(", "),
            "Kafka no longer holds these counted messages; they drop out of the totals"
        );
    }
    Ok(messages)
}

/// Where to read each partition up to: its stored offset, or its earliest
/// retained offset when nothing is stored or the stored one was removed.
fn targets(
    partitions: &[PartitionInfo],
    stored: &HashMap<PartitionKey, i64>,
) -> HashMap<PartitionKey, i64> {
    partitions
        .iter()
        .map(|p| {
            let next = stored.get(&p.key).copied().unwrap_or(p.low).max(p.low);
            (p.key.clone(), next)
        })
        .collect()
}

/// The ranges between what was read and the targets.
fn ranges(
    position: &HashMap<PartitionKey, i64>,
    target: &HashMap<PartitionKey, i64>,
) -> Result<Vec<Range>, ReplayError> {
    let mut out = Vec::new();
    for (key, &to) in target {
        let from = position.get(key).copied().unwrap_or(to);
        if to < from {
            return Err(ReplayError::OffsetWentBack {
                topic: key.0.clone(),
                partition: key.1,
                was: from,
                now: to,
            });
        }
        out.push(Range {
            key: key.clone(),
            from,
            to,
        });
    }
    Ok(out)
}

/// Runs a blocking reader call on a blocking thread.
async fn on_reader<T: Send + 'static>(
    reader: &Arc<Reader>,
    call: impl FnOnce(&Reader) -> Result<T, ReplayError> + Send + 'static,
) -> Result<T, ReplayError> {
    let reader = reader.clone();
    tokio::task::spawn_blocking(move || call(&reader))
        .await
        .map_err(|_| ReplayError::ReaderStopped)?
}

/// Reads `ranges` into `aggregates` on a blocking thread.
async fn read_ranges(
    reader: &Arc<Reader>,
    mut aggregates: Aggregates,
    ranges: Vec<Range>,
) -> Result<Aggregates, ReplayError> {
    on_reader(reader, move |r| {
        r.read(&ranges, |consumed| aggregates.add(&consumed))?;
        Ok(aggregates)
    })
    .await
}

/// The stored offsets of `group`, inside the transaction.
async fn stored_offsets(
    tx: &mut Transaction<'_, Postgres>,
    group: &str,
) -> Result<HashMap<PartitionKey, i64>, sqlx::Error> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1",
    )
    .bind(group)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
}

/// Sums of the click and page-load tables named.
async fn totals(tx: &mut Transaction<'_, Postgres>, tables: Tables) -> Result<Totals, sqlx::Error> {
    let (click_table, load_table) = (tables.clicks, tables.loads);
    let (clicks, pageloads): (i64, i64) = sqlx::query_as(&format!(
        "SELECT (SELECT COALESCE(sum(clicks), 0)::bigint FROM {click_table}),
                (SELECT COALESCE(sum(loads), 0)::bigint FROM {load_table})"
    ))
    .fetch_one(&mut **tx)
    .await?;
    Ok(Totals { clicks, pageloads })
}

/// Replaces every row of `live` with the rows of `staging`. Row by row
/// rather than TRUNCATE, so API reads keep seeing the old rows until the
/// commit instead of waiting for it.
async fn swap(
    tx: &mut Transaction<'_, Postgres>,
    live: &str,
    staging: &str,
    columns: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("DELETE FROM {live}"))
        .execute(&mut **tx)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO {live} ({columns}) SELECT {columns} FROM {staging}"
    ))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
