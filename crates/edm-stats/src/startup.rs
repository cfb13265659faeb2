//! Building and running edm-stats: migrations, the consumer thread, the API,
//! a periodic prune of old event ids, and an orderly shutdown (stop taking
//! requests, write the pending batch, leave the group).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::{router, AppState};
use crate::consumer::status::ConsumerStatus;
use crate::consumer::{self, store};
use crate::{db, metrics, Settings};

/// edm-stats bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    settings: Settings,
    state: AppState,
}

impl Application {
    /// Connects to Postgres, applies migrations and binds `0.0.0.0:PORT`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = db::pool(&settings.database)?;
        let mut delay = Duration::from_millis(250);
        // Postgres may still be starting (compose, a fresh dyno): wait a bit.
        for attempt in 1.. {
            match db::migrate(&pool).await {
                Ok(()) => break,
                Err(e) if attempt < 8 => {
                    tracing::warn!("migrations failed ({e:#}); retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e.context("applying migrations")),
            }
        }
        let listener = TcpListener::bind(("0.0.0.0", settings.http.port)).await?;
        let status = Arc::new(ConsumerStatus::default());
        let state = AppState {
            pool,
            metrics: metrics::service_metrics(status.clone(), settings.kafka.clone()),
            status,
        };
        Ok(Self {
            listener,
            settings,
            state,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Runs consumer and API until `shutdown` completes.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let consumer = consumer::spawn(
            &self.settings,
            self.state.pool.clone(),
            self.state.status.clone(),
        )?;
        let pruner = {
            let pool = self.state.pool.clone();
            let window = self.settings.dedup_window;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    if let Err(e) = store::prune_seen_events(&pool, window).await {
                        tracing::debug!("pruning seen event ids: {e}");
                    }
                }
            })
        };
        tracing::info!(port = self.port(), "edm-stats listening");
        let app = router(self.state, &self.settings.http.allowed_origins);
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        pruner.abort();
        consumer.stop().await;
        tracing::info!("edm-stats stopped");
        served.map_err(Into::into)
    }
}
