//! The stats REST API.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/clickCount` | clicks per button, all time (original shape) |
//! | `GET /api/clickHistory` | clicks per UTC day, oldest first (original shape) |
//! | `GET /api/v1/totals` | total clicks, page loads, buttons |
//! | `GET /api/v1/clicks` | clicks per button in `[from, to)`, top `limit` |
//! | `GET /api/v1/clicks/series` | clicks per minute/hour/day bucket |
//! | `GET /api/v1/pageloads` | page loads in `[from, to)` by device type |
//! | `GET /api/v1/pageloads/series` | page loads per bucket |
//! | `GET /api/v1/consumer` | consumer state, partitions, lag |
//! | `GET /api/v1/dead-letters` | the newest malformed events |
//! | `GET /openapi.json` | this API as OpenAPI 3.1 |
//! | `GET /health`, `GET /ready` | liveness; readiness (database and consumer) |
//! | `GET /metrics` | Prometheus metrics (see [`crate::metrics`]) |

mod cache;
mod error;
mod health;
mod legacy;
pub mod openapi;
mod params;
mod v1;

use std::sync::Arc;

use axum::http::{HeaderName, Method};
use axum::routing::get;
use axum::Router;
use edm_config::http::AllowedOrigins;
use edm_config::metrics::ServiceMetrics;
use sqlx::PgPool;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use error::ApiError;

use crate::consumer::status::ConsumerStatus;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The aggregates.
    pub pool: PgPool,
    /// The consumer's state, for `/api/v1/consumer` and readiness.
    pub status: Arc<ConsumerStatus>,
    /// `/metrics` and the HTTP metrics layer.
    pub metrics: ServiceMetrics,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The complete router with CORS, request ids and request logs.
pub fn router(state: AppState, origins: &AllowedOrigins) -> Router {
    let cache = cache::ResponseCache::new(state.status.clone());
    let metrics = state.metrics.clone();
    let aggregates = Router::new()
        .route("/api/clickCount", get(legacy::click_count))
        .route("/api/clickHistory", get(legacy::click_history))
        .route("/api/v1/totals", get(v1::totals))
        .route("/api/v1/clicks", get(v1::clicks))
        .route("/api/v1/clicks/series", get(v1::click_series))
        .route("/api/v1/pageloads", get(v1::pageloads))
        .route("/api/v1/pageloads/series", get(v1::pageload_series))
        .route_layer(axum::middleware::from_fn_with_state(cache, cache::cached));
    Router::new()
        .merge(aggregates)
        .route("/api/v1/consumer", get(v1::consumer))
        .route("/api/v1/dead-letters", get(v1::dead_letters))
        .route("/openapi.json", get(openapi::document))
        .route("/health", get(health::live))
        .route("/ready", get(health::ready))
        .route("/metrics", metrics.endpoint())
        .with_state(state)
        .layer(metrics.layer())
        .layer(cors_layer(origins))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

fn cors_layer(origins: &AllowedOrigins) -> CorsLayer {
    let allow_origin = match origins {
        AllowedOrigins::Any => AllowOrigin::any(),
        AllowedOrigins::List(list) => AllowOrigin::list(list.iter().filter_map(|o| o.parse().ok())),
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::OPTIONS])
        .expose_headers([REQUEST_ID])
        .max_age(std::time::Duration::from_secs(600))
}
