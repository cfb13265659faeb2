//! edm-stats as a service: the migrations get a few seconds before the port
//! is bound; if Postgres does not answer by then, the port is bound anyway
//! (Heroku allows 60 s to bind) and the migrations are retried in the
//! background until it does (the consumer state says `degraded` meanwhile,
//! and the API answers `503`). Then the consumer (its own thread) starts;
//! the API is in front. On shutdown
//! the consumer writes the batch it holds and leaves the group.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use edm_runtime::{Background, CorsPolicy, ReadyReport, Routes, Service};
use serde_json::json;
use sqlx::PgPool;

use crate::consumer;
use crate::consumer::metrics::ConsumerMetrics;
use crate::consumer::status::{ConsumerState, ConsumerStatus};
use crate::metrics;
use crate::routes::{router, ApiMetrics, AppState};
use crate::{db, Settings};

/// How long the migrations may hold up binding the port at start.
const MIGRATIONS_BEFORE_BINDING: Duration = Duration::from_secs(3);
/// How long readiness waits for Postgres to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// edm-stats, prepared: a migrated database and the consumer's status.
pub struct Stats {
    settings: Settings,
    /// The consumer's connections.
    pool: PgPool,
    /// The API's connections, apart so that no API load starves the consumer.
    api_pool: PgPool,
    /// `/ready`'s one connection, apart so that no API flood makes the
    /// service look unready.
    ready_pool: PgPool,
    /// Whether the migrations were applied before the port was bound.
    migrated: bool,
    status: Arc<ConsumerStatus>,
    metrics: ConsumerMetrics,
}

impl Service for Stats {
    const NAME: &'static str = crate::NAME;
    type Settings = Settings;

    /// Prepares the pools and gives the migrations a few seconds.
    async fn prepare(settings: Settings) -> anyhow::Result<Self> {
        let pool = db::pool(
            &settings.database,
            db::CONSUMER_CONNECTIONS,
            settings.db_timeout,
        )?;
        let api_pool = db::pool(
            &settings.database,
            settings.api_db_connections,
            settings.db_timeout,
        )?;
        let ready_pool = db::pool(&settings.database, 1, READY_TIMEOUT)?;
        let migrated = tokio::time::timeout(MIGRATIONS_BEFORE_BINDING, db::migrate(&pool))
            .await
            .is_ok_and(|applied| applied.is_ok());
        if !migrated {
            tracing::warn!("Postgres did not answer in time; migrating in the background");
        }
        Ok(Self {
            pool,
            api_pool,
            ready_pool,
            migrated,
            status: Arc::new(ConsumerStatus::default()),
            metrics: ConsumerMetrics::new(settings.consumer.kafka.clone()),
            settings,
        })
    }

    fn start(self, background: &Background) -> anyhow::Result<Routes> {
        let (settings, pool, status, metrics) = (
            self.settings.clone(),
            self.pool.clone(),
            self.status.clone(),
            self.metrics.clone(),
        );
        let tasks = background.clone();
        let migrated = self.migrated;
        background.spawn("migrations, then the consumer", |stop| async move {
            if !migrated && !db::migrate_until_done(&pool, &status, &stop).await {
                return; // stopping before Postgres answered
            }
            if let Err(error) = consumer::start(&settings, pool, status.clone(), metrics, &tasks) {
                // Ending here fails the service: it stops, and the platform
                // restarts it.
                tracing::error!(%error, "the Kafka consumer could not start");
                status.set_degraded(format!("starting the consumer: {error}"));
                return;
            }
            // The consumer runs as a task of its own; this one's work is done.
            stop.cancelled().await;
        });
        let state = AppState {
            pool: self.api_pool,
            status: self.status,
            cache_bytes: self.settings.cache_bytes,
            dead_letter_excerpt_bytes: self.settings.dead_letter_excerpt_bytes,
            db_timeout: self.settings.db_timeout,
            api_metrics: ApiMetrics::default(),
        };
        let metrics =
            metrics::service_metrics(state.status.clone(), &self.metrics, &state.api_metrics);
        let (ready_pool, ready_status) = (self.ready_pool, state.status.clone());
        Ok(Routes::new(router(state), metrics)
            .ready_when(move || readiness(ready_pool.clone(), ready_status.clone()))
            .callable_from_pages(CorsPolicy {
                methods: vec![Method::GET],
                headers: vec![],
                credentials: false,
            }))
    }
}

/// Ready means Postgres answers and the consumer is running; otherwise the
/// answer says which is wrong (the consumer's state is `degraded` while
/// Postgres fails). It also says how many stored offsets were found outside
/// their log (see `/api/v1/consumer` for which). Postgres is asked on a
/// connection of its own, which API requests never hold.
async fn readiness(pool: PgPool, status: Arc<ConsumerStatus>) -> ReadyReport {
    let database = tokio::time::timeout(READY_TIMEOUT, sqlx::query("SELECT 1").execute(&pool))
        .await
        .is_ok_and(|r| r.is_ok());
    let snapshot = status.snapshot();
    ReadyReport::new(
        database && snapshot.state == ConsumerState::Running,
        json!({
            "database": if database { "reachable" } else { "unreachable" },
            "consumer": snapshot.state,
            // Stored offsets found outside their log since start: counting
            // goes on, so the service stays ready, but someone should look.
            "offset_resets": snapshot.offset_resets_total,
        }),
    )
}
