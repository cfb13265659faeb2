//! [`WindowStore`]: the windowed click counts and the processor that keeps
//! them. For each record of the repartition log it returns, in
//! [`Processed`], the changelog updates and the window results that the
//! runtime writes in the record's Kafka transaction.
//!
//! # Time
//! The store's watermark is the smallest watermark over the input
//! partitions ([`InputProgress`]): a click raises its own partition's to its
//! event time, and a progress record raises it to what it carries. Windows
//! close when the watermark reaches their `end + grace`, so nothing closes
//! before every input partition has got that far; until every partition
//! has reported once, nothing closes at all.
//!
//! # Processing one click `(button_id, t)` read from input partition `p`
//! 1. Partition `p`'s watermark becomes `max(its watermark, t)`.
//! 2. If the store's watermark moved, results of closed windows with late
//!    clicks are written again (at most once per second of watermark), then
//!    every open window with `end + grace <= watermark` closes, in window
//!    order (end, then spec, then start): its result is emitted, its counts
//!    get tombstones, and it is kept for [`CLOSED_KEPT_MS`] to count late
//!    clicks.
//! 3. For each window `w` of each spec containing `t`: if
//!    `w.end + grace <= watermark` the click is late for `w`: not counted,
//!    added to [`SpecCounters::late_drops`](crate::SpecCounters::late_drops)
//!    and to the kept result's `late_clicks` (a window this store counted
//!    nothing in is kept too, with a result of late clicks alone: a window
//!    task holds some products only, and the merge adds these late clicks
//!    to the window's result). Otherwise it is counted in
//!    `w` (see [`counts`](crate::counts) for a window that is full), unless
//!    `w` holds no product yet while the store is full
//!    ([`SpecCounters::over_limit_drops`](crate::SpecCounters::over_limit_drops)).
//!
//! Closing before counting changes no result (a window closed in step 2 is
//! one the click is late for in step 3), but frees room for the click's new
//! counts when the store is full.
//!
//! # Page loads
//! A page-load batch moves its input partition's progress as clicks do
//! (page-load partitions are input partitions of their own, see
//! [`progress`](crate::progress)), then adds to its minute's count for its
//! device type, unless the minute has closed (late: counted, not added).
//! These counts take room among the store's `max_open_entries`; a minute
//! closes with the `1m` windows, each device type's final count reported
//! in [`Processed::minute_counts`] and its changelog entry deleted.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use thiserror::Error;

use crate::changelog::{
    closed_deleted, closed_through_update, closed_update, count_deleted, count_update,
    page_loads_deleted, page_loads_update, progress_update, ChangelogUpdate, ClosedWindow,
};
use crate::config::TrendingConfig;
use crate::counters::{add, increment, Counters};
use crate::counts::{Count, Counted, WindowCounts};
use crate::event_time::{is_valid_event_time, MAX_EVENT_TIME_MS};
use crate::minute_counts::MinuteCount;
use crate::output::{ProductClicks, WindowResult};
use crate::progress::{InputPartitions, InputProgress};
use crate::repartition::{PageLoadBatch, ProgressRecord, RepartitionRecord};
use crate::window::{Window, WindowSpec};
use edm_events::CountKind;

/// Longest button id the store accepts, in UTF-8 bytes (EDM's events allow
/// 256 characters, at most 1024 bytes). It bounds the memory of one count.
pub const MAX_BUTTON_ID_BYTES: usize = 1024;

/// How long a closed window is kept after it closed (in watermark time), so
/// that clicks coming late for it are counted in its result's
/// `late_clicks`: ten minutes.
pub const CLOSED_KEPT_MS: i64 = 600_000;

/// The clicks of each product in each open window, the input's progress,
/// and the recently closed windows.
#[derive(Debug, Clone)]
pub struct WindowStore {
    config: TrendingConfig,
    progress: InputProgress,
    /// The watermark windows were last closed at (it only moves forward).
    closed_through: Option<i64>,
    /// Open windows in closing order, each with its products' counts (a
    /// window with no count is not in the map).
    windows: BTreeMap<Window, WindowCounts>,
    /// How many counts `windows` holds, all windows together.
    open_entries: usize,
    /// Closed windows kept for late clicks, in closing order.
    closed: BTreeMap<Window, ClosedWindow>,
    /// Page loads per open minute (a `1m` window) and device type, in
    /// closing order; counted in `open_entries` too.
    page_loads: BTreeMap<(Window, String), u64>,
    counters: Counters,
}

/// What processing one record produced: write all of it in the record's
/// transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processed {
    /// Updates for the changelog topic, in the order made. (A batch may be
    /// [`coalesce`](crate::coalesce)d before writing.)
    pub changelog: Vec<ChangelogUpdate>,
    /// Results to write to `edm-trending`, in order: windows written again
    /// for their late clicks, then the windows this record closed.
    pub emitted: Vec<WindowResult>,
    /// The windows this record closed (their counts are among the
    /// tombstones in `changelog`).
    pub closed: Vec<Window>,
    /// Per-minute counts (the `1m` windows'), in order: each product's new
    /// count in an open minute, a product that lost its place in one, and
    /// every product's final count in a minute this record closed.
    pub minute_counts: Vec<MinuteCount>,
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
    /// A progress record for a partition the input topic does not have
    /// (counted in [`Counters::unknown_partitions`]).
    #[error("progress for input partition {partition}, which the input topic does not have")]
    UnknownPartition {
        /// The partition named.
        partition: i32,
    },
}

