//! The stream part, edm-stream's fan-out: cells of CLIENTS x RATE (each a
//! 20 s run over two client processes, so one event loop is not the
//! bottleneck), with each kind of client: `official` (socket.io-client in
//! node, `bench/fanout.mjs`) and `light` (`edm-bench fanout`, the same
//! protocol at a fraction of the cost). `EDM_BENCH_FANOUT_CELLS` and
//! `EDM_BENCH_FANOUT_CLIENTS` choose others; `EDM_BENCH_STREAM_ENV` adds
//! settings to compare (`VAR=value …`, here and in the stack).

use serde::Serialize;

use super::proc_stats::{cpu_ticks, rss_kb, ticks_to_seconds, MachineShare, MachineTicks};
use super::{log, Bench, LineClient};

const CELLS: &str = "100x100 100x1000 500x200 1000x100 1000x200";
const CLIENTS: &str = "official light";
/// Seconds each cell sends events for.
const SECONDS: u32 = 20;

/// edm-stream's settings for load generators that all connect from
/// 127.0.0.1 (no per-address caps, no recent events), raw events at every
/// rate (the fan-out of raw events is what these parts measure), and
/// `EDM_BENCH_STREAM_ENV`'s.
pub fn tuning() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("EDM_STREAM_RECENT_EVENTS", "0"),
        ("EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0"),
        ("EDM_STREAM_MAX_CLIENTS_PER_ADDRESS", "0"),
        ("EDM_STREAM_RAW_EVENTS_PER_SECOND", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let extra = std::env::var("EDM_BENCH_STREAM_ENV").unwrap_or_default();
    env.extend(
        extra
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env
}

/// One cell's figures (`stream-<client>-<clients>x<rate>.json`).
#[derive(Serialize)]
struct Cell {
    client: String,
    clients: u32,
    rate: u32,
    seconds: u32,
    rss_idle_kb: u64,
    rss_clients_kb: u64,
    cpu_seconds: f64,
    clients_cpu_seconds: f64,
    #[serde(flatten)]
    machine: MachineShare,
}

pub fn run(bench: &Bench) -> anyhow::Result<()> {
    let cells = std::env::var("EDM_BENCH_FANOUT_CELLS").unwrap_or_else(|_| CELLS.into());
    let kinds = std::env::var("EDM_BENCH_FANOUT_CLIENTS").unwrap_or_else(|_| CLIENTS.into());
    bench.remove("stream-", ".json");
    bench.remove("stream-", "-clients.jsonl");
    for kind in kinds.split_whitespace() {
        // Fresh topics and a fresh instance for each kind of client, so
        // that its memory per client is not the other kind's, nor the
        // events the instance reads back at start.
        let kafka = bench.kafka_env(&bench.prefix()?);
        let env = kafka.iter().cloned().chain(tuning());
        let (mut stream, _) = bench.start("edm-stream", 5901, env)?;
        let pid = stream.pid().unwrap_or_default();
        let idle = rss_kb(pid);
        for cell in cells.split_whitespace() {
            let (clients, rate) = cell
                .split_once('x')
                .and_then(|(c, r)| Some((c.parse().ok()?, r.parse().ok()?)))
                .ok_or_else(|| anyhow::anyhow!("fan-out cell {cell} is not CLIENTSxRATE"))?;
            let figures = fan_out(bench, &kafka, &stream.url(), pid, kind, clients, rate, idle)?;
            bench.write(&format!("stream-{kind}-{clients}x{rate}.json"), &figures)?;
        }
        stream.stop();
    }
    Ok(())
}

/// `clients` clients of `kind` on edm-stream (process `pid`) receive `rate`
/// events/s for [`SECONDS`].
#[allow(clippy::too_many_arguments)]
fn fan_out(
    bench: &Bench,
    kafka: &[(String, String)],
    url: &str,
    pid: u32,
    kind: &str,
    clients: u32,
    rate: u32,
    idle: u64,
) -> anyhow::Result<Cell> {
    log(format!(
        "stream: {clients} {kind} clients, {rate} events/s for {SECONDS}s"
    ));
    let half = clients / 2;
    let receiver = |count: u32| {
        let mut command = if kind == "light" {
            bench.tool_command(&["fanout"])
        } else {
            bench.node_fanout()
        };
        command.args([url, &count.to_string(), &(SECONDS + 5).to_string()]);
        LineClient::start(command)
    };
    let a = receiver(half)?;
    let b = receiver(clients - half)?;
    let loaded = rss_kb(pid);
    let clients_ticks = || cpu_ticks(a.pid()) + cpu_ticks(b.pid());
    let (cpu0, clients0, machine) = (cpu_ticks(pid), clients_ticks(), MachineTicks::now());
    let count = (rate * SECONDS).to_string();
    bench.tool(
        &["produce", "click", &count, &rate.to_string()],
        kafka.iter().cloned(),
    )?;
    let (cpu1, clients1, machine) = (cpu_ticks(pid), clients_ticks(), machine.share_since());
    let lines = [a.finish()?, b.finish()?].join("\n");
    bench.write_text(
        &format!("stream-{kind}-{clients}x{rate}-clients.jsonl"),
        &lines,
    )?;
    Ok(Cell {
        client: kind.to_owned(),
        clients,
        rate,
        seconds: SECONDS,
        rss_idle_kb: idle,
        rss_clients_kb: loaded,
        cpu_seconds: ticks_to_seconds(cpu1 - cpu0),
        clients_cpu_seconds: ticks_to_seconds(clients1 - clients0),
        machine,
    })
}
