//! What the store and the dashboard serve the same way ([`site`]): one
//! askama page, embedded static files, JSON errors ([`PageError`]), and the
//! headers that keep a page to its own scripts and the services it calls
//! (Content-Security-Policy, Referrer-Policy).

use askama::Template;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::assets::{self, Asset};
use crate::metrics::MetricsBuilder;
use crate::server::Routes;

/// The policy when the configured service URLs cannot appear in a header:
/// the page still renders, but may connect nowhere.
const CLOSED_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:";

/// Scripts, styles and images from this server only, and no inline script
/// (even if event text ever reached a page as markup, it could not run);
/// the page may connect to `connect_sources` and nowhere else.
pub fn content_security_policy(connect_sources: &[String]) -> HeaderValue {
    let policy = format!(
        "{CLOSED_POLICY}; connect-src {}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        connect_sources.join(" ")
    );
    // The URLs were checked at start, but a header must also be visible
    // ASCII; fall back to blocking connections.
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        tracing::warn!("a service URL cannot appear in a header; the page cannot connect to it");
        HeaderValue::from_static(CLOSED_POLICY)
    })
}

/// The routes of a site: `page` at `/` (rendered once, never cached: it
/// carries the configured URLs), the embedded `files` under `/static/`, a
/// JSON 404 for any other path, and the page headers: a
/// Content-Security-Policy that lets the page connect to `connect_sources`
/// only, and a strict Referrer-Policy. Only the shared HTTP metrics are
/// reported, under `metrics_prefix`.
pub fn site(
    page: impl Template,
    files: &'static [Asset],
    connect_sources: &[String],
    metrics_prefix: &'static str,
) -> Routes {
    let page = page.render().map(Bytes::from).map_err(|error| {
        tracing::error!(%error, "the page could not be rendered; / answers 500");
    });
    let router = Router::new()
        .route(
            "/",
            get(move || {
                let page = page.clone();
                async move {
                    let html = page.map_err(|()| PageError::Render)?;
                    Ok::<_, PageError>(([(CACHE_CONTROL, "no-cache")], Html(html)))
                }
            }),
        )
        .route("/static/{*path}", static_files(files))
        .fallback(not_found)
        .layer(SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            content_security_policy(connect_sources),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ));
    Routes::new(router, MetricsBuilder::new(metrics_prefix).build())
}

/// `GET /static/{*path}` for `files`: each with its content type; cached
/// for a day under `vendor/` (vendored libraries change only with a
/// release), five minutes otherwise.
fn static_files(files: &'static [Asset]) -> MethodRouter {
    get(move |Path(path): Path<String>| async move {
        let asset = assets::find(files, &path).ok_or(PageError::NotFound)?;
        let cache = if path.starts_with("vendor/") {
            "public, max-age=86400"
        } else {
            "public, max-age=300"
        };
        Ok::<_, PageError>((
            [(CONTENT_TYPE, asset.content_type), (CACHE_CONTROL, cache)],
            asset.bytes,
        ))
    })
}

/// The answer to a path with no page or file.
async fn not_found() -> PageError {
    PageError::NotFound
}

/// What can go wrong answering a request for a page or a file.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No page or file at this path.
    #[error("not found")]
    NotFound,
    /// The template failed to render (a bug; logged when it happened,
    /// never shown).
    #[error("the page could not be rendered")]
    Render,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Render => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        (status, body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_lets_pages_connect_to_the_named_sources_only() {
        let policy = content_security_policy(&[
            "https://stream.example".to_owned(),
            "wss://stream.example".to_owned(),
        ]);
        let policy = policy.to_str().unwrap();
        assert!(
            policy.contains("connect-src https://stream.example wss://stream.example;"),
            "{policy}"
        );
        assert!(policy.contains("script-src 'self';"), "{policy}");
        let closed = content_security_policy(&["https://a.example\n".to_owned()]);
        assert_eq!(closed, CLOSED_POLICY);
    }
}
