//! The merge step: each window task counts the products of its own
//! repartition partition, so its result for a window (a *partial*) holds
//! exact counts for those products only; the merge turns the partials of
//! every task into the window's global result, once every task's watermark
//! has passed the window. Kafka-free and clock-free, like the store.
//!
//! Products are partitioned by key, so no product is in two partials of a
//! window: the global clicks, products and late clicks are the partials'
//! sums, and the global top N is the top N of the partials' tops together
//! (each partial's top N holds every product of its task that can be in
//! the global one). So the merged result is the one a single store over
//! every click would give.
//!
//! # Records
//! The window tasks write them to the internal partials topic (one
//! partition, so the merge reads every task's records in one order); each
//! task writes a window's partial before the watermark record that says it
//! has passed the window:
//! - a **partial**: key = the window's record key, value =
//!   `{"task":<i>,"result":<the edm-trending record of the task's products>}`;
//! - a **watermark**: key `watermark`, value `{"task":<i>,"watermark":<ms>}`.
//!
//! # Emission
//! A window's global result is emitted when the smallest task watermark
//! reaches `end + grace`; a partial that comes after that (late clicks)
//! emits it again. Windows are forgotten [`CLOSED_KEPT_MS`] after they
//! closed, as the tasks forget them.
//!
//! # Restart
//! [`Merger::restart_offset`] is the earliest offset from which reading the
//! partials again rebuilds this state: the first partial of every window
//! still kept and every task's latest watermark. The runtime commits that
//! offset, with the offset it has processed to in the commit's metadata,
//! and replays the records between the two without emitting.

use std::collections::BTreeMap;

use edm_events::trending::{ProductClicks, TrendingRecord, WindowName};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::output::WindowResult;
use crate::store::CLOSED_KEPT_MS;
use crate::window::{Window, WindowSpec};

/// The key of watermark records.
pub const WATERMARK_KEY: &str = "watermark";

/// A record of the partials topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartialsRecord {
    /// A task's result for a window, over its products.
    Partial {
        /// The task (its repartition partition).
        task: i32,
        /// The result.
        result: WindowResult,
    },
    /// A task's watermark: it has emitted its partial of every window
    /// closing at or before it.
    Watermark {
        /// The task.
        task: i32,
        /// The watermark, epoch ms.
        watermark: i64,
    },
}

/// The JSON value of a partials record.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    task: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watermark: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<serde_json::Value>,
}

/// Why a partials record cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PartialsError {
    /// The value is not the expected JSON.
    #[error(
        "the value is neither a partial {{\"task\":<i>,\"result\":<trending record>}} nor a \
         watermark {{\"task\":<i>,\"watermark\":<ms>}}: {0}"
    )]
    Shape(String),
    /// The result is not a valid edm-trending record.
    #[error("the partial's result is not a valid edm-trending record: {0}")]
    Result(String),
    /// The result's window is not one the tasks count.
    #[error("the partial's window does not start on a window boundary")]
    Window,
}

impl PartialsRecord {
    /// The record's key.
    pub fn key(&self) -> String {
        match self {
            PartialsRecord::Partial { result, .. } => result.record_key(),
            PartialsRecord::Watermark { .. } => WATERMARK_KEY.to_owned(),
        }
    }

    /// The record's value.
    pub fn value(&self) -> Result<Vec<u8>, serde_json::Error> {
        let wire = match self {
            PartialsRecord::Partial { task, result } => Wire {
                task: *task,
                watermark: None,
                result: Some(serde_json::to_value(result.to_output())?),
            },
            PartialsRecord::Watermark { task, watermark } => Wire {
                task: *task,
                watermark: Some(*watermark),
                result: None,
            },
        };
        serde_json::to_vec(&wire)
    }

