//! edm-dashboard: one server-rendered page that shows EDM's events as they
//! happen and as they add up. The browser fetches the click history from
//! edm-stats (`EDM_STATS_URL`) and subscribes to the live stream of
//! edm-stream (`EDM_STREAM_URL`, Socket.io); this server only renders the
//! page with those addresses and serves the scripts it needs, including the
//! Socket.io client and Chart.js, so the page works without internet access.
//!
//! Every value that comes from an event reaches the page as text (DOM
//! `textContent`, chart labels), never as markup, and the page's
//! Content-Security-Policy allows no inline script.
//!
//! # Layout
//! - [`settings`]: `PORT`, `EDM_STREAM_URL`, `EDM_STATS_URL`.
//! - [`startup`]: [`Application`], which binds the listener and serves.
//! - [`routes`]: the dashboard page, `/health`, `/ready` and static files.
//! - [`assets`]: the page's script and styles, and the vendored browser
//!   libraries (`static/vendor/`, checked against `web/package-lock.json`
//!   by `web/check-vendor.mjs`), embedded in the binary.
//! - pages as responses and the HTTP server come from `edm-web`.

pub mod assets;
pub mod routes;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::Application;
