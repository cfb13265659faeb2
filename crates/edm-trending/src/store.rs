//! [`WindowStore`]: the windowed click counts and the processor that keeps
//! them. For each record of the repartition log it returns, in
//! [`Processed`], the changelog updates and the window results that the
//! runtime writes in the record's Kafka transaction.
//!
//! # Processing one record `(button_id, t)`
//! 1. Stream time becomes `max(stream time, t)`; if it moved, a stream-time
//!    update is written.
//! 2. Every open window with `end + grace <= stream time` closes, in window
//!    order (end, then spec, then start): its result is emitted and each of
//!    its counts gets a tombstone.
//! 3. For each window `w` of each spec containing `t`: if
//!    `w.end + grace <= stream time` the event is late for `w` (dropped,
//!    [`SpecCounters::late_drops`](crate::SpecCounters::late_drops));
//!    otherwise it is counted in `w`, unless that needs a new count while
//!    the store is full
//!    ([`SpecCounters::over_limit_drops`](crate::SpecCounters::over_limit_drops)).
//!
//! Closing before counting changes no result (a window closed in step 2 is
//! one the event is late for in step 3), but frees room for the event's
//! new counts when the store is full.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use thiserror::Error;

use crate::changelog::{count_key, count_update, stream_time_update, ChangelogUpdate};
use crate::config::TrendingConfig;
use crate::counters::{increment, Counters};
use crate::event_time::{is_valid_event_time, MAX_EVENT_TIME_MS};
use crate::output::{ProductClicks, WindowResult};
use crate::window::{Window, WindowSpec};

/// Longest button id the store accepts, in UTF-8 bytes (EDM's events allow
/// 256 characters, at most 1024 bytes). It bounds the memory of one count.
pub const MAX_BUTTON_ID_BYTES: usize = 1024;

/// The clicks of each product in each open window, and stream time.
#[derive(Debug, Clone)]
pub struct WindowStore {
    config: TrendingConfig,
    /// The largest valid event time processed, once there is one.
    stream_time: Option<i64>,
    /// Open windows in closing order, each with its products' counts (each
    /// at least 1; a window with no count is not in the map).
    windows: BTreeMap<Window, BTreeMap<String, u64>>,
    /// How many counts `windows` holds, all windows together.
    open_entries: usize,
    counters: Counters,
}

/// What processing one record produced: write all of it in the record's
/// transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processed {
    /// Updates for the changelog topic, in the order made. (A batch may be
    /// [`coalesce`](crate::coalesce)d before writing.)
    pub changelog: Vec<ChangelogUpdate>,
    /// Results of the windows this record closed, in window order.
    pub emitted: Vec<WindowResult>,
}

/// A record the store refuses. Nothing changed in the store, except the
/// counter named in each variant; the runtime logs it and moves on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RejectedRecord {
    /// The event time is outside the accepted range (counted in
    /// [`Counters::invalid_event_times`]).
    #[error("the event time {event_time} is outside 0..={MAX_EVENT_TIME_MS} (epoch ms)")]
    EventTimeOutOfRange {
        /// The refused event time.
        event_time: i64,
    },
    /// The button id is too long (counted in [`Counters::invalid_button_ids`]).
    #[error("the button id is {bytes} bytes, more than the {MAX_BUTTON_ID_BYTES} accepted")]
    ButtonIdTooLong {
        /// The refused id's length in bytes.
        bytes: usize,
    },
}

impl WindowStore {
    /// An empty store: no counts, no stream time.
    pub fn new(config: TrendingConfig) -> Self {
        Self {
            config,
            stream_time: None,
            windows: BTreeMap::new(),
            open_entries: 0,
            counters: Counters::default(),
        }
    }

    /// A store holding these counts and stream time (from a restore).
    pub(crate) fn from_parts(
        config: TrendingConfig,
        stream_time: Option<i64>,
        windows: BTreeMap<Window, BTreeMap<String, u64>>,
    ) -> Self {
        let open_entries = windows.values().map(BTreeMap::len).sum();
        Self {
            config,
            stream_time,
            windows,
            open_entries,
            counters: Counters::default(),
        }
    }

