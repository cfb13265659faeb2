//! The edm-relay section: accepted events per second under wrk, one event
//! per request and in batches, and the relay's RSS.

use super::figures::BenchDir;
use super::prose;
use super::records::Rss;
use super::wrk;

/// The section, its blank line first.
pub fn section(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let mut out = prose(&[
        "",
        "## edm-relay (issue 3)",
        "",
        "Accepted events per second and request latency at 64 concurrent connections. A request",
        "counts only when the broker acknowledged its events (acks=all, idempotent producer).",
        "",
        "| endpoint | events/s, median (range) | p50 ms | p99 ms | max ms | errors / non-2xx |",
        "|---|---|---|---|---|---|",
    ]);
    out.push(wrk::row(
        bench,
        "`POST /produceClickMessage` (1 event/request)",
        "relay-single",
        1.0,
    )?);
    out.push(wrk::row(
        bench,
        "`POST /api/v1/events` (100 events/request)",
        "relay-batch",
        100.0,
    )?);
    out.extend(prose(&[
        "",
        "Targets on this machine: single ≥ 15,000 events/s with p99 ≤ 20 ms; batches ≥ 150,000 events/s.",
    ]));
    if let Some(rss) = bench.load::<Rss>("relay-rss.json")? {
        out.push(String::new());
        out.push(format!(
            "Relay RSS after the runs: {:.1} MiB.",
            rss.rss_kb / 1024.0
        ));
    }
    Ok(out)
}
