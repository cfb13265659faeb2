//! The window stage in tasks: six window tasks over three instances, each
//! task its repartition partition's products, its own changelog partition
//! and transactional id, and the merge step; through a SIGKILL and an
//! added instance, every window's result is exact, against a brute-force
//! count of the input, and a task that moves restores its own changelog
//! partition only; the per-minute counts are every product's exact count
//! in every minute, and every device type's page loads, final once,
//! against the same brute-force count.

use std::collections::BTreeMap;
use std::time::Duration;

use edm_events::device::device_type;
use edm_events::{CountKind, CountsRecord};
use edm_trending::{TrendingRecord, WindowSpec};

use crate::common::{
    assert_every_click_repartitioned_once, assert_output_follows_the_log, clicks_in,
    counts_by_window, now_ms, produce, produce_page_loads, read_committed,
    read_committed_by_partition, repartition_logs, results, shared_broker, wait_for, Click,
    Instance, PageLoad, Topics,
};
use crate::exactly_once::{wait_for_first_partials, GRACE_SECS, SLOW};

/// Window tasks in this test.
const TASKS: i32 = 6;
/// Clicks in this test.
const CLICKS: u64 = 6_000;
/// Page loads in this test.
const PAGE_LOADS: u64 = 1_000;

/// Clicks for 200 products over three partitions, event times spread over
/// twelve minutes an hour ago, out of order (±10 s), one in 997 two and a
/// half minutes behind (late, past the grace period, if the watermark has
/// formed when it is read: that waits for every input partition, page
/// loads' too, so whether any is late depends on the order the fetches
/// bring the two topics); half without event id, as the original relay
/// wrote them.
fn clicks(base: i64) -> Vec<Click> {
    (0..CLICKS)
        .map(|n| {
            let mut x = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x ^= x >> 29;
            // Skewed popularity: low numbers are clicked most.
            let product = (x % 200).min((x >> 20) % 200);
            let drift = (n as i64) * 120; // 6,000 clicks over 12 minutes
            let jitter = (x >> 8) as i64 % 20_000 - 10_000;
            let late = if x % 997 == 0 { -150_000 } else { 0 };
            Click {
                id: (n % 2 == 0).then(|| format!("c-{n}")),
                product: format!("product-{product:03}"),
                event_time: base + drift + jitter + late,
                partition: (n % 3) as i32,
            }
        })
        .collect()
}

/// Page loads of the five device types over the same twelve minutes, out
/// of order (±10 s), over three partitions, none late.
fn page_loads(base: i64) -> Vec<PageLoad> {
    let agents = [
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.4.0",
    ];
    (0..PAGE_LOADS)
        .map(|n| {
            let x = n.wrapping_mul(2862933555777941757).wrapping_add(3037000493) >> 16;
            PageLoad {
                user_agent: agents[(x % 5).min((x >> 8) % 5) as usize].to_owned(),
                event_time: base + (n as i64) * 720 + (x >> 4) as i64 % 20_000 - 10_000,
                partition: (n % 3) as i32,
            }
        })
        .collect()
}

/// Every window's result against a brute-force count of `clicks`: its
/// clicks and late clicks together are every click in it, and where none
/// came late, its top 10 is the brute-force top 10 (most clicks first,
/// then by name).
fn assert_brute_force(windows: &[TrendingRecord], clicks: &[Click]) {
    let counts = counts_by_window(clicks);
    let latest: BTreeMap<(String, i64), &TrendingRecord> = windows
        .iter()
        .map(|r| ((r.window.name.name().to_owned(), r.window.start), r))
        .collect();
    assert_eq!(
        latest.len(),
        counts.len(),
        "one result per window that has clicks"
    );
    let mut complete = 0;
    for ((spec, start), products) in &counts {
        let name = match spec {
            WindowSpec::OneMinute => "1m",
            WindowSpec::FiveMinutes => "5m",
        };
        let record = latest
            .get(&(name.to_owned(), *start))
            .unwrap_or_else(|| panic!("no result for {name} {start}"));
        let total: u64 = products.values().sum();
        assert_eq!(
            record.clicks + record.late_clicks,
            total,
            "{name} {start}: every click counted or late"
        );
        if record.late_clicks == 0 {
            complete += 1;
            let mut top: Vec<(&String, &u64)> = products.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            top.truncate(10);
            let got: Vec<(&String, &u64)> = record
                .top
                .iter()
                .map(|p| (&p.button_id, &p.clicks))
                .collect();
            assert_eq!(got, top, "{name} {start}: the top 10");
            assert_eq!(record.products, products.len() as u64);
        }
    }
    assert!(complete > 15, "windows without late clicks: {complete}");
}

