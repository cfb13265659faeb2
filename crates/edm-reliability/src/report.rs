//! The report of a fault run, as Markdown: what was sent, acknowledged,
//! counted and streamed, which faults were injected when, and how long the
//! system took to recover from each.

use std::fmt::Write;

/// One injected fault.
#[derive(Debug, Clone)]
pub struct FaultRecord {
    /// What was done, e.g. "SIGKILL broker 2".
    pub fault: String,
    /// When (seconds since start).
    pub injected_at: f64,
    /// When it was undone (restart), if it was.
    pub restored_at: Option<f64>,
    /// When things worked again (see [`FaultRecord::recovery`]).
    pub recovered_at: Option<f64>,
    /// What "worked again" means for this fault.
    pub recovery: &'static str,
    /// Whether recovery is timed from the restore (the system cannot work
    /// until then) rather than from the injection (it should carry on).
    pub timed_from_restore: bool,
}

impl FaultRecord {
    /// A fault injected at `at` seconds.
    pub fn new(
        fault: impl Into<String>,
        at: f64,
        recovery: &'static str,
        timed_from_restore: bool,
    ) -> Self {
        Self {
            fault: fault.into(),
            injected_at: at,
            restored_at: None,
            recovered_at: None,
            recovery,
            timed_from_restore,
        }
    }

    /// Seconds from injection (or restore) to recovery.
    pub fn recovery_seconds(&self) -> Option<f64> {
        let from = if self.timed_from_restore {
            self.restored_at?
        } else {
            self.injected_at
        };
        Some((self.recovered_at? - from).max(0.0))
    }
}

/// Everything a run found.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// `short` (CI) or `full`.
    pub profile: String,
    /// Events per second offered.
    pub rate: u32,
    /// Seconds of load.
    pub seconds: f64,
    /// Events generated.
    pub sent: u64,
    /// Acknowledged by the relay.
    pub acknowledged: u64,
    /// Refused with a 4xx.
    pub rejected: u64,
    /// Given up, known not written.
    pub failed: u64,
    /// Given up, outcome unknown.
    pub unknown: u64,
    /// Retried attempts.
    pub retries: u64,
    /// Counted by edm-stats.
    pub counted: i64,
    /// Acknowledged events a Socket.io client received.
    pub streamed: u64,
    /// Faults, in order.
    pub faults: Vec<FaultRecord>,
}

impl RunReport {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Reliability report\n");
        let _ = writeln!(
            out,
            "Written by the fault-injection run `{}` (`crates/edm-reliability/tests/reliability/faults.rs`) on {} UTC: \
             a three-broker Kafka cluster (replication factor 3, min.insync.replicas 2), a PostgreSQL \
             server, and edm-relay, edm-stats and edm-stream as real processes, under {} click events/s \
             posted to the relay for {:.0} s. A client retries an event with the same id while the relay \
             answers 429/503/504 or nothing, for up to 40 s.\n",
            self.profile,
            chrono::Utc::now().format("%Y-%m-%d %H:%M"),
            self.rate,
            self.seconds
        );
        let _ = writeln!(out, "| events | count |\n|---|---|");
        for (label, n) in [
            ("sent", self.sent as i64),
            ("acknowledged by the relay (200)", self.acknowledged as i64),
            ("rejected (4xx)", self.rejected as i64),
            ("given up, not written (429/503 only)", self.failed as i64),
            ("given up, outcome unknown", self.unknown as i64),
            ("retried attempts", self.retries as i64),
            ("counted by edm-stats", self.counted),
            (
                "acknowledged and received by a Socket.io client",
                self.streamed as i64,
            ),
        ] {
            let _ = writeln!(out, "| {label} | {n} |");
        }
        let verdict =
            if self.counted == self.acknowledged as i64 && self.streamed == self.acknowledged {
                "**Every acknowledged event was counted exactly once and streamed.**"
            } else {
                "**Mismatch: see the counts above.**"
            };
        let _ = writeln!(out, "\n{verdict}\n");
        let _ = writeln!(out, "| fault | injected at | restored at | recovered at | recovery time | recovered means |\n|---|---|---|---|---|---|");
        for f in &self.faults {
            let secs = |t: Option<f64>| t.map_or("—".to_owned(), |t| format!("{t:.1} s"));
            let took = f
                .recovery_seconds()
                .map_or("—".to_owned(), |s| format!("{s:.1} s"));
            let _ = writeln!(
                out,
                "| {} | {:.1} s | {} | {} | {} | {} |",
                f.fault,
                f.injected_at,
                secs(f.restored_at),
                secs(f.recovered_at),
                took,
                f.recovery
            );
        }
        out
    }
}
