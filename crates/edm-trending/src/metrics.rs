//! What edm-trending reports at `/metrics` (through the shared
//! [`edm_runtime::metrics`] registry, next to the HTTP request metrics):
//!
//! | metric | what |
//! |---|---|
//! | `edm_trending_committed_cycles_total` | cycles whose transactions committed |
//! | `edm_trending_aborted_cycles_total` | cycles aborted after a Kafka error (their records are read again) |
//! | `edm_trending_restores_total` | times the window store was restored from its changelog |
//! | `edm_trending_last_restore_records` | changelog records the last restore read |
//! | `edm_trending_last_restore_milliseconds` | how long the last restore took |
//! | `edm_trending_clicks_repartitioned_total` | clicks written to the repartition topic (an aborted cycle's included) |
//! | `edm_trending_clicks_counted_total` | clicks the window task took (an aborted cycle's included) |
//! | `edm_trending_windows_emitted_total` | window results written (an aborted cycle's included) |
//! | `edm_trending_late_drops_total{window}` | clicks not counted in a window because they came after its grace period |
//! | `edm_trending_over_limit_drops_total{window}` | clicks not counted because the store held `EDM_TRENDING_MAX_OPEN_ENTRIES` counts |
//! | `edm_trending_skipped_inputs_total` | input records that were not valid clicks (each also logged with its offset) |
//! | `edm_trending_window_task` | 1 while this instance holds the window task |

use edm_runtime::metrics::{MetricsBuilder, ServiceMetrics};
use edm_runtime::register_metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::{Counters, WindowSpec};

/// The `window` label: `1m` or `5m`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WindowLabel {
    /// The window spec's name.
    pub window: String,
}

/// The processor's metrics; cheap to clone (they share their values).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Cycles whose transactions committed.
    pub committed_cycles: Counter,
    /// Cycles aborted after a Kafka error.
    pub aborted_cycles: Counter,
    /// Times the window store was restored from the changelog.
    pub restores: Counter,
    /// Changelog records read by the last restore.
    pub last_restore_records: Gauge,
    /// Milliseconds the last restore took.
    pub last_restore_millis: Gauge,
    /// Clicks written to the repartition topic.
    pub clicks_repartitioned: Counter,
    /// Clicks the window task took.
    pub clicks_counted: Counter,
    /// Window results written.
    pub windows_emitted: Counter,
    /// Clicks dropped for a window after its grace period, by window.
    pub late_drops: Family<WindowLabel, Counter>,
    /// Clicks dropped for a window at the store's limit, by window.
    pub over_limit_drops: Family<WindowLabel, Counter>,
    /// Input records that were not valid clicks.
    pub skipped_inputs: Counter,
    /// Repartition records that could not be decoded.
    pub skipped_repartition: Counter,
    /// 1 while this instance holds the window task.
    pub window_task: Gauge,
    /// When the last cycle ended without an error, epoch milliseconds.
    pub last_good_cycle_ms: Gauge,
}

impl Metrics {
    /// Adds what the store counted since `before` to the drop counters.
    pub fn add_store_counts(&self, before: &Counters, after: &Counters) {
        for spec in WindowSpec::ALL {
            let label = WindowLabel {
                window: spec.name().to_owned(),
            };
            let (b, a) = (before.spec(spec), after.spec(spec));
            self.late_drops
                .get_or_create(&label)
                .inc_by(a.late_drops.saturating_sub(b.late_drops));
            self.over_limit_drops
                .get_or_create(&label)
                .inc_by(a.over_limit_drops.saturating_sub(b.over_limit_drops));
        }
    }

    /// The registry for `/metrics`.
    pub fn service_metrics(&self) -> ServiceMetrics {
        let mut builder = MetricsBuilder::new("edm_trending");
        let registry = builder.service();
        register_metrics!(registry, {
            "committed_cycles": self.committed_cycles.clone() => "Cycles whose transactions committed";
            "aborted_cycles": self.aborted_cycles.clone() => "Cycles aborted after a Kafka error; their records are read again";
            "restores": self.restores.clone() => "Times the window store was restored from its changelog";
            "last_restore_records": self.last_restore_records.clone() => "Changelog records the last restore read";
            "last_restore_milliseconds": self.last_restore_millis.clone() => "How long the last restore took";
            "clicks_repartitioned": self.clicks_repartitioned.clone() => "Clicks written to the repartition topic (an aborted cycle's included)";
            "clicks_counted": self.clicks_counted.clone() => "Clicks the window task took (an aborted cycle's included)";
            "windows_emitted": self.windows_emitted.clone() => "Window results written";
            "late_drops": self.late_drops.clone() => "Clicks not counted in a window because they came after its grace period, by window";
            "over_limit_drops": self.over_limit_drops.clone() => "Clicks not counted because the store held EDM_TRENDING_MAX_OPEN_ENTRIES counts, by window";
            "skipped_inputs": self.skipped_inputs.clone() => "Input records that were not valid clicks";
            "skipped_repartition": self.skipped_repartition.clone() => "Repartition records that could not be decoded";
            "window_task": self.window_task.clone() => "1 while this instance holds the window task";
        });
        builder.build()
    }
}
