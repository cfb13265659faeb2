//! Logging shared by all services: one line per event, plain text without
//! colours when not on a terminal (as `heroku logs` shows it), level from
//! `RUST_LOG` (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber. Safe to call more than once (later calls
/// do nothing), so tests can call it freely.
pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    let installed = fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .try_init()
        .is_ok();
    if installed {
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
    }
}
