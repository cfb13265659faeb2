//! The store's results equal those of a reference model written here from
//! the rules, independently of the store's code: for each window, the
//! clicks accepted under the arrival-order rule, emitted when stream time
//! first reaches `end + grace`.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use edm_trending::{ProductClicks, Window, WindowResult, WindowSpec, WindowStore};
use proptest::prelude::*;

use crate::generators::{run, scenario, Click, Scenario, NO_LIMIT};

/// The specs as the issue gives them: name, size and advance in ms.
const SPECS: [(WindowSpec, i64, i64); 2] = [
    (WindowSpec::OneMinute, 60_000, 60_000),
    (WindowSpec::FiveMinutes, 300_000, 60_000),
];

/// Accepted event times: the epoch to the end of year 9999.
fn valid(t: i64) -> bool {
    (0..=253_402_300_799_999).contains(&t)
}

/// What the model predicts: each result with the index of the click that
/// emits it, in emission order; the late (event, window) drops per spec,
/// events in no window and invalid times.
#[derive(Debug, PartialEq)]
struct Outcome {
    results: Vec<(usize, WindowResult)>,
    late_drops: [u64; 2],
    events_in_no_window: u64,
    invalid_event_times: u64,
}

fn reference(clicks: &[Click], grace_ms: i64, top_n: usize) -> Outcome {
    // Stream time after each click: the largest valid event time so far.
    let mut stream_after = Vec::with_capacity(clicks.len());
    let mut stream_time = i64::MIN;
    for click in clicks {
        if valid(click.event_time) {
            stream_time = stream_time.max(click.event_time);
        }
        stream_after.push(stream_time);
    }
    // For each (spec, start): the indices of the clicks counted in it.
    let mut accepted: BTreeMap<(usize, i64), Vec<usize>> = BTreeMap::new();
    let mut late_drops = [0u64; 2];
    let mut events_in_no_window = 0;
    let mut invalid_event_times = 0;
    for (index, click) in clicks.iter().enumerate() {
        let t = click.event_time;
        if !valid(t) {
            invalid_event_times += 1;
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
                if start + size + grace_ms > stream_after[index] {
                    accepted.entry((spec_index, start)).or_default().push(index);
                    counted = true;
                } else {
                    late_drops[spec_index] += 1;
                }
            }
        }
        if !counted {
            events_in_no_window += 1;
        }
    }
    // Each window closes at the first click after which stream time has
    // reached end + grace; windows never closed are not emitted.
    let mut emissions = Vec::new();
    for ((spec_index, start), indices) in accepted {
        let (spec, size, _) = SPECS[spec_index];
        let end = start + size;
        let Some(closed_at) = stream_after.iter().position(|&st| st >= end + grace_ms) else {
            continue;
        };
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for &index in &indices {
            *counts.entry(clicks[index].button_id.as_str()).or_default() += 1;
        }
        let mut top: Vec<(&str, u64)> = counts.iter().map(|(id, n)| (*id, *n)).collect();
        top.sort_by_key(|&(id, n)| (Reverse(n), id));
        top.truncate(top_n);
        let result = WindowResult {
            window: Window::new(spec, start).expect("an aligned window"),
            clicks: indices.len() as u64,
            products: counts.len() as u64,
            top: top
                .into_iter()
                .map(|(id, clicks)| ProductClicks {
                    button_id: id.to_owned(),
                    clicks,
                })
                .collect(),
        };
        emissions.push(((closed_at, end, spec_index, start), result));
    }
    emissions.sort_by_key(|(order, _)| *order);
    Outcome {
        results: emissions
            .into_iter()
            .map(|((closed_at, ..), result)| (closed_at, result))
            .collect(),
        late_drops,
        events_in_no_window,
        invalid_event_times,
    }
}

fn store_outcome(scenario: &Scenario) -> Outcome {
    let mut store = WindowStore::new(scenario.config());
    let results: Vec<(usize, WindowResult)> = run(&mut store, &scenario.clicks)
        .into_iter()
        .enumerate()
        .filter_map(|(index, processed)| Some((index, processed?)))
        .flat_map(|(index, processed)| processed.emitted.into_iter().map(move |r| (index, r)))
        .collect();
    let counters = store.counters();
    assert_eq!(counters.one_minute.over_limit_drops, 0);
    assert_eq!(counters.five_minutes.over_limit_drops, 0);
    assert_eq!(
        counters.one_minute.windows_emitted + counters.five_minutes.windows_emitted,
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
        let expected = reference(&scenario.clicks, scenario.grace_ms, scenario.top_n);
        prop_assert_eq!(store_outcome(&scenario), expected);
    }
}

#[test]
fn the_reference_model_itself_follows_the_rules_on_a_worked_example() {
    // Grace 30 s. Clicks (ms after a minute boundary M):
    //   kit @ M+10s, mug @ M+70s (stream time M+70s), kit @ M+50s (late by
    //   20 s: within grace), mug @ M+95s (closes [M, M+1m) at M+90s),
    //   kit @ M+59s (beyond grace for the windows ending at M+1m, counted
    //   in the four later 5m windows).
    let m = 1_700_000_040_000;
    let click = |id: &str, t: i64| Click {
        button_id: id.to_owned(),
        event_time: m + t,
    };
    let clicks = [
        click("kit", 10_000),
        click("mug", 70_000),
        click("kit", 50_000),
        click("mug", 95_000),
        click("kit", 59_000),
    ];
    let outcome = reference(&clicks, 30_000, 3);
    let kit_twice = |window| WindowResult {
        window,
        clicks: 2,
        products: 1,
        top: vec![ProductClicks {
            button_id: "kit".into(),
            clicks: 2,
        }],
    };
    // At M+95s both windows ending at M+1m close: the 1m one first.
    assert_eq!(
        outcome.results,
        vec![
            (3, kit_twice(Window::new(WindowSpec::OneMinute, m).unwrap())),
            (
                3,
                kit_twice(Window::new(WindowSpec::FiveMinutes, m - 240_000).unwrap())
            ),
        ]
    );
    // kit @ M+59s is late for [M, M+1m) and for the 5m window [M-4m, M+1m).
    assert_eq!(outcome.late_drops, [1, 1]);
    assert_eq!(outcome.events_in_no_window, 0);
    // And the store agrees.
    let scenario = Scenario {
        clicks: clicks.to_vec(),
        grace_ms: 30_000,
        top_n: 3,
        max_open_entries: NO_LIMIT,
    };
    assert_eq!(store_outcome(&scenario), outcome);
}
