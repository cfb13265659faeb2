//! Event time that one record cannot break: windows close on a quiet store
//! by the processor's clock (even when a topic appeared after it started), records dated far ahead (or not dated) by
//! another producer are capped and counted instead of moving time, and a
//! backlog caught up unevenly drops nothing that was on time in its own
//! partition.

use std::collections::BTreeMap;
use std::time::Duration;

use edm_trending::WindowSpec;

use crate::common::{
    counts_by_window, now_ms, produce, produce_one, results, shared_broker, wait_for, Click,
    Instance, Topics, WINDOW_TASKS,
};

/// A grace period and clock skew that keep these tests short.
const GRACE_SECS: i64 = 2;
const SKEW_SECS: i64 = 1;
const QUICK: [(&str, &str); 2] = [
    ("EDM_TRENDING_GRACE_SECS", "2"),
    ("EDM_TRENDING_MAX_CLOCK_SKEW_SECS", "1"),
];

/// The documented bound: a window's result is committed by its end plus
/// the grace period plus the allowed clock skew plus 2 s.
fn bound(end: i64) -> i64 {
    end + (GRACE_SECS + SKEW_SECS) * 1000 + 2_000
}

/// Room for a loaded test machine on top of the bound.
const SLACK_MS: i64 = 5_000;

/// `n` clicks on `product` at `at`, spread over the partitions.
fn clicks_at(n: usize, product: &str, at: i64, partitions: i32, tag: &str) -> Vec<Click> {
    (0..n)
        .map(|i| Click {
            id: Some(format!("{tag}-{i}")),
            product: product.to_owned(),
            event_time: at,
            partition: i as i32 % partitions,
        })
        .collect()
}

/// Waits for the result of the 1-minute window that ends at `end`; returns
/// it and when it was read.
fn one_minute_result(topics: &Topics, end: i64) -> (edm_trending::TrendingRecord, i64) {
    let mut found = None;
    wait_for("the window's result", Duration::from_secs(120), || {
        found = results(topics)
            .into_iter()
            .rev()
            .find(|r| r.window.name.name() == "1m" && r.window.end == end);
        found.is_some()
    });
    (found.unwrap(), now_ms())
}

fn clicks_of(record: &edm_trending::TrendingRecord, product: &str) -> u64 {
    record
        .top
        .iter()
        .find(|p| p.button_id == product)
        .map_or(0, |p| p.clicks)
}

fn minute_end(t: i64) -> i64 {
    t - t.rem_euclid(60_000) + 60_000
}

#[test]
fn on_a_quiet_store_a_windows_result_is_committed_within_the_documented_bound() {
    let topics = Topics::create(&shared_broker(), 3);
    let instance = Instance::start(&topics, "quiet", &QUICK);
    wait_for("the first cycle", Duration::from_secs(60), || {
        instance.metric("edm_trending_committed_cycles_total") > 0.0
    });
    // Five clicks, written as the relay writes them, and then nothing.
    let at = now_ms();
    produce(
        &topics,
        &clicks_at(5, "kit", at, 3, "quiet"),
        |_| None,
        Duration::ZERO,
    );
    let end = minute_end(at);
    let (result, read_at) = one_minute_result(&topics, end);
    assert_eq!(result.clicks, 5, "{result:?}");
    assert_eq!(clicks_of(&result, "kit"), 5);
    assert!(result.is_complete());
    assert!(
        read_at <= bound(end) + SLACK_MS,
        "the result came {} ms after the window's end; the bound is {} ms",
        read_at - end,
        bound(end) - end
    );
}

#[test]
fn a_topic_created_after_the_processor_started_is_taken_up_within_seconds() {
    // As `./edm run`, a deploy or a plan's provisioning may leave it: the
    // merge step's topic appears a moment after the processor subscribed.
    let topics = Topics::named(&shared_broker(), 3, WINDOW_TASKS);
    let partials = topics.partials();
    topics.make(|name| name != partials);
    let instance = Instance::start(&topics, "late-topic", &QUICK);
    wait_for("the first cycle", Duration::from_secs(60), || {
        instance.metric("edm_trending_committed_cycles_total") > 0.0
    });
    assert_eq!(instance.metric("edm_trending_merge_task"), 0.0);
    topics.make(|name| name == partials);
    // librdkafka's default metadata refresh (5 minutes) left the merge
    // step unassigned that long: no window's result in the meantime.
    wait_for("the merge step", Duration::from_secs(40), || {
        instance.metric("edm_trending_merge_task") == 1.0
    });
    let at = now_ms();
    produce(
        &topics,
        &clicks_at(4, "kit", at, 3, "late"),
        |_| None,
        Duration::ZERO,
    );
    let (result, _) = one_minute_result(&topics, minute_end(at));
    assert_eq!(clicks_of(&result, "kit"), 4, "{result:?}");
}

/// Now, or the start of the next minute when less than `room_ms` of this
/// one is left: what a test does before its minute's window closes must fit.
fn now_with_room_in_its_minute(room_ms: i64) -> i64 {
    let now = now_ms();
    let left = minute_end(now) - now;
    if left < room_ms {
        std::thread::sleep(Duration::from_millis(left as u64 + 100));
    }
    now_ms()
}

