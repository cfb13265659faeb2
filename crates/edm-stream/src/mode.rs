//! Raw or summary: whether an instance reads the store's raw events.
//!
//! Up to `EDM_STREAM_RAW_EVENTS_PER_SECOND` clients get every click and
//! page load. Above it no instance reads the raw topics: a browser cannot
//! draw 100,000 events a second, and reading them all would tie every
//! instance's cost to the store's rate. Clients then get edm-trending's
//! exact per-minute counts (updated every second) and its bounded sample
//! of the raw events, each sample saying how many events it stands for.
//!
//! The rate comes from the ends of the raw topics' partitions, looked up
//! once a second: what the store produced, whatever is read. An instance
//! switches to summaries when each of the last 5 seconds was above the
//! threshold, and back to raw events when each of the last 10 was under
//! 80 % of it, so a burst does not switch and a rate near the threshold
//! does not flap. Every instance sees the same ends and decides alike.

use std::collections::VecDeque;
use std::time::Instant;

use edm_config::Topic;

/// The topics read in summary mode only (the counts and trending records
/// are read in both).
pub const SUMMARY_TOPICS: &[Topic] = &[Topic::Sample];

/// What an instance streams of the store's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every click and page load.
    Raw,
    /// Per-minute counts and a sample.
    Summary,
}

impl Mode {
    /// As clients see it in `stream` messages.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Raw => "raw",
            Mode::Summary => "summary",
        }
    }
}

/// The mode clients are told of, with the rate that decided it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModeReport {
    /// The mode.
    pub mode: Mode,
    /// The raw topics' rate when it was decided (events per second).
    pub events_per_second: u64,
}

impl ModeReport {
    /// Where every instance starts.
    pub const START: ModeReport = ModeReport {
        mode: Mode::Raw,
        events_per_second: 0,
    };

    /// As clients get it in `stream` messages.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({"mode": self.mode.name(), "events_per_second": self.events_per_second})
    }
}

/// Seconds the rate must stay above the threshold to switch to summaries.
const UP_AFTER: usize = 5;
/// Seconds it must stay under [`DOWN_SHARE`] of it to switch back.
const DOWN_AFTER: usize = 10;
/// The share of the threshold the rate must fall under to switch back.
const DOWN_SHARE: f64 = 0.8;

/// Decides the mode from the raw topics' end offsets over time.
#[derive(Debug)]
pub struct ModeSwitch {
    /// Events per second above which raw events stop (`None`: never).
    threshold: Option<f64>,
    mode: Mode,
    /// The last lookup: when, and the sum of the raw partitions' ends.
    last: Option<(Instant, i64)>,
    /// The rates between the last lookups, newest last, at most
    /// [`DOWN_AFTER`].
    rates: VecDeque<f64>,
}

impl ModeSwitch {
    /// Starts raw; `threshold` 0 means never switch.
    pub fn new(threshold: u64) -> Self {
        Self {
            threshold: (threshold > 0).then_some(threshold as f64),
            mode: Mode::Raw,
            last: None,
            rates: VecDeque::new(),
        }
    }

    /// The mode now.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The rate between the last two lookups (events per second).
    pub fn rate(&self) -> Option<f64> {
        self.rates.back().copied()
    }

    /// Notes the sum of the raw partitions' ends at `at`; the new mode when
    /// it changes.
    pub fn observe(&mut self, at: Instant, ends: i64) -> Option<Mode> {
        let last = self.last.replace((at, ends));
        let (last_at, last_ends) = last?;
        let seconds = at.duration_since(last_at).as_secs_f64();
        if ends < last_ends {
            // Fewer partitions, or a topic recreated: start over.
            self.rates.clear();
            return None;
        }
        if seconds <= 0.0 {
            return None;
        }
        self.rates.push_back((ends - last_ends) as f64 / seconds);
        if self.rates.len() > DOWN_AFTER {
            self.rates.pop_front();
        }
        let threshold = self.threshold?;
        let last_n =
            |n: usize| (self.rates.len() >= n).then(|| self.rates.iter().rev().take(n).copied());
        let next = match self.mode {
            Mode::Raw if last_n(UP_AFTER)?.all(|rate| rate > threshold) => Mode::Summary,
            Mode::Summary if last_n(DOWN_AFTER)?.all(|rate| rate < threshold * DOWN_SHARE) => {
                Mode::Raw
            }
            _ => return None,
        };
        self.mode = next;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Feeds `rate` events/s for `seconds` seconds, one lookup a second;
    /// the modes switched to.
    fn run(
        switch: &mut ModeSwitch,
        start: Instant,
        from_s: u64,
        seconds: u64,
        rate: i64,
        ends: &mut i64,
    ) -> Vec<(u64, Mode)> {
        let mut switched = Vec::new();
        for s in from_s..from_s + seconds {
            *ends += rate;
            if let Some(mode) = switch.observe(start + Duration::from_secs(s), *ends) {
                switched.push((s, mode));
            }
        }
        switched
    }

    #[test]
    fn it_switches_to_summaries_after_5_s_above_and_back_after_10_s_well_below() {
        let start = Instant::now();
        let mut switch = ModeSwitch::new(1_000);
        let mut ends = 0;
        assert!(
            run(&mut switch, start, 0, 30, 900, &mut ends).is_empty(),
            "under the threshold"
        );
        // Above it: switched once 5 seconds of it are seen (30 to 34).
        assert_eq!(
            run(&mut switch, start, 30, 20, 5_000, &mut ends),
            [(34, Mode::Summary)]
        );
        // Just under the threshold is not far enough under it.
        assert!(run(&mut switch, start, 50, 30, 950, &mut ends).is_empty());
        assert_eq!(switch.mode(), Mode::Summary);
        assert_eq!(
            run(&mut switch, start, 80, 20, 100, &mut ends),
            [(89, Mode::Raw)]
        );
    }

    #[test]
    fn a_short_burst_or_a_threshold_of_0_changes_nothing() {
        let start = Instant::now();
        let mut switch = ModeSwitch::new(1_000);
        let mut ends = 0;
        run(&mut switch, start, 0, 10, 100, &mut ends);
        // 2 s of 2,000/s among 100/s: not 5 seconds in a row.
        assert!(run(&mut switch, start, 10, 2, 2_000, &mut ends).is_empty());
        assert!(run(&mut switch, start, 12, 10, 100, &mut ends).is_empty());

        let mut never = ModeSwitch::new(0);
        let mut ends = 0;
        assert!(run(&mut never, start, 0, 30, 1_000_000, &mut ends).is_empty());
        assert_eq!(never.rate(), Some(1_000_000.0));
    }

    #[test]
    fn ends_moving_backwards_start_the_count_over() {
        let start = Instant::now();
        let mut switch = ModeSwitch::new(1_000);
        let mut ends = 1_000_000;
        run(&mut switch, start, 0, 10, 10, &mut ends);
        // A topic recreated: its ends back at 0 is not a rate of anything.
        let mut ends = 0;
        assert!(run(&mut switch, start, 10, 1, 10, &mut ends).is_empty());
        assert_eq!(switch.rate(), None, "no rate from that");
        // Then 5 seconds far above: switched.
        assert_eq!(
            run(&mut switch, start, 11, 5, 10_000, &mut ends),
            [(15, Mode::Summary)]
        );
    }
}
