//! Retried events count once, as edm-stats counts them: an event whose id
//! appeared within `EDM_TRENDING_DEDUP_WINDOW_EVENTS` offsets before it in
//! its partition is not counted again, also by an instance that took the
//! partition over (it reads the window back), and one further back is.

use std::time::Duration;

use crate::common::{now_ms, produce, results, shared_broker, wait_for, Click, Instance, Topics};

/// A window of 20 offsets, a short grace period and clock skew.
const SETTINGS: [(&str, &str); 3] = [
    ("EDM_TRENDING_DEDUP_WINDOW_EVENTS", "20"),
    ("EDM_TRENDING_GRACE_SECS", "2"),
    ("EDM_TRENDING_MAX_CLOCK_SKEW_SECS", "1"),
];

fn click(id: &str, product: &str, at: i64) -> Click {
    Click {
        id: Some(id.to_owned()),
        product: product.to_owned(),
        event_time: at,
        partition: 0,
    }
}

#[test]
fn a_retry_within_the_window_counts_once_also_after_a_handover() {
    let topics = Topics::create(&shared_broker(), 1);
    // Everything below happens within one minute of event time.
    let now = now_ms();
    let left = 60_000 - now.rem_euclid(60_000);
    if left < 50_000 {
        std::thread::sleep(Duration::from_millis(left as u64 + 100));
    }
    let at = now_ms();
    let end = at - at.rem_euclid(60_000) + 60_000;

    let mut first = Instance::start(&topics, "retries-first", &SETTINGS);
    // Offsets 0-9: ten clicks; 10: a retry of the click at 3 (7 back).
    let mut clicks: Vec<Click> = (0..10)
        .map(|i| click(&format!("c{i}"), "kit", at))
        .collect();
    clicks.push(click("c3", "kit", at));
    produce(&topics, &clicks, |_| None, Duration::ZERO);
    wait_for(
        "the retry to be recognised",
        Duration::from_secs(60),
        || first.metric("edm_trending_duplicate_inputs_total") == 1.0,
    );
    first.stop();

    // The next owner reads offsets 0-10 back before it reads on.
    let second = Instance::start(&topics, "retries-second", &SETTINGS);
    // 11: a retry of the click at 5 (6 back, within the window); 12-36:
    // 25 more clicks; 37: a retry of the click at 0, 37 back (past it).
    let mut more = vec![click("c5", "kit", at)];
    more.extend((0..25).map(|i| click(&format!("d{i}"), "kit", at)));
    more.push(click("c0", "kit", at));
    produce(&topics, &more, |_| None, Duration::ZERO);
    wait_for("the second retry", Duration::from_secs(60), || {
        second.metric("edm_trending_duplicate_inputs_total") == 1.0
            && second.metric("edm_trending_clicks_repartitioned_total") >= 26.0
    });

    let mut found = None;
    wait_for("the window's result", Duration::from_secs(120), || {
        found = results(&topics)
            .into_iter()
            .rev()
            .find(|r| r.window.name.name() == "1m" && r.window.end == end);
        found.is_some()
    });
    let result = found.unwrap();
    // 10 + 25 + the retry past the window; the two within it not again.
    assert_eq!(result.clicks, 36, "{result:?}");
}