    /// Processes the next record of the repartition log: a click on
    /// `button_id` at `event_time` (epoch ms). See the module documentation
    /// for exactly what happens.
    pub fn process(
        &mut self,
        button_id: &str,
        event_time: i64,
    ) -> Result<Processed, RejectedRecord> {
        if !is_valid_event_time(event_time) {
            increment(&mut self.counters.invalid_event_times);
            return Err(RejectedRecord::EventTimeOutOfRange { event_time });
        }
        if button_id.len() > MAX_BUTTON_ID_BYTES {
            increment(&mut self.counters.invalid_button_ids);
            return Err(RejectedRecord::ButtonIdTooLong {
                bytes: button_id.len(),
            });
        }
        let mut processed = Processed::default();
        let stream_time = match self.stream_time {
            Some(current) if current >= event_time => current,
            _ => {
                self.stream_time = Some(event_time);
                processed.changelog.push(stream_time_update(event_time));
                event_time
            }
        };
        self.close_windows(stream_time, &mut processed);
        let mut counted = false;
        for spec in WindowSpec::ALL {
            for window in Window::containing(spec, event_time) {
                if window.closes_at(self.config.grace_ms()) <= stream_time {
                    increment(&mut self.counters.spec_mut(spec).late_drops);
                } else if let Some(update) = self.count(window, button_id) {
                    processed.changelog.push(update);
                    counted = true;
                } else {
                    increment(&mut self.counters.spec_mut(spec).over_limit_drops);
                }
            }
        }
        if !counted {
            increment(&mut self.counters.events_in_no_window);
        }
        Ok(processed)
    }

    /// Adds one click of `button_id` to `window`, and returns the update
    /// recording it; `None` if that needs a new count and the store is full.
    fn count(&mut self, window: Window, button_id: &str) -> Option<ChangelogUpdate> {
        if let Some(count) = self
            .windows
            .get_mut(&window)
            .and_then(|counts| counts.get_mut(button_id))
        {
            *count = count.saturating_add(1);
            return Some(count_update(window, button_id, *count));
        }
        if self.open_entries >= self.config.max_open_entries() {
            return None;
        }
        self.windows
            .entry(window)
            .or_default()
            .insert(button_id.to_owned(), 1);
        self.open_entries += 1;
        Some(count_update(window, button_id, 1))
    }

    /// Closes every window with `end + grace <= stream_time`, in order.
    fn close_windows(&mut self, stream_time: i64, processed: &mut Processed) {
        while let Some(entry) = self.windows.first_entry() {
            if entry.key().closes_at(self.config.grace_ms()) > stream_time {
                break;
            }
            let (window, counts) = entry.remove_entry();
            self.open_entries -= counts.len();
            processed
                .changelog
                .extend(counts.keys().map(|button_id| ChangelogUpdate {
                    key: count_key(window, button_id),
                    value: None,
                }));
            processed.emitted.push(self.result(window, counts));
            increment(&mut self.counters.spec_mut(window.spec()).windows_emitted);
        }
    }

    /// The final result of `window` with these counts.
    fn result(&self, window: Window, counts: BTreeMap<String, u64>) -> WindowResult {
        let clicks = counts.values().fold(0u64, |sum, &c| sum.saturating_add(c));
        let products = u64::try_from(counts.len()).unwrap_or(u64::MAX);
        let mut top: Vec<ProductClicks> = counts
            .into_iter()
            .map(|(button_id, clicks)| ProductClicks { button_id, clicks })
            .collect();
        // Most clicks first; equal clicks by button id (the map's order,
        // which the stable sort keeps).
        top.sort_by_key(|product| Reverse(product.clicks));
        top.truncate(self.config.top_n());
        WindowResult {
            window,
            clicks,
            products,
            top,
        }
    }

    /// The largest valid event time processed (or restored), if any.
    pub fn stream_time(&self) -> Option<i64> {
        self.stream_time
    }

