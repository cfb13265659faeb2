//! Generated inputs: repartition logs of about twenty minutes from one to
//! three input partitions, each partition's clicks a little out of order,
//! some very late, some exactly on window boundaries and a few with invalid
//! event times, with progress records (a partition read to its end) among
//! them; grace periods from 0 to 90 s; and a helper that runs a store over
//! a log.

use edm_trending::{
    ClickRecord, Processed, ProgressRecord, RepartitionRecord, Source, TrendingConfig, WindowStore,
    MAX_EVENT_TIME_MS,
};
use proptest::prelude::*;

/// A generated scenario: the repartition log in order and the store's
/// config.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub records: Vec<RepartitionRecord>,
    pub partitions: i32,
    pub grace_ms: i64,
    pub top_n: usize,
    pub max_open_entries: usize,
    /// Products one window holds; more than a scenario has, unless a test
    /// lowers it.
    pub max_products_per_window: usize,
}

/// A bound on open counts that a generated scenario never reaches.
pub const NO_LIMIT: usize = 1_000_000;

impl Scenario {
    pub fn config(&self) -> TrendingConfig {
        TrendingConfig::new(self.grace_ms, self.top_n, self.max_open_entries)
            .and_then(|c| c.with_max_products_per_window(self.max_products_per_window))
            .expect("a valid config")
    }

    /// A store for this scenario, told how many input partitions there are.
    pub fn store(&self) -> WindowStore {
        let mut store = WindowStore::new(self.config());
        store.set_input_partitions(self.partitions, 0);
        store
    }
}

/// Where the generated clicks start: not on a minute boundary.
const BASE_MS: i64 = 1_700_000_000_000 + 17_000;

/// Products, including ids that look like key separators, an empty id and
/// non-ASCII ones.
const PRODUCTS: [&str; 6] = ["kit", "mug", "a:1", "", "é", "C1"];

/// How a record's time relates to the sequence's progress.
#[derive(Debug, Clone)]
enum Offset {
    /// A little out of order: up to 2 minutes early, 5 s ahead.
    Jitter(i64),
    /// Very late: 5 to 15 minutes behind.
    VeryLate(i64),
    /// Exactly on a minute boundary, or a millisecond either side of one.
    Boundary(i64),
    /// Outside the accepted range.
    Invalid(i64),
}

fn offset() -> impl Strategy<Value = Offset> {
    prop_oneof![
        12 => (-120_000i64..=5_000).prop_map(Offset::Jitter),
        2 => (-900_000i64..=-300_000).prop_map(Offset::VeryLate),
        3 => (-1i64..=1).prop_map(Offset::Boundary),
        1 => prop::sample::select(vec![-1, i64::MIN, MAX_EVENT_TIME_MS + 1, i64::MAX])
            .prop_map(Offset::Invalid),
    ]
}

/// Grace periods: 0 and values around a minute are the interesting ones.
fn grace_ms() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0),
        prop::sample::select(vec![1, 30_000, 59_999, 60_000, 60_001, 90_000]),
        0i64..=90_000,
    ]
}

/// Up to `max_len` records over `partitions` partitions; the sequence
/// advances 0 to 40 s per record. One record in eight is a progress record
/// (its watermark a little behind the sequence).
pub fn records(partitions: i32, max_len: usize) -> impl Strategy<Value = Vec<RepartitionRecord>> {
    prop::collection::vec(
        (
            0..partitions,
            0..PRODUCTS.len(),
            0i64..=40_000,
            offset(),
            prop::bool::weighted(0.125),
        ),
        0..=max_len,
    )
    .prop_map(move |steps| {
        let mut progress = BASE_MS;
        let mut next_offset = vec![0i64; partitions as usize];
        steps
            .into_iter()
            .map(|(partition, product, step, offset, is_progress)| {
                progress += step;
                let time = match offset {
                    Offset::Jitter(ms) | Offset::VeryLate(ms) => progress + ms,
                    Offset::Boundary(ms) => progress - progress % 60_000 + ms,
                    Offset::Invalid(time) => time,
                };
                let offset = &mut next_offset[partition as usize];
                *offset += 1;
                if is_progress {
                    RepartitionRecord::Progress(ProgressRecord {
                        partition,
                        next_offset: *offset,
                        watermark: time,
                    })
                } else {
                    RepartitionRecord::Click(ClickRecord {
                        button_id: PRODUCTS[product].to_owned(),
                        event_time: time,
                        event_id: None,
                        source: Some(Source {
                            partition,
                            offset: *offset - 1,
                        }),
                    })
                }
            })
            .collect()
    })
}

/// The time a record carries: a click's event time or a progress record's
/// watermark.
pub fn time_of(record: &RepartitionRecord) -> i64 {
    match record {
        RepartitionRecord::Click(click) => click.event_time,
        RepartitionRecord::Clicks(batch) => batch.event_time,
        RepartitionRecord::PageLoads(batch) => batch.event_time,
        RepartitionRecord::Progress(progress) => progress.watermark,
    }
}

/// A scenario ending with a progress record from every partition far enough
/// ahead to close every window the others opened, so that every window's
/// result is compared. The store has room for every count.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    (1i32..=3, grace_ms(), 1usize..=4)
        .prop_flat_map(|(partitions, grace_ms, top_n)| {
            (
                records(partitions, 60),
                Just(partitions),
                Just(grace_ms),
                Just(top_n),
            )
        })
        .prop_map(|(mut records, partitions, grace_ms, top_n)| {
            let latest = records
                .iter()
                .map(time_of)
                .filter(|t| (0..=MAX_EVENT_TIME_MS).contains(t))
                .max()
                .unwrap_or(BASE_MS);
            for partition in 0..partitions {
                records.push(RepartitionRecord::Progress(ProgressRecord {
                    partition,
                    next_offset: 1_000,
                    watermark: latest + 360_000 + grace_ms,
                }));
            }
            Scenario {
                records,
                partitions,
                grace_ms,
                top_n,
                max_open_entries: NO_LIMIT,
                max_products_per_window: PRODUCTS.len(),
            }
        })
}

/// What `store` returns for each record (`None` when it refuses it).
pub fn run(store: &mut WindowStore, records: &[RepartitionRecord]) -> Vec<Option<Processed>> {
    records.iter().map(|r| store.process(r).ok()).collect()
}
