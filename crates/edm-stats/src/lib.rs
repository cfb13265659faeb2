//! edm-stats: consumes every EDM event in its own consumer group, counts it
//! exactly once into Postgres, and serves the numbers over a REST API.
//!
//! Exactly once: the next offset of each partition is stored in the same
//! Postgres transaction as the aggregates it accounts for, and every write
//! checks that the stored offset is still the one this instance started
//! from (a fencing check), so neither a crash, a rebalance, a database
//! outage nor a zombie instance can count an event twice or lose it. Events
//! retried by clients with the same id are counted once within a window.
//!
//! # Layout
//! - [`settings`]: configuration from the environment.
//! - [`db`]: the Postgres pool and the migrations.
//! - [`tally`]: the counting rule, shared by the consumer and replay.
//! - [`consumer`]: the Kafka consumer loop, batches and their transactions.
//! - [`routes`]: the REST API (original endpoints, /api/v1, OpenAPI).
//! - [`metrics`]: what `/metrics` reports (events, batches, lag).
//! - [`replay`]: `edm-stats replay`, rebuilding the aggregates from Kafka.
//! - [`startup`]: [`Stats`], the service as an `edm_runtime::Service`:
//!   database prepared, consumer in the background, API in front.
//! - binding, request layers, health, metrics and shutdown come from
//!   `edm-runtime`; the event format from `edm-events`.

pub mod consumer;
pub mod db;
pub mod metrics;
pub mod replay;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod tally;

pub use settings::Settings;
pub use startup::Stats;

/// The service's name, as in `topology.json`.
pub const NAME: &str = "edm-stats";
