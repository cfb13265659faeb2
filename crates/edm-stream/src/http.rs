//! Health, readiness and metrics of the stream service.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
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

/// `/health`, `/ready`, `/metrics`.
pub fn routes(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
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

/// Prometheus text format.
async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    let c = &s.hub.counters;
    let text = format!(
        "# HELP edm_stream_clients Connected Socket.io clients.\n# TYPE edm_stream_clients gauge\nedm_stream_clients {}\n\
         # HELP edm_stream_events_total Events read from Kafka and published.\n# TYPE edm_stream_events_total counter\nedm_stream_events_total {}\n\
         # HELP edm_stream_client_drops_total Events dropped from slow clients' queues.\n# TYPE edm_stream_client_drops_total counter\nedm_stream_client_drops_total {}\n\
         # HELP edm_stream_invalid_total Messages skipped as invalid events.\n# TYPE edm_stream_invalid_total counter\nedm_stream_invalid_total {}\n\
         # HELP edm_stream_consumer_lag Messages behind the ends of the partitions.\n# TYPE edm_stream_consumer_lag gauge\nedm_stream_consumer_lag {}\n",
        s.hub.client_count(),
        c.events_in.load(Ordering::Relaxed),
        c.drops.load(Ordering::Relaxed),
        s.health.invalid.load(Ordering::Relaxed),
        s.health.lag.load(Ordering::Relaxed),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
