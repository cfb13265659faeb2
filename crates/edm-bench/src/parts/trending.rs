//! The trending part, edm-trending with transactions. Rate: a backlog of
//! 500,000 clicks (20 products), for one instance (every window task) and
//! then three (same backlog, fresh prefix), timed from the first start
//! until the window tasks have committed every click (both stages, every
//! transaction committed), and in steady state (10 % to 90 %); with the
//! repartition records written per click and the peak RSS. Restore:
//! 1,000,000 changelog records (distinct keys) in window task 0's
//! partition, and the time edm-trending takes to read them back when the
//! task is assigned (its own measure, from its log line). Delay: clicks at 1,000
//! events/s for 60 s, event time running 60 times faster than the clock
//! (one window boundary a second), and the time from the click that closes
//! each window to its result read read_committed (`edm-bench
//! trending-delay`); the synthetic hour runs between edm-trending's clock
//! watermark and its cap, which `EDM_TRENDING_MAX_CLOCK_SKEW_SECS=3600`
//! puts an hour either side of now. Quiet: five clicks and nothing after
//! them, and the time from the end of their 1-minute window to its result
//! (`edm-bench trending-quiet`), with the defaults: grace 60 s, skew 5 s.

use std::time::{Duration, Instant};

use super::proc_stats::rss_kb;
use super::{log, seconds_since, until, Bench};

const PROCESSED_WITHIN: Duration = Duration::from_secs(1800);

pub fn run(bench: &Bench) -> anyhow::Result<()> {
    rate(bench)?;
    restore(bench)?;
    delay(bench)?;
    quiet(bench)
}

fn rate(bench: &Bench) -> anyhow::Result<()> {
    let n = 500_000u32;
    let one = rate_run(bench, 1, n, "trending-produce.json")?;
    bench.write("trending-rate.json", &one)?;
    let three = rate_run(bench, 3, n, "trending-produce-3.json")?;
    bench.write("trending-rate-3.json", &three)
}

/// `instances` edm-trending processes on a fresh prefix holding a backlog
/// of `n` clicks: timed from the first process's start until their window
/// tasks have committed every click, and in steady state, from 10 % to
/// 90 % of the clicks committed (start-up and the first rebalances left
/// out).
fn rate_run(
    bench: &Bench,
    instances: u16,
    n: u32,
    produce_file: &str,
) -> anyhow::Result<serde_json::Value> {
    let kafka = bench.kafka_env(&bench.prefix()?);
    log(format!("trending: producing a backlog of {n} clicks"));
    let produced = bench.tool(&["produce", "click", &n.to_string()], kafka.clone())?;
    bench.write_text(produce_file, &produced)?;
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
    log("trending: delay from a window's closing click to its result, at 1,000 events/s");
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
