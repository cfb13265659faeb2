//! edm-relay: the front door for events. Browsers POST store events over
//! HTTP; the relay validates them and writes them to Kafka, answering
//! success only once the brokers acknowledged the write (acks=all).
//!
//! # Layout
//! - [`settings`]: configuration from the environment.
//! - [`producer`]: the Kafka producer and what a delivery can end in.
//! - [`routes`]: the HTTP routes (original endpoints, batch, event catalog).
//! - [`error`]: [`error::ApiError`], every failure as a JSON response.
//! - [`metrics`]: counters of accepted, rejected and failed events.
//! - [`rate_limit`]: per-client limits on events per second.
//! - [`admission`]: places in flight and the batch memory budget, taken
//!   before a body is read.
//! - [`startup`]: [`Relay`], the relay as an `edm_runtime::Service`:
//!   what it prepares, runs in the background and serves.
//! - binding, request layers, health, metrics and shutdown come from
//!   `edm-runtime`; the event format from `edm-events`.

pub mod admission;
pub mod error;
pub mod metrics;
pub mod producer;
pub mod rate_limit;
pub mod routes;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::Relay;

/// The service's name, as in `topology.json`.
pub const NAME: &str = "edm-relay";
