//! Starts the store: reads settings from the environment, serves until
//! Ctrl-C or SIGTERM.

use edm_config::{shutdown, telemetry, ProcessEnv};
use edm_ui::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init("edm-ui");
    let settings = match Settings::from_env(&ProcessEnv) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("edm-ui: configuration error: {error}");
            std::process::exit(1);
        }
    };
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "edm-ui listening");
    application.run_until_stopped(shutdown::signal()).await
}
