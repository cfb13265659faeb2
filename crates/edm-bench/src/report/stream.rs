//! The edm-stream section: fan-out cells (clients × events/s) with the
//! official socket.io-client and with the light client of `edm-bench
//! fanout`.

use std::path::Path;

use anyhow::Context;

use super::figures::{read, BenchDir};
use super::numbers::Num;
use super::prose;
use super::records::{ClientProcess, StreamCell};
use super::text;

/// The kinds of client, as the cells name them, and their tables' titles.
const CLIENT_KINDS: [(&str, &str); 2] = [
    ("official", "Official socket.io-client (node)"),
    ("light", "Light client (`edm-bench fanout`)"),
];

/// A fan-out cell and its client processes.
struct Cell {
    figures: StreamCell,
    processes: Vec<ClientProcess>,
}

impl Cell {
    fn client(&self) -> &str {
        self.figures.client.as_deref().unwrap_or("official")
    }

    /// Events delivered per second, all clients together.
    fn deliveries_per_second(&self) -> Num {
        self.figures.clients * self.figures.rate
    }
}

/// The section, its blank line first.
pub fn section(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let mut out = prose(&["", "## edm-stream: fan-out", ""]);
    let cells = cells(bench)?;
    if cells.is_empty() {
        out.push("not measured".into());
        return Ok(out);
    }
    out.extend(prose(INTRODUCTION));
    for (kind, title) in CLIENT_KINDS {
        let of_kind: Vec<&Cell> = cells.iter().filter(|c| c.client() == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        out.extend(["".into(), format!("{title}:"), "".into()]);
        out.extend(prose(&[
            "| clients | events/s | deliveries/s | delivered (expected) | gaps | p50 ms | p99 ms | max ms | stream CPU | clients CPU | machine busy (steal) | RSS with clients | per client |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]));
        for cell in of_kind {
            out.push(row(cell)?);
        }
    }
    out.extend(prose(&[
        "",
        "The clients, edm-stream and the broker share the two cores. The official client needs",
        "about one core per 100,000 deliveries/s (its clients CPU column), so past that its",
        "tails are the machine's backlog, not edm-stream's. edm-stream's cost per delivery with",
        "the light client is what the capacity model in [scaling.md](scaling.md) uses.",
    ]));
    Ok(out)
}

const INTRODUCTION: &[&str] = &[
    "Socket.io clients (two client processes on the same machine) receive events produced",
    "straight to Kafka at a fixed rate for 20 s each; the delay runs from production (the",
    "event's timestamp) to receipt. The producer writes as the relay does (acks=all,",
    "linger.ms=2) and warms its connections up before the clock starts. The p50/p99 columns",
    "are the worse of the two client processes; CPU is per second of the run, edm-stream's own",
    "and the two client processes' together (one core is 100 %). edm-stream runs with its",
    "defaults (wake pacing: 20 µs per connected client, at most 20 ms). Each cell runs with",
    "both kinds of client: the official socket.io-client, and the light one of `edm-bench",
    "fanout` (Engine.IO 4 over WebSocket and Socket.IO 5 in Rust, each packet parsed as JSON),",
    "whose own cost leaves the machine to edm-stream. Gaps are events edm-stream told a",
    "client it lost (the light client counts them). Machine busy is every process's CPU",
    "together over the run (two cores make 200 %), and steal the part of it the hypervisor",
    "gave to other guests: with the broker and the clients on the same two cores, the tails",
    "follow how full the machine is, so these two tell a slow day from a slow service.",
];

/// The cells whose client processes reported, smallest first.
fn cells(bench: &BenchDir) -> anyhow::Result<Vec<Cell>> {
    let mut cells = Vec::new();
    for path in bench.sorted_matching("stream-*x*.json") {
        let figures: StreamCell = read(&path)?;
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let processes_path = path.with_file_name(format!("{stem}-clients.jsonl"));
        if processes_path.exists() {
            let processes = client_processes(&processes_path)?;
            cells.push(Cell { figures, processes });
        }
    }
    cells.sort_by(|a, b| {
        let size = |c: &Cell| (c.deliveries_per_second().value(), c.figures.clients.value());
        let ((a_size, a_clients), (b_size, b_clients)) = (size(a), size(b));
        a_size
            .total_cmp(&b_size)
            .then(a_clients.total_cmp(&b_clients))
    });
    Ok(cells)
}

/// The lines of a `-clients.jsonl` file, one per client process.
fn client_processes(path: &Path) -> anyhow::Result<Vec<ClientProcess>> {
    let jsonl = text::read(path).with_context(|| format!("reading {}", path.display()))?;
    text::lines(&jsonl)
        .into_iter()
        .filter(|line| !text::is_blank(line))
        .map(|line| {
            serde_json::from_str(line).with_context(|| format!("parsing {}", path.display()))
        })
        .collect()
}

/// A cell's row of its client kind's table.
fn row(cell: &Cell) -> anyhow::Result<String> {
    let c = &cell.figures;
    let processes = &cell.processes;
    let deliveries = Num::sum(processes.iter().map(|p| p.deliveries));
    let expected = c.clients * c.rate * c.seconds;
    let gaps: Option<Vec<Num>> = processes.iter().map(|p| p.gaps).collect();
    let gaps_text = gaps.map_or_else(|| "–".into(), |gaps| Num::sum(gaps).grouped());
    let worst = |of: fn(&ClientProcess) -> Num| {
        Num::max(processes.iter().map(of)).context("a fan-out cell without client processes")
    };
    let per_client = (c.rss_clients_kb - c.rss_idle_kb) / c.clients.value();
    Ok(format!(
        "| {} | {} | {} | {} ({}) | {gaps_text} | {} | {} | {} | {} | {} | {} | {:.1} MiB | {per_client:.1} KiB |",
        c.clients.grouped(),
        c.rate.grouped(),
        cell.deliveries_per_second().grouped(),
        deliveries.grouped(),
        expected.grouped(),
        worst(|p| p.p50_ms)?,
        worst(|p| p.p99_ms)?,
        worst(|p| p.max_ms)?,
        share_of_run(c.cpu_seconds, c),
        share_of_run(c.clients_cpu_seconds, c),
        machine_busy(c)?,
        c.rss_clients_kb / 1024.0,
    ))
}

/// CPU seconds as a share of the run (`12 %`), or `–`.
fn share_of_run(cpu_seconds: Option<f64>, cell: &StreamCell) -> String {
    match cpu_seconds {
        Some(cpu) => format!("{:.0} %", 100.0 * cpu / cell.seconds.value()),
        None => "–".into(),
    }
}

/// How busy the machine was, and the steal (`35.0 % (0.0 %)`), or `–`.
fn machine_busy(cell: &StreamCell) -> anyhow::Result<String> {
    let Some(busy) = cell.machine_busy_percent else {
        return Ok("–".into());
    };
    let steal = cell
        .steal_percent
        .context("a fan-out cell with machine_busy_percent but no steal_percent")?;
    Ok(format!("{busy} % ({steal:.1} %)"))
}
