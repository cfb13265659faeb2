//! The store's results equal those of a reference model written here from
//! the rules, independently of the store's code: the watermark after each
//! record is the smallest, over the input partitions, of the latest time
//! each has reported (none until all have); a click is counted in each of
//! its windows whose `end + grace` the watermark has not reached, and is
//! late for the others; a window's result is emitted when the watermark
//! first reaches `end + grace`; late clicks for a window closed less than
//! [`CLOSED_KEPT_MS`] ago are added to its `late_clicks` (a window that
//! counted no click is kept for them too: a window task's result of late
//! clicks alone, which the merge adds to the other tasks'), and the result
//! is written again when the watermark enters a new second (or the window
//! is forgotten).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use edm_trending::{
    ProductClicks, RepartitionRecord, Window, WindowResult, WindowSpec, CLOSED_KEPT_MS,
};
use proptest::prelude::*;

use crate::generators::{run, scenario, time_of, Scenario, NO_LIMIT};

/// The specs as the issue gives them: name, size and advance in ms.
const SPECS: [(WindowSpec, i64, i64); 2] = [
    (WindowSpec::OneMinute, 60_000, 60_000),
    (WindowSpec::FiveMinutes, 300_000, 60_000),
];

/// Accepted event times: the epoch to the end of year 9999.
fn valid(t: i64) -> bool {
    (0..=253_402_300_799_999).contains(&t)
}

/// What the model predicts: each result with the index of the record that
/// emits it, in emission order; the late (event, window) drops per spec,
/// events in no window and invalid times.
#[derive(Debug, PartialEq)]
struct Outcome {
    results: Vec<(usize, WindowResult)>,
    late_drops: [u64; 2],
    events_in_no_window: u64,
    invalid_event_times: u64,
}

/// A window as the model names it: (end, spec index, start), which is also
/// the order windows close in.
type Key = (i64, usize, i64);

fn window_of((_, spec_index, start): Key) -> Window {
    Window::new(SPECS[spec_index].0, start).expect("an aligned window")
}

