//! What the consumer is doing, shared with the API: state, assignment,
//! lag, and running totals.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::store::{PartitionKey, Written};

/// The consumer's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerState {
    /// Not consuming yet.
    #[default]
    Starting,
    /// Consuming and writing.
    Running,
    /// Postgres is failing; consumption is paused and retried.
    Degraded,
    /// Left the group.
    Stopped,
}

/// One owned partition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartitionStatus {
    /// Wire topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset stored in Postgres (`null`: none yet).
    pub next_offset: Option<i64>,
    /// Messages behind the end of the partition, from librdkafka's statistics.
    pub lag: Option<i64>,
}

/// Where a stored offset stood against its partition's log when it was
/// found outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OffsetResetKind {
    /// Past the log's end: the topic was deleted and created again, the
    /// service moved to another cluster, or an unclean leader election
    /// lost records. Everything the log now holds is counted.
    PastEnd,
    /// Before the log's start: retention deleted records before they were
    /// counted (the service was stopped or behind for longer than the
    /// topic keeps records). Those records are lost.
    BeforeStart,
}

impl OffsetResetKind {
    /// The kind, if `stored` is outside the log `low..=high` (`high` is
    /// the next offset to be written, where a caught-up consumer stands).
    pub fn of(stored: i64, low: i64, high: i64) -> Option<Self> {
        if stored > high {
            Some(Self::PastEnd)
        } else if stored < low {
            Some(Self::BeforeStart)
        } else {
            None
        }
    }

    /// Its name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::PastEnd => "past_end",
            Self::BeforeStart => "before_start",
        }
    }
}

/// A partition whose stored offset was outside its log, and where counting
/// went on from: the log's start.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OffsetReset {
    /// Wire topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Which way it was outside.
    pub kind: OffsetResetKind,
    /// The next offset that was stored.
    pub stored: i64,
    /// The log's first offset, where counting went on.
    pub log_start: i64,
    /// The log's end (next offset to be written) at the time.
    pub log_end: i64,
    /// Records that were never counted because the log no longer held them
    /// (`before_start`: `log_start - stored`; 0 otherwise).
    pub records_lost: i64,
    /// When it was found.
    pub at: DateTime<Utc>,
}

/// Offset resets kept for `/api/v1/consumer` (the newest).
const OFFSET_RESETS_KEPT: usize = 20;

/// A snapshot for `/api/v1/consumer`.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct StatusSnapshot {
    /// Wire name of the consumer group.
    pub group: String,
    /// What it is doing.
    pub state: ConsumerState,
    /// Partitions owned by this instance.
    pub partitions: Vec<PartitionStatus>,
    /// Sum of the partitions' lag.
    pub total_lag: i64,
    /// Events counted by this instance since it started.
    pub events_counted: u64,
    /// Retried events skipped because their id was counted already.
    pub duplicates_skipped: u64,
    /// Malformed events sent to the dead-letter table.
    pub dead_letters: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Duration of the last batch's transaction, in milliseconds.
    pub last_batch_ms: Option<f64>,
    /// When the last batch was committed.
    pub last_batch_at: Option<DateTime<Utc>>,
    /// The last error, while degraded.
    pub last_error: Option<String>,
    /// Stored offsets found outside their log since this instance started
    /// (all of them), and the newest of them (at most 20).
    pub offset_resets_total: u64,
    /// The newest offset resets, oldest first.
    pub offset_resets: Vec<OffsetReset>,
}

/// Shared, updated by the consumer thread, read by the API.
#[derive(Debug, Default)]
pub struct ConsumerStatus {
    inner: RwLock<StatusSnapshot>,
    positions: RwLock<HashMap<PartitionKey, Option<i64>>>,
    lags: RwLock<HashMap<PartitionKey, i64>>,
}

