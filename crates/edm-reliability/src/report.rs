//! The report of a fault run, as Markdown: what was sent, acknowledged,
//! counted and streamed, event id by event id, which faults were injected
//! when, and how long the system took to recover from each.

use std::collections::HashSet;
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

/// The event ids one consumer had (edm-stats counted, a Socket.io client
/// received), compared id by id with those the relay acknowledged: a lost
/// event and an extra one do not cancel out as they do in a total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdCheck {
    /// Acknowledged ids it had.
    pub present: u64,
    /// Acknowledged ids it did not have, sorted.
    pub missing: Vec<String>,
    /// Ids it had that were sent but not acknowledged: the client gave up
    /// on them (rejected, failed or outcome unknown). Sorted.
    pub not_acknowledged: Vec<String>,
    /// Ids it had that were never sent, sorted.
    pub never_sent: Vec<String>,
    /// Times it had an event again after the first (how these are found
    /// depends on the consumer; see [`RunReport`]).
    pub repeats: u64,
}

impl IdCheck {
    /// Compares the ids a consumer `had` with the `acknowledged` ones;
    /// `given_up` are the other ids sent.
    pub fn compare(
        acknowledged: &HashSet<String>,
        given_up: &HashSet<String>,
        had: &HashSet<String>,
        repeats: u64,
    ) -> Self {
        let sorted = |ids: Vec<&String>| {
            let mut ids: Vec<String> = ids.into_iter().cloned().collect();
            ids.sort();
            ids
        };
        let (given_up_had, never_sent) = had
            .difference(acknowledged)
            .partition(|id| given_up.contains(*id));
        Self {
            present: had.intersection(acknowledged).count() as u64,
            missing: sorted(acknowledged.difference(had).collect()),
            not_acknowledged: sorted(given_up_had),
            never_sent: sorted(never_sent),
            repeats,
        }
    }

    /// Whether it had every acknowledged id and no other (repeats aside).
    pub fn same_ids(&self) -> bool {
        self.missing.is_empty() && self.not_acknowledged.is_empty() && self.never_sent.is_empty()
    }
}

/// At most the first five of `ids`, for a message.
pub fn sample(ids: &[String]) -> String {
    let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    let more = if ids.len() > shown.len() { ", …" } else { "" };
    format!("[{}{more}]", shown.join(", "))
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
    /// Counted by edm-stats, as `/api/v1/totals` says (clicks).
    pub counted: i64,
    /// Events counted in the aggregates in PostgreSQL (clicks and page
    /// loads), read together with `counted_ids`.
    pub counted_in_db: i64,
    /// Distinct event ids edm-stats counted (each click's button is named
    /// after its id).
    pub counted_ids: u64,
    /// edm-stats' event ids against the acknowledged ones; its repeats are
    /// `counted_in_db` beyond `counted_ids` (an id counted twice, or an
    /// event counted without an id).
    pub stats_ids: IdCheck,
    /// Acknowledged events a Socket.io client received.
    pub streamed: u64,
    /// The client's event ids against the acknowledged ones; its repeats
    /// are events received again (not a fault in itself: a retried event
    /// the relay wrote twice is in Kafka, and streamed, twice).
    pub stream_ids: IdCheck,
    /// Faults, in order.
    pub faults: Vec<FaultRecord>,
}