fn reference(
    records: &[RepartitionRecord],
    partitions: i32,
    grace_ms: i64,
    top_n: usize,
) -> Outcome {
    // The watermark after each record.
    let mut latest: BTreeMap<i32, i64> = BTreeMap::new();
    let mut watermark_after: Vec<Option<i64>> = Vec::with_capacity(records.len());
    for record in records {
        let partition = match record {
            RepartitionRecord::Click(click) => click.source.map(|s| s.partition),
            RepartitionRecord::Clicks(batch) => Some(batch.partition),
            RepartitionRecord::PageLoads(batch) => Some(batch.partition),
            RepartitionRecord::Progress(progress) => Some(progress.partition),
        };
        if let (Some(p), true) = (partition, valid(time_of(record))) {
            let entry = latest.entry(p).or_insert(i64::MIN);
            *entry = (*entry).max(time_of(record));
        }
        watermark_after.push(
            (0..partitions)
                .map(|p| latest.get(&p).copied())
                .try_fold(i64::MAX, |least, t| t.map(|t| least.min(t))),
        );
    }
    // Which clicks each window counts, and which came late for it.
    let mut accepted: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    let mut late: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    let mut late_drops = [0u64; 2];
    let mut events_in_no_window = 0;
    let mut invalid_event_times = 0;
    for (index, record) in records.iter().enumerate() {
        let t = time_of(record);
        if !valid(t) {
            invalid_event_times += 1;
            continue;
        }
        if matches!(record, RepartitionRecord::Progress(_)) {
            continue;
        }
        let mut counted = false;
        for (spec_index, &(_, size, advance)) in SPECS.iter().enumerate() {
            // Brute force: every aligned start near t, kept if the window holds t.
            let minute = t / advance;
            for start in (minute - 10..=minute + 1).map(|m| m * advance) {
                if !(start <= t && t < start + size) {
                    continue;
                }
                let key = (start + size, spec_index, start);
                if watermark_after[index].is_some_and(|w| start + size + grace_ms <= w) {
                    late_drops[spec_index] += 1;
                    late.entry(key).or_default().push(index);
                } else {
                    accepted.entry(key).or_default().push(index);
                    counted = true;
                }
            }
        }
        if !counted {
            events_in_no_window += 1;
        }
    }
    // Each window with clicks closes at the first record after which the
    // watermark reached end + grace.
    let closes_at = |key: Key| key.0 + grace_ms;
    let closed_by: BTreeMap<Key, usize> = accepted
        .keys()
        .filter_map(|&key| {
            watermark_after
                .iter()
                .position(|w| w.is_some_and(|w| w >= closes_at(key)))
                .map(|index| (key, index))
        })
        .collect();
    let result_of = |key: Key, late_clicks: u64| {
        let indices = accepted.get(&key).map_or(&[][..], Vec::as_slice);
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for &index in indices {
            if let RepartitionRecord::Click(click) = &records[index] {
                *counts.entry(click.button_id.as_str()).or_default() += 1;
            }
        }
        let mut top: Vec<(&str, u64)> = counts.iter().map(|(id, n)| (*id, *n)).collect();
        top.sort_by_key(|&(id, n)| (Reverse(n), id));
        top.truncate(top_n);
        WindowResult {
            window: window_of(key),
            clicks: indices.len() as u64,
            products: counts.len() as u64,
            top: top
                .into_iter()
                .map(|(id, clicks)| ProductClicks {
                    button_id: id.to_owned(),
                    clicks,
                    overcount: 0,
                })
                .collect(),
            late_clicks,
        }
    };
    // Walk the records: what each one emits.
    let mut results = Vec::new();
    // Kept windows: late clicks so far, and whether some are not written yet.
    let mut kept: BTreeMap<Key, (u64, bool)> = BTreeMap::new();
    let mut previous: Option<i64> = None;
    for (index, &watermark) in watermark_after.iter().enumerate() {
        if watermark > previous {
            let watermark = watermark.expect("greater than something");
            let new_second =
                previous.is_none_or(|p| p.div_euclid(1000) < watermark.div_euclid(1000));
            if new_second {
                for (&key, (late_clicks, pending)) in kept.iter_mut() {
                    if std::mem::take(pending) {
                        results.push((index, result_of(key, *late_clicks)));
                    }
                }
            }
            for (&key, _) in closed_by.iter().filter(|(_, &at)| at == index) {
                results.push((index, result_of(key, 0)));
                kept.insert(key, (0, false));
            }
            let expired: Vec<Key> = kept
                .keys()
                .copied()
                .filter(|&key| closes_at(key) + CLOSED_KEPT_MS <= watermark)
                .collect();
            for key in expired {
                if let Some((late_clicks, true)) = kept.remove(&key) {
                    results.push((index, result_of(key, late_clicks)));
                }
            }
            previous = Some(watermark);
        }
        for (key, indices) in &late {
            let expired = previous.is_some_and(|w| closes_at(*key) + CLOSED_KEPT_MS <= w);
            if indices.contains(&index) && !expired {
                let (late_clicks, pending) = kept.entry(*key).or_insert((0, false));
                *late_clicks += 1;
                *pending = true;
            }
        }
    }
    Outcome {
        results,
        late_drops,
        events_in_no_window,
        invalid_event_times,
    }
}

