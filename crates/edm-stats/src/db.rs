//! The Postgres pool and the schema migrations (top-level `migrations/`).

use std::time::Duration;

use anyhow::Context;
use backon::{ExponentialBuilder, Retryable};
use edm_config::database::DatabaseSettings;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// The migrations, embedded at build time so the binary needs no files.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A pool that connects lazily, so the service starts (and reports itself
/// degraded) even while Postgres is away.
pub fn pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(settings.connect_options()?))
}

/// Connects now, failing if Postgres cannot be reached.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let pool = pool(settings)?;
    sqlx::query("SELECT 1").execute(&pool).await?;
    Ok(pool)
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Applies pending migrations, retrying while Postgres may still be
/// starting: 8 attempts, 250 ms apart at first, doubling.
pub async fn migrate_when_reachable(pool: &PgPool) -> anyhow::Result<()> {
    let attempts = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(60))
        .with_max_times(7);
    (|| migrate(pool))
        .retry(attempts)
        .notify(|e, delay| tracing::warn!("migrations failed ({e:#}); retrying in {delay:?}"))
        .await
        .context("applying migrations")
}
