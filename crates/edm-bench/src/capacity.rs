//! `edm-bench capacity [bench-dir] [--write <scaling.md>]`: the capacity
//! model of docs/scaling.md. How many dynos of each service, which Kafka
//! and Postgres plans and how many partitions EDM needs at 1k, 10k, 100k
//! and 1M events/s, from the per-instance figures `./edm bench` measured.
//!
//! Figures come from the bench folder (default `.edm/bench`) when a run
//! left them there, else from [`RECORDED`] (the run docs/benchmarks.md
//! shows). With `--write` the table replaces the block between the
//! capacity markers in the file; without it the table is printed.
//!
//! The model is deliberately simple, and every assumption is a named
//! constant: CPU per event (or per Socket.io delivery) measured on the
//! benchmark machine, a dyno worth [`DYNO_CORES`] of its cores, run at most
//! at [`UTILISATION`]; Kafka sized by bytes per event against Heroku's
//! published plan limits; edm-stats and Postgres by the CPU each spent per
//! event while one instance counted a backlog in steady state, Postgres
//! against the vCPUs of Heroku's plans.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::report::numbers::{median, Num};
use crate::report::records::{SharedIngest, TrendingRate};
use crate::report::{kafka, read_figures, repository, scale, text, BenchDir};
use edm_config::Compression;

/// The per-instance figures the model starts from.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// CPU-milliseconds per 1,000 events, end to end at 10,000 events/s.
    pub relay_cpu_ms_per_1k: f64,
    pub stream_cpu_ms_per_1k_in: f64,
    /// CPU-milliseconds per 1,000 Socket.io deliveries (largest fan-out cell).
    pub stream_cpu_ms_per_1k_deliveries: f64,
    /// CPU-seconds per second per dashboard of an edm-stream streaming
    /// summaries, whatever the store's rate (the scale part's highest rate).
    pub stream_summary_cpu_per_dashboard: f64,
    /// CPU-milliseconds per 1,000 events of one edm-stats counting a
    /// backlog (steady state, full batches).
    pub stats_cpu_ms_per_1k: f64,
    /// CPU-milliseconds per 1,000 events of Postgres meanwhile (its writes
    /// follow batches, products and minutes, not events).
    pub postgres_cpu_ms_per_1k: f64,
    /// CPU-milliseconds per 1,000 clicks through every edm-trending stage
    /// (one instance taking a backlog, with transactions).
    pub trending_cpu_ms_per_1k_clicks: f64,
    /// Bytes per click sent to Kafka with the default codec, by events per
    /// record batch (fewest first).
    pub kafka_bytes: Cow<'static, [(f64, f64)]>,
}

/// Figures of the recorded run (docs/benchmarks.md); replaced by a newer
/// run's JSON when the bench folder has it.
pub const RECORDED: Figures = Figures {
    relay_cpu_ms_per_1k: 36.7,
    stream_cpu_ms_per_1k_in: 9.8,
    stream_cpu_ms_per_1k_deliveries: 4.3,
    stream_summary_cpu_per_dashboard: STREAM_SUMMARY_CPU_PER_DASHBOARD,
    stats_cpu_ms_per_1k: STATS_CPU_MS_PER_1K,
    postgres_cpu_ms_per_1k: POSTGRES_CPU_MS_PER_1K,
    trending_cpu_ms_per_1k_clicks: TRENDING_CPU_MS_PER_1K,
    kafka_bytes: Cow::Borrowed(&RECORDED_KAFKA_BYTES),
};

/// edm-stream's CPU-seconds per second per dashboard above its threshold
/// (docs/benchmarks.md, "The pipeline at two rates": 0.34 CPU-seconds in
/// 20 s with 50 clients at 50,000 clicks/s).
const STREAM_SUMMARY_CPU_PER_DASHBOARD: f64 = 0.00034;

/// edm-stats' and Postgres' CPU per 1,000 events (docs/benchmarks.md,
/// edm-stats: one instance counting a 1,000,000-click backlog, 2.0 and
/// 0.12 CPU-seconds for the 590,733 events of the steady span).
const STATS_CPU_MS_PER_1K: f64 = 3.4;
const POSTGRES_CPU_MS_PER_1K: f64 = 0.2;

