//! The Postgres pool and the schema migrations (top-level `migrations/`).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use edm_config::database::DatabaseSettings;
use edm_runtime::StopSignal;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::consumer::status::ConsumerStatus;

/// The migrations, embedded at build time so the binary needs no files.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Connections the consumer's own pool holds: one batch transaction at a
/// time, and a look-up of stored offsets beside it.
pub const CONSUMER_CONNECTIONS: u32 = 2;

/// A pool of at most `connections` that connects lazily, so the service
/// starts (and reports itself degraded) even while Postgres is away. Every
/// statement is cancelled by Postgres after `timeout`, and waiting for a
/// connection gives up after it too.
pub fn pool(
    settings: &DatabaseSettings,
    connections: u32,
    timeout: Duration,
) -> anyhow::Result<PgPool> {
    let statement_timeout = timeout.as_millis().to_string();
    let options = settings
        .connect_options()?
        .options([("statement_timeout", statement_timeout.as_str())]);
    Ok(PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(timeout)
        .connect_lazy_with(options))
}

/// Connects now, failing if Postgres cannot be reached.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let pool = pool(settings, CONSUMER_CONNECTIONS, Duration::from_secs(60))?;
    sqlx::query("SELECT 1").execute(&pool).await?;
    Ok(pool)
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Applies pending migrations, retrying with backoff (250 ms doubling to
/// 30 s) until Postgres answers; the consumer state says `degraded` with the
/// cause meanwhile. Returns `false` when `stop` fired first.
pub async fn migrate_until_done(pool: &PgPool, status: &ConsumerStatus, stop: &StopSignal) -> bool {
    let delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(30))
        .without_max_times();
    let migrated = (|| migrate(pool)).retry(delays).notify(|e, delay| {
        status.set_degraded(format!("applying migrations: {e:#}"));
        tracing::warn!("migrations failed ({e:#}); retrying in {delay:?}");
    });
    tokio::select! {
        result = migrated => result.is_ok(),
        () = stop.cancelled() => false,
    }
}
