//! A store restored from its changelog, at any point and any number of
//! times, behaves exactly like one that never stopped: for every later
//! record it returns the same changelog updates and the same results, so no
//! window is emitted twice and none is missed.
//!
//! The store is sometimes nearly full, and its windows hold few products,
//! so that over-limit drops and products taking each other's places, which
//! depend on what is open, must come out the same too.
//!
//! The changelog read back is what Kafka could hold: written in batches
//! (optionally coalesced, as the runtime does per transaction), then
//! compacted to any degree: older values of a key dropped, and a deleted
//! key's tombstone dropped together with everything before it.

use std::collections::{HashMap, HashSet};

use edm_trending::{coalesce, ChangelogUpdate, Journal, Processed, WindowStore};
use proptest::prelude::*;

use crate::generators::{run, scenario, Scenario, NO_LIMIT};

/// A scenario whose store may have little room: 1 to 40 open counts, and
/// windows of as few products as a result lists (so that products take
/// each other's places).
fn scenario_with_any_limit() -> impl Strategy<Value = Scenario> {
    (
        scenario(),
        prop_oneof![Just(NO_LIMIT), 1usize..=40],
        0usize..=6,
    )
        .prop_map(|(mut scenario, limit, per_window)| {
            scenario.max_open_entries = limit;
            scenario.max_products_per_window = per_window.max(scenario.top_n);
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
    let len = scenario.records.len();
    let restart_points: HashSet<usize> = restarts.at.iter().map(|i| i.index(len + 1)).collect();
    let mut store = scenario.store();
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
    for (index, record) in scenario.records.iter().enumerate() {
        if index % restarts.batch_size == 0 {
            flush(&mut batch, &mut log);
        }
        if restart_points.contains(&index) {
            flush(&mut batch, &mut log);
            let read_back = compact(&log, &restarts.compacted);
            let (restored, skipped) = WindowStore::restore(
                scenario.config(),
                read_back.into_iter().map(|u| (u.key, u.value)),
            );
            assert_eq!(skipped, Vec::new(), "the store's own changelog restores");
            store = restored;
            // As the window task does once it is assigned: nothing new closes.
            let told = store.set_input_partitions(scenario.partitions, 0);
            assert_eq!(told, Processed::default());
        }
        let processed = store.process(record).ok();
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
        let mut uninterrupted = scenario.store();
        let expected = run(&mut uninterrupted, &scenario.records);
        let actual = run_with_restarts(&scenario, &restarts);
        for (index, (actual, expected)) in actual.iter().zip(&expected).enumerate() {
            prop_assert_eq!(actual, expected, "record #{} ({:?})", index, scenario.records[index]);
        }
        prop_assert_eq!(actual.len(), expected.len());
        // And so each window is emitted exactly once as it closes (later
        // records of it only for more late clicks).
        let mut seen = HashSet::new();
        for result in actual.iter().flatten().flat_map(|p| &p.emitted) {
            prop_assert!(
                seen.insert((result.window, result.late_clicks)),
                "{:?} emitted twice with {} late clicks", result.window, result.late_clicks
            );
        }
    }

    #[test]
    fn restoring_the_full_changelog_gives_back_the_same_state(
        scenario in scenario_with_any_limit(),
        compacted in prop::collection::vec(any::<bool>(), 1..=64),
    ) {
        // Stop before the last records, which close everything.
        let records = &scenario.records[..scenario.records.len() - scenario.partitions as usize];
        let mut original = scenario.store();
        let log: Vec<ChangelogUpdate> = run(&mut original, records)
            .into_iter()
            .flatten()
            .flat_map(|p| p.changelog)
            .collect();
        let (restored, skipped) = WindowStore::restore(
            scenario.config(),
            compact(&log, &compacted).into_iter().map(|u| (u.key, u.value)),
        );
        prop_assert_eq!(skipped, Vec::new());
        prop_assert_eq!(restored.watermark(), original.watermark());
        prop_assert!(restored.progress().partitions().eq(original.progress().partitions()));
        prop_assert_eq!(restored.open_entries(), original.open_entries());
        prop_assert!(restored.open_counts().eq(original.open_counts()));
        prop_assert!(restored.closed_windows().eq(original.closed_windows()));
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

/// An at-least-once run that crashes once: before the crash, cycles of
/// `batch_size` records each wrote their [`Journal`] and then their per-key
/// updates; the crash came after the last cycle's journal, with only
/// `kept` of its per-key updates written, and before its input offset was
/// committed. The restored store reads that cycle's records again.
#[derive(Debug, Clone)]
struct Crash {
    at: prop::sample::Index,
    batch_size: usize,
    kept: prop::sample::Index,
    compacted: Vec<bool>,
}

fn crash() -> impl Strategy<Value = Crash> {
    (
        any::<prop::sample::Index>(),
        1usize..=6,
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<bool>(), 1..=64),
    )
        .prop_map(|(at, batch_size, kept, compacted)| Crash {
            at,
            batch_size,
            kept,
            compacted,
        })
}

proptest! {
    #[test]
    fn at_least_once_a_crash_mid_cycle_repeats_only_what_was_delivered(
        scenario in scenario_with_any_limit(),
        crash in crash(),
    ) {
        let config = scenario.config().with_repeated_sources_skipped(true);
        let told = |mut store: WindowStore| {
            store.set_input_partitions(scenario.partitions, 0);
            store
        };
        let records = &scenario.records;
        let mut uninterrupted = told(WindowStore::new(config));
        let expected = run(&mut uninterrupted, records);

        // Cycles up to the crash, each cycle's journal then its updates.
        let batches = records.len().div_ceil(crash.batch_size).max(1);
        let crashed_batch = crash.at.index(batches);
        let mut store = told(WindowStore::new(config));
        let mut log: Vec<ChangelogUpdate> = Vec::new();
        for (batch, chunk) in records.chunks(crash.batch_size).enumerate().take(crashed_batch + 1) {
            let mut updates = Vec::new();
            let mut closed = Vec::new();
            for record in chunk {
                if let Ok(processed) = store.process(record) {
                    updates.extend(processed.changelog);
                    closed.extend(processed.closed);
                }
            }
            let updates = coalesce(updates);
            if updates.is_empty() {
                continue;
            }
            log.push(Journal::of_cycle(&closed, &updates).update());
            let written = if batch == crashed_batch { crash.kept.index(updates.len() + 1) } else { updates.len() };
            log.extend(updates.into_iter().take(written));
        }
        let (restored, skipped) = WindowStore::restore(
            config,
            compact(&log, &crash.compacted).into_iter().map(|u| (u.key, u.value)),
        );
        prop_assert_eq!(skipped, Vec::new());
        let mut restored = told(restored);
        // The crashed cycle's records are read again: nothing new comes of them.
        let start = crashed_batch * crash.batch_size;
        let end = (start + crash.batch_size).min(records.len());
        for record in &records[start..end] {
            if let Ok(processed) = restored.process(record) {
                prop_assert_eq!(&processed, &Processed::default(), "{:?} read again", record);
            }
        }
        // Then it goes on exactly as the store that never stopped.
        for (index, record) in records.iter().enumerate().skip(end) {
            let actual = restored.process(record).ok();
            prop_assert_eq!(&actual, &expected[index], "record #{} ({:?})", index, record);
        }
    }
}