fn store_outcome(scenario: &Scenario) -> Outcome {
    let mut store = scenario.store();
    let results: Vec<(usize, WindowResult)> = run(&mut store, &scenario.records)
        .into_iter()
        .enumerate()
        .filter_map(|(index, processed)| Some((index, processed?)))
        .flat_map(|(index, processed)| processed.emitted.into_iter().map(move |r| (index, r)))
        .collect();
    let counters = store.counters();
    assert_eq!(counters.one_minute.over_limit_drops, 0);
    assert_eq!(counters.five_minutes.over_limit_drops, 0);
    let spec_total = |f: fn(&edm_trending::SpecCounters) -> u64| {
        f(&counters.one_minute) + f(&counters.five_minutes)
    };
    assert_eq!(
        spec_total(|c| c.windows_emitted) + spec_total(|c| c.late_updates_emitted),
        results.len() as u64
    );
    Outcome {
        results,
        late_drops: [
            counters.one_minute.late_drops,
            counters.five_minutes.late_drops,
        ],
        events_in_no_window: counters.events_in_no_window,
        invalid_event_times: counters.invalid_event_times,
    }
}

proptest! {
    #[test]
    fn the_store_emits_exactly_what_the_reference_model_predicts(scenario in scenario()) {
        let expected = reference(&scenario.records, scenario.partitions, scenario.grace_ms, scenario.top_n);
        prop_assert_eq!(store_outcome(&scenario), expected);
    }
}

#[test]
fn the_reference_model_itself_follows_the_rules_on_a_worked_example() {
    // Two input partitions, grace 30 s. Records (ms after a minute boundary M):
    //   p0 kit @ M+10s; p0 mug @ M+70s (p1 has not reported: no watermark);
    //   p1 kit @ M+50s (watermark M+50s: on time);
    //   p1 progress M+95s (watermark M+70s); p0 mug @ M+96s (watermark
    //   M+95s: closes [M, M+1m) at M+90s); p1 kit @ M+59s (late for the
    //   windows ending at M+1m: counted in the four later 5m windows, and
    //   in the closed windows' late clicks); p1 progress M+97s (watermark
    //   M+96s, a new second: both closed windows are written again with
    //   their late click).
    use edm_trending::{ClickRecord, ProgressRecord, Source};
    let m = 1_700_000_040_000;
    let click = |p: i32, offset: i64, id: &str, t: i64| {
        RepartitionRecord::Click(ClickRecord {
            button_id: id.to_owned(),
            event_time: m + t,
            event_id: None,
            source: Some(Source {
                partition: p,
                offset,
            }),
        })
    };
    let progress = |p: i32, t: i64| {
        RepartitionRecord::Progress(ProgressRecord {
            partition: p,
            next_offset: 10,
            watermark: m + t,
        })
    };
    let records = [
        click(0, 0, "kit", 10_000),
        click(0, 1, "mug", 70_000),
        click(1, 0, "kit", 50_000),
        progress(1, 95_000),
        click(0, 2, "mug", 96_000),
        click(1, 1, "kit", 59_000),
        progress(1, 97_000),
    ];
    let outcome = reference(&records, 2, 30_000, 3);
    let kit_twice = |window, late_clicks| WindowResult {
        window,
        clicks: 2,
        products: 1,
        top: vec![ProductClicks {
            button_id: "kit".into(),
            clicks: 2,
            overcount: 0,
        }],
        late_clicks,
    };
    let one = Window::new(WindowSpec::OneMinute, m).unwrap();
    let five = Window::new(WindowSpec::FiveMinutes, m - 240_000).unwrap();
    // At M+95s both windows ending at M+1m close, the 1m one first; at
    // M+96s they are written again with their late click.
    assert_eq!(
        outcome.results,
        vec![
            (4, kit_twice(one, 0)),
            (4, kit_twice(five, 0)),
            (6, kit_twice(one, 1)),
            (6, kit_twice(five, 1)),
        ]
    );
    // kit @ M+59s is late for [M, M+1m) and for the 5m window [M-4m, M+1m).
    assert_eq!(outcome.late_drops, [1, 1]);
    assert_eq!(outcome.events_in_no_window, 0);
    // And the store agrees.
    let scenario = Scenario {
        records: records.to_vec(),
        partitions: 2,
        grace_ms: 30_000,
        top_n: 3,
        max_open_entries: NO_LIMIT,
        max_products_per_window: 6,
    };
    assert_eq!(store_outcome(&scenario), outcome);
}
