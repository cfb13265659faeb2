//! Runs the example consumer until SIGTERM (Heroku) or Ctrl-C.

use std::process::ExitCode;

use edm_config::{shutdown, telemetry, ProcessEnv};
use edm_example_consumer::{run, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init("edm-example-consumer");
    let settings = match Settings::from_env(&ProcessEnv) {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!("edm-example-consumer cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(settings, shutdown::signal()).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("edm-example-consumer failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
