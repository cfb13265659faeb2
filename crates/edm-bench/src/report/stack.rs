//! The whole-stack sections: end-to-end latency and the CPU it cost, the
//! stats lag, then memory and start-up ([`memory`], [`startup`]). Without
//! end-to-end figures none of them is rendered.

use std::collections::BTreeSet;

use super::figures::BenchDir;
use super::numbers::{grouped, median, met, Num};
use super::prose;
use super::records::{E2eClients, E2ePost, ServiceCpu, StatsLag};
use super::{memory, startup};

/// One end-to-end run at a rate.
struct E2eRun {
    clients: E2eClients,
    post: E2ePost,
    cpu: Option<ServiceCpu>,
    lag: Option<StatsLag>,
}

/// The runs at each rate that has any, lowest rate first.
type E2eRates = Vec<(i64, Vec<E2eRun>)>;

/// The sections, their blank line first.
pub fn sections(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let mut out = prose(&["", "## The whole stack: end-to-end latency", ""]);
    let e2e = end_to_end_runs(bench)?;
    if e2e.is_empty() {
        out.push("not measured".into());
        return Ok(out);
    }
    out.extend(latency(&e2e));
    out.extend(cpu(&e2e));
    out.extend(stats_lag(&e2e));
    out.extend(memory::section(bench)?);
    out.extend(startup::section(bench)?);
    Ok(out)
}

/// The rates of the `e2e-<rate>.run<N>.clients.json` files.
fn rates(bench: &BenchDir) -> BTreeSet<i64> {
    bench
        .matching("e2e-*.run*.clients.json")
        .iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let rate = name.split('-').nth(1)?.split('.').next()?;
            rate.parse().ok()
        })
        .collect()
}

fn end_to_end_runs(bench: &BenchDir) -> anyhow::Result<E2eRates> {
    let mut e2e = Vec::new();
    for rate in rates(bench) {
        let mut runs = Vec::new();
        for run in 1..=3 {
            let name = |what: &str| format!("e2e-{rate}.run{run}.{what}.json");
            let clients = bench.load(&name("clients"))?;
            let post = bench.load(&name("post"))?;
            if let (Some(clients), Some(post)) = (clients, post) {
                let cpu = bench.load(&name("cpu"))?;
                let lag = bench.load(&name("stats-lag"))?;
                runs.push(E2eRun {
                    clients,
                    post,
                    cpu,
                    lag,
                });
            }
        }
        if !runs.is_empty() {
            e2e.push((rate, runs));
        }
    }
    Ok(e2e)
}

/// The median of `figure` over `runs` (0 for none).
fn median_of<T>(runs: impl IntoIterator<Item = T>, figure: impl Fn(T) -> f64) -> f64 {
    median(runs.into_iter().map(figure)).unwrap_or_default()
}

fn latency(e2e: &E2eRates) -> Vec<String> {
    let mut out = prose(LATENCY_INTRODUCTION);
    for (rate, runs) in e2e {
        out.push(latency_row(*rate, runs));
    }
    let at_target = e2e.iter().find(|(rate, _)| *rate == 1000);
    if let Some((_, runs)) = at_target {
        let p99 = median_of(runs, |r| r.clients.p99_ms);
        out.push(String::new());
        out.push(format!(
            "Target: p99 ≤ 25 ms at 1,000 events/s — {} (median p99 {p99:.0} ms).",
            met(p99 <= 25.0)
        ));
        out.extend(prose(&[
            "edm-stream and the relay set TCP_NODELAY on their connections: without it, Nagle's algorithm",
            "held small WebSocket frames until the client's delayed ACK (up to 40 ms), and this p99 was",
            "25–33 ms (`edm_stream_event_age_seconds` showed the events reaching edm-stream within 5 ms).",
            "The plot shows the distributions (all runs of a rate pooled):",
            "",
            "![End-to-end latency distributions](benchmarks-latency.png)",
        ]));
    }
    out
}

