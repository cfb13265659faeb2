//! edm-trending: clicks per product counted in event-time windows, the top
//! products of each window once it closes, and the changelog that lets the
//! counts survive a restart, processed the Kafka Streams way. The core
//! (below) is Kafka-free; the runtime modules drive it.
//!
//! A window store reads one ordered log (one partition of the repartition
//! topic: one window task's products) of clicks `(button_id, event_time,
//! where it was read)` and progress records (an input partition read to its
//! end), and, for every record, returns the exact changelog updates and
//! results the runtime must write in the same Kafka transaction as the
//! record's offset; the [`merge`](mod@merge) turns every task's results
//! for a window into its global one. It does no
//! I/O and has no clock: the same records always give the same updates and
//! results, which is what makes exactly-once processing and
//! restore-from-changelog exact. The clock is the runtime's: it caps event
//! times (no record moves time past the clock plus an allowed skew) and
//! writes the progress records that close windows on a quiet store.
//!
//! # Semantics
//! - Windows: `1m` tumbling (size 60 s) and `5m` hopping (size 300 s,
//!   advancing 60 s), `[start, start + size)`, starts aligned to the epoch.
//! - Watermark: each input partition's is the latest event time it gave,
//!   or later as its progress records say; the store's is the smallest of
//!   them, over every input partition ([`progress`]).
//! - A click is counted in each of its windows whose `end + grace` the
//!   watermark has not reached, and is late for the others.
//! - A window closes when the watermark reaches `end + grace`: its result
//!   is emitted once, its counts are deleted (tombstones in the changelog),
//!   and the result is kept ten minutes ([`CLOSED_KEPT_MS`]) so that late
//!   clicks for it are counted in its `late_clicks` and the result written
//!   again.
//! - A window holds at most `max_products_per_window` products; past it, a
//!   new product takes the least-clicked one's place ([`counts`]).
//! - The `1m` windows are also the per-minute counts of every product
//!   ([`minute_counts`]): each count as it moves (provisional) and every
//!   product's final count when its minute closes.
//!
//! # Use
//! ```
//! use edm_trending::{event_time, Clock, ClickRecord, RepartitionRecord, Source, TrendingConfig, WindowStore};
//!
//! let mut store = WindowStore::new(TrendingConfig::new(30_000, 3, 100_000)?);
//! store.set_input_partitions(1, 0); // one click partition, no page-load partition
//! // A click its browser dated 1_700_000_010_000 ms, written to Kafka 0.5 s
//! // later, read at once by a processor whose clock allows 5 s of skew.
//! let clock = Clock { now_ms: 1_700_000_010_600, max_skew_ms: 5_000 };
//! let t = event_time(1_700_000_010_000, Some(1_700_000_010_500), clock);
//! let click = |button_id: &str, event_time, offset| {
//!     RepartitionRecord::Click(ClickRecord {
//!         button_id: button_id.into(),
//!         event_time,
//!         event_id: None,
//!         source: Some(Source { partition: 0, offset }),
//!     })
//! };
//! let processed = store.process(&click("kit", t.ms, 0))?;
//! // In one transaction: processed.changelog to the changelog topic, each
//! // result's to_record() to edm-trending, and the input offset.
//! assert!(processed.emitted.is_empty());
//! // Six minutes later the windows holding that click have all closed.
//! let later = store.process(&click("mug", 1_700_000_400_000, 1))?;
//! assert_eq!(later.emitted.len(), 6);
//! assert_eq!(later.emitted[0].record_key(), "1m:1699999980000");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - [`event_time`](mod@event_time): a click's event time, the accepted
//!   range, and the clock's cap.
//! - [`config`]: [`TrendingConfig`] (grace, top-N size, memory bounds).
//! - [`window`]: [`WindowSpec`] and [`Window`], which windows hold a time.
//! - [`progress`]: [`InputProgress`], each input partition's watermark.
//! - [`counts`]: one window's counts, bounded by the Space-Saving rule.
//! - [`store`]: [`WindowStore`], the processor, and [`Processed`].
//! - [`merge`](mod@merge): [`Merger`](merge::Merger), the window tasks'
//!   results into each window's global one, and the partials topic's
//!   records.
//! - [`changelog`]: the changelog's key and value encoding, and [`coalesce`].
//! - [`journal`]: [`Journal`], an at-least-once cycle's change in one record.
//! - [`restore`]: [`Restorer`], rebuilding a store from the changelog.
//! - [`output`]: [`WindowResult`] and the `edm-trending` record it becomes
//!   (the record's type and schema live in `edm-events`).
//! - [`minute_counts`]: [`MinuteCount`](minute_counts::MinuteCount), one
//!   product's clicks in one minute, the `edm-trending-counts` record it
//!   becomes, and the per-second schedule of provisional counts.
//! - [`repartition`]: the records of the repartition topic.
//! - [`counters`]: [`Counters`], what the runtime exports as metrics.
//!
//! The runtime around it (Kafka clients, transactions, restore):
//! - [`settings`]: the environment variables and their limits.
//! - [`names`]: the prefixed topic, group and transactional-id names.
//! - [`producer`]: a stage's producer under either processing guarantee.
//! - [`repartition_stage`]: stage 1, clicks, page loads and progress
//!   records, and the sample of the store's events.
//! - [`input_event`]: an input record as an event with its id, and reading
//!   an input partition's dedup window back (retries counted once, as
//!   edm-stats counts them).
//! - [`sampler`]: [`Sampler`](sampler::Sampler), each cycle's uniform
//!   sample of each input partition's events, for `edm-trending-sample`.
//! - [`window_task`]: stage 2, a window task: a store on one repartition
//!   partition.
//! - [`merge_task`]: stage 3, the merge step on the partials topic.
//! - [`changelog_reader`]: restoring the store from the changelog topic.
//! - [`processor`]: the two-stage consume-process-produce loop.
//! - [`throttled_log`]: warnings other producers could repeat, throttled.
//! - [`metrics`]: what the processor counts, at `/metrics`.
//! - [`startup`]: [`Trending`], the service: the processor on a thread of
//!   its own, `/health`, `/ready` and `/metrics`.