/// The per-minute counts against a brute-force count of `clicks`: each
/// (product, minute) with clicks has one final count, written once and
/// the latest of its key; in a minute without late clicks it is the
/// product's brute-force count, in one with late clicks at most that, and
/// the minute's final counts add up to its `1m` result's clicks; and each
/// device type's page loads per minute are the brute-force count of
/// `loads`.
fn assert_minute_counts(
    topics: &Topics,
    windows: &[TrendingRecord],
    clicks: &[Click],
    loads: &[PageLoad],
) {
    let one_minute: BTreeMap<i64, &TrendingRecord> = windows
        .iter()
        .filter(|r| r.window.name.name() == "1m")
        .map(|r| (r.window.start, r))
        .collect();
    let mut latest: BTreeMap<String, CountsRecord> = BTreeMap::new();
    let mut finals: BTreeMap<(i64, String), u64> = BTreeMap::new();
    let mut device_finals: BTreeMap<(i64, String), u64> = BTreeMap::new();
    let mut provisional = 0;
    for (key, value) in read_committed(&topics.bootstrap, &topics.counts()) {
        let key = String::from_utf8(key.expect("a key")).unwrap();
        let record = CountsRecord::parse(&value.expect("no tombstone: no product lost its place"))
            .expect("a valid counts record");
        assert_eq!(record.key(), key, "the key names the record");
        if record.is_final {
            let of_kind = match record.kind {
                CountKind::Click => &mut finals,
                CountKind::PageLoad => &mut device_finals,
            };
            let previous = of_kind.insert((record.minute, record.name.clone()), record.count);
            assert_eq!(previous, None, "{key}: a final count written twice");
        } else {
            provisional += 1;
        }
        latest.insert(key, record);
    }
    assert!(provisional > 0, "provisional counts were written");
    for (key, record) in &latest {
        assert!(
            record.is_final,
            "{key}: the latest record is the final count"
        );
    }
    let counts = counts_by_window(clicks);
    let mut exact_minutes = 0;
    for ((spec, minute), products) in &counts {
        if *spec != WindowSpec::OneMinute {
            continue;
        }
        let result = one_minute[minute];
        let written: BTreeMap<&String, u64> = finals
            .iter()
            .filter(|((m, _), _)| m == minute)
            .map(|((_, name), count)| (name, *count))
            .collect();
        assert_eq!(
            written.values().sum::<u64>(),
            result.clicks,
            "minute {minute}: the final counts add up to the 1m result"
        );
        if result.late_clicks == 0 {
            exact_minutes += 1;
            let expected: BTreeMap<&String, u64> = products.iter().map(|(n, c)| (n, *c)).collect();
            assert_eq!(written, expected, "minute {minute}: every product's count");
        } else {
            for (name, count) in &written {
                assert!(*count <= products[*name], "minute {minute}, {name}");
            }
        }
    }
    assert!(
        exact_minutes > 5,
        "minutes without late clicks: {exact_minutes}"
    );
    let minutes_with_clicks = counts
        .keys()
        .filter(|(spec, _)| *spec == WindowSpec::OneMinute)
        .count();
    let minutes_written: std::collections::BTreeSet<i64> = finals.keys().map(|(m, _)| *m).collect();
    assert_eq!(
        minutes_written.len(),
        minutes_with_clicks,
        "no minute missing or extra"
    );
    let mut expected_loads: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for load in loads {
        let minute = load.event_time - load.event_time.rem_euclid(60_000);
        *expected_loads
            .entry((minute, device_type(&load.user_agent).to_owned()))
            .or_default() += 1;
    }
    assert_eq!(
        device_finals, expected_loads,
        "every device type's page loads in every minute"
    );
    let devices: std::collections::BTreeSet<&String> =
        expected_loads.keys().map(|(_, d)| d).collect();
    assert_eq!(devices.len(), 5, "every device type had page loads");
}