/// Heroku Postgres plans and their vCPUs (Dev Center, "Heroku Postgres
/// Production Tier Technical Characterization"; premium, private and
/// shield plans of the same number have the same), smallest first.
const POSTGRES_PLANS: [(&str, f64); 9] = [
    ("standard-0", 2.0),
    ("standard-2", 2.0),
    ("standard-3", 2.0),
    ("standard-4", 4.0),
    ("standard-5", 8.0),
    ("standard-6", 16.0),
    ("standard-7", 32.0),
    ("standard-8", 64.0),
    ("standard-9", 96.0),
];

/// edm-trending's CPU per 1,000 clicks (docs/benchmarks.md, edm-trending:
/// one instance, 2,000,000 clicks on 20 products, 5.19 CPU-seconds, retries
/// recognised in a window of 100,000 offsets).
const TRENDING_CPU_MS_PER_1K: f64 = 2.6;

/// Bytes per click with LZ4 at 1, 10, 100 and 1,000 events per batch
/// (docs/benchmarks.md, "Kafka bytes per event").
const RECORDED_KAFKA_BYTES: [(f64, f64); 4] =
    [(1.0, 397.9), (10.0, 134.7), (100.0, 91.7), (1000.0, 85.6)];

// Assumptions (see docs/scaling.md).
/// 2.5 GB, dedicated (Heroku dyno types).
const DYNO: &str = "performance-m";
/// Benchmark-machine cores one such dyno is worth.
const DYNO_CORES: f64 = 1.0;
/// Run dynos at most this busy: headroom for bursts.
const UTILISATION: f64 = 0.6;
/// Two of everything, for restarts and deploys.
const MIN_DYNOS: u64 = 2;
/// The producers' `linger.ms`: a record batch holds the events of one
/// partition that arrive within it.
const LINGER_S: f64 = 0.002;
/// Window tasks edm-trending starts with (topology.json's repartition
/// partitions).
const WINDOW_TASKS_MIN: u64 = 4;
/// edm-stats' group and edm-trending's each read every event once; each
/// edm-stream dyno too, up to its threshold.
const READERS_PER_EVENT: u64 = 2;
/// Dashboards open at once.
const DASHBOARDS: u64 = 50;
/// edm-stream's default `EDM_STREAM_RAW_EVENTS_PER_SECOND`: up to this
/// store rate every dyno reads, and every dashboard gets, every event;
/// above it they read and get the per-minute counts and the sample.
const RAW_THRESHOLD: u64 = 1_000;
/// Above the threshold, what an edm-stream dyno reads per second:
/// edm-trending's sample (`EDM_TRENDING_SAMPLE_PER_SECOND`, 20, per input
/// partition of the two store topics) and its counts (one record a second
/// per product and device type that grew; 100 taken), about 300 bytes each.
const SAMPLE_PER_PARTITION_PER_S: f64 = 20.0;
const COUNTS_PER_S: f64 = 100.0;
const SUMMARY_RECORD_BYTES: f64 = 300.0;

/// Apache Kafka on Heroku, as published: the multi-tenant plans' produce
/// and consume quotas in kB/s and most partitions. Dedicated plans take up
/// to 256 partitions per topic, 12,000 per standard and 32,000 per extended
/// cluster.
const BASIC_PLANS: [(&str, f64, f64, u64); 3] = [
    ("basic-0", 64.0, 256.0, 240),
    ("basic-1", 512.0, 2048.0, 480),
    ("basic-2", 4096.0, 16384.0, 960),
];
const PARTITIONS_PER_TOPIC_MAX: u64 = 256;
/// Throughput one partition comfortably takes (a common rule of thumb).
const PARTITION_MB_S: f64 = 5.0;

const RATES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// The block of docs/scaling.md that holds the table.
const BEGIN: &str = "<!-- capacity:begin -->";
const END: &str = "<!-- capacity:end -->";

const USAGE: &str = "usage: edm-bench capacity [bench-dir] [--write <scaling.md>]";

/// `edm-bench capacity`: see the module documentation.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut args: Vec<&str> = args.iter().skip(2).map(String::as_str).collect();
    let mut write_to = None;
    if let Some(at) = args.iter().position(|&a| a == "--write") {
        let target = args.get(at + 1).context(USAGE)?;
        write_to = Some(PathBuf::from(*target));
        args = [&args[..at], &args[at + 2..]].concat();
    }
    let bench_dir = match args.first() {
        Some(dir) => PathBuf::from(*dir),
        None => repository().join(".edm").join("bench"),
    };
    let (figures, source) = measured(&BenchDir::new(bench_dir))?;
    let table = table(&figures, &source);
    match write_to {
        Some(target) => {
            write_into(&target, &table)?;
            println!("wrote the capacity table into {}", text::shown(&target));
        }
        None => println!("{table}"),
    }
    Ok(())
}

