//! Fault injection and hostile clients for EDM, against real processes.
//!
//! `tests/reliability/faults.rs`: a three-broker cluster, a Postgres server and the
//! relay, stats and stream services under a steady load of events posted
//! to the relay, while brokers, the database and the services are killed
//! and restarted. Afterwards every event the relay acknowledged must be
//! counted exactly once by edm-stats and have reached a connected
//! Socket.io client.
//!
//! `tests/reliability/attacks.rs`: hostile clients against each public service while a
//! well-behaved client keeps using it; its requests must all succeed and
//! the service's peak memory stay under a bound.
//!
//! # Layout
//! - [`processes`]: the cluster and the service processes.
//! - [`listener`]: the official Socket.io client, in a child process.
//! - [`attacks`]: what the attack suite (`tests/reliability/attacks.rs`) measures.
//! - [`load`]: the load generator and its accounting.
//! - [`report`]: the run's report (docs/reliability.md).

pub mod attacks;
pub mod listener;
pub mod load;
pub mod processes;
pub mod report;