/// The (task, changelog partition, records) of each restore `instance`
/// logged.
fn restores(instance: &Instance) -> Vec<(i32, i32, u64)> {
    let number = |line: &str, field: &str| -> Option<i64> {
        let at = line.find(&format!(" {field}="))? + field.len() + 2;
        line[at..].split(' ').next()?.parse().ok()
    };
    instance
        .log_text()
        .lines()
        .filter(|line| line.contains("store restored from changelog partition"))
        .map(|line| {
            (
                number(line, "task").unwrap() as i32,
                number(line, "changelog_partition").unwrap() as i32,
                number(line, "records").unwrap() as u64,
            )
        })
        .collect()
}

#[test]
fn six_tasks_over_three_instances_are_exact_through_a_sigkill_and_an_added_instance() {
    let topics = Topics::with_tasks(&shared_broker(), 3, TASKS);
    let base = now_ms() - 3_600_000;
    let input = clicks(base);
    let loads = page_loads(base);
    produce(&topics, &input, |_| None, Duration::ZERO);
    produce_page_loads(&topics, &loads);
    let a = Instance::start(&topics, "a", &SLOW);
    let mut b = Instance::start(&topics, "b", &SLOW);
    let c = Instance::start(&topics, "c", &SLOW);
    let held = |instances: &[&Instance]| -> Vec<f64> {
        instances
            .iter()
            .map(|i| i.metric("edm_trending_window_tasks"))
            .collect()
    };
    wait_for(
        "the six tasks spread over the three instances",
        Duration::from_secs(90),
        || {
            let held = held(&[&a, &b, &c]);
            held.iter().sum::<f64>() == f64::from(TASKS) && held.iter().all(|&n| n > 0.0)
        },
    );
    wait_for_first_partials(&b);
    b.kill(); // mid-stream, its tasks' transactions open or not
    let d = Instance::start(&topics, "d", &SLOW);
    assert_every_click_repartitioned_once(&topics, CLICKS as usize);
    let with_clicks = repartition_logs(&topics)
        .values()
        .filter(|log| log.iter().any(|r| !clicks_in(r).is_empty()))
        .count();
    assert_eq!(
        with_clicks, topics.tasks as usize,
        "every task counts products"
    );
    assert_output_follows_the_log(&topics, GRACE_SECS);
    let windows = results(&topics);
    assert_brute_force(&windows, &input);
    assert_minute_counts(&topics, &windows, &input, &loads);

    // Tasks moved: the added instance holds some (its rebalance may come
    // after the output is complete), each restore read the task's own
    // changelog partition, and no more records than that partition holds.
    wait_for(
        "the added instance to hold window tasks",
        Duration::from_secs(60),
        || d.metric("edm_trending_window_tasks") > 0.0,
    );
    let changelog = read_committed_by_partition(&topics.bootstrap, &topics.changelog());
    let moved: Vec<(i32, i32, u64)> = [&a, &c, &d].iter().flat_map(|i| restores(i)).collect();
    assert!(
        !restores(&d).is_empty(),
        "the added instance took tasks over"
    );
    for (task, partition, records) in &moved {
        assert_eq!(task, partition, "task {task} restored its own partition");
        let held = changelog.get(partition).map_or(0, Vec::len) as u64;
        assert!(
            *records <= held,
            "task {task} read {records} records, its partition holds {held}"
        );
    }
    let total: u64 = changelog.values().map(|p| p.len() as u64).sum();
    assert!(
        moved
            .iter()
            .any(|(_, _, records)| *records > 0 && *records < total),
        "a restore read part of the changelog, not all of it: {moved:?} of {total}"
    );
}
