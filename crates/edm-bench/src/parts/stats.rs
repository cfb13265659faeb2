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
/// fall in its first part, which the steady-state rate leaves out.
const SHARED_BACKLOG: u64 = 1_000_000;

/// The partitions an instance owns (`/api/v1/consumer`).
fn owned_partitions(stats: &Launched) -> usize {
    let (_, body) = stats.get("/api/v1/consumer");
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["partitions"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// One end of the steady span: when, what was counted, and the CPU ticks
/// of the instances and of Postgres so far.
#[derive(Clone, Copy)]
struct Mark {
    at: f64,
    counted: u64,
    stats_ticks: u64,
    postgres_ticks: u64,
}

/// A backlog of [`SHARED_BACKLOG`] clicks on 20 buttons counted by `k`
/// instances sharing the group: the steady-state rate, from the later of
/// 20 % counted and the group settled (every instance owning partitions,
/// all of them owned) to 80 % counted, which leaves start-up, rebalances
/// and the dedup windows read back on assignment out; the CPU the
/// instances and Postgres spent in that span; the time until the total is
/// exact, that it stays exact 3 s later, and the most sessions seen
/// waiting on a lock.
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
    let mark = |running: &[Launched], counted: u64| Mark {
        at: seconds_since(started),
        counted,
        stats_ticks: running
            .iter()
            .filter_map(Launched::pid)
            .map(cpu_ticks)
            .sum(),
        postgres_ticks: cpu_ticks_of_all("postgres"),
    };
    let (mut from, mut to): (Option<Mark>, Option<Mark>) = (None, None);
    let mut most_owned = 0;
    let mut lock_waits = 0;
    until(
        "counting the backlog",
        Duration::from_millis(100),
        COUNTED_WITHIN,
        || {
            let counted = clicks(&running[0]);
            if from.is_none() && counted * 5 >= n {
                let owned: Vec<usize> = running.iter().map(owned_partitions).collect();
                let total = owned.iter().sum();
                most_owned = most_owned.max(total);
                if owned.iter().all(|o| *o > 0) && total == most_owned {
                    from = Some(mark(&running, counted));
                }
            }
            if from.is_some() && to.is_none() && counted * 5 >= n * 4 {
                to = Some(mark(&running, counted));
            }
            lock_waits = lock_waits.max(db.sessions_waiting_on_locks());
            counted >= n
        },
    )?;
    let took = seconds_since(started);
    std::thread::sleep(Duration::from_secs(3));
    let counted = clicks(&running[0]);
    let steady = from.zip(to).filter(|(a, b)| b.counted > a.counted);
    let mut figures = serde_json::json!({
        "instances": k, "events": n, "seconds": took, "counted": counted,
        "lock_waits_max": lock_waits,
    });
    if let Some((a, b)) = steady {
        let events = b.counted - a.counted;
        figures["steady_from_s"] = a.at.into();
        figures["steady_to_s"] = b.at.into();
        figures["steady_events"] = events.into();
        figures["steady_events_per_second"] =
            (events as f64 / (b.at - a.at).max(f64::EPSILON)).into();
        figures["steady_stats_cpu_seconds"] =
            ticks_to_seconds(b.stats_ticks.saturating_sub(a.stats_ticks)).into();
        figures["steady_postgres_cpu_seconds"] =
            ticks_to_seconds(b.postgres_ticks.saturating_sub(a.postgres_ticks)).into();
    } else {
        log(format!(
            "stats: with {k} instance(s) the group settled only after 80 % was counted: no steady span"
        ));
    }
    bench.write(&format!("stats-ingest-{k}.json"), &figures)
}
