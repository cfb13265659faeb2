//! edm-trending as an EDM service: the processor runs on a thread of its
//! own (every Kafka transaction call blocks) until the service stops; the
//! HTTP side answers `/health`, `/ready` and `/metrics` like every service.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use edm_runtime::{Background, ReadyReport, Routes, Service};
use serde_json::json;

use crate::metrics::Metrics;
use crate::processor::Processor;
use crate::settings::Settings;

/// How long after its last good cycle the processor still counts as
/// working (a cycle lasts `EDM_TRENDING_COMMIT_INTERVAL_MS`, a restore up to
/// a few minutes of changelog).
const STALE_AFTER: Duration = Duration::from_secs(60);

/// The service.
pub struct Trending {
    processor: Processor,
    metrics: Metrics,
}

impl Service for Trending {
    const NAME: &'static str = crate::NAME;
    type Settings = Settings;

    async fn prepare(settings: Settings) -> anyhow::Result<Self> {
        let names = settings.names();
        tracing::info!(
            group = names.group,
            input = names.input,
            output = names.output,
            changelog = names.changelog,
            repartition = names.repartition,
            "preparing"
        );
        let metrics = Metrics::default();
        let processor = tokio::task::spawn_blocking({
            let metrics = metrics.clone();
            move || Processor::new(settings, metrics)
        })
        .await??;
        Ok(Self { processor, metrics })
    }

    fn start(self, background: &Background) -> anyhow::Result<Routes> {
        let processor = self.processor;
        let stopped = self.metrics.stopped.clone();
        background.spawn("trending processor", |stop| async move {
            match tokio::task::spawn_blocking(move || processor.run(&stop)).await {
                Ok(Ok(())) => tracing::info!("processor stopped"),
                Ok(Err(fatal)) => {
                    stopped.set(1);
                    tracing::error!("the processor stopped for good: {fatal}");
                }
                Err(panicked) => {
                    stopped.set(1);
                    tracing::error!("the processor thread failed: {panicked}");
                }
            }
        });
        let metrics = Arc::new(self.metrics);
        let service_metrics = metrics.service_metrics();
        Ok(
            Routes::new(Router::new(), service_metrics).ready_when(move || {
                let report = readiness(&metrics);
                async move { report }
            }),
        )
    }
}

/// Ready while cycles keep ending well: the brokers answer, transactions
/// commit. An instance without partitions (more instances than the input
/// has partitions) is ready and idle. A processor that stopped for good is
/// not ready at once.
fn readiness(metrics: &Metrics) -> ReadyReport {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let last = metrics.last_good_cycle_ms.get();
    let stopped = metrics.stopped.get() == 1;
    let working = !stopped && last > 0 && now_ms - last <= STALE_AFTER.as_millis() as i64;
    let watermark = metrics.watermark_ms.get();
    ReadyReport::new(
        working,
        json!({
            "processor_stopped": stopped,
            "last_good_cycle_ms_ago": if last > 0 { Some(now_ms - last) } else { None },
            "watermark_ms": if watermark > 0 { Some(watermark) } else { None },
            "window_tasks": metrics.window_tasks.get(),
            "merge_task": metrics.merge_task.get() == 1,
            "committed_cycles": metrics.committed_cycles.get(),
            "aborted_cycles": metrics.aborted_cycles.get(),
            "last_restore_records": metrics.last_restore_records.get(),
            "last_restore_milliseconds": metrics.last_restore_millis.get(),
        }),
    )
}
