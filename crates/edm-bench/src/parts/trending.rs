//! The trending part, edm-trending with transactions. Rate: a backlog of
//! 2,000,000 clicks (20 products), for one instance (every window task),
//! twice, and then three (the same backlog, a fresh prefix), timed from the first start
//! until the window tasks have committed every click (both stages, every
//! transaction committed), and in steady state (10 % to 90 %); with the
//! repartition records written per click and the peak RSS. Restore:
//! 1,000,000 changelog records (distinct keys) in window task 0's
//! partition, and the time edm-trending takes to read them back when the
//! task is assigned (its own measure, from its log line). Kafka Streams:
//! `bench/kafka-streams/TrendingStreams.java` on each one-instance run's
//! backlog, right after it, built by `./edm bench` (EDM_KAFKA_STREAMS_DIR). Delay: clicks and page
//! loads at 1,000 events/s for 60 s, event time running 60 times faster
//! than the clock (one window boundary a second), and the time from the
//! event that closes each window to its result read read_committed (`edm-bench
//! trending-delay`); the synthetic hour runs between edm-trending's clock
//! watermark and its cap, which `EDM_TRENDING_MAX_CLOCK_SKEW_SECS=3600`
//! puts an hour either side of now. Quiet: five clicks and nothing after
//! them, and the time from the end of their 1-minute window to its result
//! (`edm-bench trending-quiet`), with the defaults: grace 60 s, skew 5 s.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::proc_stats::{cpu_ticks, rss_kb, ticks_to_seconds};
use super::{log, seconds_since, until, Bench};

const PROCESSED_WITHIN: Duration = Duration::from_secs(1800);

pub fn run(bench: &Bench) -> anyhow::Result<()> {
    rate(bench)?;
    restore(bench)?;
    delay(bench)?;
    quiet(bench)
}

fn rate(bench: &Bench) -> anyhow::Result<()> {
    let n = 2_000_000u32;
    // Two rounds, each on a backlog of its own: edm-trending, then Kafka
    // Streams on the same backlog.
    for (round, suffix) in [(1, ""), (2, ".round2")] {
        log(format!(
            "trending: round {round} of edm-trending against Kafka Streams"
        ));
        let prefix = backlog(bench, n, &format!("trending-produce{suffix}.json"))?;
        let one = rate_run(bench, &prefix, 1, n)?;
        bench.write(&format!("trending-rate{suffix}.json"), &one)?;
        let streams = kafka_streams(bench, &prefix, n)?;
        bench.write(&format!("trending-kafka-streams{suffix}.json"), &streams)?;
    }
    let prefix = backlog(bench, n, "trending-produce-3.json")?;
    let three = rate_run(bench, &prefix, 3, n)?;
    bench.write("trending-rate-3.json", &three)
}

/// A fresh prefix whose input holds `n` clicks (20 products), produced
/// before anything reads them; what the producer measured goes to `file`.
fn backlog(bench: &Bench, n: u32, file: &str) -> anyhow::Result<String> {
    let prefix = bench.prefix()?;
    log(format!("trending: producing a backlog of {n} clicks"));
    let produced = bench.tool(
        &["produce", "click", &n.to_string()],
        bench.kafka_env(&prefix),
    )?;
    bench.write_text(file, &produced)?;
    Ok(prefix)
}