impl WindowStore {
    /// An empty store: no counts, no progress.
    pub fn new(config: TrendingConfig) -> Self {
        Self::from_parts(
            config,
            InputProgress::default(),
            None,
            BTreeMap::new(),
            BTreeMap::new(),
            BTreeMap::new(),
        )
    }

    /// A store holding this state (from a restore).
    pub(crate) fn from_parts(
        config: TrendingConfig,
        progress: InputProgress,
        closed_through: Option<i64>,
        windows: BTreeMap<Window, WindowCounts>,
        closed: BTreeMap<Window, ClosedWindow>,
        page_loads: BTreeMap<(Window, String), u64>,
    ) -> Self {
        let open_entries =
            windows.values().map(WindowCounts::len).sum::<usize>() + page_loads.len();
        Self {
            config,
            progress,
            closed_through,
            windows,
            open_entries,
            closed,
            page_loads,
            counters: Counters::default(),
        }
    }

    /// Sets how many partitions the input topics have (from their
    /// metadata): the watermark is the smallest of theirs. Windows the
    /// watermark now passes close.
    pub fn set_input_partitions(&mut self, clicks: i32, page_loads: i32) -> Processed {
        let partitions = InputPartitions {
            clicks: clicks.max(0),
            page_loads: page_loads.max(0),
        };
        let mut processed = Processed::default();
        if self.progress.input_partitions() != Some(partitions) {
            self.progress.set_input_partitions(partitions);
            self.advance(&mut processed);
        }
        processed
    }

    /// Processes the next record of the repartition log. See the module
    /// documentation for exactly what happens.
    pub fn process(&mut self, record: &RepartitionRecord) -> Result<Processed, RejectedRecord> {
        match record {
            RepartitionRecord::Click(click) => {
                let read = click.source.map(|s| (s.partition, s.offset..=s.offset));
                self.process_clicks(&click.button_id, click.event_time, read, 1)
            }
            RepartitionRecord::Clicks(batch) => {
                let first = batch.offsets.first().copied().unwrap_or_default();
                let read = Some((batch.partition, first..=batch.last().offset));
                self.process_clicks(&batch.button_id, batch.event_time, read, batch.clicks())
            }
            RepartitionRecord::PageLoads(batch) => self.process_page_loads(batch),
            RepartitionRecord::Progress(progress) => self.process_progress(progress),
        }
    }

    /// A batch of page loads: counted in their minute's count for their
    /// device type, unless the minute has closed.
    fn process_page_loads(&mut self, batch: &PageLoadBatch) -> Result<Processed, RejectedRecord> {
        let event_time = batch.event_time;
        if !is_valid_event_time(event_time) {
            increment(&mut self.counters.invalid_event_times);
            return Err(RejectedRecord::EventTimeOutOfRange { event_time });
        }
        let mut processed = Processed::default();
        let first = batch.offsets.first().copied().unwrap_or_default();
        let last = batch.offsets.last().copied().unwrap_or_default();
        let loads = batch.page_loads();
        if self.read_from(
            batch.partition,
            first..=last,
            event_time,
            loads,
            &mut processed,
        ) {
            return Ok(processed);
        }
        let Some(minute) = Window::containing(WindowSpec::OneMinute, event_time).next() else {
            return Ok(processed);
        };
        if self.has_closed(minute) {
            add(&mut self.counters.late_page_loads, loads);
            return Ok(processed);
        }
        let key = (minute, batch.device.clone());
        if !self.page_loads.contains_key(&key) {
            if self.open_entries >= self.config.max_open_entries() {
                add(&mut self.counters.over_limit_page_loads, loads);
                return Ok(processed);
            }
            self.open_entries += 1;
        }
        let count = self.page_loads.entry(key).or_default();
        add(count, loads);
        let count = *count;
        processed
            .changelog
            .push(page_loads_update(minute, &batch.device, count));
        processed.minute_counts.push(MinuteCount {
            kind: CountKind::PageLoad,
            minute: minute.start(),
            name: batch.device.clone(),
            count: Some(Count {
                clicks: count,
                overcount: 0,
            }),
            is_final: false,
        });
        Ok(processed)
    }

    /// Accounts for records `offsets` of input source `partition` at
    /// `event_time` (`n` events): its progress moves on (windows the
    /// watermark passes close); `true` when they were read before (at least
    /// once: a repeat, counted and not to be counted again).
    fn read_from(
        &mut self,
        partition: i32,
        offsets: std::ops::RangeInclusive<i64>,
        event_time: i64,
        n: u64,
        processed: &mut Processed,
    ) -> bool {
        if self.config.skips_repeated_sources()
            && self
                .progress
                .partition(partition)
                .is_some_and(|p| *offsets.start() < p.next_offset)
        {
            add(&mut self.counters.repeated_sources, n);
            return true;
        }
        if self.progress.is_input_partition(partition) {
            let next = offsets.end().saturating_add(1);
            if let Some(progress) = self.progress.advance(partition, next, event_time) {
                processed
                    .changelog
                    .push(progress_update(partition, progress));
                self.advance(processed);
            }
        }
        false
    }