    /// What the store has dropped, refused and emitted since it was built.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The config the store runs with.
    pub fn config(&self) -> &TrendingConfig {
        &self.config
    }

    /// How many (window, product) counts the store holds: at most
    /// [`max_open_entries`](TrendingConfig::max_open_entries), unless a
    /// restore brought more (then no new count is taken until it is below).
    pub fn open_entries(&self) -> usize {
        self.open_entries
    }

    /// How many windows have at least one count.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// The counts of the open windows, in window order, each with its
    /// products by button id: what a restore from this store's changelog
    /// gives back.
    pub fn open_counts(&self) -> impl Iterator<Item = (Window, &BTreeMap<String, u64>)> {
        self.windows
            .iter()
            .map(|(window, counts)| (*window, counts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelog::ChangelogRecord;

    const T0: i64 = 1_700_000_040_000; // a minute boundary
    const MIN: i64 = 60_000;

    fn store(grace_ms: i64, max_open_entries: usize) -> WindowStore {
        WindowStore::new(TrendingConfig::new(grace_ms, 3, max_open_entries).unwrap())
    }

    fn one(start: i64) -> Window {
        Window::new(WindowSpec::OneMinute, start).unwrap()
    }

    fn five(start: i64) -> Window {
        Window::new(WindowSpec::FiveMinutes, start).unwrap()
    }

    fn emitted(store: &mut WindowStore, button_id: &str, t: i64) -> Vec<(Window, u64)> {
        let processed = store.process(button_id, t).unwrap();
        processed
            .emitted
            .iter()
            .map(|r| (r.window, r.clicks))
            .collect()
    }

    #[test]
    fn with_no_grace_a_window_closes_when_stream_time_reaches_its_end() {
        let mut s = store(0, 100);
        assert!(emitted(&mut s, "a", T0).is_empty());
        assert!(emitted(&mut s, "a", T0 + MIN - 1).is_empty());
        // Exactly at the end: the windows ending at T0+1m close, with 2
        // clicks each; the event itself is in the next windows.
        assert_eq!(
            emitted(&mut s, "a", T0 + MIN),
            vec![(one(T0), 2), (five(T0 - 4 * MIN), 2)]
        );
        // Stream time is T0+1m: an event at T0+1m-1 is late for its 1m window
        // (end + 0 <= stream time), but not for the 5m windows still open.
        s.process("b", T0 + MIN - 1).unwrap();
        assert_eq!(s.counters().one_minute.late_drops, 1);
        assert_eq!(s.counters().five_minutes.late_drops, 1); // [T0-4m, T0+1m)
        assert_eq!(s.counters().events_in_no_window, 0);
    }

    #[test]
    fn a_late_event_within_grace_is_counted_and_beyond_grace_is_not() {
        let mut s = store(30_000, 100);
        s.process("a", T0 + 10_000).unwrap();
        // Stream time T0+1m+29.999s: the 1m window [T0, T0+1m) is still open.
        assert!(emitted(&mut s, "a", T0 + MIN + 29_999).is_empty());
        s.process("b", T0 + 59_999).unwrap(); // late but within grace
        assert_eq!(s.counters().one_minute.late_drops, 0);
        let closed = s.process("a", T0 + MIN + 30_000).unwrap().emitted;
        let closed: Vec<(Window, u64, u64)> = closed
            .iter()
            .map(|r| (r.window, r.clicks, r.products))
            .collect();
        assert_eq!(closed, vec![(one(T0), 2, 2), (five(T0 - 4 * MIN), 2, 2)]);
        // Now beyond grace for the windows ending at T0+1m: dropped there,
        // counted in the four later 5m windows.
        s.process("c", T0 + 1).unwrap();
        assert_eq!(s.counters().one_minute.late_drops, 1);
        assert_eq!(s.counters().events_in_no_window, 0);
        // Very late: before every open window; counted in none.
        s.process("c", T0 - 10 * MIN).unwrap();
        assert_eq!(s.counters().events_in_no_window, 1);
        assert_eq!(s.counters().five_minutes.late_drops, 1 + 5);
    }

    #[test]
    fn closed_windows_come_out_in_end_then_spec_then_start_order() {
        let mut s = store(0, 100);
        s.process("a", T0).unwrap();
        let closed: Vec<Window> = s
            .process("a", T0 + 10 * MIN)
            .unwrap()
            .emitted
            .into_iter()
            .map(|r| r.window)
            .collect();
        assert_eq!(
            closed,
            vec![
                one(T0),
                five(T0 - 4 * MIN),
                five(T0 - 3 * MIN),
                five(T0 - 2 * MIN),
                five(T0 - MIN),
                five(T0),
            ]
        );
        assert_eq!(s.counters().one_minute.windows_emitted, 1);
        assert_eq!(s.counters().five_minutes.windows_emitted, 5);
    }

    #[test]
    fn a_result_lists_the_top_products_by_clicks_then_by_id() {
        let mut s = store(0, 100);
        for id in ["b", "c", "a", "c", "d", "b", "é", "é", "é"] {
            s.process(id, T0 + 1).unwrap();
        }
        let result = s.process("x", T0 + MIN).unwrap().emitted.remove(0);
        let top: Vec<(&str, u64)> = result
            .top
            .iter()
            .map(|p| (p.button_id.as_str(), p.clicks))
            .collect();
        assert_eq!(top, vec![("é", 3), ("b", 2), ("c", 2)]); // top_n = 3
        assert_eq!(result.clicks, 9);
        assert_eq!(result.products, 5);
    }

    #[test]
    fn the_changelog_records_every_change_in_order() {
        let mut s = store(0, 100);
        let first = s.process("a", T0 + 10).unwrap().changelog;
        let decoded: Vec<ChangelogRecord> = first.iter().map(|u| u.decode().unwrap()).collect();
        let mut expected = vec![ChangelogRecord::StreamTime(T0 + 10)];
        expected.extend(
            std::iter::once(one(T0))
                .chain((0..5).rev().map(|k| five(T0 - k * MIN)))
                .map(|window| ChangelogRecord::Count {
                    window,
                    button_id: "a".into(),
                    count: 1,
                }),
        );
        assert_eq!(decoded, expected);
        // An older event does not move stream time: only its counts change.
        let second = s.process("a", T0 + 5).unwrap().changelog;
        let decoded: Vec<ChangelogRecord> = second.iter().map(|u| u.decode().unwrap()).collect();
        let expected: Vec<ChangelogRecord> = std::iter::once(one(T0))
            .chain((0..5).rev().map(|k| five(T0 - k * MIN)))
            .map(|window| ChangelogRecord::Count {
                window,
                button_id: "a".into(),
                count: 2,
            })
            .collect();
        assert_eq!(decoded, expected);
        // Closing writes a tombstone per count of the closed window.
        let third = s.process("b", T0 + MIN).unwrap().changelog;
        let tombstones: Vec<ChangelogRecord> = third
            .iter()
            .filter(|u| u.value.is_none())
            .map(|u| u.decode().unwrap())
            .collect();
        assert_eq!(
            tombstones,
            vec![
                ChangelogRecord::CountDeleted {
                    window: one(T0),
                    button_id: "a".into()
                },
                ChangelogRecord::CountDeleted {
                    window: five(T0 - 4 * MIN),
                    button_id: "a".into()
                },
            ]
        );
    }

    #[test]
    fn stream_time_is_written_only_when_it_advances() {
        let mut s = store(0, 100);
        let writes_stream_time = |p: Processed| {
            p.changelog
                .iter()
                .any(|u| matches!(u.decode(), Ok(ChangelogRecord::StreamTime(_))))
        };
        assert!(writes_stream_time(s.process("a", T0).unwrap()));
        assert!(!writes_stream_time(s.process("a", T0).unwrap()));
        assert!(!writes_stream_time(s.process("a", T0 - 1).unwrap()));
        assert!(writes_stream_time(s.process("a", T0 + 1).unwrap()));
        assert_eq!(s.stream_time(), Some(T0 + 1));
    }

    #[test]
    fn invalid_event_times_are_refused_counted_and_change_nothing() {
        let mut s = store(0, 100);
        s.process("a", T0).unwrap();
        for t in [-1, i64::MIN, MAX_EVENT_TIME_MS + 1, i64::MAX] {
            assert_eq!(
                s.process("a", t),
                Err(RejectedRecord::EventTimeOutOfRange { event_time: t })
            );
        }
        assert_eq!(s.counters().invalid_event_times, 4);
        assert_eq!(s.stream_time(), Some(T0));
        assert_eq!(s.open_entries(), 6);
        // The extremes of the accepted range are processed.
        assert!(s.process("a", 0).is_ok());
        let last = s.process("a", MAX_EVENT_TIME_MS).unwrap();
        assert_eq!(s.stream_time(), Some(MAX_EVENT_TIME_MS));
        assert_eq!(last.emitted.len(), 6, "every earlier window closed");
        assert!(s
            .process("a", MAX_EVENT_TIME_MS)
            .unwrap()
            .emitted
            .is_empty());
    }

    #[test]
    fn the_largest_grace_keeps_windows_open_without_overflow() {
        let mut s = WindowStore::new(TrendingConfig::new(i64::MAX, 1, 100).unwrap());
        s.process("a", 0).unwrap();
        assert!(s
            .process("a", MAX_EVENT_TIME_MS)
            .unwrap()
            .emitted
            .is_empty());
        assert_eq!(s.open_windows(), 12);
    }

    #[test]
    fn over_long_button_ids_are_refused_and_counted() {
        let mut s = store(0, 100);
        let long = "é".repeat(MAX_BUTTON_ID_BYTES / 2 + 1);
        assert_eq!(
            s.process(&long, T0),
            Err(RejectedRecord::ButtonIdTooLong {
                bytes: MAX_BUTTON_ID_BYTES + 2
            })
        );
        assert_eq!(s.counters().invalid_button_ids, 1);
        assert_eq!(s.stream_time(), None);
        assert!(s.process(&"a".repeat(MAX_BUTTON_ID_BYTES), T0).is_ok());
        assert!(
            s.process("", T0).is_ok(),
            "an empty id is a product like any other"
        );
    }

    #[test]
    fn the_open_entry_limit_drops_new_products_but_still_counts_known_ones() {
        // Room for 7 counts: "a" takes 6 (one 1m and five 5m windows).
        let mut s = store(0, 7);
        s.process("a", T0).unwrap();
        assert_eq!(s.open_entries(), 6);
        // "b" gets the 1m window only, then the store is full.
        s.process("b", T0).unwrap();
        assert_eq!(s.open_entries(), 7);
        assert_eq!(s.counters().one_minute.over_limit_drops, 0);
        assert_eq!(s.counters().five_minutes.over_limit_drops, 5);
        // Known counts still grow; a new product is counted nowhere.
        s.process("a", T0 + 1).unwrap();
        s.process("c", T0 + 2).unwrap();
        assert_eq!(s.open_entries(), 7);
        assert_eq!(s.counters().events_in_no_window, 1);
        assert_eq!(s.counters().one_minute.over_limit_drops, 1);
        let closed = s.process("c", T0 + MIN).unwrap();
        // Closing came first: [T0, T0+1m) ("a" twice, "b") and the 5m window
        // [T0-4m, T0+1m) ("a") freed 3 counts, so "c" gets its new 1m window
        // and the first 2 of its 5 new 5m counts.
        let closed: Vec<(Window, u64)> = closed
            .emitted
            .iter()
            .map(|r| (r.window, r.clicks))
            .collect();
        assert_eq!(closed, vec![(one(T0), 3), (five(T0 - 4 * MIN), 2)]);
        assert_eq!(s.open_entries(), 7);
        assert_eq!(s.counters().one_minute.over_limit_drops, 1);
        assert_eq!(s.counters().five_minutes.over_limit_drops, 5 + 5 + 3);
        assert!(s.open_entries() <= s.config().max_open_entries());
    }
}