    /// Decodes a record's value (the key is not needed).
    pub fn decode(value: Option<&[u8]>) -> Result<Self, PartialsError> {
        let value = value.ok_or_else(|| PartialsError::Shape("no value".into()))?;
        let wire: Wire =
            serde_json::from_slice(value).map_err(|e| PartialsError::Shape(e.to_string()))?;
        match (wire.watermark, wire.result) {
            (Some(watermark), None) => Ok(PartialsRecord::Watermark {
                task: wire.task,
                watermark,
            }),
            (None, Some(result)) => {
                let record = partial_result(result)?;
                Ok(PartialsRecord::Partial {
                    task: wire.task,
                    result: result_of(record).ok_or(PartialsError::Window)?,
                })
            }
            _ => Err(PartialsError::Shape(
                "exactly one of watermark and result must be given".into(),
            )),
        }
    }
}

/// A partial's result: an edm-trending record, validated as every reader
/// validates one, except that a window task's result may hold late clicks
/// alone (no clicks, no product).
fn partial_result(value: serde_json::Value) -> Result<TrendingRecord, PartialsError> {
    let late_only = value["clicks"] == 0
        && value["products"] == 0
        && value["top"].as_array().is_some_and(Vec::is_empty)
        && value["late_clicks"].as_u64().is_some_and(|n| n > 0);
    let mut checked = value.clone();
    if late_only {
        // Validated with one stand-in product, then taken out again.
        checked["clicks"] = 1.into();
        checked["products"] = 1.into();
        checked["top"] = serde_json::json!([{"button_id": "-", "clicks": 1}]);
    }
    let bytes = serde_json::to_vec(&checked).map_err(|e| PartialsError::Shape(e.to_string()))?;
    let mut record =
        TrendingRecord::parse(&bytes).map_err(|e| PartialsError::Result(e.to_string()))?;
    if late_only {
        record.clicks = 0;
        record.products = 0;
        record.top.clear();
    }
    Ok(record)
}

/// The result an edm-trending record holds.
fn result_of(record: TrendingRecord) -> Option<WindowResult> {
    let spec = match record.window.name {
        WindowName::OneMinute => WindowSpec::OneMinute,
        WindowName::FiveMinutes => WindowSpec::FiveMinutes,
    };
    Some(WindowResult {
        window: Window::new(spec, record.window.start)?,
        clicks: record.clicks,
        products: record.products,
        top: record.top,
        late_clicks: record.late_clicks,
    })
}

/// Why the merge refused a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MergeRefused {
    /// The record names a task that does not exist.
    #[error("task {task} does not exist (there are {tasks} window tasks)")]
    NoSuchTask {
        /// The task named.
        task: i32,
        /// How many there are.
        tasks: i32,
    },
}

/// One window being merged.
#[derive(Debug, Clone)]
struct Merging {
    /// Each task's latest partial.
    partials: BTreeMap<i32, WindowResult>,
    /// The offset of its first partial.
    first_offset: i64,
    /// Whether its global result was emitted.
    emitted: bool,
}

/// The merge step's state.
#[derive(Debug, Clone)]
pub struct Merger {
    tasks: i32,
    grace_ms: i64,
    top_n: usize,
    /// Each task's watermark and the offset of the record that gave it.
    watermarks: BTreeMap<i32, (i64, i64)>,
    windows: BTreeMap<Window, Merging>,
}

impl Merger {
    /// A merge of `tasks` window tasks' partials, for windows closing
    /// `grace_ms` after their end, keeping the `top_n` most clicked.
    pub fn new(tasks: i32, grace_ms: i64, top_n: usize) -> Self {
        Self {
            tasks: tasks.max(1),
            grace_ms,
            top_n,
            watermarks: BTreeMap::new(),
            windows: BTreeMap::new(),
        }
    }

    /// How many window tasks it waits for.
    pub fn tasks(&self) -> i32 {
        self.tasks
    }

    /// The smallest task watermark, once every task has given one.
    pub fn watermark(&self) -> Option<i64> {
        if self.watermarks.len() < self.tasks as usize {
            return None;
        }
        self.watermarks.values().map(|(w, _)| *w).min()
    }

    /// The windows it holds (emitted or not).
    pub fn windows(&self) -> usize {
        self.windows.len()
    }

