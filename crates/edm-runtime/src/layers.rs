//! The request layers every service runs behind, outermost first:
//!
//! 1. request id: a caller's usable `x-request-id` (1–128 visible ASCII
//!    characters) is kept, so one id follows a request across hops; any
//!    other is replaced by a fresh UUID; the response echoes it;
//! 2. one log line per request (`request` span: method, path, request id,
//!    and `event_id`/`events` for handlers that write events);
//! 3. CORS, for services that pages on other origins call;
//! 4. `X-Content-Type-Options: nosniff` on every response;
//! 5. request counts and durations by route template (`/metrics`).

use std::time::Duration;

use axum::extract::Request;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::Router;
use edm_config::http::AllowedOrigins;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::metrics::ServiceMetrics;

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id kept from a caller.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// How long browsers may cache a CORS preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// What pages on the allowed origins may do across origins.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    /// Methods they may use (`OPTIONS` is always allowed).
    pub methods: Vec<Method>,
    /// Request headers they may send besides `Content-Type` and
    /// `X-Request-Id`.
    pub headers: Vec<HeaderName>,
}

impl CorsPolicy {
    /// The CORS layer for `origins`: `Retry-After` and `X-Request-Id` are
    /// readable by the page.
    fn layer(&self, origins: &AllowedOrigins) -> CorsLayer {
        let allow_origin = match origins {
            AllowedOrigins::Any => AllowOrigin::any(),
            AllowedOrigins::List(list) => {
                AllowOrigin::list(list.iter().filter_map(|o| o.parse().ok()))
            }
        };
        let methods = self
            .methods
            .iter()
            .cloned()
            .chain([Method::OPTIONS])
            .collect::<Vec<_>>();
        let headers = self
            .headers
            .iter()
            .cloned()
            .chain([CONTENT_TYPE, REQUEST_ID])
            .collect::<Vec<_>>();
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods(methods)
            .allow_headers(headers)
            .expose_headers([RETRY_AFTER, REQUEST_ID])
            .max_age(PREFLIGHT_MAX_AGE)
    }
}

/// `router` behind every layer above; `cors` only for services that pages
/// on other origins call.
pub fn apply(
    router: Router,
    metrics: &ServiceMetrics,
    cors: Option<(&CorsPolicy, &AllowedOrigins)>,
) -> Router {
    let router = router
        .layer(metrics.layer())
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    let router = match cors {
        Some((policy, origins)) => router.layer(policy.layer(origins)),
        None => router,
    };
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // `event_id` (one event) or `events` (a batch) is filled
                    // in by handlers that write events, so the one line per
                    // request ties the caller's request id to the event ids
                    // that travel on through Kafka.
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %id,
                        event_id = tracing::field::Empty,
                        events = tracing::field::Empty,
                    )
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unusable_request_id))
}

/// Removes a caller's `x-request-id` unless it is 1–128 visible ASCII
/// characters, so that an id cannot forge log fields.
async fn drop_unusable_request_id(mut request: Request) -> Request {
    let usable = request.headers().get(&REQUEST_ID).is_none_or(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_CHARS
            && bytes.iter().all(u8::is_ascii_graphic)
    });
    if !usable {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricsBuilder;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app(cors: Option<(&CorsPolicy, &AllowedOrigins)>) -> Router {
        let metrics = MetricsBuilder::new("edm_test").build();
        apply(
            Router::new().route("/", get(|| async { "hi" })),
            &metrics,
            cors,
        )
    }

    async fn answer(app: Router, request: axum::http::Request<Body>) -> axum::response::Response {
        app.oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn usable_request_ids_are_kept_and_others_replaced() {
        let kept = answer(
            app(None),
            Request::get("/")
                .header("x-request-id", "abc-123")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(kept.headers()["x-request-id"], "abc-123");
        assert_eq!(kept.headers()["x-content-type-options"], "nosniff");
        let forged = answer(
            app(None),
            Request::get("/")
                .header("x-request-id", "a b=forged")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let replaced = forged.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(replaced, "a b=forged");
        assert_eq!(replaced.len(), 36, "a fresh UUID: {replaced}");
    }

    #[tokio::test]
    async fn cors_answers_allowed_origins_only() {
        let policy = CorsPolicy {
            methods: vec![Method::POST],
            headers: vec![HeaderName::from_static("idempotency-key")],
        };
        let origins = AllowedOrigins::List(vec!["https://shop.example".into()]);
        let preflight = |origin: &str| {
            Request::options("/")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "idempotency-key")
                .body(Body::empty())
                .unwrap()
        };
        let allowed = answer(
            app(Some((&policy, &origins))),
            preflight("https://shop.example"),
        )
        .await;
        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "https://shop.example"
        );
        let refused = answer(
            app(Some((&policy, &origins))),
            preflight("https://evil.example"),
        )
        .await;
        assert!(!refused
            .headers()
            .contains_key("access-control-allow-origin"));
    }
}
