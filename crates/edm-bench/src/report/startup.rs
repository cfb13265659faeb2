//! The Start-up section: how long each service takes to be ready, and the
//! two pages under wrk.

use anyhow::Context;

use super::figures::{read, BenchDir};
use super::numbers::{median, met, Num};
use super::prose;
use super::records::{Startup, WrkRun};
use super::wrk;

/// The section, its blank line first; the start-up table only with
/// start-up figures, the pages' only with theirs.
pub fn section(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let starts = bench.sorted_matching("startup-*.json");
    if !starts.is_empty() {
        out.extend(prose(&[
            "",
            "## Start-up",
            "",
            "From launching the release binary to the first `GET /ready` answered 200, with the broker",
            "and Postgres already reachable (polled every 2 ms); five starts per service after one",
            "unmeasured start (which applies edm-stats' migrations).",
            "",
            "| service | median ms | range ms | target ≤ 1,000 ms |",
            "|---|---|---|---|",
        ]));
    }
    for path in starts {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let service = stem.strip_prefix("startup-").unwrap_or(&stem);
        let startup: Startup = read(&path)?;
        out.push(startup_row(service, &startup.ready_ms)?);
    }
    out.extend(pages(bench)?);
    Ok(out)
}

/// `| service | median | range | met |`.
fn startup_row(service: &str, ready_ms: &[Num]) -> anyhow::Result<String> {
    let none = || format!("startup-{service}.json has no starts");
    let median_ms = median(ready_ms.iter().map(|n| n.value())).with_context(none)?;
    let fastest = Num::min(ready_ms.iter().copied()).with_context(none)?;
    let slowest = Num::max(ready_ms.iter().copied()).with_context(none)?;
    Ok(format!(
        "| {service} | {median_ms:.0} | {fastest}–{slowest} | {} |",
        met(median_ms <= 1000.0)
    ))
}

/// The pages' table, if either was measured.
fn pages(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let ui: Vec<WrkRun> = bench.runs("ui-page")?;
    let dashboard: Vec<WrkRun> = bench.runs("dashboard-page")?;
    if ui.is_empty() && dashboard.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = prose(&[
        "",
        "| page under wrk (64 connections) | requests/s, median (range) | p50 ms | p99 ms | max ms | errors / non-2xx |",
        "|---|---|---|---|---|---|",
    ]);
    out.push(wrk::row(bench, "edm-ui `GET /`", "ui-page", 1.0)?);
    out.push(wrk::row(
        bench,
        "edm-dashboard `GET /`",
        "dashboard-page",
        1.0,
    )?);
    Ok(out)
}