    /// `clicks` clicks of `button_id` at `event_time` (a batch's are all in
    /// one minute, so in the same windows), read from input partition `p`
    /// at offsets within `first..=last` when `read` is `(p, first..=last)`.
    fn process_clicks(
        &mut self,
        button_id: &str,
        event_time: i64,
        read: Option<(i32, std::ops::RangeInclusive<i64>)>,
        clicks: u64,
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
        if let Some((partition, offsets)) = read {
            if self.read_from(partition, offsets, event_time, clicks, &mut processed) {
                return Ok(processed);
            }
        }
        let mut counted = false;
        for spec in WindowSpec::ALL {
            for window in Window::containing(spec, event_time) {
                if self.has_closed(window) {
                    self.late(window, clicks, &mut processed);
                } else if self.count(window, button_id, clicks, &mut processed) {
                    counted = true;
                } else {
                    add(&mut self.counters.spec_mut(spec).over_limit_drops, clicks);
                }
            }
        }
        if !counted {
            add(&mut self.counters.events_in_no_window, clicks);
        }
        Ok(processed)
    }

    fn process_progress(&mut self, record: &ProgressRecord) -> Result<Processed, RejectedRecord> {
        if !is_valid_event_time(record.watermark) {
            increment(&mut self.counters.invalid_event_times);
            return Err(RejectedRecord::EventTimeOutOfRange {
                event_time: record.watermark,
            });
        }
        if !self.progress.is_input_partition(record.partition) {
            increment(&mut self.counters.unknown_partitions);
            return Err(RejectedRecord::UnknownPartition {
                partition: record.partition,
            });
        }
        let mut processed = Processed::default();
        if let Some(progress) =
            self.progress
                .advance(record.partition, record.next_offset, record.watermark)
        {
            processed
                .changelog
                .push(progress_update(record.partition, progress));
            self.advance(&mut processed);
        }
        Ok(processed)
    }

    /// Whether `window` has closed: the watermark passed its end + grace.
    fn has_closed(&self, window: Window) -> bool {
        self.closed_through
            .is_some_and(|through| window.closes_at(self.config.grace_ms()) <= through)
    }

    /// Moves the watermark windows close at to the input's, if it is
    /// further: writes kept results again for their late clicks, closes
    /// what it passes, and forgets kept windows past [`CLOSED_KEPT_MS`].
    fn advance(&mut self, processed: &mut Processed) {
        let Some(watermark) = self.progress.watermark() else {
            return;
        };
        let previous = self.closed_through;
        if previous.is_some_and(|through| through >= watermark) {
            return;
        }
        self.closed_through = Some(watermark);
        processed.changelog.push(closed_through_update(watermark));
        let new_second = previous.is_none_or(|p| p.div_euclid(1000) < watermark.div_euclid(1000));
        if new_second {
            self.write_late_clicks(processed, |_| true);
        }
        let grace = self.config.grace_ms();
        while let Some(entry) = self.windows.first_entry() {
            if entry.key().closes_at(grace) > watermark {
                break;
            }
            let (window, counts) = entry.remove_entry();
            self.open_entries -= counts.len();
            processed.changelog.extend(
                counts
                    .iter()
                    .map(|(button_id, _)| count_deleted(window, button_id)),
            );
            if window.spec() == WindowSpec::OneMinute {
                processed
                    .minute_counts
                    .extend(counts.iter().map(|(button_id, count)| MinuteCount {
                        kind: CountKind::Click,
                        minute: window.start(),
                        name: button_id.clone(),
                        count: Some(*count),
                        is_final: true,
                    }));
            }
            let result = self.result(window, counts);
            processed.emitted.push(result.clone());
            processed.closed.push(window);
            increment(&mut self.counters.spec_mut(window.spec()).windows_emitted);
            let kept = ClosedWindow {
                result,
                pending: false,
            };
            processed.changelog.push(closed_update(window, &kept));
            self.closed.insert(window, kept);
        }
        while let Some(entry) = self.page_loads.first_entry() {
            if entry.key().0.closes_at(grace) > watermark {
                break;
            }
            let ((minute, device), count) = entry.remove_entry();
            self.open_entries -= 1;
            processed
                .changelog
                .push(page_loads_deleted(minute, &device));
            processed.minute_counts.push(MinuteCount {
                kind: CountKind::PageLoad,
                minute: minute.start(),
                name: device,
                count: Some(Count {
                    clicks: count,
                    overcount: 0,
                }),
                is_final: true,
            });
        }
        let expired =
            |window: &Window| window.closes_at(grace).saturating_add(CLOSED_KEPT_MS) <= watermark;
        self.write_late_clicks(processed, |window| expired(window));
        let gone: Vec<Window> = self.closed.keys().copied().filter(expired).collect();
        for window in gone {
            self.closed.remove(&window);
            processed.changelog.push(closed_deleted(window));
        }
    }

    /// Writes again the results of kept windows that got late clicks since
    /// they were last written, of those `which` selects.
    fn write_late_clicks(&mut self, processed: &mut Processed, which: impl Fn(&Window) -> bool) {
        for (window, kept) in self.closed.iter_mut() {
            if kept.pending && which(window) {
                kept.pending = false;
                processed.emitted.push(kept.result.clone());
                processed.changelog.push(closed_update(*window, kept));
                increment(&mut self.counters.spec_mut(window.spec()).late_updates_emitted);
            }
        }
    }

    /// A click late for `window`: counted in its kept result, if it is
    /// still kept.
    fn late(&mut self, window: Window, clicks: u64, processed: &mut Processed) {
        add(
            &mut self.counters.spec_mut(window.spec()).late_drops,
            clicks,
        );
        let expired = self.closed_through.is_some_and(|through| {
            window
                .closes_at(self.config.grace_ms())
                .saturating_add(CLOSED_KEPT_MS)
                <= through
        });
        if expired {
            return;
        }
        // A window this store counted nothing in is kept for its late
        // clicks all the same: a window task's products are only some of
        // the window's, and the merge adds these to the window's result
        // (a window with no clicks anywhere has none).
        let kept = self.closed.entry(window).or_insert_with(|| ClosedWindow {
            result: WindowResult {
                window,
                clicks: 0,
                products: 0,
                top: Vec::new(),
                late_clicks: 0,
            },
            pending: false,
        });
        add(&mut kept.result.late_clicks, clicks);
        kept.pending = true;
        processed.changelog.push(closed_update(window, kept));
    }

