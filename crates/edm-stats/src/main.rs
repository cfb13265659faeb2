//! Starts edm-stats, or with `migrate` applies the migrations and exits
//! (Heroku's release phase runs that), or with `replay` rebuilds the
//! aggregates from what Kafka retains (see `edm_stats::replay`).

use std::process::ExitCode;

use edm_config::ProcessEnv;
use edm_runtime::{shutdown, Application, ServiceSettings};
use edm_stats::{db, Settings, Stats};

fn main() -> ExitCode {
    edm_runtime::run(edm_stats::NAME, || async {
        match std::env::args().nth(1).as_deref() {
            None => serve().await,
            Some("migrate") => migrate().await,
            Some("replay") => replay(std::env::args().skip(2)).await,
            Some(other) => Err(anyhow::anyhow!("unknown command '{other}' ({USAGE})")),
        }
    })
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::from_env(&ProcessEnv)?;
    Application::<Stats>::build(settings)
        .await?
        .run_until_stopped(shutdown::signal())
        .await
}

const USAGE: &str = "usage: edm-stats [migrate | replay [--dry-run] [--allow-history-loss]]";

/// Rebuilds the aggregates from Kafka and prints one line saying what it did.
async fn replay(args: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let mut options = edm_stats::replay::ReplayOptions::default();
    for arg in args {
        match arg.as_str() {
            "--dry-run" => options.dry_run = true,
            "--allow-history-loss" => options.allow_history_loss = true,
            other => anyhow::bail!("unknown replay option '{other}' ({USAGE})"),
        }
    }
    let settings = Settings::from_env(&ProcessEnv)?;
    let report = edm_stats::replay::run(&settings, &options).await?;
    println!("{report}");
    Ok(())
}

async fn migrate() -> anyhow::Result<()> {
    let database = edm_config::database::DatabaseSettings::from_env(&ProcessEnv)?;
    let pool = db::connect(&database).await?;
    db::migrate(&pool).await?;
    tracing::info!("migrations applied");
    Ok(())
}
