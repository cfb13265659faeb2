//! Starts edm-relay with settings from the environment.

use edm_config::{telemetry, ProcessEnv};
use edm_relay::{Application, Settings};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    telemetry::init("edm-relay");
    let settings = match Settings::from_env(&ProcessEnv) {
        Ok(settings) => settings,
        Err(err) => {
            tracing::error!("configuration error: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = async {
        let app = Application::build(settings).await?;
        app.run_until_stopped(edm_config::shutdown::signal()).await
    };
    match result.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("edm-relay failed: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