impl ConsumerStatus {
    /// A copy of the current status.
    pub fn snapshot(&self) -> StatusSnapshot {
        let mut snap = self.inner.read().unwrap().clone();
        let lags = self.lags.read().unwrap();
        let mut partitions: Vec<PartitionStatus> = self
            .positions
            .read()
            .unwrap()
            .iter()
            .map(|(key, next)| PartitionStatus {
                topic: key.0.clone(),
                partition: key.1,
                next_offset: *next,
                lag: lags.get(key).copied(),
            })
            .collect();
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        snap.total_lag = partitions.iter().filter_map(|p| p.lag).sum();
        snap.partitions = partitions;
        snap
    }

    /// Batches committed so far (the response cache's generation).
    pub fn batches(&self) -> u64 {
        self.inner.read().unwrap().batches
    }

    pub(crate) fn set_group(&self, group: &str) {
        self.inner.write().unwrap().group = group.to_owned();
    }

    pub(crate) fn set_running(&self) {
        let mut s = self.inner.write().unwrap();
        s.state = ConsumerState::Running;
        s.last_error = None;
    }

    pub(crate) fn set_degraded(&self, error: String) {
        let mut s = self.inner.write().unwrap();
        s.state = ConsumerState::Degraded;
        s.last_error = Some(error);
    }

    pub(crate) fn set_stopped(&self) {
        self.inner.write().unwrap().state = ConsumerState::Stopped;
    }

    pub(crate) fn set_assignment(&self, positions: &HashMap<PartitionKey, Option<i64>>) {
        *self.positions.write().unwrap() = positions.clone();
    }

    pub(crate) fn record_offset_reset(&self, reset: OffsetReset) {
        let mut s = self.inner.write().unwrap();
        s.offset_resets_total += 1;
        s.offset_resets.push(reset);
        let excess = s.offset_resets.len().saturating_sub(OFFSET_RESETS_KEPT);
        s.offset_resets.drain(..excess);
    }

    pub(crate) fn set_lags(&self, lags: HashMap<PartitionKey, i64>) {
        *self.lags.write().unwrap() = lags;
    }

    pub(crate) fn record_batch(
        &self,
        written: &Written,
        took: Duration,
        positions: &HashMap<PartitionKey, Option<i64>>,
    ) {
        {
            let mut s = self.inner.write().unwrap();
            // A committed batch proves Postgres is back, whatever failed before
            // (a batch, or loading offsets during a rebalance).
            s.state = ConsumerState::Running;
            s.last_error = None;
            s.events_counted += written.counted;
            s.duplicates_skipped += written.duplicates;
            s.dead_letters += written.dead_letters;
            s.batches += 1;
            s.last_batch_ms = Some(took.as_secs_f64() * 1000.0);
            s.last_batch_at = Some(Utc::now());
        }
        self.set_assignment(positions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_offset_is_inside_its_log_from_its_start_to_its_end() {
        assert_eq!(OffsetResetKind::of(5, 5, 10), None);
        assert_eq!(OffsetResetKind::of(10, 5, 10), None, "caught up");
        assert_eq!(
            OffsetResetKind::of(11, 5, 10),
            Some(OffsetResetKind::PastEnd)
        );
        assert_eq!(OffsetResetKind::of(3, 0, 0), Some(OffsetResetKind::PastEnd));
        assert_eq!(
            OffsetResetKind::of(4, 5, 10),
            Some(OffsetResetKind::BeforeStart)
        );
    }

    #[test]
    fn a_committed_batch_ends_a_degraded_state_whatever_caused_it() {
        let status = ConsumerStatus::default();
        status.set_running();
        status.set_degraded("loading offsets: connection refused".into());
        assert_eq!(status.snapshot().state, ConsumerState::Degraded);
        status.record_batch(
            &Written::default(),
            Duration::from_millis(3),
            &HashMap::new(),
        );
        let snap = status.snapshot();
        assert_eq!(snap.state, ConsumerState::Running);
        assert_eq!(snap.last_error, None);
        assert_eq!(snap.batches, 1);
    }
}