/// Replaces the block between the capacity markers of `target` by `table`.
fn write_into(target: &Path, table: &str) -> anyhow::Result<()> {
    let doc = text::read(target).with_context(|| format!("reading {}", target.display()))?;
    let (head, rest) = doc
        .split_once(BEGIN)
        .with_context(|| format!("{} has no {BEGIN}", target.display()))?;
    let (_, tail) = rest
        .split_once(END)
        .with_context(|| format!("{} has no {END}", target.display()))?;
    std::fs::write(target, format!("{head}{BEGIN}\n{table}\n{END}{tail}"))
        .with_context(|| format!("writing {}", target.display()))
}

/// `e2e-10000.run<N>.cpu.json`: the CPU seconds of an end-to-end run.
#[derive(Deserialize)]
struct ServiceCpu {
    #[serde(rename = "edm-relay")]
    relay: f64,
    #[serde(rename = "edm-stream")]
    stream: f64,
    seconds: f64,
}

/// What the model needs of a fan-out cell (`stream-*x*.json`).
#[derive(Deserialize)]
struct FanOutCell {
    client: Option<String>,
    clients: f64,
    rate: f64,
    seconds: f64,
    cpu_seconds: Option<f64>,
}

/// The per-instance figures, the newest run's where the bench folder has
/// them, recorded ones otherwise; and where they came from.
fn measured(bench: &BenchDir) -> anyhow::Result<(Figures, String)> {
    let mut figures = RECORDED;
    let mut source = "recorded figures (docs/benchmarks.md)".to_owned();
    let mut cpus: Vec<ServiceCpu> = Vec::new();
    for run in 1..=3 {
        cpus.extend(bench.load(&format!("e2e-10000.run{run}.cpu.json"))?);
    }
    if let Some(first) = cpus.first() {
        let events = 10_000.0 * first.seconds;
        let relay = median(cpus.iter().map(|c| c.relay)).unwrap_or_default();
        figures.relay_cpu_ms_per_1k = relay * 1e6 / events;
        // One client: the stream's CPU is one delivery per event on top of reading it.
        let stream = median(cpus.iter().map(|c| c.stream)).unwrap_or_default();
        figures.stream_cpu_ms_per_1k_in = stream * 1e6 / events;
        source = format!("the run in `{}`", shown_from_repository(bench.path()));
    }
    if let Some(cell) = largest_cell(bench)? {
        let deliveries = cell.clients * cell.rate * cell.seconds;
        let reading = figures.stream_cpu_ms_per_1k_in * cell.rate * cell.seconds / 1e6;
        let delivering = (cell.cpu_seconds.unwrap_or_default() - reading).max(0.0);
        figures.stream_cpu_ms_per_1k_deliveries = delivering * 1e6 / deliveries;
    }
    // The highest rate at which edm-stream streamed summaries throughout.
    if let Some(high) = scale::runs(bench)?.into_iter().rfind(|r| r.summaries()) {
        figures.stream_summary_cpu_per_dashboard =
            high.cpu_per_second("edm-stream") / f64::from(high.clients.max(1));
    }
    if let Some(one) = bench.load::<SharedIngest>("stats-ingest-1.json")? {
        if let Some(ms) = one.steady_cpu_ms_per_1k(one.steady_stats_cpu_seconds) {
            figures.stats_cpu_ms_per_1k = ms;
        }
        if let Some(ms) = one.steady_cpu_ms_per_1k(one.steady_postgres_cpu_seconds) {
            figures.postgres_cpu_ms_per_1k = ms;
        }
    }
    if let Some(rate) = bench.load::<TrendingRate>("trending-rate.json")? {
        if let Some(cpu) = rate.cpu_seconds {
            figures.trending_cpu_ms_per_1k_clicks = cpu * 1e6 / rate.events.value();
        }
    }
    let curve = kafka::click_curve(&kafka::load(bench)?, Compression::DEFAULT.name());
    if !curve.is_empty() {
        figures.kafka_bytes = Cow::Owned(curve);
    }
    Ok((figures, source))
}

