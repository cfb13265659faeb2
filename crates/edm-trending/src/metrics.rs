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
//! | `edm_trending_page_loads_repartitioned_total` | page loads written to the repartition topic (an aborted cycle's included) |
//! | `edm_trending_late_page_loads_total` | page loads not counted because their minute had closed |
//! | `edm_trending_over_limit_page_loads_total` | page loads not counted because their minute would have been new while the store held `EDM_TRENDING_MAX_OPEN_ENTRIES` counts |
//! | `edm_trending_clicks_counted_total` | clicks the window tasks took (an aborted cycle's included) |
//! | `edm_trending_clicks_committed_total` | clicks whose window task's cycle committed: each click once, whichever instance, under exactly once |
//! | `edm_trending_repartition_records_total` | records written to the repartition topic, clicks and progress (an aborted cycle's included) |
//! | `edm_trending_windows_emitted_total` | window results written (an aborted cycle's included) |
//! | `edm_trending_late_drops_total{window}` | clicks not counted in a window because they came after its grace period (each is in the window's `late_clicks` while it is kept) |
//! | `edm_trending_late_updates_total{window}` | window results written again with more late clicks |
//! | `edm_trending_over_limit_drops_total{window}` | clicks not counted because their window would have been new while the store held `EDM_TRENDING_MAX_OPEN_ENTRIES` counts |
//! | `edm_trending_products_replaced_total{window}` | products that took a least-clicked product's place in a full window (its counts became upper bounds) |
//! | `edm_trending_adjusted_event_times_total{reason}` | clicks whose event time was not their own: `ahead_of_clock` (capped at the clock plus `EDM_TRENDING_MAX_CLOCK_SKEW_SECS`), `no_record_time` (no usable Kafka timestamp: read time used) |
//! | `edm_trending_skipped_inputs_total` | input records that were not valid clicks (logged with their offset) |
//! | `edm_trending_duplicate_inputs_total` | input events not counted because their id appeared within `EDM_TRENDING_DEDUP_WINDOW_EVENTS` offsets before them in their partition (retries; an aborted cycle's included) |
//! | `edm_trending_skipped_repartition_total` | repartition records that did not decode, or that the window store refused (logged) |
//! | `edm_trending_skipped_changelog_total` | changelog records a restore skipped because they did not decode (logged) |
//! | `edm_trending_repeated_clicks_total` | clicks read twice (at least once, after a crash) and counted once |
//! | `edm_trending_partials_written_total` | window results of one task's products written for the merge (an aborted cycle's included) |
//! | `edm_trending_minute_counts_written_total{status}` | `edm-trending-counts` records written (an aborted cycle's included): `final` (a closed minute's count), `provisional` (an open minute's count so far), `withdrawn` (a tombstone for a product that lost its place in a full minute) |
//! | `edm_trending_sample_records_total` | `edm-trending-sample` records written (an aborted cycle's included) |
//! | `edm_trending_skipped_partials_total` | partials records the merge could not decode or refused (logged) |
//! | `edm_trending_watermark_milliseconds` | the smallest watermark of the window tasks this instance holds (epoch ms): windows closed up to it |
//! | `edm_trending_window_tasks` | window tasks this instance holds |
//! | `edm_trending_merge_task` | 1 while this instance holds the merge step |

use edm_runtime::metrics::{MetricsBuilder, ServiceMetrics};
use edm_runtime::register_metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::{Adjustment, Counters, WindowSpec};

/// The `reason` label of adjusted event times.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `ahead_of_clock` or `no_record_time`.
    pub reason: &'static str,
}

/// The `status` label of per-minute counts written.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// `final`, `provisional` or `withdrawn`.
    pub status: &'static str,
}

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
    /// Page loads written to the repartition topic.
    pub page_loads_repartitioned: Counter,
    /// Page loads not counted: their minute had closed.
    pub late_page_loads: Counter,
    /// Page loads not counted: the store was full.
    pub over_limit_page_loads: Counter,
    /// Clicks the window tasks took.
    pub clicks_counted: Counter,
    /// Clicks whose window task's cycle committed.
    pub clicks_committed: Counter,
    /// Records written to the repartition topic.
    pub repartition_records: Counter,
    /// Window results written.
    pub windows_emitted: Counter,
    /// Clicks dropped for a window after its grace period, by window.
    pub late_drops: Family<WindowLabel, Counter>,
    /// Clicks dropped for a window at the store's limit, by window.
    pub over_limit_drops: Family<WindowLabel, Counter>,
    /// Window results written again for late clicks, by window.
    pub late_updates: Family<WindowLabel, Counter>,
    /// Products that took a least-clicked product's place, by window.
    pub products_replaced: Family<WindowLabel, Counter>,
    /// Clicks whose event time was adjusted, by reason.
    pub adjusted_event_times: Family<ReasonLabel, Counter>,
    /// Input records that were not valid clicks.
    pub skipped_inputs: Counter,
    /// Input events not counted: retries within the dedup window.
    pub duplicate_inputs: Counter,
    /// Repartition records that could not be decoded or were refused.
    pub skipped_repartition: Counter,
    /// Changelog records a restore skipped.
    pub skipped_changelog: Counter,
    /// Clicks read twice and counted once.
    pub repeated_clicks: Counter,
    /// Partial results written for the merge.
    pub partials_written: Counter,
    /// Partials records that could not be decoded or were refused.
    pub skipped_partials: Counter,
    /// `edm-trending-counts` records written, by status.
    pub minute_counts_written: Family<StatusLabel, Counter>,
    /// `edm-trending-sample` records written.
    pub sample_records: Counter,
    /// The smallest watermark of the window tasks held, epoch ms.
    pub watermark_ms: Gauge,
    /// Window tasks this instance holds.
    pub window_tasks: Gauge,
    /// 1 while this instance holds the merge step.
    pub merge_task: Gauge,
    /// When the last cycle ended without an error, epoch milliseconds.
    pub last_good_cycle_ms: Gauge,
    /// 1 once the processor has stopped for good (not ready).
    pub stopped: Gauge,
}

