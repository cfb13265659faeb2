//! edm-ui: the mock coffee store. A server-rendered shop page whose visitors'
//! page loads and button clicks are sent, by a small script in the page, to
//! edm-relay (`EDM_RELAY_URL`) as EDM events.
//!
//! The store never depends on the relay: if events cannot be delivered after
//! a few quick retries (each with the same `Idempotency-Key`), they are
//! dropped and the shop keeps working.
//!
//! # Layout
//! - [`settings`]: `PORT` and `EDM_RELAY_URL`.
//! - [`startup`]: [`Application`], which binds the listener and serves.
//! - [`routes`]: the store page, `/health`, `/ready` and static files.
//! - [`catalog`]: the products and kits on sale, and their button ids.
//! - [`assets`]: the script, style sheet and pictures, embedded in the binary.
//! - pages as responses and the HTTP server come from `edm-web`.
//! - `templates/`: the page's HTML; `static/`: the embedded files.

pub mod assets;
pub mod catalog;
pub mod routes;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::Application;
