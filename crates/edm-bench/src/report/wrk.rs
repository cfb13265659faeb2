//! A table row of wrk runs: the median run (by throughput) and the range.

use super::figures::BenchDir;
use super::numbers::{grouped, median, Num};
use super::records::WrkRun;

/// The row `| label | rate, median (range) | p50 | p99 | max | failures |`
/// of the runs of `name`, each request counted as `per_request` events.
pub fn row(bench: &BenchDir, label: &str, name: &str, per_request: f64) -> anyhow::Result<String> {
    let mut runs: Vec<WrkRun> = bench.runs(name)?;
    if runs.is_empty() {
        return Ok(format!("| {label} | not measured | | | | |"));
    }
    let mut rates: Vec<f64> = runs.iter().map(|r| r.rate() * per_request).collect();
    rates.sort_by(f64::total_cmp);
    let failures = Num::sum(runs.iter().map(|r| r.errors + r.non2xx));
    let rate = median(rates.iter().copied()).unwrap_or_default();
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let middle = &runs[runs.len() / 2];
    Ok(format!(
        "| {label} | {} ({}–{}) | {:.2} | {:.2} | {:.1} | {failures} |",
        grouped(rate, 0),
        grouped(rates[0], 0),
        grouped(rates[rates.len() - 1], 0),
        middle.p50_ms,
        middle.p99_ms,
        middle.max_ms,
    ))
}
