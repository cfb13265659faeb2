//! Starts edm-stream with settings from the environment.

use std::process::ExitCode;

use edm_config::{telemetry, ProcessEnv};
use edm_stream::{Application, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init("edm-stream");
    let result = async {
        let settings = Settings::from_env(&ProcessEnv)?;
        let app = Application::build(settings).await?;
        app.run_until_stopped(edm_config::shutdown::signal()).await
    };
    match result.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("edm-stream failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}
