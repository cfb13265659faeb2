//! The relay's HTTP surface.
//!
//! | route | what |
//! |---|---|
//! | `POST /produceClickMessage` | one `edm-ui-click` event (the original endpoint) |
//! | `POST /producePageLoad` | one `edm-ui-pageload` event (the original endpoint) |
//! | `POST /api/v1/events` | a JSON array of events; a result per event |
//! | `GET /api/v1/schemas`, `GET /api/v1/schemas/{topic}` | the event catalog: each topic's JSON Schema |
//! | `GET /health` | liveness |
//! | `GET /ready` | 200 while Kafka is reachable, else 503 |
//! | `GET /metrics` | Prometheus metrics (see [`crate::metrics`]) |

mod body;
mod health;
mod produce;
mod schemas;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderName, Method};
use axum::routing::{get, post};
use axum::Router;
use edm_config::http::AllowedOrigins;
use edm_config::metrics::ServiceMetrics;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::metrics::Metrics;
use crate::producer::EventProducer;
use crate::settings::Settings;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The process's one producer.
    pub producer: EventProducer,
    /// The relay's settings.
    pub settings: Arc<Settings>,
    /// Event counters.
    pub metrics: Arc<Metrics>,
    /// The `/metrics` registry and the HTTP metrics layer.
    pub service_metrics: ServiceMetrics,
    /// Permits for produce requests in flight (`max_in_flight`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Per-client limits; `None` when turned off.
    pub limiter: Option<Arc<crate::rate_limit::ClientLimiter>>,
}

/// The request id header: kept from the caller when usable, else set, and
/// echoed in the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The complete router with CORS, request ids and request logs.
pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.settings.http.allowed_origins);
    let metrics = state.service_metrics.clone();
    Router::new()
        .route("/produceClickMessage", post(produce::click))
        .route("/producePageLoad", post(produce::pageload))
        .route("/api/v1/events", post(produce::batch))
        .route("/api/v1/schemas", get(schemas::list))
        .route("/api/v1/schemas/{topic}", get(schemas::one))
        .route("/health", get(health::live))
        .route("/ready", get(health::ready))
        .route("/metrics", metrics.endpoint())
        .with_state(state)
        .layer(metrics.layer())
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // `event_id` (one event) or `events` (a batch) is
                    // filled in by the handler, so the one line logged per
                    // request ties the caller's request id to the event ids
                    // that travel on through Kafka.
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
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

/// Longest request id kept from a caller.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// Keeps the caller's `x-request-id` (so one id follows a request across
/// hops) when it is 1–128 visible ASCII characters; otherwise removes it,
/// and the relay assigns a fresh one. An id cannot forge log fields.
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

fn cors_layer(origins: &AllowedOrigins) -> CorsLayer {
    let allow_origin = match origins {
        AllowedOrigins::Any => AllowOrigin::any(),
        AllowedOrigins::List(list) => AllowOrigin::list(list.iter().filter_map(|o| o.parse().ok())),
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            REQUEST_ID,
        ])
        .expose_headers([header::RETRY_AFTER, REQUEST_ID])
        .max_age(std::time::Duration::from_secs(600))
}