const LATENCY_INTRODUCTION: &[&str] = &[
    "All the services of topology.json run together (release builds) with the broker and Postgres. `edm-bench post`",
    "sends single click events to the relay's `POST /produceClickMessage` at a fixed rate, open",
    "loop, each with `event_timestamp` = the moment it is sent; one official socket.io-client",
    "connected to edm-stream takes receipt time − `event_timestamp` (whole milliseconds). The",
    "request reaches the relay within a fraction of a millisecond of being sent (loopback), so this",
    "is the delay from the relay accepting an event to a browser receiving it: validation, the",
    "Kafka write, the broker, edm-stream's fetch, its per-client queue and the WebSocket frame.",
    "Each rate: 3 s warm-up (left out), then 10 s measured; three runs, medians of their percentiles.",
    "Delivered counts include the stats-lag probes' events (18 a run) and leave out the warm-up; a",
    "client that cannot keep up loses its oldest events (edm-stream's bounded per-client queue,",
    "512 events, counted in `edm_stream_client_drops_total`) instead of slowing anyone else.",
    "",
    "| events/s | achieved | delivered of accepted | dropped for a slow client | p50 ms | p99 ms | max ms | relay answer p99 ms | generator behind, max ms |",
    "|---|---|---|---|---|---|---|---|---|",
];

fn latency_row(rate: i64, runs: &[E2eRun]) -> String {
    let drops: Vec<Num> = runs
        .iter()
        .filter_map(|r| r.cpu.as_ref()?.stream_client_drops)
        .collect();
    let drops_text = if drops.is_empty() {
        "–".into()
    } else {
        Num::sum(drops).grouped()
    };
    format!(
        "| {} | {} | {} of {} | {drops_text} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} |",
        Num::Int(rate).grouped(),
        grouped(median_of(runs, |r| r.post.achieved_rate), 0),
        Num::sum(runs.iter().map(|r| r.clients.deliveries)).grouped(),
        Num::sum(runs.iter().map(|r| r.post.accepted)).grouped(),
        median_of(runs, |r| r.clients.p50_ms),
        median_of(runs, |r| r.clients.p99_ms),
        median_of(runs, |r| r.clients.max_ms),
        median_of(runs, |r| r.post.http_p99_ms),
        median_of(runs, |r| r.post.behind_max_ms),
    )
}

fn cpu(e2e: &E2eRates) -> Vec<String> {
    let mut out = prose(&[
        "",
        "CPU used per service during the runs (warm-up included), as a share of one core and per",
        "1,000 events — the per-instance cost the capacity model in [scaling.md](scaling.md) uses:",
        "",
        "| events/s | relay | stream | stats | relay CPU-ms / 1k events | stream | stats |",
        "|---|---|---|---|---|---|---|",
    ]);
    for (rate, runs) in e2e {
        let cpus: Vec<&ServiceCpu> = runs.iter().filter_map(|r| r.cpu.as_ref()).collect();
        if let Some(row) = cpu_row(*rate, &cpus) {
            out.push(row);
        }
    }
    out
}

/// The median CPU seconds of each service, as a share of one core and in
/// CPU-ms per 1,000 events; none without CPU figures.
fn cpu_row(rate: i64, cpus: &[&ServiceCpu]) -> Option<String> {
    let seconds = cpus.first()?.seconds.value();
    let events = rate as f64 * seconds;
    let shares = [
        median_of(cpus, |c| c.relay),
        median_of(cpus, |c| c.stream),
        median_of(cpus, |c| c.stats),
    ];
    let of_core = shares.map(|s| format!("{:.0} %", 100.0 * s / seconds));
    let per_1k = shares.map(|s| format!("{:.1}", 1_000_000.0 * s / events));
    Some(format!(
        "| {} | {} | {} |",
        Num::Int(rate).grouped(),
        of_core.join(" | "),
        per_1k.join(" | ")
    ))
}

fn stats_lag(e2e: &E2eRates) -> Vec<String> {
    let mut out = prose(&[
        "",
        "## The whole stack: stats lag",
        "",
        "While the load runs, `edm-bench stats-lag` posts one click with a button id of their own every",
        "500 ms and polls `GET /api/clickCount` every 5 ms until that button is counted: the time from",
        "the post to the first answer that counts it (batches commit every 200 ms at most).",
        "",
        "| events/s | probes | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
    ]);
    for (rate, runs) in e2e {
        let lags: Vec<&StatsLag> = runs.iter().filter_map(|r| r.lag.as_ref()).collect();
        if lags.is_empty() {
            continue;
        }
        out.push(format!(
            "| {} | {} ({} lost) | {:.0} | {:.0} | {:.0} |",
            Num::Int(*rate).grouped(),
            Num::sum(lags.iter().map(|l| l.probes)),
            Num::sum(lags.iter().map(|l| l.lost)),
            median_of(&lags, |l| l.p50_ms),
            median_of(&lags, |l| l.p99_ms),
            median_of(&lags, |l| l.max_ms),
        ));
    }
    out
}
