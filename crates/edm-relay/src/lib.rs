//! edm-relay: the front door for events. Browsers POST store events over
//! HTTP; the relay validates them and writes them to Kafka, answering
//! success only once the brokers acknowledged the write (acks=all).
//!
//! # Layout
//! - [`settings`]: configuration from the environment.
//! - [`producer`]: the Kafka producer and what a delivery can end in.
//! - [`api`]: the HTTP routes (original endpoints, batch, health, metrics).
//! - [`error`]: [`error::ApiError`], every failure as a JSON response.
//! - [`metrics`]: counters of accepted, rejected and failed events.
//! - [`rate_limit`]: per-client limits on events per second.
//! - [`startup`]: [`Application`], which binds, serves and shuts down.

pub mod api;
pub mod error;
pub mod metrics;
pub mod producer;
pub mod rate_limit;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::Application;