pub mod changelog;
pub mod changelog_reader;
pub mod config;
pub mod counters;
pub mod counts;
pub mod event_time;
pub mod input_event;
pub mod journal;
pub mod merge;
pub mod merge_task;
pub mod metrics;
pub mod minute_counts;
pub mod names;
pub mod output;
pub mod processor;
pub mod producer;
pub mod progress;
pub mod repartition;
pub mod repartition_stage;
pub mod restore;
pub mod sampler;
pub mod settings;
pub mod startup;
pub mod store;
pub mod throttled_log;
pub mod window;
pub mod window_task;

pub use startup::Trending;

/// The service's name, as in `topology.json`.
pub const NAME: &str = "edm-trending";

pub use changelog::{coalesce, ChangelogError, ChangelogRecord, ChangelogUpdate, ClosedWindow};
pub use config::{ConfigError, TrendingConfig};
pub use counters::{Counters, SpecCounters};
pub use counts::Count;
pub use event_time::{
    event_time, Adjustment, Clock, EventTime, MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS,
};
pub use journal::Journal;
pub use output::{
    OutputRecord, OutputWindow, ProductClicks, TrendingOutput, TrendingRecord, WindowResult,
    OUTPUT_TOPIC,
};
pub use progress::{
    source_id, source_of, InputPartitions, InputProgress, InputTopic, PartitionProgress, Source,
    PAGE_LOAD_SOURCES,
};
pub use repartition::{
    ClickBatch, ClickRecord, PageLoadBatch, ProgressRecord, RepartitionError, RepartitionRecord,
};
pub use restore::{RestoreError, Restorer};
pub use store::{Processed, RejectedRecord, WindowStore, CLOSED_KEPT_MS, MAX_BUTTON_ID_BYTES};
pub use window::{Window, WindowSpec};
