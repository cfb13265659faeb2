//! The windows clicks are counted in: the two [`WindowSpec`]s (`1m`
//! tumbling, `5m` hopping by one minute), one [`Window`] of a spec, and
//! which windows contain a given event time.
//!
//! A window is `[start, start + size)` in epoch milliseconds; its start is a
//! multiple of the spec's advance (aligned to the epoch, as in Kafka
//! Streams). An event at time `t` belongs to every window of a spec with
//! `start <= t < start + size`: one `1m` window and five `5m` windows.

use std::cmp::Ordering;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event_time::{is_valid_event_time, MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS};

/// A kind of window: its name, size and advance.
///
/// Specs order as listed (`1m` before `5m`); results closing at the same
/// time are emitted in that order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum WindowSpec {
    /// `1m`: tumbling windows of one minute.
    #[serde(rename = "1m")]
    OneMinute,
    /// `5m`: five-minute windows starting every minute (hopping).
    #[serde(rename = "5m")]
    FiveMinutes,
}

impl WindowSpec {
    /// Every spec, in their order.
    pub const ALL: [WindowSpec; 2] = [WindowSpec::OneMinute, WindowSpec::FiveMinutes];

    /// The spec's name in output records: `"1m"` or `"5m"`.
    pub const fn name(self) -> &'static str {
        match self {
            WindowSpec::OneMinute => "1m",
            WindowSpec::FiveMinutes => "5m",
        }
    }

    /// How long one window lasts, in ms.
    pub const fn size_ms(self) -> i64 {
        match self {
            WindowSpec::OneMinute => 60_000,
            WindowSpec::FiveMinutes => 300_000,
        }
    }

    /// How far apart consecutive windows start, in ms.
    pub const fn advance_ms(self) -> i64 {
        60_000
    }

    /// The byte that stands for this spec in changelog keys. Never change
    /// one: restored changelogs hold them.
    pub(crate) const fn code(self) -> u8 {
        match self {
            WindowSpec::OneMinute => b'1',
            WindowSpec::FiveMinutes => b'5',
        }
    }

    /// The spec a changelog key's byte stands for.
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        WindowSpec::ALL.into_iter().find(|spec| spec.code() == code)
    }
}

impl std::fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One window of a spec: `[start, start + size)`.
///
/// Windows order by end, then spec, then start: the order in which they
/// close, and in which their results are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    spec: WindowSpec,
    start: i64,
}

impl Window {
    /// The window of `spec` starting at `start`, if there is one that can
    /// hold a valid event time: `start` is a multiple of the spec's advance
    /// and the window overlaps
    /// [`MIN_EVENT_TIME_MS`]`..=`[`MAX_EVENT_TIME_MS`]. So a `5m` window may
    /// start up to 4 minutes before the epoch.
    pub fn new(spec: WindowSpec, start: i64) -> Option<Self> {
        let aligned = start.rem_euclid(spec.advance_ms()) == 0;
        let earliest_start = MIN_EVENT_TIME_MS - spec.size_ms() + 1;
        let in_range = (earliest_start..=MAX_EVENT_TIME_MS).contains(&start);
        (aligned && in_range).then_some(Self { spec, start })
    }

    /// Every window of `spec` that contains `event_time`, earliest start
    /// first; none if `event_time` is not a valid event time.
    pub(crate) fn containing(spec: WindowSpec, event_time: i64) -> impl Iterator<Item = Window> {
        // For a valid event time (0 ..= year 9999) none of this can
        // overflow: every value stays within a few minutes of the range.
        let (last_start, count) = if is_valid_event_time(event_time) {
            (
                event_time - event_time.rem_euclid(spec.advance_ms()),
                spec.size_ms() / spec.advance_ms(),
            )
        } else {
            (0, 0)
        };
        (0..count).rev().map(move |back| Window {
            spec,
            start: last_start - back * spec.advance_ms(),
        })
    }

    /// The window's spec.
    pub fn spec(&self) -> WindowSpec {
        self.spec
    }

    /// The first millisecond in the window (epoch ms).
    pub fn start(&self) -> i64 {
        self.start
    }

    /// The first millisecond after the window (epoch ms), exclusive.
    pub fn end(&self) -> i64 {
        // Cannot overflow: `new` and `containing` keep start within the
        // valid event time range, far below i64::MAX.
        self.start + self.spec.size_ms()
    }

    /// The watermark at which the window closes: `end + grace_ms`
    /// (saturating, so any grace is safe).
    pub(crate) fn closes_at(&self, grace_ms: i64) -> i64 {
        self.end().saturating_add(grace_ms)
    }
}

/// The latest instant at or before `t` at which some window closes with
/// grace `grace_ms` (every window ends on a minute boundary, so windows close
/// at `minute + grace`). A watermark rounded down to it closes the same
/// windows as `t` would: the repartition stage rounds the watermarks it
/// derives from its clock this way, so that a quiet input needs one
/// progress record a minute, not one a cycle.
pub fn last_closing_at_or_before(t: i64, grace_ms: i64) -> i64 {
    let advance = WindowSpec::OneMinute.advance_ms();
    let latest_end = t.saturating_sub(grace_ms);
    let end = latest_end.saturating_sub(latest_end.rem_euclid(advance));
    end.saturating_add(grace_ms)
}

impl Ord for Window {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.end(), self.spec, self.start).cmp(&(other.end(), other.spec, other.start))
    }
}