    /// One record, read at `offset`: the global results it makes final.
    pub fn process(
        &mut self,
        offset: i64,
        record: PartialsRecord,
    ) -> Result<Vec<WindowResult>, MergeRefused> {
        let task = match &record {
            PartialsRecord::Partial { task, .. } | PartialsRecord::Watermark { task, .. } => *task,
        };
        if !(0..self.tasks).contains(&task) {
            return Err(MergeRefused::NoSuchTask {
                task,
                tasks: self.tasks,
            });
        }
        match record {
            PartialsRecord::Partial { task, result } => {
                let window = result.window;
                if self.is_forgotten(window) {
                    return Ok(Vec::new());
                }
                let merging = self.windows.entry(window).or_insert_with(|| Merging {
                    partials: BTreeMap::new(),
                    first_offset: offset,
                    emitted: false,
                });
                merging.partials.insert(task, result);
                Ok(if merging.emitted {
                    counted(merged(window, &merging.partials, self.top_n))
                        .into_iter()
                        .collect()
                } else {
                    Vec::new()
                })
            }
            PartialsRecord::Watermark { task, watermark } => {
                let entry = self.watermarks.entry(task).or_insert((watermark, offset));
                if watermark >= entry.0 {
                    *entry = (watermark, offset);
                }
                Ok(self.advance())
            }
        }
    }

    /// Whether `window` closed more than [`CLOSED_KEPT_MS`] before the
    /// watermark: no task writes its partial any more.
    fn is_forgotten(&self, window: Window) -> bool {
        self.watermark().is_some_and(|watermark| {
            window
                .closes_at(self.grace_ms)
                .saturating_add(CLOSED_KEPT_MS)
                <= watermark
        })
    }

    /// Emits the windows the watermark closed and forgets the expired ones.
    fn advance(&mut self) -> Vec<WindowResult> {
        let Some(watermark) = self.watermark() else {
            return Vec::new();
        };
        let mut emitted = Vec::new();
        for (window, merging) in self.windows.iter_mut() {
            if window.closes_at(self.grace_ms) > watermark {
                break;
            }
            if !merging.emitted {
                merging.emitted = true;
                emitted.extend(counted(merged(*window, &merging.partials, self.top_n)));
            }
        }
        let grace = self.grace_ms;
        self.windows
            .retain(|window, _| window.closes_at(grace).saturating_add(CLOSED_KEPT_MS) > watermark);
        emitted
    }

    /// Where reading the partials again, up to where this state was made,
    /// gives this state: the earliest of every kept window's first partial
    /// and every task's latest watermark record; `next` if there is none.
    pub fn restart_offset(&self, next: i64) -> i64 {
        self.windows
            .values()
            .map(|m| m.first_offset)
            .chain(self.watermarks.values().map(|(_, offset)| *offset))
            .fold(next, i64::min)
    }
}

/// `result`, if it counted a click: a window whose partials hold late
/// clicks alone had no click on time anywhere, and has no result (as a
/// single store gives none).
fn counted(result: WindowResult) -> Option<WindowResult> {
    (result.clicks > 0).then_some(result)
}

