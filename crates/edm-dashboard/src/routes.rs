//! The dashboard's routes: the page at `/`, `/health`, `/ready`, `/metrics`
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
use crate::settings::Settings;
use edm_web::{origin_of, HtmlPage, PageError};

/// What the handlers share.
#[derive(Debug, Clone)]
struct AppState {
    /// edm-stream's address, injected into the page.
    stream_url: Arc<str>,
    /// edm-stats' address, injected into the page.
    stats_url: Arc<str>,
}

/// The dashboard's router, with its security headers and request logging.
pub fn router(settings: &Settings) -> Router {
    let state = AppState {
        stream_url: settings.stream_url.as_str().into(),
        stats_url: settings.stats_url.as_str().into(),
    };
    // Only the shared HTTP metrics: requests and latency by route.
    let metrics = MetricsBuilder::new("edm_dashboard").build();
    Router::new()
        .route("/", get(dashboard_page))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", metrics.endpoint())
        .route("/static/{*path}", get(static_file))
        .fallback(not_found)
        .with_state(state)
        .layer(metrics.layer())
        .layer(SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            content_security_policy(&settings.stream_url, &settings.stats_url),
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

/// Scripts and styles from this server only, and no inline script: even if
/// event text ever reached the page as markup, it could not run. The page
/// may connect to edm-stats and to edm-stream (over HTTP for Socket.io's
/// polling and over WebSocket once it upgrades).
fn content_security_policy(stream_url: &str, stats_url: &str) -> HeaderValue {
    let stream = origin_of(stream_url);
    let stream_socket = stream
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| {
            stream
                .strip_prefix("http://")
                .map(|rest| format!("ws://{rest}"))
        })
        .unwrap_or_default();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {stream} {stream_socket} {stats}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        stats = origin_of(stats_url),
    );
    // The URLs were checked at start (http(s), no white space), but a header
    // must also be visible ASCII; fall back to blocking connections.
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        tracing::warn!("EDM_STREAM_URL or EDM_STATS_URL cannot appear in a header");
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:",
        )
    })
}

/// The dashboard page. The URLs are HTML-escaped into `data-` attributes,
/// where the page's script reads them.
#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    /// edm-stream's Socket.io address.
    stream_url: &'a str,
    /// edm-stats' REST API address.
    stats_url: &'a str,
}

#[tracing::instrument(skip_all)]
async fn dashboard_page(State(state): State<AppState>) -> Response {
    let page = HtmlPage(DashboardPage {
        stream_url: &state.stream_url,
        stats_url: &state.stats_url,
    });
    ([(CACHE_CONTROL, "no-cache")], page).into_response()
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "service": "edm-dashboard" }))
}

/// The dashboard's server depends on nothing at run time (the browser talks
/// to edm-stream and edm-stats itself), so it is ready once it serves.
async fn ready() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ready", "service": "edm-dashboard" }))
}

async fn static_file(Path(path): Path<String>) -> Result<impl IntoResponse, PageError> {
    let asset = assets::find(&path).ok_or(PageError::NotFound)?;
    let cache = if path.starts_with("vendor/") {
        "public, max-age=86400"
    } else {
        "public, max-age=300"
    };
    Ok((
        [(CONTENT_TYPE, asset.content_type), (CACHE_CONTROL, cache)],
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
    fn the_policy_allows_the_stream_over_http_and_websocket() {
        let policy = content_security_policy("https://stream.example/x", "http://localhost:5002");
        let policy = policy.to_str().unwrap();
        assert!(
            policy.contains(
                "connect-src https://stream.example wss://stream.example http://localhost:5002;"
            ),
            "{policy}"
        );
        let policy = content_security_policy("http://localhost:5001", "https://stats.example");
        assert!(policy.to_str().unwrap().contains(
            "connect-src http://localhost:5001 ws://localhost:5001 https://stats.example;"
        ));
    }
}