/// The fan-out cell with the most deliveries per second among those with
/// CPU figures: the light client's cells, where the clients leave the
/// machine to edm-stream, if there are any.
fn largest_cell(bench: &BenchDir) -> anyhow::Result<Option<FanOutCell>> {
    let mut cells = Vec::new();
    for path in bench.matching("stream-*x*.json") {
        let cell: FanOutCell = read_figures(&path)?;
        if cell.cpu_seconds.is_some_and(|cpu| cpu != 0.0) {
            cells.push(cell);
        }
    }
    let light = |c: &FanOutCell| c.client.as_deref() == Some("light");
    if cells.iter().any(light) {
        cells.retain(light);
    }
    let size = |c: &FanOutCell| c.clients * c.rate;
    Ok(cells
        .into_iter()
        .reduce(|big, c| if size(&c) > size(&big) { c } else { big }))
}

/// `path` relative to the repository when it is inside it.
fn shown_from_repository(path: &Path) -> String {
    let inside = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.strip_prefix(repository()).ok().map(Path::to_path_buf));
    match inside {
        Some(relative) => text::shown(&relative),
        None => text::shown(path),
    }
}

/// The model at one rate.
struct Row {
    rate: u64,
    relay: u64,
    stream: u64,
    stats: u64,
    /// edm-trending dynos, every event taken for a click.
    trending: u64,
    /// Its window tasks (repartition partitions): one per dyno at least.
    window_tasks: u64,
    plan: &'static str,
    produce_mb: f64,
    consume_mb: f64,
    partitions: u64,
    /// Postgres cores busy counting.
    postgres_cores: f64,
    /// Bytes per event in Kafka.
    bytes: f64,
}

/// Dynos for `cpu_ms_per_1k` at `events_per_s`.
fn dynos(cpu_ms_per_1k: f64, events_per_s: f64) -> u64 {
    let cores = cpu_ms_per_1k * events_per_s / 1e6;
    MIN_DYNOS.max((cores / (DYNO_CORES * UTILISATION)).ceil() as u64)
}

/// Bytes per event in Kafka at `rate` over `partitions`: a batch holds what
/// one partition gets within [`LINGER_S`].
fn event_bytes(figures: &Figures, rate: f64, partitions: u64) -> f64 {
    let per_batch = rate * LINGER_S / partitions as f64;
    kafka::interpolate(&figures.kafka_bytes, per_batch).unwrap_or_default()
}

/// The Kafka plan for `rate` at `bytes` per event, `stream_dynos` reading
/// over `partitions` per topic, with the produce and consume kB/s.
fn kafka_plan(
    rate: f64,
    bytes: f64,
    stream_dynos: u64,
    partitions: u64,
) -> (&'static str, f64, f64) {
    let produce_kb = rate * bytes / 1000.0;
    let stream_kb = if rate <= RAW_THRESHOLD as f64 {
        produce_kb
    } else {
        (SAMPLE_PER_PARTITION_PER_S * 2.0 * partitions as f64 + COUNTS_PER_S) * SUMMARY_RECORD_BYTES
            / 1000.0
    };
    let consume_kb = produce_kb * READERS_PER_EVENT as f64 + stream_kb * stream_dynos as f64;
    for (name, produce_quota, consume_quota, _) in BASIC_PLANS {
        if produce_kb <= produce_quota * UTILISATION && consume_kb <= consume_quota * UTILISATION {
            return (name, produce_kb, consume_kb);
        }
    }
    let plan = if produce_kb * 3.0 / 1000.0 < 150.0 {
        "standard-*"
    } else {
        "extended-*"
    };
    (plan, produce_kb, consume_kb)
}

/// edm-stream dynos at `rate`, the dashboards spread over them. Up to the
/// threshold every dyno reads every event and sends each to its
/// dashboards; above it a dyno's cost follows its dashboards, not the
/// store's rate (counts and a bounded sample).
fn stream_dynos(figures: &Figures, rate: f64) -> u64 {
    let budget = DYNO_CORES * UTILISATION;
    if rate <= RAW_THRESHOLD as f64 {
        let read = figures.stream_cpu_ms_per_1k_in * rate / 1e6;
        let deliver = figures.stream_cpu_ms_per_1k_deliveries * rate * DASHBOARDS as f64 / 1e6;
        // Reading is every dyno's; delivering is shared out.
        MIN_DYNOS.max((deliver / (budget - read)).ceil() as u64)
    } else {
        let cores = figures.stream_summary_cpu_per_dashboard * DASHBOARDS as f64;
        MIN_DYNOS.max((cores / budget).ceil() as u64)
    }
}

