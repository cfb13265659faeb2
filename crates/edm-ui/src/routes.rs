//! The store's routes: the shop page at `/`, `/health`, `/ready`, `/metrics`
//! (Prometheus: requests and latency by route) and the embedded static
//! files under `/static/`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use edm_config::metrics::MetricsBuilder;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::assets;
use crate::catalog::{PictureKind, Product, KITS, PRODUCTS};
use crate::settings::Settings;
use edm_web::{origin_of, HtmlPage, PageError};

/// What the handlers share.
#[derive(Debug, Clone)]
struct AppState {
    /// Injected into the page for its script to send events to.
    relay_url: Arc<str>,
}

/// The store's router, with its security headers and request logging.
pub fn router(settings: &Settings) -> Router {
    let state = AppState {
        relay_url: settings.relay_url.as_str().into(),
    };
    // Only the shared HTTP metrics: requests and latency by route.
    let metrics = MetricsBuilder::new("edm_ui").build();
    Router::new()
        .route("/", get(store_page))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", metrics.endpoint())
        .route("/static/{*path}", get(static_file))
        .fallback(not_found)
        .with_state(state)
        .layer(metrics.layer())
        .layer(SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            content_security_policy(&settings.relay_url),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(TraceLayer::new_for_http())
}

/// Scripts, styles and images from this server only; events may go to the
/// relay's origin and nowhere else.
fn content_security_policy(relay_url: &str) -> HeaderValue {
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        origin_of(relay_url)
    );
    // The relay URL was checked at start (http(s), no white space), but a
    // header must also be visible ASCII; fall back to blocking connections.
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        tracing::warn!("EDM_RELAY_URL cannot appear in a header; the page cannot send events");
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:",
        )
    })
}

/// The shop page.
#[derive(Template)]
#[template(path = "store.html")]
struct StorePage<'a> {
    /// Where the page's script sends events.
    relay_url: &'a str,
    /// Coffees and gear.
    products: &'a [Product],
    /// Bundles.
    kits: &'a [Product],
}

#[tracing::instrument(skip_all)]
async fn store_page(State(state): State<AppState>) -> Response {
    let page = HtmlPage(StorePage {
        relay_url: &state.relay_url,
        products: &PRODUCTS,
        kits: &KITS,
    });
    ([(CACHE_CONTROL, "no-cache")], page).into_response()
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "service": "edm-ui" }))
}

/// The store depends on nothing at run time, so it is ready once it serves.
async fn ready() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ready", "service": "edm-ui" }))
}

async fn static_file(Path(path): Path<String>) -> Result<impl IntoResponse, PageError> {
    let asset = assets::find(&path).ok_or(PageError::NotFound)?;
    Ok((
        [
            (CONTENT_TYPE, asset.content_type),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        asset.bytes,
    ))
}

async fn not_found() -> PageError {
    PageError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_relay_origin_only() {
        let policy = content_security_policy("https://relay.example/base");
        let policy = policy.to_str().unwrap();
        assert!(
            policy.contains("connect-src https://relay.example;"),
            "{policy}"
        );
        assert!(policy.contains("script-src 'self';"), "{policy}");
    }
}
