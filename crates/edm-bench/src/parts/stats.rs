//! The stats part: how fast edm-stats counts a backlog from process start,
//! its API under wrk, idle and while 2,000 events/s are being counted, and
//! its steady-state rate with 1, 2 and 3 instances sharing the group on the
//! same few hot rows, with the CPU the instances and Postgres spent in it.

use std::time::{Duration, Instant};

use edm_tool::launcher::Launched;

use super::proc_stats::{cpu_ticks, cpu_ticks_of_all, rss_kb, ticks_to_seconds};
use super::{log, seconds_since, until, Bench};

/// How long a backlog may take to be counted.
const COUNTED_WITHIN: Duration = Duration::from_secs(1800);

/// The clicks edm-stats' API counts (`/api/v1/totals`).
fn clicks(stats: &Launched) -> u64 {
    let (_, body) = stats.get("/api/v1/totals");
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["clicks"].as_u64())
        .unwrap_or(0)
}

pub fn run(bench: &Bench) -> anyhow::Result<()> {
    let n = 500_000u64;
    let prefix = bench.prefix()?;
    let db = bench.database(&format!("bench_{}", std::process::id()))?;
    let kafka = bench.kafka_env(&prefix);
    log(format!("stats: producing a backlog of {n} clicks"));
    let produced = bench.tool(&["produce", "click", &n.to_string()], kafka.clone())?;
    bench.write_text("stats-produce.json", &produced)?;
    log("stats: ingesting it");
    let started = Instant::now();
    let env = kafka
        .iter()
        .cloned()
        .chain([("DATABASE_URL".into(), db.url())]);
    let (stats, _) = bench.start("edm-stats", 5902, env)?;
    until(
        "counting the backlog",
        Duration::from_millis(50),
        COUNTED_WITHIN,
        || clicks(&stats) == n,
    )?;
    bench.write(
        "stats-ingest.json",
        &serde_json::json!({ "events": n, "seconds": seconds_since(started) }),
    )?;
    log("stats: API under load");
    bench.wrk_runs(
        "stats-api-clickcount",
        &format!("{}/api/clickCount", stats.url()),
        "bench/get.lua",
    )?;
    let series = format!("{}/api/v1/clicks/series?bucket=minute", stats.url());
    bench.wrk_runs("stats-api-series", &series, "bench/get.lua")?;
    log("stats: API under load while 2,000 events/s are being ingested");
    let mut producer = bench.tool_command(&["produce", "click", "110000", "2000"]);
    let mut producer = producer
        .envs(kafka)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let measured = bench.wrk_runs(
        "stats-api-clickcount-ingesting",
        &format!("{}/api/clickCount", stats.url()),
        "bench/get.lua",
    );
    producer.wait()?;
    measured?;
    let rss = stats.pid().map_or(0, rss_kb);
    bench.write("stats-rss.json", &serde_json::json!({ "rss_kb": rss }))?;
    drop(stats);
    drop(db);
    for k in 1..=3 {
        instances(bench, k)?;
    }
    Ok(())
}

/// The backlog each group size counts: start-up and the group's rebalances
/// fall in its first fifth, which the steady-state rate leaves out.
const SHARED_BACKLOG: u64 = 1_000_000;

/// A backlog of [`SHARED_BACKLOG`] clicks on 20 buttons (the same few hot
/// rows) counted by `k` instances sharing the group: the steady-state rate
/// (from 20 % to 80 % of the backlog counted), the time until the total is
/// exact, that it stays exact 3 s later, and the most sessions seen waiting
/// on a lock.
fn instances(bench: &Bench, k: u16) -> anyhow::Result<()> {
    let n = SHARED_BACKLOG;
    let prefix = bench.prefix()?;
    let db = bench.database(&format!("bench_{}_{k}", std::process::id()))?;
    let kafka = bench.kafka_env(&prefix);
    log(format!("stats: {n} clicks counted by {k} instance(s)"));
    bench.tool(&["produce", "click", &n.to_string()], kafka.clone())?;
    let started = Instant::now();
    let mut running = Vec::new();
    for i in 0..k {
        let env = kafka
            .iter()
            .cloned()
            .chain([("DATABASE_URL".into(), db.url())]);
        running.push(bench.start("edm-stats", 5910 + i, env)?.0);
    }
    let (mut at_20, mut at_80) = (None, None);
    // CPU ticks of the instances and of Postgres at 20 % and 80 %.
    let (mut ticks_20, mut ticks_80) = (None, None);
    let ticks = |running: &[Launched]| {
        let stats: u64 = running
            .iter()
            .filter_map(Launched::pid)
            .map(cpu_ticks)
            .sum();
        (stats, cpu_ticks_of_all("postgres"))
    };
    let mut lock_waits = 0;
    until(
        "counting the backlog",
        Duration::from_millis(100),
        COUNTED_WITHIN,
        || {
            let counted = clicks(&running[0]);
            let now = seconds_since(started);
            if counted * 5 >= n && at_20.is_none() {
                at_20 = Some(now);
                ticks_20 = Some(ticks(&running));
            }
            if counted * 5 >= n * 4 && at_80.is_none() {
                at_80 = Some(now);
                ticks_80 = Some(ticks(&running));
            }
            lock_waits = lock_waits.max(db.sessions_waiting_on_locks());
            counted >= n
        },
    )?;
    let took = seconds_since(started);
    std::thread::sleep(Duration::from_secs(3));
    let counted = clicks(&running[0]);
    let (at_20, at_80) = (at_20.unwrap_or(took), at_80.unwrap_or(took));
    let steady = (n * 3 / 5) as f64 / (at_80 - at_20).max(f64::EPSILON);
    let ((stats_20, postgres_20), (stats_80, postgres_80)) =
        (ticks_20.unwrap_or_default(), ticks_80.unwrap_or_default());
    bench.write(
        &format!("stats-ingest-{k}.json"),
        &serde_json::json!({
            "instances": k, "events": n, "seconds": took, "counted": counted,
            "steady_from_s": at_20, "steady_to_s": at_80,
            "steady_events_per_second": steady, "lock_waits_max": lock_waits,
            "steady_stats_cpu_seconds": ticks_to_seconds(stats_80.saturating_sub(stats_20)),
            "steady_postgres_cpu_seconds":
                ticks_to_seconds(postgres_80.saturating_sub(postgres_20)),
        }),
    )
}