#[test]
fn records_dated_ahead_or_not_at_all_by_another_producer_are_capped_and_counted() {
    // One input partition: the poisoned partition is the only one.
    let topics = Topics::create(&shared_broker(), 1);
    let mut first = Instance::start(&topics, "poisoned", &QUICK);
    wait_for("the first cycle", Duration::from_secs(60), || {
        first.metric("edm_trending_committed_cycles_total") > 0.0
    });
    // Both instances' clicks go into one window, which closes once.
    let at = now_with_room_in_its_minute(25_000);
    let minute = 60_000;
    let year = 365 * 86_400_000;
    // Another producer's records: 40 minutes and 10 years ahead, and one
    // with no Kafka timestamp (-1) but a browser time an hour ahead.
    let poison = [
        (at + 40 * minute, at + 40 * minute),
        (at + 10 * year, at + 10 * year),
        (at + 60 * minute, -1),
    ];
    produce(
        &topics,
        &clicks_at(2, "kit", at, 1, "before"),
        |_| None,
        Duration::ZERO,
    );
    let mut taken_ahead = 0.0;
    for (n, (event_time, record_time)) in poison.into_iter().enumerate() {
        let click = Click {
            id: Some(format!("poison-{n}")),
            product: "poison".into(),
            event_time,
            partition: 0,
        };
        let taken = produce_one(&topics, &click, record_time);
        if record_time > at {
            taken_ahead += f64::from(u8::from(taken));
        } else {
            assert!(taken, "a record without a timestamp is taken");
        }
    }
    assert!(taken_ahead >= 1.0, "the broker takes 40 minutes ahead");
    produce(
        &topics,
        &clicks_at(3, "kit", at, 1, "after"),
        |_| None,
        Duration::ZERO,
    );
    // The first instance counts the clicks around the poison and commits.
    let clicks = 5.0 + taken_ahead + 1.0;
    wait_for("every click counted", Duration::from_secs(30), || {
        first.metric("edm_trending_clicks_counted_total") >= clicks
    });
    let cycles = first.metric("edm_trending_committed_cycles_total");
    wait_for(
        "the cycle that counted them",
        Duration::from_secs(30),
        || first.metric("edm_trending_committed_cycles_total") >= cycles + 2.0,
    );
    assert_eq!(
        first.metric(r#"edm_trending_adjusted_event_times_total{reason="ahead_of_clock"}"#),
        taken_ahead
    );
    assert_eq!(
        first.metric(r#"edm_trending_adjusted_event_times_total{reason="no_record_time"}"#),
        1.0
    );
    let log = first.log_text();
    assert!(
        log.contains("EDM_TRENDING_MAX_CLOCK_SKEW_SECS"),
        "the cap is logged"
    );

    // A restart does not bring the poison back, and the window still
    // closes on time with the clicks of both instances.
    first.kill();
    let second = Instance::start(&topics, "poisoned-again", &QUICK);
    produce(
        &topics,
        &clicks_at(4, "kit", at, 1, "later"),
        |_| None,
        Duration::ZERO,
    );
    let end = minute_end(at);
    let (result, read_at) = one_minute_result(&topics, end);
    assert_eq!(
        clicks_of(&result, "kit"),
        9,
        "the clicks around the poison count: {result:?}"
    );
    assert!(
        read_at <= bound(end) + SLACK_MS,
        "time was not moved: {result:?}"
    );
    assert_eq!(
        second.metric(r#"edm_trending_adjusted_event_times_total{reason="ahead_of_clock"}"#),
        0.0,
        "the poisoned records were not read again"
    );
}

#[test]
fn an_uneven_backlog_caught_up_through_a_restart_counts_every_click_on_time_in_its_partition() {
    let topics = Topics::create(&shared_broker(), 3);
    // Three minutes of clicks waiting: partition 0 has ten times the clicks
    // of the others, each partition in order, the last 20 s ago.
    let start = now_ms() - 200_000;
    let mut clicks = Vec::new();
    for (partition, count) in [(0, 1_500), (1, 150), (2, 150)] {
        for i in 0..count {
            clicks.push(Click {
                id: Some(format!("p{partition}-{i}")),
                product: ["kit", "mug", "stove"][i % 3].to_owned(),
                event_time: start + (i as i64) * 180_000 / count as i64,
                partition,
            });
        }
    }
    produce(
        &topics,
        &clicks,
        |c| Some(c.event_time + 50),
        Duration::ZERO,
    );
    let slow = [
        ("EDM_TRENDING_GRACE_SECS", "10"),
        ("EDM_TRENDING_MAX_CLOCK_SKEW_SECS", "1"),
        ("EDM_TRENDING_MAX_BATCH_RECORDS", "100"),
    ];
    let mut first = Instance::start(&topics, "uneven", &slow);
    wait_for("part of the backlog", Duration::from_secs(60), || {
        first.metric("edm_trending_clicks_counted_total") > 300.0
    });
    first.kill();
    let second = Instance::start(&topics, "uneven-again", &slow);
    // Every 1-minute window of the backlog closes by the clock.
    let last_end = minute_end(clicks.iter().map(|c| c.event_time).max().unwrap());
    wait_for("the last window", Duration::from_secs(150), || {
        results(&topics)
            .iter()
            .any(|r| r.window.name.name() == "1m" && r.window.end == last_end)
    });
    let expected = counts_by_window(&clicks);
    let mut compared = 0;
    for record in results(&topics) {
        let spec = match record.window.name.name() {
            "1m" => WindowSpec::OneMinute,
            _ => WindowSpec::FiveMinutes,
        };
        let counts: BTreeMap<String, u64> = record
            .top
            .iter()
            .map(|p| (p.button_id.clone(), p.clicks))
            .collect();
        assert_eq!(
            Some(&counts),
            expected.get(&(spec, record.window.start)),
            "{}: every click in its window",
            record.event_id
        );
        assert_eq!(record.late_clicks, 0, "{}", record.event_id);
        compared += 1;
    }
    assert!(
        compared >= 4,
        "the backlog's windows were compared: {compared}"
    );
    assert_eq!(
        second.metric(r#"edm_trending_late_drops_total{window="1m"}"#),
        0.0
    );
}
