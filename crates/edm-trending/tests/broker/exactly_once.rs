//! Exactly once through failures: every click (half of them in the original
//! relay's shape: no key, no headers, no id) reaches the repartition topic
//! exactly once, and the windows written to `edm-trending` (read as a
//! `read_committed` reader reads them) are exactly those the window store
//! computes over that log: none missing, none wrong, none twice. The
//! clicks (an hour old, twelve minutes of them) wait in the input before
//! edm-trending starts, and each instance reads them slowly (100 records a
//! cycle), so that the failures land mid-stream.

use std::time::Duration;

use edm_testkit::broker::SpareBroker;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

use crate::common::{
    assert_every_click_repartitioned_once, assert_output_follows_the_log, now_ms, produce, results,
    shared_broker, wait_for, Click, Instance, Topics,
};

pub const GRACE_SECS: i64 = 30;

/// Settings that make a backlog of 3,000 clicks last several seconds.
pub const SLOW: [(&str, &str); 2] = [
    ("EDM_TRENDING_GRACE_SECS", "30"),
    ("EDM_TRENDING_MAX_BATCH_RECORDS", "100"),
];

/// Clicks `range` of a fixed pseudo-random sequence over three partitions:
/// event times spread over 12 minutes from `base`, out of order, a few far
/// behind (late beyond grace). Every other one is written as the original
/// reference relay wrote clicks: no key, no headers, no event id.
pub fn clicks(range: std::ops::Range<u64>, base: i64) -> Vec<Click> {
    range
        .map(|n| {
            let mut x = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x ^= x >> 29;
            let product = ["kit", "mug", "stove", "press", "beans"][(x % 5) as usize];
            let drift = (n as i64) * 240; // 3,000 clicks over 12 minutes
            let jitter = (x >> 8) as i64 % 20_000 - 10_000;
            let late = if x % 97 == 0 { -150_000 } else { 0 };
            Click {
                id: (n % 2 == 0).then(|| format!("c-{n}")),
                product: product.to_owned(),
                event_time: base + drift + jitter + late,
                partition: (n % 3) as i32,
            }
        })
        .collect()
}

/// An hour ago: the clicks' own times are their event times.
fn base_time() -> i64 {
    now_ms() - 3_600_000
}

/// Three thousand clicks waiting in a fresh input of three partitions.
fn backlog(bootstrap: &str) -> Topics {
    let topics = Topics::create(bootstrap, 3);
    produce(
        &topics,
        &clicks(0..3000, base_time()),
        |_| None,
        Duration::ZERO,
    );
    topics
}

/// Waits until edm-trending has committed its first window results.
pub fn wait_for_first_windows(topics: &Topics) {
    wait_for("the first windows", Duration::from_secs(90), || {
        !results(topics).is_empty()
    });
}

/// Waits until `instance`'s window tasks have written their first
/// results for the merge: it is mid-stream (the merged results come later,
/// once every task has passed a window).
pub fn wait_for_first_partials(instance: &Instance) {
    wait_for("the first partial results", Duration::from_secs(90), || {
        instance.metric("edm_trending_partials_written_total") > 0.0
    });
}

/// Every click once in the repartition log, and the output what the store
/// computes over it, every window of the run closed.
fn assert_exact(topics: &Topics) {
    assert_every_click_repartitioned_once(topics, 3000);
    assert_output_follows_the_log(topics, GRACE_SECS);
    let windows = results(topics).len();
    assert!(windows > 20, "the run closes many windows: {windows}");
}

#[test]
fn windows_are_exact_through_a_sigkill_and_a_rebalance() {
    let topics = backlog(&shared_broker());
    let mut a = Instance::start(&topics, "a", &SLOW);
    wait_for_first_partials(&a);
    a.kill(); // mid-stream, transactions open or not
    let _b = Instance::start(&topics, "b", &SLOW);
    std::thread::sleep(Duration::from_secs(3));
    // The group rebalances between the two.
    let _c = Instance::start(&topics, "c", &SLOW);
    assert_exact(&topics);
}

#[test]
fn windows_are_exact_through_a_broker_crash_and_restart() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = runtime.block_on(SpareBroker::start());
    let topics = backlog(&broker.bootstrap());
    let mut a = Instance::start(&topics, "outage", &SLOW);
    wait_for_first_partials(&a);
    runtime.block_on(broker.kill()); // mid-stream, transactions open or not
    std::thread::sleep(Duration::from_secs(5));
    runtime.block_on(broker.restart());
    assert_exact(&topics);
    assert!(
        a.is_running(),
        "edm-trending went on by itself after the broker came back"
    );
}

#[test]
fn nothing_is_skipped_when_the_broker_hangs_longer_than_the_kafka_timeout() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = runtime.block_on(SpareBroker::start());
    let topics = backlog(&broker.bootstrap());
    let mut env = SLOW.to_vec();
    env.push(("EDM_TRENDING_KAFKA_TIMEOUT_SECS", "3"));
    let mut a = Instance::start(&topics, "hung", &env);
    wait_for_first_partials(&a);
    // Mid-cycle, the coordinator and the partition leader stop answering
    // for longer than every timeout of the cycle.
    broker.freeze();
    std::thread::sleep(Duration::from_secs(10));
    broker.thaw();
    assert_exact(&topics);
    assert!(a.is_running(), "edm-trending went on by itself");
}

#[test]
fn a_fenced_window_task_takes_its_work_back_when_no_rebalance_comes() {
    let topics = backlog(&shared_broker());
    let mut env = SLOW.to_vec();
    env.push(("EDM_TRENDING_KAFKA_TIMEOUT_SECS", "5"));
    let mut a = Instance::start(&topics, "fenced", &env);
    wait_for_first_partials(&a);
    // A producer outside the group takes the window task's transactional
    // id, as the broker does when it expires a stalled transaction: the
    // task is fenced and no rebalance follows.
    let usurper: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &topics.bootstrap)
        .set(
            "transactional.id",
            format!("{}edm-trending-windows-0", topics.prefix),
        )
        .create()
        .unwrap();
    usurper.init_transactions(Duration::from_secs(30)).unwrap();
    assert_exact(&topics);
    assert!(a.is_running(), "edm-trending went on by itself");
}

#[test]
fn a_zombie_window_task_resumed_after_its_replacement_took_over_changes_nothing() {
    let topics = backlog(&shared_broker());
    let mut env = SLOW.to_vec();
    env.push(("EDM_TRENDING_TRANSACTION_TIMEOUT_MS", "3000"));
    let a = Instance::start(&topics, "zombie", &env);
    wait_for(
        "the first instance holds the window task",
        Duration::from_secs(60),
        || a.metric("edm_trending_window_tasks") == 3.0,
    );
    wait_for_first_partials(&a);
    let b = Instance::start(&topics, "replacement", &env);
    wait_for(
        "the second instance in the group",
        Duration::from_secs(60),
        || b.metric("edm_trending_committed_cycles_total") > 0.0,
    );
    // Frozen mid-stream past the transaction timeout and the group's
    // session: the second instance takes the window task over.
    a.signal("STOP");
    wait_for(
        "the replacement holds the window task",
        Duration::from_secs(90),
        || {
            b.metric("edm_trending_window_tasks") == 3.0
                && b.metric("edm_trending_merge_task") == 1.0
        },
    );
    std::thread::sleep(Duration::from_secs(4));
    // The zombie wakes with its transaction open and its fetched records
    // in memory.
    a.signal("CONT");
    assert_exact(&topics);
}
