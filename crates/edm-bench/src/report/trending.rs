//! The edm-trending section: the window tasks' processing rate, on one
//! instance and on three, a task's restore from its changelog partition, the delay of a window's result, and a quiet
//! store's windows closing on the clock.

use anyhow::Context;

use super::figures::BenchDir;
use super::numbers::grouped;
use super::prose;
use super::records::{
    ChangelogFill, KafkaStreamsRate, Produced, Restore, TrendingDelay, TrendingQuiet, TrendingRate,
};

/// The section, its blank line first.
pub fn section(bench: &BenchDir) -> anyhow::Result<Vec<String>> {
    let mut out = prose(&[
        "",
        "## edm-trending: windows with transactions (issue 18)",
        "",
    ]);
    let Some(rate) = bench.load::<TrendingRate>("trending-rate.json")? else {
        out.push("not measured".into());
        return Ok(out);
    };
    let produced: Produced = bench
        .load("trending-produce.json")?
        .context("trending-rate.json without trending-produce.json")?;
    out.extend(rate_lines(&rate, &produced));
    if let Some(streams) = bench.load::<KafkaStreamsRate>("trending-kafka-streams.json")? {
        out.extend(kafka_streams_lines(&rate, &streams));
        let second = (
            bench.load::<TrendingRate>("trending-rate.round2.json")?,
            bench.load::<KafkaStreamsRate>("trending-kafka-streams.round2.json")?,
        );
        if let (Some(ours), Some(theirs)) = second {
            out.push(second_round_line(&ours, &theirs));
        }
    }
    if let Some(three) = bench.load::<TrendingRate>("trending-rate-3.json")? {
        out.extend(scaled_lines(&rate, &three));
    }
    if let Some(restore) = bench.load::<Restore>("trending-restore.json")? {
        let fill: ChangelogFill = bench
            .load("trending-changelog.json")?
            .context("trending-restore.json without trending-changelog.json")?;
        out.push(String::new());
        out.push(restore_line(&restore, &fill));
    }
    if let Some(delay) = bench.load::<TrendingDelay>("trending-delay.json")? {
        out.extend(delay_lines(&delay));
    }
    if let Some(quiet) = bench.load::<TrendingQuiet>("trending-quiet.json")? {
        out.extend(quiet_lines(&quiet));
    }
    Ok(out)
}

fn rate_lines(rate: &TrendingRate, produced: &Produced) -> Vec<String> {
    let events = rate.events.value();
    let mut out = vec![
        format!(
            "Processing rate: a backlog of {} clicks on 20 products (produced first at {} events/s) \
             taken by one instance (every window task) {:.1} s after the process started: **{} events/s**, \
             through every stage (repartition, window tasks, merge), each writing its output, changelog updates and",
            rate.events.grouped(),
            grouped(produced.events_per_second, 0),
            rate.seconds,
            grouped(events / rate.seconds, 0),
        ),
        format!(
            "input offsets in one Kafka transaction per 100 ms cycle ({:.0} cycles aborted).",
            rate.aborted_cycles
        ),
    ];
    if let (Some(steady), Some(records), Some(rss)) = (
        rate.steady_events_per_second,
        rate.repartition_records,
        rate.peak_rss_kb,
    ) {
        out.push(format!(
            "In steady state (10 % to 90 % of the clicks committed): **{} events/s**; \
             {:.4} repartition records per click; peak RSS {:.0} MiB; {:.1} CPU-ms per 1,000 clicks \
             (the process's CPU from its start).",
            grouped(steady, 0),
            records / events,
            rss / 1024.0,
            rate.cpu_seconds.unwrap_or(0.0) * 1e6 / events,
        ));
    }
    out.push("Aim (issue 28): ≥ 150,000 events/s.".into());
    out
}

/// Kafka Streams on the one-instance run's backlog, against edm-trending.
fn kafka_streams_lines(one: &TrendingRate, streams: &KafkaStreamsRate) -> Vec<String> {
    let events = streams.events.value();
    let ours = one
        .steady_events_per_second
        .unwrap_or(one.events.value() / one.seconds);
    let rss = one.peak_rss_kb.unwrap_or(0.0);
    vec![
        String::new(),
        format!(
            "Kafka Streams 4.1.0 on the same backlog, right after, on the same broker \
             (`bench/kafka-streams/TrendingStreams.java`: the same 1m and 5m windows counted per product \
             in in-memory window stores, exactly_once_v2, 100 ms commits, 4 MiB fetches, LZ4, no top-N step): every click \
             through its window stage {:.1} s after the JVM started ({} events/s), in steady state \
             **{} events/s**; peak RSS {:.0} MiB. edm-trending's steady rate is **{:.2}×** Kafka Streams' \
             at {:.0} % of its memory. Aim (issue 28): ≥ 1.5× at a fraction of its memory.",
            streams.seconds,
            grouped(events / streams.seconds, 0),
            grouped(streams.steady_events_per_second, 0),
            streams.peak_rss_kb / 1024.0,
            ours / streams.steady_events_per_second,
            100.0 * rss / streams.peak_rss_kb.max(1.0),
        ),
    ]
}

