//! edm-trending: clicks per product counted in event-time windows, the top
//! products of each window once it closes, and the changelog that lets the
//! counts survive a restart, processed the Kafka Streams way. The core
//! (below) is Kafka-free; the runtime modules drive it.
//!
//! The core reads one ordered log of `(button_id, event_time)` records (the
//! single-partition repartition topic) and, for every record, returns the
//! exact changelog updates and output records the runtime must write in the
//! same Kafka transaction as the record's offset. It does no I/O and has no
//! clock: the same records always give the same updates and results, which
//! is what makes exactly-once processing and restore-from-changelog exact.
//!
//! # Semantics
//! - Windows: `1m` tumbling (size 60 s) and `5m` hopping (size 300 s,
//!   advancing 60 s), `[start, start + size)`, starts aligned to the epoch.
//! - Stream time is the largest valid event time seen. A record is counted
//!   in each of its windows whose `end + grace` is still after stream time,
//!   and dropped (counted as late) for the others.
//! - A window closes when `end + grace <= stream time`: its result is
//!   emitted once and its counts are deleted (tombstones in the changelog).
//!
//! # Use
//! ```
//! use edm_trending::{event_time, TrendingConfig, WindowStore};
//!
//! let mut store = WindowStore::new(TrendingConfig::new(30_000, 3, 100_000)?);
//! // A click its browser dated 1_700_000_010_000 ms, written to Kafka 0.5 s later.
//! let t = event_time(1_700_000_010_000, Some(1_700_000_010_500));
//! let processed = store.process("kit", t)?;
//! // In one transaction: processed.changelog to the changelog topic, each
//! // result's to_record() to edm-trending, and the input offset.
//! assert!(processed.emitted.is_empty());
//! // Six minutes later the windows holding that click have all closed.
//! let later = store.process("mug", 1_700_000_400_000)?;
//! assert_eq!(later.emitted.len(), 6);
//! assert_eq!(later.emitted[0].record_key(), "1m:1699999980000");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - [`event_time`](mod@event_time): a click's event time and the accepted range.
//! - [`config`]: [`TrendingConfig`] (grace, top-N size, memory bound).
//! - [`window`]: [`WindowSpec`] and [`Window`], which windows hold a time.
//! - [`store`]: [`WindowStore`], the processor, and [`Processed`].
//! - [`changelog`]: the changelog's key and value encoding, and [`coalesce`].
//! - [`restore`]: [`Restorer`], rebuilding a store from the changelog.
//! - [`output`]: [`WindowResult`] and the `edm-trending` record it becomes
//!   (the record's type and schema live in `edm-events`).
//! - [`repartition`]: the records of the repartition topic.
//! - [`counters`]: [`Counters`], what the runtime exports as metrics.
//!
//! The runtime around it (Kafka clients, transactions, restore):
//! - [`settings`]: the environment variables and their limits.
//! - [`names`]: the prefixed topic, group and transactional-id names.
//! - [`changelog_reader`]: restoring the store from the changelog topic.
//! - [`processor`]: the two-stage consume-process-produce loop.
//! - [`metrics`]: what the processor counts, at `/metrics`.
//! - [`startup`]: [`Trending`], the service: the processor on a thread of
//!   its own, `/health`, `/ready` and `/metrics`.

pub mod changelog;
pub mod changelog_reader;
pub mod config;
pub mod counters;
pub mod event_time;
pub mod metrics;
pub mod names;
pub mod output;
pub mod processor;
pub mod repartition;
pub mod restore;
pub mod settings;
pub mod startup;
pub mod store;
pub mod window;

pub use startup::Trending;

/// The service's name, as in `topology.json`.
pub const NAME: &str = "edm-trending";

pub use changelog::{coalesce, ChangelogError, ChangelogRecord, ChangelogUpdate};
pub use config::{ConfigError, TrendingConfig};
pub use counters::{Counters, SpecCounters};
pub use event_time::{event_time, MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS};
pub use output::{
    OutputRecord, OutputWindow, ProductClicks, TrendingOutput, TrendingRecord, WindowResult,
    OUTPUT_TOPIC,
};
pub use repartition::{RepartitionError, RepartitionRecord};
pub use restore::{RestoreError, Restorer};
pub use store::{Processed, RejectedRecord, WindowStore, MAX_BUTTON_ID_BYTES};
pub use window::{Window, WindowSpec};