    /// Counts `clicks` clicks of `button_id` in `window`; `false` if they
    /// could not be counted (a window new to a full store).
    fn count(
        &mut self,
        window: Window,
        button_id: &str,
        clicks: u64,
        processed: &mut Processed,
    ) -> bool {
        let limit = self.config.max_products_per_window();
        let store_full = self.open_entries >= self.config.max_open_entries();
        let counts = self.windows.get_mut(&window);
        let counted = match counts {
            Some(counts) => match counts.increment(button_id, clicks) {
                Some(count) => Counted::Updated(count),
                None if counts.len() >= limit || store_full => {
                    match counts.replace_least(button_id, clicks) {
                        Some(replaced) => replaced,
                        None => return false,
                    }
                }
                None => {
                    self.open_entries += 1;
                    Counted::Updated(counts.insert(button_id, clicks))
                }
            },
            None if store_full => return false,
            None => {
                let mut counts = WindowCounts::default();
                let count = counts.insert(button_id, clicks);
                self.windows.insert(window, counts);
                self.open_entries += 1;
                Counted::Updated(count)
            }
        };
        let per_minute = window.spec() == WindowSpec::OneMinute;
        let mut minute_count = |button_id: &str, count| {
            if per_minute {
                processed.minute_counts.push(MinuteCount {
                    kind: CountKind::Click,
                    minute: window.start(),
                    name: button_id.to_owned(),
                    count,
                    is_final: false,
                });
            }
        };
        let count = match counted {
            Counted::Updated(count) => count,
            Counted::Replaced { evicted, count } => {
                increment(&mut self.counters.spec_mut(window.spec()).products_replaced);
                minute_count(&evicted, None);
                processed.changelog.push(count_deleted(window, &evicted));
                count
            }
        };
        minute_count(button_id, Some(count));
        processed
            .changelog
            .push(count_update(window, button_id, count));
        true
    }

