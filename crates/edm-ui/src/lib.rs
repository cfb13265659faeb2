//! edm-ui: the mock coffee store. A server-rendered shop page whose visitors'
//! page loads and button clicks are sent, by a small script in the page, to
//! edm-relay (`EDM_RELAY_URL`) as EDM events.
//!
//! The store never depends on the relay: if events cannot be delivered after
//! a few quick retries (each with the same `Idempotency-Key`), they are
//! dropped and the shop keeps working.
//!
//! # Layout
//! - [`routes`]: [`Store`], the site: the store page and static files.
//!   Its settings (`PORT`, `EDM_RELAY_URL`) are the runtime's `SiteSettings`.
//! - [`catalog`]: the products and kits on sale, and their button ids.
//! - [`assets`]: the script, style sheet and pictures, embedded in the binary.
//! - serving, pages as responses, health and metrics come from `edm-runtime`.
//! - `templates/`: the page's HTML; `static/`: the embedded files.

pub mod assets;
pub mod catalog;
pub mod routes;

pub use routes::Store;

/// The store's settings: `PORT` and `EDM_RELAY_URL`.
pub type Settings = edm_runtime::SiteSettings<Store>;

/// The service's name, as in `topology.json`.
pub const NAME: &str = "edm-ui";
