//! The request layers every service runs behind, outermost first:
//!
//! 1. request id: a caller's usable `x-request-id` (1–128 visible ASCII
//!    characters) is kept, so one id follows a request across hops; any
//!    other is replaced by a fresh UUID; the response echoes it;
//! 2. one log line per request (`request` span: method, path, request id,
//!    and `event_id`/`events` for handlers that write events);
//! 3. the client's address (see [`crate::client`]), and HSTS for clients
//!    that came over TLS;
//! 4. a deadline on reading the request body (`EDM_HTTP_BODY_TIMEOUT_SECS`):
//!    a body trickled in slowly fails with [`BodyTimeout`] at the deadline;
//! 5. CORS, for services that pages on other origins call, with requests
//!    from any other origin refused (also WebSocket upgrades);
//! 6. `X-Content-Type-Options: nosniff` on every response;
//! 7. request counts and durations by route template (`/metrics`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;

use axum::http::header::{CONTENT_TYPE, ORIGIN, RETRY_AFTER, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use edm_config::http::AllowedOrigins;
use edm_config::HttpSettings;
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
    /// Whether their requests may carry cookies
    /// (`Access-Control-Allow-Credentials`): Socket.io 2 clients send their
    /// long-polling requests with credentials, which is also how Heroku's
    /// session-affinity cookie reaches the router.
    pub credentials: bool,
}

impl CorsPolicy {
    /// The CORS layer for `origins`: `Retry-After` and `X-Request-Id` are
    /// readable by the page.
    fn layer(&self, origins: &AllowedOrigins) -> CorsLayer {
        let allow_origin = match origins {
            // `*` is not allowed with credentials: name the caller's origin.
            AllowedOrigins::Any if self.credentials => AllowOrigin::mirror_request(),
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
            .allow_credentials(self.credentials)
            .max_age(PREFLIGHT_MAX_AGE)
    }
}

/// `router` behind every layer above, for a service with `settings`;
/// `cors` only for services that pages on other origins call.
pub fn apply(
    router: Router,
    metrics: &ServiceMetrics,
    settings: &HttpSettings,
    cors: Option<&CorsPolicy>,
) -> Router {
    let router = router
        .layer(metrics.layer())
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    let router = match cors {
        Some(policy) => {
            let origins = Arc::new(settings.allowed_origins.clone());
            router
                .layer(axum::middleware::from_fn(move |request, next| {
                    refuse_other_origins(origins.clone(), request, next)
                }))
                .layer(policy.layer(&settings.allowed_origins))
        }
        None => router,
    };
    let body_deadline = settings.body_read_timeout;
    let hops = settings.trusted_proxy_hops;
    router
        .layer(axum::middleware::map_request(move |request: Request| {
            std::future::ready(with_body_deadline(request, body_deadline))
        }))
        .layer(axum::middleware::from_fn(move |request, next| {
            crate::client::layer(hops, request, next)
        }))
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

/// Refuses with `403 origin_not_allowed` a request that a page on another
/// origin sent (browsers name it in `Origin`): CORS only stops pages from
/// reading answers, and a WebSocket upgrade is not subject to CORS at all.
/// Clients that are not browsers send no `Origin` and pass.
async fn refuse_other_origins(
    origins: Arc<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let refused = request
        .headers()
        .get(ORIGIN)
        .is_some_and(|origin| !origin.to_str().is_ok_and(|o| origins.allows(o)));
    if refused {
        let body = Json(serde_json::json!({"error": "origin_not_allowed"}));
        return (StatusCode::FORBIDDEN, body).into_response();
    }
    next.run(request).await
}

/// The request body failed: the client did not send it within `limit`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {limit:?}")]
pub struct BodyTimeout {
    /// The time allowed (`EDM_HTTP_BODY_TIMEOUT_SECS`).
    pub limit: Duration,
}

/// `request` with a body that fails once `limit` has passed (requests
/// without a body are left alone).
fn with_body_deadline(request: Request, limit: Duration) -> Request {
    if request.body().is_end_stream() {
        return request;
    }
    request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        })
    })
}

/// A body that fails at its deadline, however slowly its bytes arrive.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::BoxError>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            let limit = self.limit;
            return Poll::Ready(Some(Err(BodyTimeout { limit }.into())));
        }
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map_err(axum::BoxError::from)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
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

    fn settings() -> HttpSettings {
        let mut settings = HttpSettings::from_env(&edm_config::MapEnv::default(), "edm-relay")
            .expect("default settings");
        settings.allowed_origins = AllowedOrigins::List(vec!["https://shop.example".into()]);
        settings.body_read_timeout = Duration::from_millis(300);
        settings
    }

    fn app(cors: Option<&CorsPolicy>) -> Router {
        let metrics = MetricsBuilder::new("edm_test").build();
        let router = Router::new().route("/", get(|| async { "hi" })).route(
            "/upload",
            axum::routing::post(|body: Body| async move {
                match axum::body::to_bytes(body, 1 << 20).await {
                    Ok(bytes) => format!("read {}", bytes.len()),
                    Err(err) => format!(
                        "failed: {}",
                        std::error::Error::source(&err).map_or(err.to_string(), |e| e.to_string())
                    ),
                }
            }),
        );
        apply(router, &metrics, &settings(), cors)
    }

    /// A body that sends one chunk, then nothing more, ever.
    struct Trickle(bool);

    impl HttpBody for Trickle {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b"{")))))
            }
        }
    }

    #[tokio::test]
    async fn a_body_trickled_past_the_deadline_fails_and_a_prompt_one_is_read() {
        let started = std::time::Instant::now();
        let response = answer(
            app(None),
            Request::post("/upload")
                .body(Body::new(Trickle(false)))
                .unwrap(),
        )
        .await;
        let text = axum::body::to_bytes(response.into_body(), 1 << 10)
            .await
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            "failed: the request body did not arrive within 300ms"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        let response = answer(
            app(None),
            Request::post("/upload").body(Body::from("{}")).unwrap(),
        )
        .await;
        let text = axum::body::to_bytes(response.into_body(), 1 << 10)
            .await
            .unwrap();
        assert_eq!(&text[..], b"read 2");
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
            credentials: false,
        };
        let preflight = |origin: &str| {
            Request::options("/")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "idempotency-key")
                .body(Body::empty())
                .unwrap()
        };
        let allowed = answer(app(Some(&policy)), preflight("https://shop.example")).await;
        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "https://shop.example"
        );
        let refused = answer(app(Some(&policy)), preflight("https://evil.example")).await;
        let upgrade = |origin: Option<&str>| {
            let request = Request::get("/").header("upgrade", "websocket");
            match origin {
                Some(origin) => request.header("origin", origin),
                None => request,
            }
            .body(Body::empty())
            .unwrap()
        };
        let status = |response: axum::response::Response| response.status().as_u16();
        assert_eq!(
            status(answer(app(Some(&policy)), upgrade(Some("https://evil.example"))).await),
            403
        );
        assert_eq!(
            status(answer(app(Some(&policy)), upgrade(Some("https://shop.example"))).await),
            200
        );
        assert_eq!(status(answer(app(Some(&policy)), upgrade(None)).await), 200);
        assert!(!refused
            .headers()
            .contains_key("access-control-allow-origin"));
    }
}
