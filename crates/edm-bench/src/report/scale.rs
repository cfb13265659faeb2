//! The scale section: the consumers at two store rates ten times apart,
//! each service's CPU per second and per 1,000 events, whether edm-stream
//! streamed summaries, and whether the dashboards' counts were exact.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::figures::{read, BenchDir};
use super::numbers::{grouped, met};
use super::prose;

/// edm-stream's CPU per second may differ by at most this share between the
/// two rates, once both are above its threshold (issue 29).
const STREAM_FLAT_WITHIN: f64 = 0.2;

/// One rate's figures (`scale-<rate>.json`, written by the scale part).
#[derive(Debug, Deserialize)]
pub struct ScaleRun {
    pub rate: u64,
    pub window_seconds: u64,
    pub window_events: u64,
    pub cpu_seconds: BTreeMap<String, f64>,
    pub summary_mode: (bool, bool),
    pub clients: u32,
    pub clients_exact: usize,
    pub clicks_in_kafka: u64,
    pub counted_min: u64,
    pub counted_max: u64,
    pub machine_busy_percent: f64,
}

impl ScaleRun {
    /// `service`'s CPU seconds per second of the window.
    pub fn cpu_per_second(&self, service: &str) -> f64 {
        self.cpu_seconds.get(service).copied().unwrap_or_default() / self.window_seconds as f64
    }

    /// `service`'s CPU milliseconds per 1,000 events of the window.
    pub fn cpu_ms_per_1k(&self, service: &str) -> f64 {
        self.cpu_seconds.get(service).copied().unwrap_or_default() * 1e6
            / self.window_events.max(1) as f64
    }

    /// Whether edm-stream streamed summaries for the whole window.
    pub fn summaries(&self) -> bool {
        self.summary_mode == (true, true)
    }
}

/// The runs, lowest rate first.
pub fn runs(bench: &BenchDir) -> anyhow::Result<Vec<ScaleRun>> {
    let mut runs: Vec<ScaleRun> = bench
        .matching("scale-*.json")
        .iter()
        .map(|path| read(path))
        .collect::<anyhow::Result<_>>()?;
    runs.sort_by_key(|r| r.rate);
    Ok(runs)
}

/// The section, its blank line first.
pub fn section(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let mut out = prose(&[
        "",
        "## The pipeline at two rates (issue 29)",
        "",
        "`./edm bench scale`: clicks straight into Kafka at each rate, with fresh topics, database",
        "and services each time: edm-trending, edm-stats, and edm-stream at its default threshold",
        "with 50 light clients (docs/scaling.md's dashboards). After a 10 s warm-up (edm-stream",
        "switches to summaries after 5 s above its threshold), each service's CPU over a 20 s",
        "window, per second and per 1,000 events Kafka took in the window; then each client's latest",
        "counts per minute against the clicks Kafka holds.",
        "",
    ]);
    let runs = runs(bench)?;
    if runs.is_empty() {
        out.push("not measured".into());
        return Ok(out);
    }
    out.push("| clicks/s asked | taken in the window | edm-stream CPU/s | edm-trending CPU-ms per 1,000 | edm-stats CPU-ms per 1,000 | summaries all window | dashboards' counts exact | machine busy |".into());
    out.push("|---|---|---|---|---|---|---|---|".into());
    for r in &runs {
        out.push(format!(
            "| {} | {}/s | {:.3} | {:.2} | {:.2} | {} | {} of {} ({} clicks in Kafka; counted {}–{}) | {:.0}% |",
            grouped(r.rate as f64, 0),
            grouped(r.window_events as f64 / r.window_seconds as f64, 0),
            r.cpu_per_second("edm-stream"),
            r.cpu_ms_per_1k("edm-trending"),
            r.cpu_ms_per_1k("edm-stats"),
            if r.summaries() { "yes" } else { "no" },
            r.clients_exact,
            r.clients,
            grouped(r.clicks_in_kafka as f64, 0),
            grouped(r.counted_min as f64, 0),
            grouped(r.counted_max as f64, 0),
            r.machine_busy_percent,
        ));
    }
    if let (Some(low), Some(high)) = (runs.first(), runs.last()) {
        if runs.len() > 1 && low.summaries() && high.summaries() {
            let ratio =
                high.cpu_per_second("edm-stream") / low.cpu_per_second("edm-stream").max(1e-9);
            out.push(String::new());
            out.push(format!(
                "edm-stream's CPU per second at {} clicks/s is {ratio:.2}× that at {}: within 20% {}.",
                grouped(high.rate as f64, 0),
                grouped(low.rate as f64, 0),
                met((ratio - 1.0).abs() <= STREAM_FLAT_WITHIN),
            ));
        }
    }
    Ok(out)
}