fn model_row(figures: &Figures, rate: u64) -> Row {
    let events = rate as f64;
    let stream = stream_dynos(figures, events);
    let stats = dynos(figures.stats_cpu_ms_per_1k, events);
    // Partitions for the stats group first; batches (and so bytes per
    // event) follow from them.
    let for_consumers = (stats * 2).max(4).next_power_of_two();
    let bytes = event_bytes(figures, events, for_consumers);
    let (plan, produce_kb, consume_kb) = kafka_plan(events, bytes, stream, for_consumers);
    let for_throughput = (produce_kb / 1000.0 / PARTITION_MB_S).ceil() as u64;
    let partitions = for_consumers.max(for_throughput);
    let trending = dynos(figures.trending_cpu_ms_per_1k_clicks, events);
    Row {
        trending,
        window_tasks: trending.clamp(WINDOW_TASKS_MIN, PARTITIONS_PER_TOPIC_MAX),
        rate,
        relay: dynos(figures.relay_cpu_ms_per_1k, events),
        stream,
        stats,
        plan,
        produce_mb: produce_kb / 1000.0,
        consume_mb: consume_kb / 1000.0,
        partitions: partitions.next_power_of_two().min(PARTITIONS_PER_TOPIC_MAX),
        postgres_cores: figures.postgres_cpu_ms_per_1k * events / 1e6,
        bytes,
    }
}

/// The model at every rate.
pub fn model(figures: &Figures) -> Vec<String> {
    RATES
        .iter()
        .map(|&rate| table_row(&model_row(figures, rate)))
        .collect()
}

/// The smallest Postgres plan whose vCPUs, run at most at
/// [`UTILISATION`], carry `cores`; `None` past the largest.
fn postgres_plan(cores: f64) -> Option<(&'static str, f64)> {
    POSTGRES_PLANS
        .into_iter()
        .find(|(_, vcpu)| cores <= vcpu * UTILISATION)
}

/// The Postgres column: the plan, and how much of its vCPUs counting takes.
fn postgres_cell(cores: f64) -> String {
    match postgres_plan(cores) {
        Some((plan, vcpu)) if cores < 0.01 => format!("{plan} (< 0.01 of {vcpu:.0} vCPU)"),
        Some((plan, vcpu)) => format!("{plan} ({cores:.2} of {vcpu:.0} vCPU)"),
        None => format!("past one database ({cores:.0} vCPU)"),
    }
}

fn first_bottleneck(row: &Row) -> String {
    let mut found = Vec::new();
    if postgres_plan(row.postgres_cores).is_none() {
        found.push("Postgres: one database's vCPUs");
    }
    if !found.is_empty() {
        return found.join("; ");
    }
    if row.plan.starts_with("basic") {
        return format!("Kafka {} quotas", row.plan);
    }
    "the relay's CPU (one HTTP request per event)".into()
}

/// `x` as a whole percentage: `60%`.
fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// `x` in its shortest form: `1`, `0.5`.
fn short(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        x.to_string()
    }
}

fn table_row(r: &Row) -> String {
    format!(
        "| {} | {} | {} | {} | {} ({}) | {} | {:.0} | {} ({:.1} / {:.1}) | {} | {} |",
        Num::Int(r.rate as i64).grouped(),
        r.relay,
        r.stream,
        r.stats,
        r.trending,
        r.window_tasks,
        r.partitions,
        r.bytes,
        r.plan,
        r.produce_mb,
        r.consume_mb,
        postgres_cell(r.postgres_cores),
        first_bottleneck(r),
    )
}

