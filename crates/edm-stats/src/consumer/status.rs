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
