//! The relay's HTTP surface.
//!
//! | route | what |
//! |---|---|
//! | `POST /produceClickMessage` | one `edm-ui-click` event (the original endpoint) |
//! | `POST /producePageLoad` | one `edm-ui-pageload` event (the original endpoint) |
//! | `POST /api/v1/events` | a JSON array of events; a result per event |
//! | `GET /api/v1/schemas`, `GET /api/v1/schemas/{topic}` | the event catalog: each topic's JSON Schema |
//! | `GET /health`, `GET /ready`, `GET /metrics` | from the runtime: liveness; 200 while Kafka is reachable, else 503; Prometheus metrics (see [`crate::metrics`]) |

mod batch;
mod body;
mod produce;
mod schemas;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use edm_runtime::metrics::ServiceMetrics;

use crate::metrics::Metrics;
use crate::producer::EventProducer;
use crate::settings::Settings;

/// What every handler shares. The router holds it in one `Arc`, so that a
/// request clones a pointer rather than each of these.
pub struct AppState {
    /// The process's one producer.
    pub producer: EventProducer,
    /// The relay's settings.
    pub settings: Arc<Settings>,
    /// Event counters.
    pub metrics: Arc<Metrics>,
    /// The `/metrics` registry and the HTTP metrics layer.
    pub service_metrics: ServiceMetrics,
    /// Places for produce requests and memory for batch bodies.
    pub admission: crate::admission::Admission,
    /// Per-client limits; `None` when turned off.
    pub limiter: Option<Arc<crate::rate_limit::ClientLimiter>>,
}

/// The relay's own routes (the runtime adds health, readiness, metrics,
/// request ids, logs and CORS).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/produceClickMessage", post(produce::click))
        .route("/producePageLoad", post(produce::pageload))
        .route("/api/v1/events", post(produce::batch))
        .route("/api/v1/schemas", get(schemas::list))
        .route("/api/v1/schemas/{topic}", get(schemas::one))
        .with_state(Arc::new(state))
}
