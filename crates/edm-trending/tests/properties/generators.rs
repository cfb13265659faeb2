//! Generated inputs: click sequences over about twenty minutes, with
//! out-of-order jitter, very late clicks, clicks exactly on window
//! boundaries and a few invalid event times; grace periods from 0 to 90 s;
//! and a helper that runs a store over a sequence.

use edm_trending::{Processed, TrendingConfig, WindowStore, MAX_EVENT_TIME_MS};
use proptest::prelude::*;

/// One record of the repartition log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub button_id: String,
    pub event_time: i64,
}

/// A generated scenario: the clicks in log order and the store's config.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub clicks: Vec<Click>,
    pub grace_ms: i64,
    pub top_n: usize,
    pub max_open_entries: usize,
}

/// A bound on open counts that a generated scenario never reaches.
pub const NO_LIMIT: usize = 1_000_000;

impl Scenario {
    pub fn config(&self) -> TrendingConfig {
        TrendingConfig::new(self.grace_ms, self.top_n, self.max_open_entries)
            .expect("a valid config")
    }
}

/// Where the generated clicks start: not on a minute boundary.
const BASE_MS: i64 = 1_700_000_000_000 + 17_000;

/// Products, including ids that look like key separators, an empty id and
/// non-ASCII ones.
const PRODUCTS: [&str; 6] = ["kit", "mug", "a:1", "", "é", "C1"];

/// How a click's event time relates to the sequence's progress.
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

/// Up to 60 clicks; the sequence advances 0 to 40 s per click.
pub fn clicks(max_len: usize) -> impl Strategy<Value = Vec<Click>> {
    prop::collection::vec((0..PRODUCTS.len(), 0i64..=40_000, offset()), 0..=max_len).prop_map(
        |steps| {
            let mut progress = BASE_MS;
            steps
                .into_iter()
                .map(|(product, step, offset)| {
                    progress += step;
                    let event_time = match offset {
                        Offset::Jitter(ms) | Offset::VeryLate(ms) => progress + ms,
                        Offset::Boundary(ms) => progress - progress % 60_000 + ms,
                        Offset::Invalid(time) => time,
                    };
                    Click {
                        button_id: PRODUCTS[product].to_owned(),
                        event_time,
                    }
                })
                .collect()
        },
    )
}

/// A scenario whose last click is far enough ahead to close every window
/// the others opened, so that every window's result is compared. The store
/// has room for every count.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    (clicks(60), grace_ms(), 1usize..=4).prop_map(|(mut clicks, grace_ms, top_n)| {
        let latest = clicks
            .iter()
            .map(|c| c.event_time)
            .filter(|t| (0..=MAX_EVENT_TIME_MS).contains(t))
            .max()
            .unwrap_or(BASE_MS);
        clicks.push(Click {
            button_id: "kit".to_owned(),
            event_time: latest + 360_000 + grace_ms,
        });
        Scenario {
            clicks,
            grace_ms,
            top_n,
            max_open_entries: NO_LIMIT,
        }
    })
}

/// What `store` returns for each click (`None` when it refuses the click).
pub fn run(store: &mut WindowStore, clicks: &[Click]) -> Vec<Option<Processed>> {
    clicks
        .iter()
        .map(|c| store.process(&c.button_id, c.event_time).ok())
        .collect()
}
