//! The trending part, edm-trending with transactions. Rate: a backlog of
//! 500,000 clicks (20 products), timed from the start of the process until
//! its window task has taken every click (both stages, every transaction
//! committed). Restore: 1,000,000 changelog records (distinct keys), and
//! the time edm-trending takes to read them back when the window task is
//! assigned (its own measure, at /metrics). Delay: clicks at 1,000
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
    let kafka = bench.kafka_env(&bench.prefix()?);
    log(format!("trending: producing a backlog of {n} clicks"));
    let produced = bench.tool(&["produce", "click", &n.to_string()], kafka.clone())?;
    bench.write_text("trending-produce.json", &produced)?;
    log("trending: processing it with transactions");
    let started = Instant::now();
    let (mut trending, _) = bench.start("edm-trending", 5903, kafka)?;
    until(
        "processing the backlog",
        Duration::from_millis(50),
        PROCESSED_WITHIN,
        || trending.metric("edm_trending_clicks_counted_total") >= f64::from(n),
    )?;
    let seconds = seconds_since(started);
    let aborted = trending.metric("edm_trending_aborted_cycles_total") as u64;
    trending.stop();
    bench.write(
        "trending-rate.json",
        &serde_json::json!({ "events": n, "seconds": seconds, "aborted_cycles": aborted }),
    )
}

fn restore(bench: &Bench) -> anyhow::Result<()> {
    let records = 1_000_000u32;
    let kafka = bench.kafka_env(&bench.prefix()?);
    log(format!("trending: writing {records} changelog records"));
    let written = bench.tool(&["changelog", &records.to_string()], kafka.clone())?;
    bench.write_text("trending-changelog.json", &written)?;
    log("trending: restoring them");
    let env = kafka
        .into_iter()
        .chain([("EDM_TRENDING_KAFKA_TIMEOUT_SECS".into(), "300".into())]);
    let (mut trending, _) = bench.start("edm-trending", 5904, env)?;
    until(
        "the restore",
        Duration::from_millis(100),
        PROCESSED_WITHIN,
        || trending.metric("edm_trending_restores_total") > 0.0,
    )?;
    let figures = serde_json::json!({
        "records": trending.metric("edm_trending_last_restore_records") as u64,
        "milliseconds": trending.metric("edm_trending_last_restore_milliseconds") as u64,
        "rss_kb": trending.pid().map_or(0, rss_kb),
    });
    trending.stop();
    bench.write("trending-restore.json", &figures)
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
