//! Fault injection for EDM: a three-broker cluster, a Postgres server and
//! the relay, stats and stream services as real processes, under a steady
//! load of events posted to the relay, while brokers, the database and the
//! services are killed and restarted. Afterwards every event the relay
//! acknowledged must be counted exactly once by edm-stats and have reached
//! a connected Socket.io client.
//!
//! # Layout
//! - [`processes`]: the cluster and the service processes.
//! - [`load`]: the load generator and its accounting.
//! - [`report`]: the run's report (docs/reliability.md).

pub mod load;
pub mod processes;
pub mod report;