/// Kafka Streams itself (`bench/kafka-streams/TrendingStreams.java`, the
/// same windows, exactly_once_v2, in-memory window stores, its own
/// application id) on the backlog of `prefix`: timed from its start until
/// its window stage has taken every click, in steady state from 10 % to
/// 90 %, and its peak RSS.
fn kafka_streams(bench: &Bench, prefix: &str, n: u32) -> anyhow::Result<serde_json::Value> {
    let dir = std::env::var("EDM_KAFKA_STREAMS_DIR")
        .context("EDM_KAFKA_STREAMS_DIR is not set: run ./edm bench trending")?;
    log("trending: Kafka Streams on the same backlog");
    let started = Instant::now();
    let mut child = std::process::Command::new("java")
        .args([
            "-cp",
            &format!("{dir}/classes:{dir}/libs/*"),
            "TrendingStreams",
            &bench.kafka_url(),
            prefix,
            &n.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting java (Kafka Streams)")?;
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak = rss_kb(pid).max(peak);
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let stdout = child.stdout.take().context("Kafka Streams' output")?;
    let mut marks = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        // "counted 9/10 <ms since its start>"
        if let Some(ms) = line?
            .strip_prefix("counted ")
            .and_then(|rest| rest.split(' ').nth(1))
        {
            marks.push(ms.parse::<f64>()? / 1000.0);
        }
    }
    let seconds = seconds_since(started);
    let status = child.wait()?;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak_rss_kb = sampler.join().unwrap_or(0);
    let [at_10, at_90, _] = marks[..] else {
        anyhow::bail!("Kafka Streams ended ({status}) before counting every click");
    };
    Ok(serde_json::json!({
        "events": n,
        "seconds": seconds,
        "steady_events_per_second": 0.8 * f64::from(n) / (at_90 - at_10),
        "peak_rss_kb": peak_rss_kb,
    }))
}

/// `instances` edm-trending processes on `prefix`'s backlog of `n` clicks:
/// timed from the first process's start until their window
/// tasks have committed every click, and in steady state, from 10 % to
/// 90 % of the clicks committed (start-up and the first rebalances left
/// out).
fn rate_run(
    bench: &Bench,
    prefix: &str,
    instances: u16,
    n: u32,
) -> anyhow::Result<serde_json::Value> {
    let kafka = bench.kafka_env(prefix);
    log(format!(
        "trending: processing it with transactions, {instances} instance(s)"
    ));
    let started = Instant::now();
    let mut running = Vec::new();
    for i in 0..instances {
        let (launched, _) = bench.start("edm-trending", 5903 + 10 * i, kafka.clone())?;
        running.push(launched);
    }
    let total = f64::from(n);
    let (mut at_10, mut at_90) = (None, None);
    let mut peak_rss_kb = 0;
    until(
        "processing the backlog",
        Duration::from_millis(50),
        PROCESSED_WITHIN,
        || {
            let committed: f64 = running
                .iter()
                .map(|t| t.metric("edm_trending_clicks_committed_total"))
                .sum();
            for t in &running {
                peak_rss_kb = peak_rss_kb.max(t.pid().map_or(0, rss_kb));
            }
            if committed >= 0.1 * total {
                at_10.get_or_insert_with(Instant::now);
            }
            if committed >= 0.9 * total {
                at_90.get_or_insert_with(Instant::now);
            }
            committed >= total
        },
    )?;
    let seconds = seconds_since(started);
    let sum = |series: &str| -> f64 { running.iter().map(|t| t.metric(series)).sum() };
    let aborted = sum("edm_trending_aborted_cycles_total") as u64;
    let repartition_records = sum("edm_trending_repartition_records_total") as u64;
    // Every instance's CPU from its start (restores and rebalances included).
    let cpu_seconds: f64 = running
        .iter()
        .filter_map(|t| t.pid())
        .map(|pid| ticks_to_seconds(cpu_ticks(pid)))
        .sum();
    let steady = match (at_10, at_90) {
        (Some(a), Some(b)) if b > a => 0.8 * total / (b - a).as_secs_f64(),
        _ => total / seconds,
    };
    for t in &mut running {
        t.stop();
    }
    Ok(serde_json::json!({
        "events": n,
        "instances": instances,
        "seconds": seconds,
        "steady_events_per_second": steady,
        "aborted_cycles": aborted,
        "repartition_records": repartition_records,
        "peak_rss_kb": peak_rss_kb,
        "cpu_seconds": cpu_seconds,
    }))
}

fn restore(bench: &Bench) -> anyhow::Result<()> {
    let records = 1_000_000u32;
    let kafka = bench.kafka_env(&bench.prefix()?);
    log(format!("trending: writing {records} changelog records"));
    let written = bench.tool(&["changelog", &records.to_string()], kafka.clone())?;
    bench.write_text("trending-changelog.json", &written)?;
    log("trending: restoring them");
    let env = kafka.into_iter().chain([
        ("EDM_TRENDING_KAFKA_TIMEOUT_SECS".into(), "300".into()),
        // The restore's log line, per task.
        ("RUST_LOG".into(), "info".into()),
    ]);
    let (mut trending, _) = bench.start("edm-trending", 5904, env)?;
    let mut task_0 = None;
    until(
        "the restore of window task 0",
        Duration::from_millis(100),
        PROCESSED_WITHIN,
        || {
            task_0 = restore_of_task_0(trending.log_path());
            task_0.is_some()
        },
    )?;
    let (records, milliseconds) = task_0.unwrap_or_default();
    let figures = serde_json::json!({
        "records": records,
        "milliseconds": milliseconds,
        "rss_kb": trending.pid().map_or(0, rss_kb),
    });
    trending.stop();
    bench.write("trending-restore.json", &figures)
}

/// The records and milliseconds of window task 0's restore (the changelog
/// partition `edm-bench changelog` fills), from edm-trending's log line.
fn restore_of_task_0(log: &std::path::Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text
        .lines()
        .find(|line| line.contains("window task 0 assigned"))?;
    let field = |name: &str| -> Option<u64> {
        let at = line.find(&format!(" {name}="))? + name.len() + 2;
        line[at..].split(' ').next()?.parse().ok()
    };
    Some((field("records")?, field("millis")?))
}

fn delay(bench: &Bench) -> anyhow::Result<()> {
    let skew = (
        "EDM_TRENDING_MAX_CLOCK_SKEW_SECS".to_owned(),
        "3600".to_owned(),
    );
    let kafka = bench.kafka_env(&bench.prefix()?);
    log("trending: delay from a window's closing event to its result, at 1,000 events/s");
    let env = kafka.iter().cloned().chain([skew.clone()]);
    let (mut trending, _) = bench.start("edm-trending", 5905, env)?;
    let env = kafka.into_iter().chain([skew]);
    let result = bench.tool(&["trending-delay", "1000", "60", "60", "60"], env)?;
    trending.stop();
    bench.write_text("trending-delay.json", &result)
}

fn quiet(bench: &Bench) -> anyhow::Result<()> {
    let kafka = bench.kafka_env(&bench.prefix()?);
    log("trending: a quiet store, five clicks and nothing after them (up to 2.5 minutes)");
    let (mut trending, _) = bench.start("edm-trending", 5906, kafka.clone())?;
    let result = bench.tool(&["trending-quiet", "5", "60", "5"], kafka)?;
    trending.stop();
    bench.write_text("trending-quiet.json", &result)
}