/// The global result of `window` from its tasks' partials.
pub fn merged(
    window: Window,
    partials: &BTreeMap<i32, WindowResult>,
    top_n: usize,
) -> WindowResult {
    let mut top: Vec<ProductClicks> = partials.values().flat_map(|p| p.top.clone()).collect();
    top.sort_by(|a, b| {
        b.clicks
            .cmp(&a.clicks)
            .then_with(|| a.button_id.as_bytes().cmp(b.button_id.as_bytes()))
    });
    top.truncate(top_n);
    let sum =
        |f: fn(&WindowResult) -> u64| partials.values().map(f).fold(0u64, u64::saturating_add);
    WindowResult {
        window,
        clicks: sum(|p| p.clicks),
        products: sum(|p| p.products),
        top,
        late_clicks: sum(|p| p.late_clicks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ClickRecord, ProgressRecord, RepartitionRecord, Source, TrendingConfig, WindowStore,
    };

    const T0: i64 = 1_700_000_040_000;
    const GRACE: i64 = 30_000;

    fn click(product: &str, event_time: i64, offset: i64) -> RepartitionRecord {
        RepartitionRecord::Click(ClickRecord {
            button_id: product.into(),
            event_time,
            event_id: None,
            source: Some(Source {
                partition: 0,
                offset,
            }),
        })
    }

    fn store() -> WindowStore {
        let mut store = WindowStore::new(TrendingConfig::new(GRACE, 3, 100_000).unwrap());
        store.set_input_partitions(1, 0);
        store
    }

    /// The results by record key, as text, the latest of each window.
    fn by_key(results: impl IntoIterator<Item = WindowResult>) -> BTreeMap<String, String> {
        results
            .into_iter()
            .map(|r| {
                let value = r.to_record().unwrap().value;
                (r.record_key(), String::from_utf8(value).unwrap())
            })
            .collect()
    }

    /// Clicks, out of order, through one store; and through three stores,
    /// each counting its own products and seeing the others' clicks as
    /// progress (as the repartition stage's records say), whose partials
    /// and watermarks go through the wire format and a merge: the two give
    /// the same results.
    #[test]
    fn the_merge_of_partitioned_stores_equals_one_store() {
        let products = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "g"];
        let clicks: Vec<RepartitionRecord> = (0..600i64)
            .map(|n| {
                let product = products[(n * 7 % 11 % 7) as usize];
                click(product, T0 + n * 1_500 - (n % 5) * 20_000, n)
            })
            .collect();
        let tasks = 3;
        let mut single = store();
        // A result of late clicks alone is the store's, not the output's.
        let expected = by_key(
            clicks
                .iter()
                .flat_map(|record| single.process(record).unwrap().emitted)
                .filter(|result| result.clicks > 0),
        );
        let mut stores: Vec<WindowStore> = (0..tasks).map(|_| store()).collect();
        let mut merge = Merger::new(tasks, GRACE, 3);
        let mut merged_results = Vec::new();
        let mut offset = 0;
        for record in &clicks {
            let RepartitionRecord::Click(c) = record else {
                unreachable!()
            };
            let owner = (c.button_id.len() % tasks as usize) as i32;
            let progress = RepartitionRecord::Progress(ProgressRecord {
                partition: 0,
                next_offset: offset_of(c) + 1,
                watermark: c.event_time,
            });
            for task in 0..tasks {
                let input = if task == owner { record } else { &progress };
                let store = &mut stores[task as usize];
                let mut out: Vec<PartialsRecord> = store
                    .process(input)
                    .unwrap()
                    .emitted
                    .into_iter()
                    .map(|result| PartialsRecord::Partial { task, result })
                    .collect();
                if let Some(watermark) = store.watermark() {
                    out.push(PartialsRecord::Watermark { task, watermark });
                }
                for record in out {
                    let wire = PartialsRecord::decode(Some(&record.value().unwrap())).unwrap();
                    merged_results.extend(merge.process(offset, wire).unwrap());
                    offset += 1;
                }
            }
        }
        assert!(expected.len() > 20, "{} windows", expected.len());
        assert_eq!(by_key(merged_results), expected);
    }

    fn offset_of(click: &ClickRecord) -> i64 {
        click.source.map_or(0, |s| s.offset)
    }

    #[test]
    fn records_decode_to_themselves_and_foreign_ones_are_refused() {
        let window = Window::new(WindowSpec::FiveMinutes, T0).unwrap();
        let late_only = PartialsRecord::Partial {
            task: 2,
            result: WindowResult {
                window,
                clicks: 0,
                products: 0,
                top: Vec::new(),
                late_clicks: 3,
            },
        };
        let watermark = PartialsRecord::Watermark {
            task: 1,
            watermark: T0,
        };
        for record in [late_only, watermark] {
            let value = record.value().unwrap();
            assert_eq!(PartialsRecord::decode(Some(&value)), Ok(record));
        }
        for foreign in [
            &b"not json"[..],
            br#"{"task":1}"#,
            br#"{"task":1,"watermark":5,"result":{}}"#,
            br#"{"task":1,"result":{"clicks":0,"products":0,"top":[],"late_clicks":0}}"#,
        ] {
            assert!(
                PartialsRecord::decode(Some(foreign)).is_err(),
                "{foreign:?}"
            );
        }
        assert!(PartialsRecord::decode(None).is_err());
    }

    #[test]
    fn a_window_waits_for_every_task_and_a_late_partial_emits_it_again() {
        let window = Window::new(WindowSpec::OneMinute, T0).unwrap();
        let partial = |clicks: u64, late: u64, product: &str| WindowResult {
            window,
            clicks,
            products: 1,
            top: vec![ProductClicks {
                button_id: product.into(),
                clicks,
                overcount: 0,
            }],
            late_clicks: late,
        };
        let mut merge = Merger::new(2, GRACE, 3);
        let closes = window.closes_at(GRACE);
        let p = |task, result| PartialsRecord::Partial { task, result };
        let w = |task, watermark| PartialsRecord::Watermark { task, watermark };
        assert!(merge
            .process(0, p(0, partial(5, 0, "kit")))
            .unwrap()
            .is_empty());
        assert!(
            merge.process(1, w(0, closes)).unwrap().is_empty(),
            "task 1 not there yet"
        );
        assert_eq!(merge.restart_offset(2), 0);
        let emitted = merge.process(2, w(1, closes)).unwrap();
        assert_eq!(emitted.len(), 1, "task 1 had no clicks: the window closes");
        assert_eq!(emitted[0].clicks, 5);
        let again = merge.process(3, p(1, partial(2, 2, "mug"))).unwrap();
        assert_eq!(again[0].clicks, 7);
        assert_eq!(again[0].late_clicks, 2);
        assert_eq!(again[0].top[1].button_id, "mug");
        assert_eq!(
            merge.process(4, w(2, closes)),
            Err(MergeRefused::NoSuchTask { task: 2, tasks: 2 })
        );
        // Ten minutes on, the window is forgotten, and so is where it began.
        let later = closes + CLOSED_KEPT_MS;
        merge.process(5, w(0, later)).unwrap();
        merge.process(6, w(1, later)).unwrap();
        assert_eq!(merge.windows(), 0);
        assert_eq!(merge.restart_offset(7), 5);
        assert!(merge
            .process(7, p(0, partial(1, 1, "kit")))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn replaying_from_the_restart_offset_rebuilds_the_state() {
        let window = |start| Window::new(WindowSpec::OneMinute, start).unwrap();
        let partial = |start, clicks| WindowResult {
            window: window(start),
            clicks,
            products: 1,
            top: vec![ProductClicks {
                button_id: "kit".into(),
                clicks,
                overcount: 0,
            }],
            late_clicks: 0,
        };
        let records: Vec<PartialsRecord> = (0..30i64)
            .flat_map(|minute| {
                let start = T0 + minute * 60_000;
                let closes = window(start).closes_at(GRACE);
                (0..2).flat_map(move |task| {
                    [
                        PartialsRecord::Partial {
                            task,
                            result: partial(start, 1 + task as u64),
                        },
                        PartialsRecord::Watermark {
                            task,
                            watermark: closes,
                        },
                    ]
                })
            })
            .collect();
        let mut original = Merger::new(2, GRACE, 3);
        let mut emitted_after = Vec::new();
        let cut = 70;
        for (offset, record) in records.iter().enumerate() {
            let out = original.process(offset as i64, record.clone()).unwrap();
            if offset >= cut {
                emitted_after.extend(out);
            }
            if offset + 1 == cut {
                let restart = original.restart_offset(cut as i64);
                assert!(restart < cut as i64 && restart > 0);
                // A new owner replays from there without emitting, then goes on.
                let mut replayed = Merger::new(2, GRACE, 3);
                for (o, r) in records
                    .iter()
                    .enumerate()
                    .skip(restart as usize)
                    .take(cut - restart as usize)
                {
                    replayed.process(o as i64, r.clone()).unwrap();
                }
                let mut replay_emitted = Vec::new();
                for (o, r) in records.iter().enumerate().skip(cut) {
                    replay_emitted.extend(replayed.process(o as i64, r.clone()).unwrap());
                }
                let mut rest = original.clone();
                let mut expected = Vec::new();
                for (o, r) in records.iter().enumerate().skip(cut) {
                    expected.extend(rest.process(o as i64, r.clone()).unwrap());
                }
                assert!(!expected.is_empty());
                assert_eq!(replay_emitted, expected);
            }
        }
        assert!(!emitted_after.is_empty());
    }
}
