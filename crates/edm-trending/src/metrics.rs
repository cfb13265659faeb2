//! What the processor counts while it runs, for logs now and `/metrics`
//! later: cycles committed and aborted, restores and their size and
//! duration, windows emitted, and input records skipped (each skip is also
//! logged with its partition and offset).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A count that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that is set.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Sets it.
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The last value set.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The processor's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Cycles whose transactions committed.
    pub committed_cycles: Counter,
    /// Cycles aborted after a Kafka error.
    pub aborted_cycles: Counter,
    /// Times the window store was restored from the changelog.
    pub restores: Counter,
    /// Changelog records read by the last restore.
    pub last_restore_records: Gauge,
    /// Milliseconds the last restore took.
    pub last_restore_millis: Gauge,
    /// Window results written (aborted cycles included).
    pub windows_emitted: Counter,
    /// Input records that were not valid click events.
    pub skipped_inputs: Counter,
    /// Repartition records that could not be decoded.
    pub skipped_repartition: Counter,
}
