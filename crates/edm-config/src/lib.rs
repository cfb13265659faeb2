//! Shared configuration for every EDM service: how to reach the Kafka cluster,
//! which topics and consumer groups exist, and what an event looks like.
//!
//! Everything is read from the environment using Heroku's conventions
//! (`KAFKA_URL`, `KAFKA_TRUSTED_CERT`, `KAFKA_PREFIX`, `PORT`, …) into typed
//! settings that hand out the library types the services need.
//!
//! # Layout
//! - [`env`]: where variables come from (the process, or a map in tests).
//! - [`error`]: [`ConfigError`], which names the variable and never a secret.
//! - [`kafka`]: brokers, TLS material and prefix; rdkafka client configs.
//! - [`topics`]: the logical topics and consumer groups.
//! - [`event`]: the event wire format, parsing and validation.
//! - [`catalog`]: the JSON Schema of each topic's events (`docs/events/`).
//! - [`http`]: port and allowed browser origins.
//! - [`database`] (feature `postgres`): Postgres connection options.
//! - [`metrics`] (feature `metrics`): Prometheus registry, HTTP metrics
//!   layer and `/metrics` endpoint shared by every service.
//! - [`shutdown`]: the SIGTERM / Ctrl-C signal services stop on.
//! - [`telemetry`]: one-line-per-event logging.

pub mod catalog;
#[cfg(feature = "postgres")]
pub mod database;
pub mod env;
pub mod error;
pub mod event;
pub mod http;
pub mod kafka;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod shutdown;
pub mod telemetry;
pub mod topics;

pub use env::{Env, MapEnv, ProcessEnv};
pub use error::ConfigError;
pub use event::{Event, EventError, EVENT_ID_HEADER};
pub use http::HttpSettings;
pub use kafka::KafkaSettings;
pub use topics::{ConsumerGroup, Topic};
