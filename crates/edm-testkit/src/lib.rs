//! Test support: every integration test runs against the real Apache Kafka
//! broker and PostgreSQL that `./edm infra up` starts (or any others that the
//! environment points at).
//!
//! # Layout
//! - [`infra`]: where the infrastructure is (environment, or `.edm/env`).
//! - [`kafka`]: [`kafka::TestTopics`], a random prefix with EDM's topics
//!   created for one test and deleted after it, and helpers to read them.
//! - [`html`]: attribute values of server-rendered pages.
//! - [`polling`]: [`polling::Polling`], Engine.IO long-polling sessions by
//!   hand (open, join, read the answer).
//! - [`broker`]: [`broker::SpareBroker`], a broker a test may stop and kill.
//! - [`postgres`]: [`postgres::TestDatabase`], a fresh database per test.
//! - [`proxy`]: [`proxy::Proxy`], Debian's nginx in front of instances,
//!   request by request or by client address.
//! - [`secrets`]: known secret values, and scanning output for them.
//! - [`service`]: [`service::TestService`], any EDM service on a free port.
//! - [`spare_postgres`]: [`spare_postgres::SparePostgres`], a server a test may stop.
//! - [`stream_clients`]: [`stream_clients::ResumingClients`], official
//!   Socket.io clients speaking edm-stream's resume protocol.

pub mod broker;
pub mod html;
pub mod infra;
pub mod kafka;
pub mod polling;
pub mod postgres;
pub mod proxy;
pub mod secrets;
pub mod service;
pub mod spare_postgres;
pub mod stream_clients;
