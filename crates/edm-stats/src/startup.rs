//! edm-stats as a service: a migrated database before the port is bound;
//! then the consumer (its own thread) and a periodic prune of old event ids
//! in the background, and the API in front. On shutdown the consumer writes
//! the batch it holds and leaves the group.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use edm_runtime::{Background, CorsPolicy, ReadyReport, Routes, Service, StopSignal};
use serde_json::json;
use sqlx::PgPool;

use crate::consumer::metrics::ConsumerMetrics;
use crate::consumer::status::{ConsumerState, ConsumerStatus};
use crate::consumer::{self, store};
use crate::metrics;
use crate::routes::{router, AppState};
use crate::{db, Settings};

/// How often event ids older than the dedup window are forgotten.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// How long readiness waits for Postgres to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// edm-stats, prepared: a migrated database and the consumer's status.
pub struct Stats {
    settings: Settings,
    pool: PgPool,
    status: Arc<ConsumerStatus>,
    metrics: ConsumerMetrics,
}

impl Service for Stats {
    const NAME: &'static str = crate::NAME;
    type Settings = Settings;

    /// Connects to Postgres and applies the migrations, retrying while it
    /// is still starting (compose, a fresh dyno).
    async fn prepare(settings: Settings) -> anyhow::Result<Self> {
        let pool = db::pool(&settings.database)?;
        db::migrate_when_reachable(&pool).await?;
        Ok(Self {
            pool,
            status: Arc::new(ConsumerStatus::default()),
            metrics: ConsumerMetrics::new(settings.consumer.kafka.clone()),
            settings,
        })
    }

    fn start(self, background: &Background) -> anyhow::Result<Routes> {
        consumer::start(
            &self.settings,
            self.pool.clone(),
            self.status.clone(),
            self.metrics.clone(),
            background,
        )?;
        let pool = self.pool.clone();
        let window = self.settings.dedup_window;
        background.spawn("event id prune", |stop| {
            prune_seen_events(pool, window, stop)
        });
        let state = AppState {
            pool: self.pool,
            status: self.status,
        };
        let metrics = metrics::service_metrics(state.status.clone(), &self.metrics);
        let ready = state.clone();
        Ok(Routes::new(router(state), metrics)
            .ready_when(move || readiness(ready.clone()))
            .callable_from_pages(CorsPolicy {
                methods: vec![Method::GET],
                headers: vec![],
            }))
    }
}

/// Ready means Postgres answers and the consumer is running; otherwise the
/// answer says which is wrong (the consumer's state is `degraded` while
/// Postgres fails).
async fn readiness(state: AppState) -> ReadyReport {
    let database =
        tokio::time::timeout(READY_TIMEOUT, sqlx::query("SELECT 1").execute(&state.pool))
            .await
            .is_ok_and(|r| r.is_ok());
    let consumer = state.status.snapshot().state;
    ReadyReport::new(
        database && consumer == ConsumerState::Running,
        json!({
            "database": if database { "reachable" } else { "unreachable" },
            "consumer": consumer,
        }),
    )
}

/// Forgets event ids older than `window` every minute until `stop` fires.
async fn prune_seen_events(pool: PgPool, window: Duration, stop: StopSignal) {
    let mut tick = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = store::prune_seen_events(&pool, window).await {
                    tracing::debug!("pruning seen event ids: {e}");
                }
            }
            () = stop.cancelled() => return,
        }
    }
}
