//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::AppState;

/// The process is up.
pub async fn live() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready while the last probe reached Kafka.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    if state.producer.is_reachable() {
        (
            StatusCode::OK,
            Json(json!({"status": "ready", "kafka": "reachable"})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "kafka": "unreachable"})),
        )
    }
}