/// The second round, on a backlog of its own.
fn second_round_line(ours: &TrendingRate, theirs: &KafkaStreamsRate) -> String {
    let steady = ours
        .steady_events_per_second
        .unwrap_or(ours.events.value() / ours.seconds);
    format!(
        "Second round, on a backlog of its own: edm-trending **{} events/s** in steady state \
         ({} from its start, peak RSS {:.0} MiB), Kafka Streams **{} events/s** ({} from its start, \
         peak RSS {:.0} MiB): **{:.2}×**.",
        grouped(steady, 0),
        grouped(ours.events.value() / ours.seconds, 0),
        ours.peak_rss_kb.unwrap_or(0.0) / 1024.0,
        grouped(theirs.steady_events_per_second, 0),
        grouped(theirs.events.value() / theirs.seconds, 0),
        theirs.peak_rss_kb / 1024.0,
        steady / theirs.steady_events_per_second,
    )
}

/// The same backlog taken by three instances, against one.
fn scaled_lines(one: &TrendingRate, three: &TrendingRate) -> Vec<String> {
    let events = three.events.value();
    let steady = three
        .steady_events_per_second
        .unwrap_or(events / three.seconds);
    let base = one.steady_events_per_second.unwrap_or(events / one.seconds);
    vec![
        String::new(),
        format!(
            "Three instances, the same backlog on a fresh prefix, the window tasks spread over them: \
             every click committed {:.1} s after the first start (**{} events/s**), in steady state \
             **{} events/s**, {:.2}× one instance's, all on this machine's 2 cores with the broker \
             ({:.0} cycles aborted, the rebalances as each instance joined; peak RSS of the largest {:.0} MiB).",
            three.seconds,
            grouped(events / three.seconds, 0),
            grouped(steady, 0),
            steady / base,
            three.aborted_cycles,
            three.peak_rss_kb.unwrap_or(0.0) / 1024.0,
        ),
    ]
}

fn restore_line(restore: &Restore, fill: &ChangelogFill) -> String {
    format!(
        "Restore: {} changelog records (distinct keys, written by `edm-bench changelog` in {:.1} s) \
         read back into the window store in **{:.1} s** when the task was assigned \
         (edm-trending's own measure, window task 0's partition; RSS afterwards {:.0} MiB). \
         Aim (issue 28): 1,000,000 in ≤ 2 s.",
        grouped(restore.records, 0),
        fill.seconds,
        restore.milliseconds / 1000.0,
        restore.rss_kb / 1024.0,
    )
}

fn delay_lines(delay: &TrendingDelay) -> Vec<String> {
    let mut out = vec![
        String::new(),
        format!(
            "Delay: clicks and page loads (one event in four) at {} events/s for {:.0} s \
             (`edm-bench trending-delay`), event time running {} times faster than the clock so that a",
            grouped(delay.events_per_second, 0),
            delay.events / delay.events_per_second,
            delay.speedup,
        ),
    ];
    out.extend(prose(&[
        "window boundary passes every second (each event's `event_timestamp` and record timestamp are that",
        "synthetic time). A window's result cannot exist before an event at or past its end",
    ]));
    out.push(format!(
        "plus the grace period ({} s) is written; from that event's send to the result read by a",
        delay.grace_seconds
    ));
    out.push(format!(
        "`read_committed` consumer, over {} windows (1m and 5m; {} missing, {} repeated): \
         p50 **{:.0} ms**, p99 **{:.0} ms**, max {:.0} ms.",
        delay.windows_received,
        delay.windows_missing,
        delay.windows_repeated,
        delay.p50_ms,
        delay.p99_ms,
        delay.max_ms,
    ));
    out.extend(prose(&[
        "In real time a click's result therefore appears this long after its window ends plus the grace",
        "period: by default up to 1 min + 1 min after the click, plus this delay. (edm-trending ran with",
        "`EDM_TRENDING_MAX_CLOCK_SKEW_SECS=3600`, so that the synthetic hour lies between its clock's",
        "watermark and its cap on event times.)",
    ]));
    out
}

fn quiet_lines(quiet: &TrendingQuiet) -> Vec<String> {
    vec![
        String::new(),
        format!(
            "Quiet store: {} clicks and nothing after them (`edm-bench trending-quiet`); no click",
            quiet.clicks
        ),
        "closes their window, edm-trending's watermark follows its clock once the input is read to its end."
            .into(),
        format!(
            "The 1-minute window's result was read **{:.1} s** after the window's end;",
            quiet.result_after_end_ms / 1000.0
        ),
        format!(
            "the documented bound is {:.0} s (grace {} s + skew {} s + 2 s).",
            quiet.bound_after_end_ms / 1000.0,
            quiet.grace_seconds,
            quiet.skew_seconds,
        ),
    ]
}
