//! Runs edm-trending until SIGTERM (Heroku) or Ctrl-C, then commits the
//! open cycle and leaves the consumer group.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use edm_config::ProcessEnv;
use edm_trending::metrics::Metrics;
use edm_trending::processor::Processor;
use edm_trending::settings::Settings;

fn main() -> ExitCode {
    edm_runtime::run("edm-trending", || async {
        let settings = Settings::from_env(&ProcessEnv)?;
        let names = settings.names();
        tracing::info!(
            group = names.group,
            input = names.input,
            output = names.output,
            changelog = names.changelog,
            repartition = names.repartition,
            "starting"
        );
        let processor = Processor::new(settings, Arc::new(Metrics::default()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let running = {
            let stop = stop.clone();
            tokio::task::spawn_blocking(move || processor.run(&stop))
        };
        tokio::pin!(running);
        tokio::select! {
            result = &mut running => result??,
            () = edm_runtime::shutdown::signal() => {
                stop.store(true, Ordering::SeqCst);
                running.await??;
            }
        }
        tracing::info!("stopped");
        Ok(())
    })
}