/// The text between the capacity markers.
pub fn table(figures: &Figures, source: &str) -> String {
    let mut lines = vec![
        format!(
            "Per-instance figures from {source}: relay {:.0} CPU-ms per 1,000 events; \
             edm-stream {:.0} CPU-ms per 1,000 events read and {:.1} per 1,000 deliveries up to its \
             threshold ({} events/s), {:.2} CPU-ms per second per dashboard above it; \
             edm-stats {:.2} and its Postgres {:.2} CPU-ms per 1,000 events (full batches: \
             Postgres writes follow batches, products and minutes); edm-trending {:.1} CPU-ms per 1,000 clicks, \
             every event taken for a click. Assumptions: a {DYNO} dyno ≈ {} benchmark core, \
             run at ≤ {} (a Postgres vCPU alike); at least {MIN_DYNOS} dynos of each; bytes per event in Kafka as measured with \
             the default codec ({}) for the events one partition gets within the producers' {} ms linger; \
             {DASHBOARDS} dashboards open; edm-stats', edm-trending's and (up to the threshold) \
             each edm-stream dyno's reads of every event.",
            figures.relay_cpu_ms_per_1k,
            figures.stream_cpu_ms_per_1k_in,
            figures.stream_cpu_ms_per_1k_deliveries,
            Num::Int(RAW_THRESHOLD as i64).grouped(),
            figures.stream_summary_cpu_per_dashboard * 1000.0,
            figures.stats_cpu_ms_per_1k,
            figures.postgres_cpu_ms_per_1k,
            figures.trending_cpu_ms_per_1k_clicks,
            short(DYNO_CORES),
            percent(UTILISATION),
            Compression::DEFAULT,
            short(LINGER_S * 1000.0),
        ),
        String::new(),
        "| events/s | edm-relay dynos | edm-stream dynos | edm-stats dynos | edm-trending dynos (window tasks) | partitions per topic | Kafka bytes per event | Kafka plan (produce / consume MB/s) | Postgres | first bottleneck |".into(),
        "|---|---|---|---|---|---|---|---|---|---|".into(),
    ];
    lines.extend(model(figures));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_figures_carry_over() {
        assert_eq!(RECORDED.relay_cpu_ms_per_1k, 36.7);
        assert_eq!(RECORDED.stream_cpu_ms_per_1k_in, 9.8);
        assert_eq!(RECORDED.stream_cpu_ms_per_1k_deliveries, 4.3);
        assert_eq!(RECORDED.stream_summary_cpu_per_dashboard, 0.00034);
        assert_eq!(RECORDED.stats_cpu_ms_per_1k, STATS_CPU_MS_PER_1K);
        assert_eq!(RECORDED.postgres_cpu_ms_per_1k, POSTGRES_CPU_MS_PER_1K);
        assert_eq!(
            RECORDED.trending_cpu_ms_per_1k_clicks,
            TRENDING_CPU_MS_PER_1K
        );
    }

    #[test]
    fn the_recorded_figures_give_the_committed_table() {
        let rows = model(&RECORDED);
        assert_eq!(
            rows[0],
            "| 1,000 | 2 | 2 | 2 | 2 (4) | 4 | 398 | basic-2 (0.4 / 1.6) | standard-0 (< 0.01 of 2 vCPU) | Kafka basic-2 quotas |"
        );
        assert_eq!(
            rows[3],
            "| 1,000,000 | 62 | 2 | 6 | 5 (5) | 32 | 91 | extended-* (91.1 / 182.7) | standard-0 (0.20 of 2 vCPU) | the relay's CPU (one HTTP request per event) |"
        );
    }

    #[test]
    fn above_the_threshold_stream_dynos_follow_the_dashboards_not_the_rate() {
        let at = |figures: &Figures, rate: u64| stream_dynos(figures, rate as f64);
        assert_eq!(at(&RECORDED, 10_000), at(&RECORDED, 1_000_000));
        // 50 dashboards at 0.06 CPU-s a second each: 3 cores, at 60 % of
        // one a dyno, 5 dynos at any rate above the threshold.
        let heavy = Figures {
            stream_summary_cpu_per_dashboard: 0.06,
            ..RECORDED
        };
        assert_eq!(at(&heavy, 10_000), 5);
        assert_eq!(at(&heavy, 1_000_000), 5);
    }

    #[test]
    fn postgres_is_the_smallest_plan_whose_vcpus_carry_the_load_at_60_percent() {
        assert_eq!(postgres_cell(0.1), "standard-0 (0.10 of 2 vCPU)");
        // 2.5 cores: more than 60 % of 4 vCPU, within 60 % of 8.
        assert_eq!(postgres_cell(2.5), "standard-5 (2.50 of 8 vCPU)");
        assert_eq!(postgres_cell(100.0), "past one database (100 vCPU)");
        let row = Row {
            postgres_cores: 100.0,
            ..model_row(&RECORDED, 1_000)
        };
        assert!(first_bottleneck(&row).starts_with("Postgres"));
    }

    #[test]
    fn the_table_names_its_assumptions() {
        let table = table(&RECORDED, "recorded figures (docs/benchmarks.md)");
        assert!(table.contains("a performance-m dyno ≈ 1 benchmark core, run at ≤ 60%"));
        assert!(table.contains("measured with the default codec (lz4)"));
        assert!(table.contains("2 ms linger; 50 dashboards open"));
        assert!(table.contains("0.34 CPU-ms per second per dashboard above it"));
    }
}
