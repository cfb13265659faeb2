//! edm-stats against real Kafka and Postgres: the API, failures (Postgres
//! and brokers going away), hostile records, several instances, metrics,
//! offsets outside the log, replay, secrets, the tolerant reader and
//! housekeeping. One test binary, a module per subject.

mod api;
mod common;
mod failures;
mod hostile_records;
mod instances;
mod metrics;
mod offsets;
mod replay;
mod secrets;
mod tolerant_reader;
