//! Starts the dashboard: reads settings from the environment, serves until
//! Ctrl-C or SIGTERM.

use edm_config::{shutdown, telemetry, ProcessEnv};
use edm_dashboard::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init("edm-dashboard");
    let settings = match Settings::from_env(&ProcessEnv) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("edm-dashboard: configuration error: {error}");
            std::process::exit(1);
        }
    };
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "edm-dashboard listening");
    application.run_until_stopped(shutdown::signal()).await
}
