//! What edm-ui (the store) and edm-dashboard share, so both serve pages the
//! same way.
//!
//! # Layout
//! - [`assets`]: embedded static files, and the origin of a URL for CSP.
//! - [`page`]: askama templates as axum responses, and the page error type.
//! - [`server`]: [`WebServer`], which binds its listener first (so tests can
//!   ask for port 0 and learn the real one), then serves until told to stop.

pub mod assets;
pub mod page;
pub mod server;

pub use assets::{origin_of, Asset};
pub use page::{HtmlPage, PageError};
pub use server::WebServer;
