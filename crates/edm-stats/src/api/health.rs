//! Liveness and readiness. Ready means Postgres answers and the consumer is
//! running; otherwise 503 with what is wrong, so the dashboard (and an
//! operator) can see the service is degraded.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;
use crate::consumer::status::ConsumerState;

/// The process is up.
pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Postgres reachable and the consumer running.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&state.pool),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let consumer = state.status.snapshot().state;
    let ready = database && consumer == ConsumerState::Running;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "degraded" },
            "database": if database { "reachable" } else { "unreachable" },
            "consumer": consumer,
        })),
    )
}
