//! What travels on EDM's topics: the event wire format of the original
//! reference store and the records edm-trending derives from it, each
//! parsed and validated the same way by every service, and the JSON Schema
//! catalog generated from them.
//!
//! # Layout
//! - [`event`]: [`Event`], its parsing and validation, and
//!   [`EVENT_ID_HEADER`], the Kafka header that carries an event's id.
//! - [`trending`]: [`TrendingRecord`], a record of the `edm-trending`
//!   topic (the top products of a closed click window), its parsing and
//!   validation.
//! - [`counts`]: [`CountsRecord`], a record of the `edm-trending-counts`
//!   topic (one product's clicks in one minute, provisional or final).
//! - [`sample`]: [`SampleRecord`], a record of the `edm-trending-sample`
//!   topic (one sampled store event and how many events it stands for).
//! - [`device`]: a page load's device type, from its user agent.
//! - [`recent_ids`]: [`recent_ids::RecentIds`], the ids of a partition's
//!   recent offsets, by which edm-stats and edm-trending count a retried
//!   event once.
//! - [`catalog`]: the JSON Schema of each topic's records (`docs/events/`).
//!
//! The logical topics themselves ([`edm_config::Topic`]) are configuration
//! and live in `edm-config`.

pub mod catalog;
pub mod counts;
pub mod device;
pub mod event;
pub mod recent_ids;
pub mod sample;
pub mod trending;

pub use counts::{CountKind, CountsRecord};
pub use event::{Event, EventError, EVENT_ID_HEADER};
pub use sample::{SampleRecord, SampleSource};
pub use trending::TrendingRecord;
