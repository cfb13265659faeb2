//! The edm-stats section: how fast one instance counts a backlog into
//! Postgres, its API under wrk, several instances sharing hot rows, and its
//! RSS.

use anyhow::Context;

use super::figures::BenchDir;
use super::numbers::grouped;
use super::prose;
use super::records::{Ingest, Produced, Rss, SharedIngest};
use super::wrk;

/// The section, its blank line first.
pub fn section(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let mut out = prose(&["", "## edm-stats (issue 4)", ""]);
    let Some(ingest) = bench.load::<Ingest>("stats-ingest.json")? else {
        out.push("not measured".into());
        return Ok(out);
    };
    let produced: Produced = bench
        .load("stats-produce.json")?
        .context("stats-ingest.json without stats-produce.json")?;
    out.push(ingest_line(&ingest, &produced));
    out.extend(api_table(bench)?);
    let shared: Vec<SharedIngest> = [1, 2, 3]
        .iter()
        .map(|k| bench.load::<SharedIngest>(&format!("stats-ingest-{k}.json")))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if !shared.is_empty() {
        out.extend(shared_table(&shared));
    }
    if let Some(rss) = bench.load::<Rss>("stats-rss.json")? {
        out.push(String::new());
        out.push(format!(
            "Stats RSS after the runs: {:.1} MiB.",
            rss.rss_kb / 1024.0
        ));
    }
    Ok(out)
}

/// One instance counting the backlog.
fn ingest_line(ingest: &Ingest, produced: &Produced) -> String {
    format!(
        "Sustained ingest: a backlog of {} click events (produced first at {} events/s) \
         counted into committed Postgres rows in {:.1} s from process start: **{} events/s** \
         (exactly-once: offsets and aggregates in one transaction per batch, retried event ids \
         recognised in memory per partition).",
        ingest.events.grouped(),
        grouped(produced.events_per_second, 0),
        ingest.seconds,
        grouped(ingest.events.value() / ingest.seconds, 0),
    )
}

/// The API under wrk, before and while events are counted.
fn api_table(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let mut out = prose(&[
        "",
        "| API endpoint under load | requests/s, median (range) | p50 ms | p99 ms | max ms | errors / non-2xx |",
        "|---|---|---|---|---|---|",
    ]);
    out.push(wrk::row(
        bench,
        "`GET /api/clickCount`",
        "stats-api-clickcount",
        1.0,
    )?);
    out.push(wrk::row(
        bench,
        "`GET /api/v1/clicks/series?bucket=minute`",
        "stats-api-series",
        1.0,
    )?);
    out.push(wrk::row(
        bench,
        "`GET /api/clickCount` while 2,000 events/s are ingested",
        "stats-api-clickcount-ingesting",
        1.0,
    )?);
    out.extend(prose(&[
        "",
        "The first two rows were measured after the backlog was counted; the third while a live flow",
        "keeps committing batches (each commit invalidates the API's response cache, which otherwise",
        "serves a URL's answer for at most 1 s). Targets: ≥ 50,000 events/s ingest; API p99 ≤ 10 ms.",
    ]));
    Ok(out)
}

/// Several instances counting one backlog together.
fn shared_table(shared: &[SharedIngest]) -> Vec<String> {
    let mut out = prose(&[
        "",
        "1, 2 and 3 instances in one group (partitions shared out; every batch fenced on its",
        "offsets), each counting the same backlog on the same 20 buttons. The steady-state rate",
        "is measured from the later of 20 % of the backlog counted and the group settled (every",
        "instance owning partitions) to 80 %, which leaves start-up, the group's rebalances and",
        "the dedup windows read back on assignment out; the ratio is to one instance in the same",
        "run. CPU is what the instances, and every Postgres process, spent in the same span, per",
        "1,000 events counted:",
        "",
        "| instances | events | steady-state events/s | ratio to 1 | seconds to the exact total, from start | total 3 s later | most sessions waiting on a lock | edm-stats CPU-ms per 1,000 | Postgres CPU-ms per 1,000 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]);
    let one = shared
        .iter()
        .find(|run| run.instances.value() == 1.0)
        .and_then(|run| run.steady_events_per_second);
    for run in shared {
        let wrong = if run.counted.value() == run.events.value() {
            ""
        } else {
            " (WRONG)"
        };
        let steady = run.steady_events_per_second;
        let cpu = |seconds: Option<f64>| {
            run.steady_cpu_ms_per_1k(seconds)
                .map_or("—".into(), |ms| format!("{ms:.2}"))
        };
        out.push(format!(
            "| {} | {} | {} | {} | {:.1} | {}{wrong} | {} | {} | {} |",
            run.instances,
            run.events.grouped(),
            steady.map_or("—".into(), |s| grouped(s, 0)),
            match (steady, one) {
                (Some(s), Some(one)) => format!("{:.2}×", s / one),
                _ => "—".into(),
            },
            run.seconds,
            run.counted.grouped(),
            run.lock_waits_max.map_or("—".into(), |n| n.to_string()),
            cpu(run.steady_stats_cpu_seconds),
            cpu(run.steady_postgres_cpu_seconds),
        ));
    }
    out.extend(prose(&[
        "",
        "All instances, the broker and Postgres share this machine's cores: the figure shows",
        "that instances stay exact and keep making progress together, not how they scale on",
        "separate dynos.",
    ]));
    out
}