impl Metrics {
    /// Adds what the store counted since `before` to the metrics.
    pub fn add_store_counts(&self, before: &Counters, after: &Counters) {
        for spec in WindowSpec::ALL {
            let label = WindowLabel {
                window: spec.name().to_owned(),
            };
            let (b, a) = (before.spec(spec), after.spec(spec));
            let add = |family: &Family<WindowLabel, Counter>, before: u64, after: u64| {
                family
                    .get_or_create(&label)
                    .inc_by(after.saturating_sub(before));
            };
            add(&self.late_drops, b.late_drops, a.late_drops);
            add(
                &self.over_limit_drops,
                b.over_limit_drops,
                a.over_limit_drops,
            );
            add(
                &self.late_updates,
                b.late_updates_emitted,
                a.late_updates_emitted,
            );
            add(
                &self.products_replaced,
                b.products_replaced,
                a.products_replaced,
            );
        }
        self.late_page_loads
            .inc_by(after.late_page_loads.saturating_sub(before.late_page_loads));
        self.over_limit_page_loads.inc_by(
            after
                .over_limit_page_loads
                .saturating_sub(before.over_limit_page_loads),
        );
        self.repeated_clicks.inc_by(
            after
                .repeated_sources
                .saturating_sub(before.repeated_sources),
        );
    }

    /// Counts a click whose event time was not its own.
    pub fn note_adjusted_time(&self, adjustment: Adjustment) {
        self.adjusted_event_times
            .get_or_create(&ReasonLabel {
                reason: adjustment.label(),
            })
            .inc();
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
            "page_loads_repartitioned": self.page_loads_repartitioned.clone() => "Page loads written to the repartition topic (an aborted cycle's included)";
            "late_page_loads": self.late_page_loads.clone() => "Page loads not counted because their minute had closed";
            "over_limit_page_loads": self.over_limit_page_loads.clone() => "Page loads not counted because their minute would have been new while the store held EDM_TRENDING_MAX_OPEN_ENTRIES counts";
            "clicks_counted": self.clicks_counted.clone() => "Clicks the window tasks took (an aborted cycle's included)";
            "clicks_committed": self.clicks_committed.clone() => "Clicks whose window task's cycle committed (each click once under exactly once)";
            "repartition_records": self.repartition_records.clone() => "Records written to the repartition topic, clicks and progress (an aborted cycle's included)";
            "windows_emitted": self.windows_emitted.clone() => "Window results written";
            "late_drops": self.late_drops.clone() => "Clicks not counted in a window because they came after its grace period, by window";
            "over_limit_drops": self.over_limit_drops.clone() => "Clicks not counted because their window would have been new while the store held EDM_TRENDING_MAX_OPEN_ENTRIES counts, by window";
            "late_updates": self.late_updates.clone() => "Window results written again with more late clicks, by window";
            "products_replaced": self.products_replaced.clone() => "Products that took a least-clicked product's place in a full window, by window";
            "adjusted_event_times": self.adjusted_event_times.clone() => "Clicks whose event time was not their own: ahead_of_clock (capped), no_record_time (read time used)";
            "skipped_inputs": self.skipped_inputs.clone() => "Input records that were not valid clicks";
            "duplicate_inputs": self.duplicate_inputs.clone() => "Input events not counted because their id appeared within EDM_TRENDING_DEDUP_WINDOW_EVENTS offsets before them in their partition";
            "skipped_repartition": self.skipped_repartition.clone() => "Repartition records that did not decode or were refused";
            "skipped_changelog": self.skipped_changelog.clone() => "Changelog records a restore skipped because they did not decode";
            "repeated_clicks": self.repeated_clicks.clone() => "Clicks read twice (at least once, after a crash) and counted once";
            "partials_written": self.partials_written.clone() => "Window results of one task's products written for the merge (an aborted cycle's included)";
            "skipped_partials": self.skipped_partials.clone() => "Partials records the merge could not decode or refused";
            "minute_counts_written": self.minute_counts_written.clone() => "edm-trending-counts records written (an aborted cycle's included): final, provisional, withdrawn";
            "sample_records": self.sample_records.clone() => "edm-trending-sample records written (an aborted cycle's included)";
            "watermark_milliseconds": self.watermark_ms.clone() => "The smallest watermark of the window tasks this instance holds (epoch ms): windows closed up to it";
            "window_tasks": self.window_tasks.clone() => "Window tasks this instance holds";
            "merge_task": self.merge_task.clone() => "1 while this instance holds the merge step";
        });
        builder.build()
    }
}