    /// The final result of `window` with these counts.
    fn result(&self, window: Window, counts: WindowCounts) -> WindowResult {
        let clicks = counts.clicks();
        let products = u64::try_from(counts.len()).unwrap_or(u64::MAX);
        let mut top: Vec<ProductClicks> = counts
            .into_counts()
            .into_iter()
            .map(|(button_id, Count { clicks, overcount })| ProductClicks {
                button_id,
                clicks,
                overcount,
            })
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
            late_clicks: 0,
        }
    }

    /// The watermark windows have been closed at, if any.
    pub fn watermark(&self) -> Option<i64> {
        self.closed_through
    }

    /// The input partitions' progress.
    pub fn progress(&self) -> &InputProgress {
        &self.progress
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
    /// restore brought more (then no new window is opened until it is below).
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
    pub fn open_counts(&self) -> impl Iterator<Item = (Window, Vec<(&str, Count)>)> {
        self.windows.iter().map(|(window, counts)| {
            (
                *window,
                counts.iter().map(|(id, c)| (id.as_str(), *c)).collect(),
            )
        })
    }

    /// The page loads of each open minute (a `1m` window) and device type,
    /// in closing order: what a restore gives back.
    pub fn page_loads(&self) -> impl Iterator<Item = (Window, &str, u64)> {
        self.page_loads
            .iter()
            .map(|((minute, device), count)| (*minute, device.as_str(), *count))
    }

    /// The closed windows kept for late clicks, in window order.
    pub fn closed_windows(&self) -> impl Iterator<Item = (Window, &ClosedWindow)> {
        self.closed.iter().map(|(window, kept)| (*window, kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelog::ChangelogRecord;
    use crate::progress::{source_id, InputTopic, Source};
    use crate::ClickRecord;

    const T0: i64 = 1_700_000_040_000; // a minute boundary
    const MIN: i64 = 60_000;

    /// A store reading a one-partition input, and the next input offset.
    struct Run {
        store: WindowStore,
        offset: i64,
    }

    impl Run {
        fn new(config: TrendingConfig, partitions: i32) -> Self {
            let mut store = WindowStore::new(config);
            store.set_input_partitions(partitions, 0);
            Self { store, offset: 0 }
        }

        fn click_on(
            &mut self,
            partition: i32,
            button_id: &str,
            t: i64,
        ) -> Result<Processed, RejectedRecord> {
            self.offset += 1;
            self.store.process(&RepartitionRecord::Click(ClickRecord {
                button_id: button_id.to_owned(),
                event_time: t,
                event_id: None,
                source: Some(Source {
                    partition,
                    offset: self.offset,
                }),
            }))
        }

        fn click(&mut self, button_id: &str, t: i64) -> Processed {
            self.click_on(0, button_id, t).unwrap()
        }

        fn emitted(&mut self, button_id: &str, t: i64) -> Vec<(Window, u64)> {
            self.click(button_id, t)
                .emitted
                .iter()
                .map(|r| (r.window, r.clicks))
                .collect()
        }

        fn progress(
            &mut self,
            partition: i32,
            watermark: i64,
        ) -> Result<Processed, RejectedRecord> {
            self.store
                .process(&RepartitionRecord::Progress(ProgressRecord {
                    partition,
                    next_offset: self.offset + 1,
                    watermark,
                }))
        }

        fn counters(&self) -> &Counters {
            self.store.counters()
        }
    }

    fn run(grace_ms: i64, max_open_entries: usize) -> Run {
        Run::new(
            TrendingConfig::new(grace_ms, 3, max_open_entries).unwrap(),
            1,
        )
    }

    fn one(start: i64) -> Window {
        Window::new(WindowSpec::OneMinute, start).unwrap()
    }

    fn five(start: i64) -> Window {
        Window::new(WindowSpec::FiveMinutes, start).unwrap()
    }

    fn decoded(processed: &Processed) -> Vec<ChangelogRecord> {
        processed
            .changelog
            .iter()
            .map(|u| u.decode().unwrap())
            .collect()
    }

    #[test]
    fn with_no_grace_a_window_closes_when_the_watermark_reaches_its_end() {
        let mut s = run(0, 100);
        assert!(s.emitted("a", T0).is_empty());
        assert!(s.emitted("a", T0 + MIN - 1).is_empty());
        // Exactly at the end: the windows ending at T0+1m close, with 2
        // clicks each; the event itself is in the next windows.
        assert_eq!(
            s.emitted("a", T0 + MIN),
            vec![(one(T0), 2), (five(T0 - 4 * MIN), 2)]
        );
        // The watermark is T0+1m: an event at T0+1m-1 is late for its 1m
        // window (end + 0 <= watermark), but not for the 5m windows still open.
        s.click("b", T0 + MIN - 1);
        assert_eq!(s.counters().one_minute.late_drops, 1);
        assert_eq!(s.counters().five_minutes.late_drops, 1); // [T0-4m, T0+1m)
        assert_eq!(s.counters().events_in_no_window, 0);
    }

    #[test]
    fn a_late_event_within_grace_is_counted_and_beyond_grace_is_not() {
        let mut s = run(30_000, 100);
        s.click("a", T0 + 10_000);
        // Watermark T0+1m+29.999s: the 1m window [T0, T0+1m) is still open.
        assert!(s.emitted("a", T0 + MIN + 29_999).is_empty());
        s.click("b", T0 + 59_999); // late but within grace
        assert_eq!(s.counters().one_minute.late_drops, 0);
        let closed = s.click("a", T0 + MIN + 30_000).emitted;
        let closed: Vec<(Window, u64, u64)> = closed
            .iter()
            .map(|r| (r.window, r.clicks, r.products))
            .collect();
        assert_eq!(closed, vec![(one(T0), 2, 2), (five(T0 - 4 * MIN), 2, 2)]);
        // Now beyond grace for the windows ending at T0+1m: dropped there,
        // counted in the four later 5m windows.
        s.click("c", T0 + 1);
        assert_eq!(s.counters().one_minute.late_drops, 1);
        assert_eq!(s.counters().events_in_no_window, 0);
        // Very late: before every open window; counted in none.
        s.click("c", T0 - 10 * MIN);
        assert_eq!(s.counters().events_in_no_window, 1);
        assert_eq!(s.counters().five_minutes.late_drops, 1 + 5);
    }

    #[test]
    fn the_watermark_is_the_slowest_input_partitions() {
        let mut s = Run::new(TrendingConfig::new(0, 3, 100).unwrap(), 2);
        s.click_on(0, "a", T0).unwrap();
        // Partition 1 has not reported: nothing closes, however far 0 gets.
        let far = s.click_on(0, "a", T0 + 10 * MIN).unwrap();
        assert!(far.emitted.is_empty());
        assert_eq!(s.store.watermark(), None);
        // Partition 1 catches up from behind: its on-time click counts.
        s.click_on(1, "b", T0 + 30_000).unwrap();
        assert_eq!(s.store.watermark(), Some(T0 + 30_000));
        assert_eq!(s.counters().one_minute.late_drops, 0);
        // Its progress record (read to its end) closes what both passed.
        let closed: Vec<(Window, u64)> = s
            .progress(1, T0 + 2 * MIN)
            .unwrap()
            .emitted
            .iter()
            .map(|r| (r.window, r.clicks))
            .collect();
        assert_eq!(
            closed,
            vec![
                (one(T0), 2),
                (five(T0 - 4 * MIN), 2),
                (five(T0 - 3 * MIN), 2)
            ]
        );
        // A progress record never moves a partition back.
        assert!(s.progress(1, T0).unwrap().changelog.is_empty());
        assert_eq!(
            s.progress(5, T0 + 20 * MIN),
            Err(RejectedRecord::UnknownPartition { partition: 5 })
        );
        assert_eq!(s.counters().unknown_partitions, 1);
        // A click from no input partition is counted but moves no time.
        s.click_on(9, "c", T0 + 30 * MIN).unwrap();
        assert_eq!(s.store.watermark(), Some(T0 + 2 * MIN));
    }

    #[test]
    fn a_batch_counts_as_its_clicks_one_by_one() {
        let config = TrendingConfig::new(0, 2, 100_000)
            .unwrap()
            .with_max_products_per_window(2)
            .unwrap();
        let clicks = [("a", 3), ("b", 2), ("c", 4), ("a", 1)];
        let mut one_by_one = Run::new(config, 1);
        let mut batched = Run::new(config, 1);
        let mut offset = 0;
        for (product, n) in clicks {
            let offsets: Vec<i64> = (offset..offset + n).collect();
            offset += n;
            for _ in 0..n {
                one_by_one.click(product, T0 + 5);
            }
            batched
                .store
                .process(&RepartitionRecord::Clicks(crate::ClickBatch {
                    button_id: product.into(),
                    event_time: T0 + 5,
                    partition: 0,
                    offsets,
                }))
                .unwrap();
        }
        let close = |run: &mut Run| run.click_on(0, "z", T0 + 6 * MIN).unwrap().emitted;
        let (expected, got) = (close(&mut one_by_one), close(&mut batched));
        assert_eq!(got.len(), 6);
        assert_eq!(got, expected, "the same counts and overcounts");
        // A full window took "c" in "b"'s place: the bound holds in batches too.
        assert_eq!(got[0].top[0].button_id, "c");
        assert_eq!(got[0].top[0].overcount, 2);
    }

    #[test]
    fn each_minute_reports_every_count_as_it_moves_and_every_final_count_once() {
        let config = TrendingConfig::new(0, 2, 100_000)
            .unwrap()
            .with_max_products_per_window(2)
            .unwrap();
        let mut s = Run::new(config, 1);
        let minute = |p: &Processed| -> Vec<(String, Option<u64>, bool)> {
            p.minute_counts
                .iter()
                .map(|m| {
                    assert_eq!(m.minute, T0);
                    (m.name.clone(), m.count.map(|c| c.clicks), m.is_final)
                })
                .collect()
        };
        let update = |id: &str, n: Option<u64>, f: bool| (id.to_owned(), n, f);
        assert_eq!(minute(&s.click("a", T0)), [update("a", Some(1), false)]);
        s.click("a", T0 + 1);
        s.click("b", T0 + 2);
        // The minute is full: "c" takes "b"'s place, and "b" is withdrawn.
        assert_eq!(
            minute(&s.click("c", T0 + 3)),
            [update("b", None, false), update("c", Some(2), false)]
        );
        // Closing the minute reports every product's final count; the 5m
        // windows report none.
        let closing = s.click("z", T0 + MIN);
        assert_eq!(
            minute(&Processed {
                minute_counts: closing
                    .minute_counts
                    .iter()
                    .filter(|m| m.minute == T0)
                    .cloned()
                    .collect(),
                ..Processed::default()
            }),
            [update("a", Some(2), true), update("c", Some(2), true)]
        );
        let c = closing.minute_counts.iter().find(|m| m.name == "c");
        assert_eq!(c.unwrap().count.unwrap().overcount, 1);
        // The click that closed it counts in the next minute.
        assert!(closing
            .minute_counts
            .iter()
            .any(|m| m.minute == T0 + MIN && m.name == "z" && !m.is_final));
        // A late click changes no minute's count.
        assert!(s.click("a", T0 + 5).minute_counts.is_empty());
    }

    #[test]
    fn page_loads_are_counted_per_device_and_minute_and_wait_for_their_partitions() {
        let config = TrendingConfig::new(0, 3, 100)
            .unwrap()
            .with_repeated_sources_skipped(true);
        let mut store = WindowStore::new(config);
        store.set_input_partitions(1, 1);
        let loads = source_id(InputTopic::PageLoads, 0);
        let batch = |device: &str, t: i64, offsets: Vec<i64>| {
            RepartitionRecord::PageLoads(PageLoadBatch {
                device: device.into(),
                event_time: t,
                partition: loads,
                offsets,
            })
        };
        let p = store.process(&batch("mobile", T0 + 1, vec![0, 1])).unwrap();
        assert_eq!(p.minute_counts[0].kind, CountKind::PageLoad);
        assert_eq!(p.minute_counts[0].count.unwrap().clicks, 2);
        store.process(&batch("desktop", T0 + 2, vec![2])).unwrap();
        // A click partition far ahead closes nothing: the page-load
        // partition is behind.
        let click = RepartitionRecord::Click(ClickRecord {
            button_id: "kit".into(),
            event_time: T0 + 3 * MIN,
            event_id: None,
            source: Some(Source {
                partition: 0,
                offset: 0,
            }),
        });
        assert!(store
            .process(&click)
            .unwrap()
            .minute_counts
            .iter()
            .all(|m| !m.is_final));
        // The page-load partition moves on: the minute closes with each
        // device's final count, and the changelog forgets them.
        let closing = store
            .process(&batch("mobile", T0 + 2 * MIN, vec![3]))
            .unwrap();
        let finals: Vec<(&str, u64)> = closing
            .minute_counts
            .iter()
            .filter(|m| m.is_final && m.kind == CountKind::PageLoad)
            .map(|m| (m.name.as_str(), m.count.unwrap().clicks))
            .collect();
        assert_eq!(finals, [("desktop", 1), ("mobile", 2)]);
        assert!(
            decoded(&closing).contains(&ChangelogRecord::PageLoadsDeleted {
                minute: one(T0),
                device: "mobile".into(),
            })
        );
        // A page load for the closed minute is late; a repeat is skipped.
        store.process(&batch("tablet", T0 + 5, vec![4])).unwrap();
        assert_eq!(store.counters().late_page_loads, 1);
        store
            .process(&batch("tablet", T0 + 2 * MIN, vec![4]))
            .unwrap();
        assert_eq!(store.counters().repeated_sources, 1);
        // A restore gives the open minutes' page loads back.
        let mut changelog = Vec::new();
        let mut fresh = WindowStore::new(TrendingConfig::new(0, 3, 100).unwrap());
        fresh.set_input_partitions(1, 1);
        for record in [
            batch("mobile", T0 + 1, vec![0, 1]),
            batch("bot", T0 + MIN, vec![2]),
        ] {
            changelog.extend(fresh.process(&record).unwrap().changelog);
        }
        let (restored, skipped) = WindowStore::restore(
            TrendingConfig::new(0, 3, 100).unwrap(),
            changelog.iter().map(|u| (u.key.clone(), u.value.clone())),
        );
        assert!(skipped.is_empty());
        let kept: Vec<(Window, &str, u64)> = restored.page_loads().collect();
        assert_eq!(kept, fresh.page_loads().collect::<Vec<_>>());
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn a_window_that_counted_nothing_keeps_its_late_clicks_for_the_merge() {
        let mut s = run(0, 100);
        // The watermark passes [T0, T0+1m) with no click in it.
        s.click("a", T0 + MIN + 1);
        let late = s.click("b", T0 + 5);
        let kept = decoded(&late)
            .into_iter()
            .find_map(|r| match r {
                ChangelogRecord::Closed { window, closed } if window == one(T0) => Some(closed),
                _ => None,
            })
            .expect("the late-only result is in the changelog, and decodes");
        assert_eq!((kept.result.clicks, kept.result.late_clicks), (0, 1));
        assert!(kept.result.top.is_empty());
        let again = s.click("a", T0 + MIN + 1_000).emitted;
        let one_minute: Vec<&WindowResult> = again.iter().filter(|r| r.window == one(T0)).collect();
        assert_eq!(one_minute.len(), 1, "written for the merge");
        assert_eq!((one_minute[0].clicks, one_minute[0].late_clicks), (0, 1));
    }

    #[test]
    fn late_clicks_are_added_to_the_closed_windows_result_and_written_again() {
        let mut s = run(0, 100);
        s.click("a", T0 + 1);
        let closed = s.click("a", T0 + MIN).emitted;
        assert_eq!(closed[0].late_clicks, 0);
        // Two clicks for [T0, T0+1m) come late, in the same second of watermark.
        for _ in 0..2 {
            let late = s.click("b", T0 + 5);
            assert!(late.emitted.is_empty());
            let kept = decoded(&late)
                .into_iter()
                .find_map(|r| match r {
                    ChangelogRecord::Closed { window, closed } if window == one(T0) => Some(closed),
                    _ => None,
                })
                .expect("the kept result is in the changelog");
            assert!(kept.pending);
        }
        // The watermark's next second writes the result again, once.
        let again = s.click("a", T0 + MIN + 1_000).emitted;
        let one_minute: Vec<&WindowResult> = again.iter().filter(|r| r.window == one(T0)).collect();
        assert_eq!(one_minute.len(), 1);
        assert_eq!(
            (one_minute[0].clicks, one_minute[0].late_clicks),
            (1, 2),
            "the result is the same, with its late clicks"
        );
        assert!(s.click("a", T0 + MIN + 2_000).emitted.is_empty());
        assert_eq!(s.counters().one_minute.late_updates_emitted, 1);
        // Ten minutes after closing it is forgotten: late clicks go to the
        // counters only.
        let gone = s.click("a", T0 + MIN + CLOSED_KEPT_MS);
        assert!(decoded(&gone).contains(&ChangelogRecord::ClosedDeleted { window: one(T0) }));
        s.click("b", T0 + 5);
        assert!(s.store.closed_windows().all(|(w, _)| w != one(T0)));
    }

    #[test]
    fn closed_windows_come_out_in_end_then_spec_then_start_order() {
        let mut s = run(0, 100);
        s.click("a", T0);
        let closed: Vec<Window> = s
            .click("a", T0 + 10 * MIN)
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
        let mut s = run(0, 100);
        for id in ["b", "c", "a", "c", "d", "b", "é", "é", "é"] {
            s.click(id, T0 + 1);
        }
        let result = s.click("x", T0 + MIN).emitted.remove(0);
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
    fn a_full_window_keeps_its_frequent_products_with_bounded_counts() {
        let config = TrendingConfig::new(0, 2, 1_000)
            .unwrap()
            .with_max_products_per_window(3)
            .unwrap();
        let mut s = Run::new(config, 1);
        // A real product clicked 20 times among 30 invented ones: more than
        // a third of the 50 clicks, so it must be kept.
        for n in 0..30 {
            s.click(&format!("junk-{n}"), T0 + 1);
            if n % 3 != 2 {
                s.click("kit", T0 + 1);
            }
        }
        let result = s.click("x", T0 + MIN).emitted.remove(0);
        assert_eq!(result.clicks, 50, "every click is in the total");
        assert_eq!(result.top[0].button_id, "kit");
        let kit = &result.top[0];
        assert!(
            kit.clicks - kit.overcount <= 20 && 20 <= kit.clicks,
            "{kit:?}"
        );
        assert!(kit.overcount * 3 <= 50);
        assert!(s.counters().one_minute.products_replaced > 0);
        assert!(s.store.open_entries() <= 3 * 6);
    }

    #[test]
    fn the_changelog_records_every_change_in_order() {
        let mut s = run(0, 100);
        let first = decoded(&s.click("a", T0 + 10));
        let mut expected = vec![
            ChangelogRecord::Progress {
                partition: 0,
                progress: crate::progress::PartitionProgress {
                    watermark: T0 + 10,
                    next_offset: 2,
                },
            },
            ChangelogRecord::ClosedThrough(T0 + 10),
        ];
        let count = |window, clicks| ChangelogRecord::Count {
            window,
            button_id: "a".into(),
            count: Count {
                clicks,
                overcount: 0,
            },
        };
        expected.extend(
            std::iter::once(one(T0))
                .chain((0..5).rev().map(|k| five(T0 - k * MIN)))
                .map(|window| count(window, 1)),
        );
        assert_eq!(first, expected);
        // An older event moves no time, only its offset and counts.
        let second = decoded(&s.click("a", T0 + 5));
        assert!(matches!(second[0], ChangelogRecord::Progress { .. }));
        let expected: Vec<ChangelogRecord> = std::iter::once(one(T0))
            .chain((0..5).rev().map(|k| five(T0 - k * MIN)))
            .map(|window| count(window, 2))
            .collect();
        assert_eq!(second[1..], expected[..]);
        // Closing writes a tombstone per count of the closed window and
        // keeps its result.
        let third = decoded(&s.click("b", T0 + MIN));
        let tombstones: Vec<&ChangelogRecord> = third
            .iter()
            .filter(|r| matches!(r, ChangelogRecord::CountDeleted { .. }))
            .collect();
        assert_eq!(
            tombstones,
            vec![
                &ChangelogRecord::CountDeleted {
                    window: one(T0),
                    button_id: "a".into()
                },
                &ChangelogRecord::CountDeleted {
                    window: five(T0 - 4 * MIN),
                    button_id: "a".into()
                },
            ]
        );
        assert!(third
            .iter()
            .any(|r| matches!(r, ChangelogRecord::Closed { window, .. } if *window == one(T0))));
    }

    #[test]
    fn repeated_input_offsets_are_skipped_when_asked() {
        let config = TrendingConfig::new(0, 3, 100)
            .unwrap()
            .with_repeated_sources_skipped(true);
        let mut s = Run::new(config, 1);
        s.click("a", T0);
        s.click("a", T0);
        // At-least-once wrote offsets 1 and 2 again after a crash.
        s.offset = 0;
        assert!(s.click("a", T0).changelog.is_empty());
        assert!(s.click("a", T0).changelog.is_empty());
        assert_eq!(s.counters().repeated_sources, 2);
        let counted = s.click("a", T0);
        assert!(!counted.changelog.is_empty(), "offset 3 is new");
        let result = s.click("b", T0 + MIN).emitted.remove(0);
        assert_eq!(result.clicks, 3);
    }

    #[test]
    fn invalid_event_times_are_refused_counted_and_change_nothing() {
        let mut s = run(0, 100);
        s.click("a", T0);
        for t in [-1, i64::MIN, MAX_EVENT_TIME_MS + 1, i64::MAX] {
            assert_eq!(
                s.click_on(0, "a", t),
                Err(RejectedRecord::EventTimeOutOfRange { event_time: t })
            );
        }
        assert_eq!(s.counters().invalid_event_times, 4);
        assert_eq!(s.store.watermark(), Some(T0));
        assert_eq!(s.store.open_entries(), 6);
        // The extremes of the accepted range are processed.
        s.click("a", 0);
        let last = s.click("a", MAX_EVENT_TIME_MS);
        assert_eq!(s.store.watermark(), Some(MAX_EVENT_TIME_MS));
        assert_eq!(last.emitted.len(), 6, "every earlier window closed");
        assert!(s.click("a", MAX_EVENT_TIME_MS).emitted.is_empty());
    }

    #[test]
    fn the_largest_grace_keeps_windows_open_without_overflow() {
        let mut s = Run::new(TrendingConfig::new(i64::MAX, 1, 100).unwrap(), 1);
        s.click("a", 0);
        assert!(s.click("a", MAX_EVENT_TIME_MS).emitted.is_empty());
        assert_eq!(s.store.open_windows(), 12);
    }

    #[test]
    fn over_long_button_ids_are_refused_and_counted() {
        let mut s = run(0, 100);
        let long = "é".repeat(MAX_BUTTON_ID_BYTES / 2 + 1);
        assert_eq!(
            s.click_on(0, &long, T0),
            Err(RejectedRecord::ButtonIdTooLong {
                bytes: MAX_BUTTON_ID_BYTES + 2
            })
        );
        assert_eq!(s.counters().invalid_button_ids, 1);
        assert_eq!(s.store.watermark(), None);
        assert!(s.click_on(0, &"a".repeat(MAX_BUTTON_ID_BYTES), T0).is_ok());
        assert!(
            s.click_on(0, "", T0).is_ok(),
            "an empty id is a product like any other"
        );
    }

    #[test]
    fn a_full_store_opens_no_window_but_still_counts_in_open_ones() {
        // Room for 7 counts: "a" takes 6 (one 1m and five 5m windows).
        let mut s = run(0, 7);
        s.click("a", T0);
        assert_eq!(s.store.open_entries(), 6);
        // "b" gets its own count in the 1m window; then the store is full,
        // and in the 5m windows "b" takes the least-clicked place ("a").
        s.click("b", T0);
        assert_eq!(s.store.open_entries(), 7);
        assert_eq!(s.counters().five_minutes.products_replaced, 5);
        // The next minute closes two windows (3 counts), so "c" opens its
        // 1m window and gets two new 5m counts; then the store is full
        // again: it takes a place in the two other open 5m windows, and
        // the 5m window that would be new cannot be opened.
        let closed = s.click("c", T0 + MIN + 1).emitted;
        assert_eq!(closed.len(), 2);
        assert_eq!(s.store.open_entries(), 7);
        assert_eq!(s.counters().one_minute.over_limit_drops, 0);
        assert_eq!(s.counters().five_minutes.over_limit_drops, 1);
        assert_eq!(s.counters().five_minutes.products_replaced, 5 + 2);
        assert_eq!(s.counters().events_in_no_window, 0);
    }
}