impl PartialOrd for Window {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(spec: WindowSpec, t: i64) -> Vec<i64> {
        Window::containing(spec, t).map(|w| w.start()).collect()
    }

    #[test]
    fn a_click_falls_in_one_minute_window_and_five_five_minute_windows() {
        let t = 1_700_000_123_456; // 12:02:03.456 into an hour-aligned minute grid
        let minute = t - t % 60_000;
        assert_eq!(starts(WindowSpec::OneMinute, t), vec![minute]);
        assert_eq!(
            starts(WindowSpec::FiveMinutes, t),
            (0..5)
                .rev()
                .map(|k| minute - k * 60_000)
                .collect::<Vec<_>>()
        );
        for w in Window::containing(WindowSpec::FiveMinutes, t) {
            assert!(w.start() <= t && t < w.end(), "{w:?} holds {t}");
        }
    }

    #[test]
    fn rounding_to_closing_instants_closes_the_same_windows() {
        let grace = 30_000;
        let minute = 1_700_000_040_000;
        assert_eq!(
            last_closing_at_or_before(minute + grace, grace),
            minute + grace
        );
        assert_eq!(
            last_closing_at_or_before(minute + grace - 1, grace),
            minute - 60_000 + grace
        );
        assert_eq!(
            last_closing_at_or_before(minute + 59_999 + grace, grace),
            minute + grace
        );
        for t in [minute, minute + 12_345, minute + 59_999, minute + 89_999] {
            let rounded = last_closing_at_or_before(t, grace);
            for spec in WindowSpec::ALL {
                for start in (-6..=2).map(|k| minute + k * 60_000) {
                    let w = Window::new(spec, start).unwrap();
                    assert_eq!(w.closes_at(grace) <= t, w.closes_at(grace) <= rounded);
                }
            }
        }
        // No overflow at the extremes.
        assert!(last_closing_at_or_before(0, i64::MAX) <= 0);
        let latest = last_closing_at_or_before(i64::MAX, 0);
        assert!(latest > i64::MAX - 60_000 && latest % 60_000 == 0);
    }

    #[test]
    fn window_boundaries_are_start_inclusive_and_end_exclusive() {
        let start = 1_700_000_040_000; // a multiple of 60 000
        assert_eq!(start % 60_000, 0);
        assert_eq!(starts(WindowSpec::OneMinute, start), vec![start]);
        assert_eq!(
            starts(WindowSpec::OneMinute, start - 1),
            vec![start - 60_000]
        );
        assert_eq!(starts(WindowSpec::OneMinute, start + 59_999), vec![start]);
        assert_eq!(
            starts(WindowSpec::FiveMinutes, start).first(),
            Some(&(start - 240_000))
        );
        assert_eq!(
            starts(WindowSpec::FiveMinutes, start - 1).first(),
            Some(&(start - 300_000))
        );
    }

    #[test]
    fn the_edges_of_the_accepted_range_give_windows_without_overflow() {
        assert_eq!(starts(WindowSpec::OneMinute, 0), vec![0]);
        assert_eq!(
            starts(WindowSpec::FiveMinutes, 0),
            vec![-240_000, -180_000, -120_000, -60_000, 0]
        );
        let last = Window::containing(WindowSpec::FiveMinutes, MAX_EVENT_TIME_MS)
            .last()
            .unwrap();
        assert!(last.start() <= MAX_EVENT_TIME_MS && MAX_EVENT_TIME_MS < last.end());
        assert_eq!(last.closes_at(i64::MAX), i64::MAX);
        for invalid in [-1, MAX_EVENT_TIME_MS + 1, i64::MIN, i64::MAX] {
            assert!(starts(WindowSpec::FiveMinutes, invalid).is_empty());
        }
    }

    #[test]
    fn only_aligned_windows_that_can_hold_a_valid_time_exist() {
        assert!(Window::new(WindowSpec::OneMinute, 60_000).is_some());
        assert!(Window::new(WindowSpec::OneMinute, 60_001).is_none());
        assert!(Window::new(WindowSpec::OneMinute, -60_000).is_none());
        assert!(Window::new(WindowSpec::FiveMinutes, -240_000).is_some());
        assert!(Window::new(WindowSpec::FiveMinutes, -300_000).is_none());
        assert!(Window::new(WindowSpec::FiveMinutes, i64::MIN).is_none());
        assert!(Window::new(WindowSpec::FiveMinutes, i64::MAX).is_none());
        // Every window `containing` yields is one `new` accepts.
        for t in [0, 59_999, 1_700_000_000_000, MAX_EVENT_TIME_MS] {
            for spec in WindowSpec::ALL {
                for w in Window::containing(spec, t) {
                    assert_eq!(Window::new(spec, w.start()), Some(w));
                }
            }
        }
    }

    #[test]
    fn windows_order_by_end_then_spec_then_start() {
        let one = |start| Window::new(WindowSpec::OneMinute, start).unwrap();
        let five = |start| Window::new(WindowSpec::FiveMinutes, start).unwrap();
        let mut windows = vec![five(0), one(240_000), five(60_000), one(0), one(60_000)];
        windows.sort();
        assert_eq!(
            windows,
            vec![one(0), one(60_000), one(240_000), five(0), five(60_000)]
        );
        // Same end: 1m before 5m.
        assert!(one(240_000) < five(0));
        assert_eq!(one(240_000).end(), five(0).end());
    }
}
