//! Records another producer writes to edm-trending's internal topics never
//! stop it, and every click left out is counted where an operator looks.

use std::time::Duration;

use crate::common::{
    now_ms, produce, produce_raw, results, shared_broker, wait_for, Click, Instance, Topics,
};
use crate::exactly_once::wait_for_first_windows;

/// Clicks an hour old, one partition, at these minutes past `base`.
fn old_clicks(base: i64, at: &[(i64, &str)]) -> Vec<Click> {
    at.iter()
        .map(|(offset, product)| Click {
            // Distinct events: the same id again would be a retry.
            id: Some(format!("old-{offset}")),
            product: (*product).to_owned(),
            event_time: base + offset,
            partition: 0,
        })
        .collect()
}

#[test]
fn garbage_on_every_internal_topic_is_counted_and_skipped() {
    let topics = Topics::create(&shared_broker(), 1);
    // Written before edm-trending starts: read by its first restore.
    produce_raw(&topics, &topics.changelog(), Some(b"Zz"), b"\x01", None);
    produce_raw(
        &topics,
        &topics.changelog(),
        Some(b"C1short"),
        b"\x00",
        None,
    );
    produce_raw(
        &topics,
        &topics.repartition(),
        Some(b"kit"),
        b"not json",
        None,
    );
    produce_raw(
        &topics,
        &topics.repartition(),
        None,
        br#"{"watermark":5,"partition":99,"next_offset":0}"#,
        None,
    );
    produce_raw(
        &topics,
        &topics.partials(),
        Some(b"watermark"),
        b"not json",
        None,
    );
    produce_raw(
        &topics,
        &topics.partials(),
        Some(b"watermark"),
        br#"{"task":99,"watermark":5}"#,
        None,
    );
    // A page-load batch for a device type no user agent gives, and a
    // click and garbage on the page-load topic.
    produce_raw(
        &topics,
        &topics.repartition(),
        Some(b"toaster"),
        br#"{"kind":"pageload","event_time":5,"partition":1048576,"offsets":[0]}"#,
        None,
    );
    produce_raw(&topics, &topics.page_loads(), None, b"not json", None);
    let click_on_the_wrong_topic = old_clicks(now_ms(), &[(0, "kit")])[0].json();
    produce_raw(
        &topics,
        &topics.page_loads(),
        None,
        click_on_the_wrong_topic.as_bytes(),
        None,
    );
    let base = now_ms() - 3_600_000;
    let base = base - base.rem_euclid(60_000) + 10_000;
    produce(
        &topics,
        &old_clicks(base, &[(0, "kit"), (1_000, "kit"), (2_000, "mug")]),
        |_| None,
        Duration::ZERO,
    );
    let instance = Instance::start(&topics, "garbage", &[("EDM_TRENDING_GRACE_SECS", "0")]);
    wait_for_first_windows(&topics);
    let one_minute = results(&topics)
        .into_iter()
        .find(|r| r.window.name.name() == "1m" && r.window.start == base - 10_000)
        .expect("the clicks' window");
    assert_eq!(one_minute.clicks, 3, "{one_minute:?}");
    assert!(instance.metric("edm_trending_skipped_changelog_total") >= 2.0);
    assert!(instance.metric("edm_trending_skipped_repartition_total") >= 3.0);
    assert_eq!(instance.metric("edm_trending_skipped_inputs_total"), 2.0);
    assert_eq!(
        instance.metric("edm_trending_page_loads_repartitioned_total"),
        0.0
    );
    assert_eq!(instance.metric("edm_trending_skipped_partials_total"), 2.0);
    let (status, body) = instance.get("/ready");
    assert_eq!(status, 200, "{body}");
    let log = instance.log_text();
    assert!(
        log.contains("skipping a changelog record"),
        "each skip is logged"
    );
    assert!(
        log.contains("skipping a partials record"),
        "each skip is logged (the second within seconds of the first: held back)"
    );
}

#[test]
fn late_and_over_limit_clicks_move_their_counters() {
    let topics = Topics::create(&shared_broker(), 1);
    let base = now_ms() - 3_600_000;
    let base = base - base.rem_euclid(60_000);
    // Room for 6 counts: the first click takes its 1m window and five 5m
    // windows. The second, a minute later, needs a new 1m and a new 5m
    // window: both refused (over the limit); its other four 5m windows
    // count it.
    produce(
        &topics,
        &old_clicks(base, &[(0, "kit"), (60_000, "kit")]),
        |_| None,
        Duration::ZERO,
    );
    let instance = Instance::start(
        &topics,
        "limits",
        &[
            ("EDM_TRENDING_GRACE_SECS", "600"),
            ("EDM_TRENDING_MAX_OPEN_ENTRIES", "6"),
        ],
    );
    // Read to its end, the input's watermark follows the clock: every
    // window of an hour ago closes.
    wait_for(
        "the watermark to reach the clock",
        Duration::from_secs(60),
        || instance.metric("edm_trending_watermark_milliseconds") > (now_ms() - 120_000) as f64,
    );
    assert_eq!(
        instance.metric(r#"edm_trending_over_limit_drops_total{window="1m"}"#),
        1.0
    );
    assert_eq!(
        instance.metric(r#"edm_trending_over_limit_drops_total{window="5m"}"#),
        1.0
    );
    // A click for the first minute now is late for its six windows.
    produce(
        &topics,
        &old_clicks(base, &[(30_000, "kit")]),
        |_| None,
        Duration::ZERO,
    );
    wait_for("the late click", Duration::from_secs(30), || {
        instance.metric(r#"edm_trending_late_drops_total{window="5m"}"#) > 0.0
    });
    assert_eq!(
        instance.metric(r#"edm_trending_late_drops_total{window="1m"}"#),
        1.0
    );
    assert_eq!(
        instance.metric(r#"edm_trending_late_drops_total{window="5m"}"#),
        5.0
    );
}

#[test]
fn at_least_once_a_forged_input_offset_cannot_make_real_clicks_count_as_repeats() {
    let topics = Topics::create(&shared_broker(), 1);
    // Another producer claims a click from input offset 10^12, far past the
    // partition's end: believed, every real click would look read already.
    produce_raw(
        &topics,
        &topics.repartition(),
        Some(b"kit"),
        br#"{"event_time":1700000000000,"partition":0,"offset":1000000000000}"#,
        None,
    );
    let base = now_ms() - 3_600_000;
    let base = base - base.rem_euclid(60_000) + 10_000;
    produce(
        &topics,
        &old_clicks(base, &[(0, "kit"), (1_000, "kit"), (2_000, "mug")]),
        |_| None,
        Duration::ZERO,
    );
    let instance = Instance::start(
        &topics,
        "forged",
        &[
            ("EDM_TRENDING_GRACE_SECS", "0"),
            ("EDM_TRENDING_PROCESSING_GUARANTEE", "at_least_once"),
        ],
    );
    wait_for_first_windows(&topics);
    let one_minute = results(&topics)
        .into_iter()
        .find(|r| r.window.name.name() == "1m" && r.window.start == base - 10_000)
        .expect("the clicks' window");
    assert_eq!(one_minute.clicks, 3, "{one_minute:?}");
    assert_eq!(instance.metric("edm_trending_repeated_clicks_total"), 0.0);
    assert!(instance.metric("edm_trending_skipped_repartition_total") >= 1.0);
}
