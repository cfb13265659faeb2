//! The service runtime every EDM HTTP service is built on, so the five
//! services share one skeleton instead of five copies of it.
//!
//! A service implements [`Service`]: `prepare` builds its state, `start`
//! starts its background work and builds its router; the runtime's
//! [`Application`] binds and serves it, and its `main.rs` is one line,
//! `edm_runtime::main::<Relay>()`.
//!
//! # Layout
//! - [`service`]: [`Service`] and [`ServiceSettings`], [`Application`]
//!   (what `main` and tests start), [`main`] and [`run`]; [`Site`],
//!   [`SiteSettings`] and [`Pages`] for services that only render pages.
//! - [`server`]: [`Server`] (bind, then serve with `/health`, `/ready`,
//!   `/metrics` and a bounded, orderly stop) and [`Routes`].
//! - `connections`: accepting connections within the connection caps and
//!   the header-read timeout.
//! - [`layers`]: request ids, request logs, the client's address, the
//!   body-read deadline, CORS, `nosniff`, HSTS, HTTP metrics.
//! - [`client`]: [`client::ClientAddress`], through trusted proxies only.
//! - [`occupancy`]: places held at once (connections, requests), in total
//!   and per client, with caps.
//! - [`health`]: the one shape of `/health` and `/ready`.
//! - [`background`]: [`Background`] tasks and the [`StopSignal`] they stop on.
//! - [`metrics`]: the Prometheus registry, HTTP metrics layer and endpoint.
//! - [`shutdown`]: the SIGTERM / Ctrl-C signal.
//! - [`telemetry`]: one-line-per-event logging.
//! - [`pages`] and [`assets`]: server-rendered pages (askama) and embedded
//!   static files, for the store and the dashboard.

pub mod assets;
pub mod background;
pub mod client;
mod connections;
pub mod health;
pub mod layers;
pub mod metrics;
pub mod occupancy;
pub mod pages;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use background::{Background, StopSignal};
pub use health::ReadyReport;
pub use layers::CorsPolicy;
pub use server::{Routes, Server};
pub use service::{main, run, Application, Pages, Service, ServiceSettings, Site, SiteSettings};
