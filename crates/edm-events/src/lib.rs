//! What travels on EDM's topics: the event wire format of the original
//! reference store, parsed and validated the same way by every service, and
//! the JSON Schema catalog generated from it.
//!
//! # Layout
//! - [`event`]: [`Event`], its parsing and validation, and
//!   [`EVENT_ID_HEADER`], the Kafka header that carries an event's id.
//! - [`catalog`]: the JSON Schema of each topic's events (`docs/events/`).
//!
//! The logical topics themselves ([`edm_config::Topic`]) are configuration
//! and live in `edm-config`.

pub mod catalog;
pub mod event;

pub use event::{Event, EventError, EVENT_ID_HEADER};
