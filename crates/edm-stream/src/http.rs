//! Health, readiness and metrics of the stream service.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use edm_config::metrics::ServiceMetrics;
use serde_json::json;

use crate::consumer::ConsumerHealth;
use crate::hub::Hub;

/// Shared by the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    /// Clients and counters.
    pub hub: Arc<Hub>,
    /// The consumer's state.
    pub health: Arc<ConsumerHealth>,
}

/// `/health`, `/ready`, `/metrics` (see [`crate::metrics`]), with every
/// request counted and timed.
pub fn routes(state: HttpState, metrics: &ServiceMetrics) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/ready", get(ready))
        .route("/metrics", metrics.endpoint())
        .with_state(state)
        .layer(metrics.layer())
}

/// Ready when the cluster answers and partitions are assigned.
async fn ready(State(s): State<HttpState>) -> impl IntoResponse {
    let reachable = s.health.reachable.load(Ordering::Relaxed);
    let partitions = s.health.partitions.load(Ordering::Relaxed);
    let ready = reachable && partitions > 0;
    let body = Json(json!({
        "status": if ready { "ready" } else { "unavailable" },
        "kafka": if reachable { "reachable" } else { "unreachable" },
        "partitions": partitions,
        "lag": s.health.lag.load(Ordering::Relaxed),
        "clients": s.hub.client_count(),
    }));
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        body,
    )
}
