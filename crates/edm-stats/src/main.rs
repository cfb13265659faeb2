//! Starts edm-stats, or with `migrate` applies the migrations and exits
//! (Heroku's release phase runs that).

use std::process::ExitCode;

use edm_config::{telemetry, ProcessEnv};
use edm_stats::{db, Application, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init("edm-stats");
    let result = match std::env::args().nth(1).as_deref() {
        None => run().await,
        Some("migrate") => migrate().await,
        Some(other) => Err(anyhow::anyhow!(
            "unknown command '{other}' (usage: edm-stats [migrate])"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("edm-stats failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let settings = Settings::from_env(&ProcessEnv)?;
    let app = Application::build(settings).await?;
    app.run_until_stopped(edm_config::shutdown::signal()).await
}

async fn migrate() -> anyhow::Result<()> {
    let database = edm_config::database::DatabaseSettings::from_env(&ProcessEnv)?;
    let pool = db::connect(&database).await?;
    db::migrate(&pool).await?;
    tracing::info!("migrations applied");
    Ok(())
}
