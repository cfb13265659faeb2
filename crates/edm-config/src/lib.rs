//! Configuration for every EDM service, and nothing else: how to reach the
//! Kafka cluster, which topics and consumer groups exist, where each service
//! listens and whom it serves, and where the database is.
//!
//! Everything is read from the environment using Heroku's conventions
//! (`KAFKA_URL`, `KAFKA_TRUSTED_CERT`, `KAFKA_PREFIX`, `PORT`, …) into typed
//! settings that hand out the library types the services need; local
//! defaults (ports, groups, URLs) come from `topology.json`.
//!
//! # Layout
//! - [`env`]: where variables come from (the process, or a map in tests),
//!   and bounded numbers.
//! - [`error`]: [`ConfigError`], which names the variable and never a secret.
//! - [`topology`]: `topology.json`, the one description of the services.
//! - [`wiring`]: the environment the topology gives each service where it
//!   runs (this machine, compose).
//! - [`kafka`]: brokers, TLS material and prefix; rdkafka client configs;
//!   what a consumer service reads ([`ConsumerSettings`]).
//! - [`compression`]: how producers compress record batches.
//! - [`topics`]: the logical topics and consumer groups.
//! - [`http`]: port, allowed browser origins, shutdown timeout, and the
//!   URLs of other services.
//! - [`database`] (feature `postgres`): Postgres connection options.

pub mod compression;
#[cfg(feature = "postgres")]
pub mod database;
pub mod env;
pub mod error;
pub mod http;
pub mod kafka;
pub mod topics;
pub mod topology;
pub mod wiring;

pub use compression::Compression;
pub use env::{Env, MapEnv, ProcessEnv};
pub use error::ConfigError;
pub use http::{HttpSettings, ServiceUrl};
pub use kafka::{ConsumerSettings, KafkaSettings};
pub use topics::{ConsumerGroup, Topic};
