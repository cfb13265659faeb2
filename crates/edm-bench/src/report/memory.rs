//! The Memory section: each service's RSS idle and the highest seen under
//! load, against the targets.

use super::figures::{read, BenchDir};
use super::numbers::met;
use super::prose;
use super::records::{MemoryByService, Rss, StreamCellRss};

/// The section, its blank line first; nothing without both memory files.
pub fn section(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let idle: Option<MemoryByService> = bench.load("memory-idle.json")?;
    let peak: Option<MemoryByService> = bench.load("memory-peak.json")?;
    let (Some(idle), Some(peak)) = (idle, peak) else {
        return Ok(Vec::new());
    };
    let measured_apart = measured_apart(bench)?;
    let mut out = prose(&[
        "",
        "## Memory",
        "",
        "Resident set size (RSS). Idle: the whole stack up for 10 s, no traffic. Under load: the",
        "highest of the peak RSS (VmHWM) over the stack runs (10,000 events/s end to end; wrk on the",
        "pages) and the RSS measured in the relay, stats and fan-out benchmarks above.",
        "",
        "| service | idle | under load | target ≤ 30 MiB idle, ≤ 100 MiB loaded |",
        "|---|---|---|---|",
    ]);
    for (service, idle_kb) in &idle.0 {
        let apart = measured_apart
            .iter()
            .filter(|(name, _)| *name == service.as_str())
            .map(|&(_, kb)| kb);
        let loaded_kb = apart.fold(peak.get(service).unwrap_or(0.0), f64::max);
        let (idle_mib, loaded_mib) = (idle_kb / 1024.0, loaded_kb / 1024.0);
        out.push(format!(
            "| {service} | {idle_mib:.1} MiB | {loaded_mib:.1} MiB | {} |",
            met(idle_mib <= 30.0 && loaded_mib <= 100.0)
        ));
    }
    Ok(out)
}

/// The RSS measured by the relay, stats and fan-out benchmarks (KiB, by
/// service; zeros left out).
fn measured_apart(bench: &BenchDir) -> anyhow::Result<Vec<(&'static str, f64)>> {
    let mut found = Vec::new();
    for (service, file) in [
        ("edm-relay", "relay-rss.json"),
        ("edm-stats", "stats-rss.json"),
    ] {
        if let Some(rss) = bench.load::<Rss>(file)? {
            found.push((service, rss.rss_kb));
        }
    }
    for path in bench.matching("stream-*x*.json") {
        let cell: StreamCellRss = read(&path)?;
        found.push(("edm-stream", cell.rss_clients_kb));
    }
    found.retain(|&(_, kb)| kb != 0.0);
    Ok(found)
}
