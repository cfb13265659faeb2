//! The relay as a service: a producer that has probed the cluster before
//! the port is bound; then the reachability probe and the rate limiter's
//! sweep in the background, the API in front, and on shutdown the producer
//! flushed once the last request has been answered.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, Method};
use edm_runtime::{Background, CorsPolicy, ReadyReport, Routes, Service};
use serde_json::json;

use crate::admission::Admission;
use crate::metrics::Metrics;
use crate::producer::EventProducer;
use crate::rate_limit::ClientLimiter;
use crate::routes::{router, AppState};
use crate::settings::Settings;

/// How often the relay checks that Kafka is reachable.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How often clients that went quiet are forgotten by the rate limiter.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The relay, prepared: its producer, limits and counters.
pub struct Relay {
    state: AppState,
}

impl Relay {
    /// The event counters, for tests and embedding.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }
}

impl Service for Relay {
    const NAME: &'static str = crate::NAME;
    type Settings = Settings;

    /// Creates the producer and probes the cluster once, so that `/ready`
    /// tells the truth from the first request.
    async fn prepare(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::default();
        let producer =
            EventProducer::new(&settings.kafka, settings.delivery_timeout, metrics.clone())?;
        producer.probe(PROBE_INTERVAL).await;
        let limiter = ClientLimiter::new(settings.rate_limit_per_second, settings.rate_limit_burst)
            .map(Arc::new);
        let service_metrics = metrics.register(producer.clone());
        let admission = Admission::new(&settings);
        let state = AppState {
            producer,
            admission,
            settings: Arc::new(settings),
            metrics: Arc::new(metrics),
            service_metrics,
            limiter,
        };
        Ok(Self { state })
    }

    fn start(self, background: &Background) -> anyhow::Result<Routes> {
        let producer = self.state.producer.clone();
        background.spawn("kafka probe", |stop| async move {
            producer.probe_until(PROBE_INTERVAL, stop).await;
        });
        if let Some(limiter) = self.state.limiter.clone() {
            background.spawn("rate limiter sweep", |stop| async move {
                limiter
                    .forget_idle_clients_until(SWEEP_INTERVAL, stop)
                    .await;
            });
        }
        let producer = self.state.producer.clone();
        let flush_within = self.state.settings.http.shutdown_timeout;
        background.after_requests("producer flush", async move {
            let in_flight = producer.in_flight();
            if in_flight > 0 {
                tracing::info!(in_flight, "flushing the producer");
            }
            producer.flush(flush_within).await;
        });
        let producer = self.state.producer.clone();
        let metrics = self.state.service_metrics.clone();
        Ok(Routes::new(router(self.state), metrics)
            .ready_when(move || {
                let reachable = producer.is_reachable();
                async move {
                    let kafka = if reachable {
                        "reachable"
                    } else {
                        "unreachable"
                    };
                    ReadyReport::new(reachable, json!({ "kafka": kafka }))
                }
            })
            .callable_from_pages(CorsPolicy {
                methods: vec![Method::GET, Method::POST],
                headers: vec![HeaderName::from_static("idempotency-key")],
                credentials: false,
            }))
    }
}
