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
//! | `GET /api/v1/dead-letters` | the newest malformed events, an excerpt of each (the whole record stays in Kafka) |
//! | `GET /openapi.json` | this API as OpenAPI 3.1 |
//! | `GET /health`, `GET /ready`, `GET /metrics` | from the runtime: liveness; readiness (database and consumer); Prometheus metrics (see [`crate::metrics`]) |

mod cache;
mod error;
mod legacy;
pub mod openapi;
mod params;
mod v1;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use sqlx::PgPool;

pub use cache::ApiMetrics;
pub use error::ApiError;

use crate::consumer::status::ConsumerStatus;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The aggregates.
    pub pool: PgPool,
    /// The consumer's state, for `/api/v1/consumer` and readiness.
    pub status: Arc<ConsumerStatus>,
    /// Memory for cached answers (`EDM_STATS_CACHE_BYTES`).
    pub cache_bytes: usize,
    /// Longest a database call may take (`EDM_STATS_DB_TIMEOUT_SECS`).
    pub db_timeout: Duration,
    /// Where the cached routes' answers came from.
    pub api_metrics: ApiMetrics,
    /// Most bytes of a dead letter's payload and reason served
    /// (`EDM_STATS_DEAD_LETTER_EXCERPT_BYTES`).
    pub dead_letter_excerpt_bytes: usize,
}

/// The API's own routes (the runtime adds health, readiness, metrics,
/// request ids, logs and CORS).
pub fn router(state: AppState) -> Router {
    // An answer waits for a connection and then for its statement, each
    // for at most the database timeout.
    let fill_limit = state.db_timeout * 2 + Duration::from_secs(1);
    let cache = cache::ResponseCache::new(
        state.status.clone(),
        state.cache_bytes,
        fill_limit,
        state.api_metrics.clone(),
    );
    // The original endpoints read no parameter and accept any query string:
    // their answers are cached by path alone.
    let original = Router::new()
        .route("/api/clickCount", get(legacy::click_count))
        .route("/api/clickHistory", get(legacy::click_history))
        .route_layer(axum::middleware::from_fn_with_state(
            cache.ignoring_query(),
            cache::cached,
        ));
    let aggregates = Router::new()
        .route("/api/v1/totals", get(v1::totals))
        .route("/api/v1/clicks", get(v1::clicks))
        .route("/api/v1/clicks/series", get(v1::click_series))
        .route("/api/v1/pageloads", get(v1::pageloads))
        .route("/api/v1/pageloads/series", get(v1::pageload_series))
        .route_layer(axum::middleware::from_fn_with_state(cache, cache::cached));
    Router::new()
        .merge(original)
        .merge(aggregates)
        .route("/api/v1/consumer", get(v1::consumer))
        .route("/api/v1/dead-letters", get(v1::dead_letters))
        .route("/openapi.json", get(openapi::document))
        .with_state(state)
}