impl RunReport {
    /// Whether edm-stats counted exactly the acknowledged events, each
    /// once, and the client received each of them.
    pub fn exact(&self) -> bool {
        self.stats_ids.same_ids()
            && self.counted_in_db == self.counted_ids as i64
            && self.counted == self.acknowledged as i64
            && self.stream_ids.same_ids()
            && self.streamed == self.acknowledged
    }

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
            ("counted by edm-stats (`/api/v1/totals`)", self.counted),
            (
                "counted in PostgreSQL (click and page-load aggregates)",
                self.counted_in_db,
            ),
            (
                "distinct event ids edm-stats counted (one button per id)",
                self.counted_ids as i64,
            ),
            (
                "acknowledged and received by a Socket.io client",
                self.streamed as i64,
            ),
        ] {
            let _ = writeln!(out, "| {label} | {n} |");
        }
        let _ = writeln!(
            out,
            "\n| event ids, against the acknowledged ones | edm-stats | Socket.io client |\n|---|---|---|"
        );
        let (stats, stream) = (&self.stats_ids, &self.stream_ids);
        for (label, a, b) in [
            ("acknowledged, present", stats.present, stream.present),
            (
                "acknowledged, missing",
                stats.missing.len() as u64,
                stream.missing.len() as u64,
            ),
            (
                "present, sent but not acknowledged",
                stats.not_acknowledged.len() as u64,
                stream.not_acknowledged.len() as u64,
            ),
            (
                "present, never sent",
                stats.never_sent.len() as u64,
                stream.never_sent.len() as u64,
            ),
            (
                "counted or received more than once",
                stats.repeats,
                stream.repeats,
            ),
        ] {
            let _ = writeln!(out, "| {label} | {a} | {b} |");
        }
        let _ = writeln!(
            out,
            "\nedm-stats counts more than once what it counts beyond its distinct ids; \
             the client may receive an event again (a retried event the relay wrote twice \
             is streamed twice), which is shown but is no fault."
        );
        let verdict = if self.exact() {
            "**Every acknowledged event was counted exactly once and streamed, id by id.**"
                .to_owned()
        } else {
            let mut problems = Vec::new();
            for (who, check) in [("edm-stats", stats), ("the client", stream)] {
                for (what, ids) in [
                    ("missed", &check.missing),
                    ("had unacknowledged", &check.not_acknowledged),
                    ("had never-sent", &check.never_sent),
                ] {
                    if !ids.is_empty() {
                        problems.push(format!("{who} {what} {} {}", ids.len(), sample(ids)));
                    }
                }
            }
            if self.counted_in_db != self.counted_ids as i64 {
                problems.push(format!(
                    "edm-stats counted {} events for {} distinct ids",
                    self.counted_in_db, self.counted_ids
                ));
            }
            if self.counted != self.acknowledged as i64 {
                problems.push(format!(
                    "/api/v1/totals says {} for {} acknowledged",
                    self.counted, self.acknowledged
                ));
            }
            format!("**Mismatch: {}.**", problems.join("; "))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_lost_event_and_an_extra_one_do_not_cancel_out() {
        let acknowledged = ids(&["evt-1", "evt-2", "evt-3"]);
        let given_up = ids(&["evt-4", "evt-5"]);
        // As many ids as acknowledged, but not the same ones.
        let had = ids(&["evt-1", "evt-3", "evt-4", "evt-9"]);
        let check = IdCheck::compare(&acknowledged, &given_up, &had, 0);
        assert_eq!(check.present, 2);
        assert_eq!(check.missing, ["evt-2"]);
        assert_eq!(check.not_acknowledged, ["evt-4"]);
        assert_eq!(check.never_sent, ["evt-9"]);
        assert!(!check.same_ids());
        assert!(IdCheck::compare(&acknowledged, &given_up, &acknowledged, 3).same_ids());
    }

    #[test]
    fn a_mismatch_is_reported_with_the_ids() {
        let acknowledged = ids(&["evt-1", "evt-2"]);
        let stream_ids = IdCheck::compare(&acknowledged, &HashSet::new(), &acknowledged, 0);
        let mut report = RunReport {
            profile: "short".into(),
            rate: 1,
            seconds: 2.0,
            sent: 2,
            acknowledged: 2,
            rejected: 0,
            failed: 0,
            unknown: 0,
            retries: 0,
            // The total is right: evt-1 was counted twice, evt-2 never.
            counted: 2,
            counted_in_db: 2,
            counted_ids: 1,
            stats_ids: IdCheck::compare(&acknowledged, &HashSet::new(), &ids(&["evt-1"]), 1),
            streamed: 2,
            stream_ids: stream_ids.clone(),
            faults: Vec::new(),
        };
        assert!(!report.exact());
        let markdown = report.markdown();
        assert!(
            markdown.contains("edm-stats missed 1 [evt-2]"),
            "{markdown}"
        );
        assert!(
            markdown.contains("counted 2 events for 1 distinct ids"),
            "{markdown}"
        );
        report.counted_ids = 2;
        report.stats_ids = stream_ids;
        assert!(report.exact());
        assert!(report.markdown().contains("exactly once"));
    }
}
