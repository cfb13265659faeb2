//! Building and running the relay: bind, serve, and on shutdown stop
//! accepting, finish in-flight requests and flush the producer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::api::{router, AppState};
use crate::metrics::Metrics;
use crate::producer::EventProducer;
use crate::rate_limit::ClientLimiter;
use crate::settings::Settings;

/// How often the relay checks that Kafka is reachable.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// A relay bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Creates the producer and binds `0.0.0.0:PORT` (port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let producer = EventProducer::new(&settings.kafka, settings.delivery_timeout)?;
        // Know whether the cluster answers before saying ready: `/ready`
        // reports this first probe until the periodic ones take over.
        producer.probe(PROBE_INTERVAL).await;
        let listener = TcpListener::bind(("0.0.0.0", settings.http.port)).await?;
        let limiter = ClientLimiter::new(settings.rate_limit_per_second, settings.rate_limit_burst)
            .map(Arc::new);
        let (metrics, service_metrics) = Metrics::register(producer.clone());
        let in_flight = Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight));
        let state = AppState {
            producer,
            in_flight,
            settings: Arc::new(settings),
            metrics: Arc::new(metrics),
            service_metrics,
            limiter,
        };
        Ok(Self { listener, state })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// The event counters, for tests and embedding.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish
    /// and waits for the producer to settle what it holds.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let producer = self.state.producer.clone();
        let probe = producer.spawn_probe(PROBE_INTERVAL);
        let forget = self.state.limiter.clone().map(|limiter| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    limiter.forget_idle_clients();
                }
            })
        });
        tracing::info!(port = self.port(), "edm-relay listening");
        let app = router(self.state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        // Answers are small: send them at once, not after a delayed ACK.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY not set: {e}");
            }
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        probe.abort();
        if let Some(forget) = forget {
            forget.abort();
        }
        let in_flight = producer.in_flight();
        if in_flight > 0 {
            tracing::info!(in_flight, "flushing the producer");
        }
        producer.flush(Duration::from_secs(20)).await;
        tracing::info!("edm-relay stopped");
        Ok(())
    }
}
