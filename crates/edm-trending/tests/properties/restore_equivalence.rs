//! A store restored from its changelog, at any point and any number of
//! times, behaves exactly like one that never stopped: for every later
//! record it returns the same changelog updates and the same results, so no
//! window is emitted twice and none is missed.
//!
//! The store is sometimes nearly full, so that over-limit drops, which
//! depend on how many counts are open, must come out the same too.
//!
//! The changelog read back is what Kafka could hold: written in batches
//! (optionally coalesced, as the runtime does per transaction), then
//! compacted to any degree: older values of a key dropped, and a deleted
//! key's tombstone dropped together with everything before it.

use std::collections::{HashMap, HashSet};

use edm_trending::{coalesce, ChangelogUpdate, Processed, WindowStore};
use proptest::prelude::*;

use crate::generators::{run, scenario, Scenario, NO_LIMIT};

/// A scenario whose store may have little room: 1 to 40 open counts.
fn scenario_with_any_limit() -> impl Strategy<Value = Scenario> {
    (scenario(), prop_oneof![Just(NO_LIMIT), 1usize..=40]).prop_map(|(mut scenario, limit)| {
        scenario.max_open_entries = limit;
        scenario
    })
}

/// How restarts happen in a generated run.
#[derive(Debug, Clone)]
struct Restarts {
    /// Record indices before which the store restarts (any order, repeats).
    at: Vec<prop::sample::Index>,
    /// Records per transaction.
    batch_size: usize,
    /// Whether each batch's updates are coalesced before writing.
    coalesce_batches: bool,
    /// Which superseded records compaction has removed (cycled per record).
    compacted: Vec<bool>,
}

fn restarts() -> impl Strategy<Value = Restarts> {
    (
        prop::collection::vec(any::<prop::sample::Index>(), 1..=3),
        1usize..=5,
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 1..=64),
    )
        .prop_map(|(at, batch_size, coalesce_batches, compacted)| Restarts {
            at,
            batch_size,
            coalesce_batches,
            compacted,
        })
}

/// The changelog as a restore may read it: the last record of every key is
/// kept unless it is a tombstone compaction removed (then the key's earlier
/// records are gone too); superseded records are kept or removed as
/// `compacted` says.
fn compact(log: &[ChangelogUpdate], compacted: &[bool]) -> Vec<ChangelogUpdate> {
    let mut last: HashMap<&[u8], usize> = HashMap::new();
    for (index, update) in log.iter().enumerate() {
        last.insert(&update.key, index);
    }
    let removed = |index: usize| compacted[index % compacted.len()];
    let key_gone = |key: &[u8]| {
        let last_index = last[key];
        log[last_index].value.is_none() && removed(last_index)
    };
    log.iter()
        .enumerate()
        .filter(|(index, update)| {
            !key_gone(&update.key) && (last[update.key.as_slice()] == *index || !removed(*index))
        })
        .map(|(_, update)| update.clone())
        .collect()
}

/// Runs `scenario` with `restarts`, restoring from the changelog written so
/// far before each restart point; returns what each record produced.
fn run_with_restarts(scenario: &Scenario, restarts: &Restarts) -> Vec<Option<Processed>> {
    let len = scenario.clicks.len();
    let restart_points: HashSet<usize> = restarts.at.iter().map(|i| i.index(len + 1)).collect();
    let mut store = WindowStore::new(scenario.config());
    let mut log: Vec<ChangelogUpdate> = Vec::new();
    let mut batch: Vec<ChangelogUpdate> = Vec::new();
    let mut outputs = Vec::with_capacity(len);
    let flush = |batch: &mut Vec<ChangelogUpdate>, log: &mut Vec<ChangelogUpdate>| {
        let updates = std::mem::take(batch);
        if restarts.coalesce_batches {
            log.extend(coalesce(updates));
        } else {
            log.extend(updates);
        }
    };
    for (index, click) in scenario.clicks.iter().enumerate() {
        if index % restarts.batch_size == 0 {
            flush(&mut batch, &mut log);
        }
        if restart_points.contains(&index) {
            flush(&mut batch, &mut log);
            let read_back = compact(&log, &restarts.compacted);
            store = WindowStore::restore(
                scenario.config(),
                read_back.into_iter().map(|u| (u.key, u.value)),
            )
            .expect("the store's own changelog restores");
        }
        let processed = store.process(&click.button_id, click.event_time).ok();
        if let Some(processed) = &processed {
            batch.extend(processed.changelog.iter().cloned());
        }
        outputs.push(processed);
    }
    outputs
}

proptest! {
    #[test]
    fn a_restored_store_continues_exactly_where_the_original_was(
        scenario in scenario_with_any_limit(),
        restarts in restarts(),
    ) {
        let mut uninterrupted = WindowStore::new(scenario.config());
        let expected = run(&mut uninterrupted, &scenario.clicks);
        let actual = run_with_restarts(&scenario, &restarts);
        for (index, (actual, expected)) in actual.iter().zip(&expected).enumerate() {
            prop_assert_eq!(actual, expected, "record #{} ({:?})", index, scenario.clicks[index]);
        }
        prop_assert_eq!(actual.len(), expected.len());
        // And so each window is emitted exactly once.
        let mut seen = HashSet::new();
        for result in actual.iter().flatten().flat_map(|p| &p.emitted) {
            prop_assert!(seen.insert(result.window), "{:?} emitted twice", result.window);
        }
    }

    #[test]
    fn restoring_the_full_changelog_gives_back_the_same_state(
        scenario in scenario_with_any_limit(),
        compacted in prop::collection::vec(any::<bool>(), 1..=64),
    ) {
        // Stop before the last click, which closes everything.
        let clicks = &scenario.clicks[..scenario.clicks.len() - 1];
        let mut original = WindowStore::new(scenario.config());
        let log: Vec<ChangelogUpdate> = run(&mut original, clicks)
            .into_iter()
            .flatten()
            .flat_map(|p| p.changelog)
            .collect();
        let restored = WindowStore::restore(
            scenario.config(),
            compact(&log, &compacted).into_iter().map(|u| (u.key, u.value)),
        )
        .expect("the store's own changelog restores");
        prop_assert_eq!(restored.stream_time(), original.stream_time());
        prop_assert_eq!(restored.open_entries(), original.open_entries());
        prop_assert!(restored.open_counts().eq(original.open_counts()));
    }
}

#[test]
fn compaction_as_modelled_keeps_the_last_value_and_may_drop_the_rest() {
    let update = |key: &str, value: Option<u8>| ChangelogUpdate {
        key: key.as_bytes().to_vec(),
        value: value.map(|v| vec![v]),
    };
    let log = [
        update("a", Some(1)),
        update("b", Some(1)),
        update("a", Some(2)),
        update("b", None),
    ];
    // Nothing removed: the log as written.
    assert_eq!(compact(&log, &[false]), log.to_vec());
    // Everything removable removed: a's last value; b is gone entirely.
    assert_eq!(compact(&log, &[true]), vec![update("a", Some(2))]);
    // Only record #1 removable: b's first value goes, its tombstone stays.
    assert_eq!(
        compact(&log, &[false, true, false, false]),
        vec![
            update("a", Some(1)),
            update("a", Some(2)),
            update("b", None)
        ]
    );
}
