//! Runs the example consumer until SIGTERM (Heroku) or Ctrl-C.

use std::process::ExitCode;

use edm_config::ProcessEnv;
use edm_example_consumer::{run, Settings};

fn main() -> ExitCode {
    edm_runtime::run("edm-example-consumer", || async {
        let settings = Settings::from_env(&ProcessEnv)?;
        run(settings, edm_runtime::shutdown::signal()).await?;
        Ok(())
    })
}
