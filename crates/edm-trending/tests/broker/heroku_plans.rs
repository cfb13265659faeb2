//! On a Heroku-shaped broker (Kafka 3.7.1, TLS with client certificates,
//! ACLs by prefix) provisioned without rights on transactional ids, as a
//! plan may be: exactly once stops at start and names the setting that
//! avoids it; at least once runs, and after a SIGKILL its output is still
//! exact, repeats replacing the records they repeat.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use edm_testkit::broker::SpareBroker;
use edm_trending::TrendingConfig;

use crate::common::{now_ms, produce, reference_results, wait_for, written, Instance, Topics};
use crate::exactly_once::{clicks, GRACE_SECS};

/// The prefix the plan gives the app.
const PREFIX: &str = "wabash-1234.";

#[test]
fn without_transactional_id_rights_exactly_once_refuses_to_start_and_at_least_once_is_exact() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = runtime.block_on(SpareBroker::start_heroku_shaped());
    runtime.block_on(broker.provision_without_transactional_ids(PREFIX));
    // The test reads and writes as the broker's super user, on plaintext.
    let topics = Topics::existing(&broker.bootstrap(), PREFIX);
    let env = |extra: &[(&str, &str)]| {
        let mut env: HashMap<String, String> = broker.heroku_env(PREFIX);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };

    let mut refused = Instance::start_env(PREFIX, "no-transactions", env(&[]));
    let status = refused.wait_exit(Duration::from_secs(60));
    let log = refused.log_text();
    assert!(
        status.is_some_and(|s| !s.success()),
        "exactly once without transactional ids must stop ({status:?}); log:\n{log}"
    );
    assert!(
        log.contains("EDM_TRENDING_PROCESSING_GUARANTEE=at_least_once"),
        "the error names the setting; log:\n{log}"
    );

    produce(
        &topics,
        &clicks(0..3000, now_ms() - 3_600_000),
        |_| None,
        Duration::ZERO,
    );
    let at_least_once = [
        ("EDM_TRENDING_GRACE_SECS", "30"),
        ("EDM_TRENDING_MAX_BATCH_RECORDS", "10"),
        ("EDM_TRENDING_PROCESSING_GUARANTEE", "at_least_once"),
    ];
    let mut first = Instance::start_env(PREFIX, "alo", env(&at_least_once));
    wait_for(
        "the first window results of a task",
        Duration::from_secs(90),
        || first.metric("edm_trending_partials_written_total") > 0.0,
    );
    first.kill(); // mid-stream: some output and changelog written, offsets not
    let second = Instance::start_env(PREFIX, "alo-again", env(&at_least_once));
    // The first instance was killed mid-stream: the second counts the rest.
    wait_for(
        "the second instance to count clicks",
        Duration::from_secs(90),
        || second.metric("edm_trending_clicks_counted_total") > 0.0,
    );
    assert_repeats_replace(&topics);
}

/// Over the repartition log (where a crash may have written clicks twice),
/// stores that count an input offset once give the windows; every window
/// written is one of theirs, and the latest written per window is its
/// final result.
fn assert_repeats_replace(topics: &Topics) {
    let config = TrendingConfig::new(GRACE_SECS * 1000, 10, 100_000)
        .unwrap()
        .with_repeated_sources_skipped(true);
    let (mut latest, mut expected, mut open) = (BTreeMap::new(), BTreeMap::new(), usize::MAX);
    for _ in 0..120 {
        (expected, open) = reference_results(topics, config);
        latest = written(topics).into_iter().collect::<BTreeMap<_, _>>();
        if open == 0 && latest == expected {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let unknown: Vec<&String> = latest
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert_eq!(
        unknown,
        Vec::<&String>::new(),
        "every window written is a result"
    );
    assert_eq!(
        latest, expected,
        "the latest record of each window is its result"
    );
    assert_eq!(open, 0, "every window closed");
    assert!(latest.len() > 20, "many windows: {}", latest.len());
}
