//! edm-stats under failure: Postgres going away, the process killed with
//! SIGKILL again and again, and an instance leaving its group mid-flow.
//! In every case each produced event is counted exactly once.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use edm_config::{MapEnv, Topic};
use edm_testkit::broker::free_port;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::postgres::TestDatabase;
use edm_testkit::spare_postgres::SparePostgres;
use edm_tool::launcher::{Launch, Launched};

const SETTLE: Duration = Duration::from_secs(60);

/// Produces clicks until told to stop; returns how many distinct clicks it
/// produced. Every third one is written as the original reference relay
/// wrote it (the JSON alone: no key, no headers, no id) on a button of its
/// own, `original-N`; the others carry an id, and every 7th one is also
/// retried with the same id.
fn start_flow(
    topics: &TestTopics,
    pause: Duration,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<i64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let producer = RawProducer::new(&topics.settings);
    let topic = topics.name(Topic::Click);
    let flag = stop.clone();
    let task = tokio::spawn(async move {
        let mut n: i64 = 0;
        while !flag.load(Ordering::Relaxed) {
            let visitor = format!("v{}", n % 5);
            if n % 3 == 0 {
                let payload = click(&visitor, &format!("original-{n}"), T0 + n).to_string();
                producer.send_unkeyed(&topic, payload.as_bytes()).await;
            } else {
                let payload = click(&visitor, &format!("button-{}", n % 4), T0 + n).to_string();
                let id = format!("event-{n}");
                producer
                    .send(&topic, &visitor, payload.as_bytes(), Some(&id))
                    .await;
                if n % 7 == 0 {
                    producer
                        .send(&topic, &visitor, payload.as_bytes(), Some(&id))
                        .await;
                }
            }
            n += 1;
            tokio::time::sleep(pause).await;
        }
        n
    });
    (stop, task)
}

/// Each click the flow wrote as the original relay did (`produced` in all)
/// counted once on its own button: none lost, none twice, whatever the
/// totals say.
async fn assert_original_records_counted_once(http: &reqwest::Client, base: &str, produced: i64) {
    let (status, body) = get(http, &format!("{base}/api/clickCount")).await;
    assert_eq!(status, 200, "{body}");
    let mut counted: Vec<(String, i64)> = body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| {
            let button = row["button_id"].as_str()?;
            button
                .starts_with("original-")
                .then(|| (button.to_owned(), row["sum"].as_i64().unwrap_or(-1)))
        })
        .collect();
    counted.sort();
    let mut expected: Vec<(String, i64)> = (0..produced)
        .filter(|n| n % 3 == 0)
        .map(|n| (format!("original-{n}"), 1))
        .collect();
    expected.sort();
    assert_eq!(
        counted, expected,
        "each original-shaped record counted once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_loses_nothing_and_counts_nothing_twice() {
    let topics = TestTopics::create().await;
    let pg = SparePostgres::start().await;
    let stats = TestStats::spawn(service_env(
        &topics.prefix,
        &[
            ("DATABASE_URL", &pg.url()),
            ("EDM_STATS_BATCH_MAX_WAIT_MS", "50"),
        ],
    ))
    .await;
    let (stop, flow) = start_flow(&topics, Duration::from_millis(5));

    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.stop().await;
    // While it is down the service says so.
    let mut saw_degraded = false;
    for _ in 0..40 {
        let (status, body) = stats.get_json("/ready").await;
        if status == 503 && body["database"] == "unreachable" {
            saw_degraded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(saw_degraded, "readiness never reported the outage");
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let produced = flow.await.unwrap();
    assert!(produced > 100, "the flow ran ({produced} events)");

    wait_for_totals(&stats.http, &stats.url, produced, 0, SETTLE).await;
    let (status, _) = stats.get_json("/ready").await;
    assert_eq!(status, 200, "recovered by itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_that_move_during_an_outage_are_all_counted_after_it() {
    let topics = TestTopics::create().await;
    let pg = SparePostgres::start().await;
    let env = service_env(
        &topics.prefix,
        &[
            ("DATABASE_URL", &pg.url()),
            ("EDM_STATS_BATCH_MAX_WAIT_MS", "50"),
        ],
    );
    let first = TestStats::spawn(env.clone()).await;
    let (stop, flow) = start_flow(&topics, Duration::from_millis(5));
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // During the outage a second instance joins (a deploy, a scale-up):
    // partitions leave the first instance while its consumption is paused.
    // Then it leaves, and they come back to the paused first instance.
    let second = TestStats::spawn(env).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    second.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    pg.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A partition left paused would hold its events back for good.
    all_counted_by(&first, stop, flow).await;
    let (status, _) = first.get_json("/ready").await;
    assert_eq!(status, 200, "recovered by itself");
}

/// An edm-stats process, started by the one launcher; killed (SIGKILL)
/// when dropped, so a failing test leaves no process behind.
fn spawn_process(env: &MapEnv, port: u16) -> Launched {
    let log = std::env::temp_dir().join(format!("edm-stats-test-{port}.log"));
    Launch::new(env!("CARGO_BIN_EXE_edm-stats"), log)
        .envs(env.0.iter().map(|(k, v)| (k.clone(), v.clone())))
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_again_and_again_still_counts_exactly_once() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let env = service_env(
        &topics.prefix,
        &[
            ("DATABASE_URL", &db.url),
            ("EDM_STATS_BATCH_MAX_WAIT_MS", "20"),
            ("EDM_STATS_BATCH_MAX_EVENTS", "50"),
        ],
    );
    let port = free_port();
    let (stop, flow) = start_flow(&topics, Duration::from_millis(2));

    for round in 0..5 {
        let mut child = spawn_process(&env, port);
        tokio::time::sleep(Duration::from_millis(1500 + 300 * round)).await;
        child.kill();
    }
    stop.store(true, Ordering::Relaxed);
    let produced = flow.await.unwrap();

    let _survivor = spawn_process(&env, port);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_for_totals(&http, &base, produced, 0, SETTLE).await;
    assert_original_records_counted_once(&http, &base, produced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_work_and_one_leaving_changes_nothing() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let env = service_env(
        &topics.prefix,
        &[
            ("DATABASE_URL", &db.url),
            ("EDM_STATS_BATCH_MAX_WAIT_MS", "50"),
        ],
    );
    let first = TestStats::spawn(env.clone()).await;
    let second = TestStats::spawn(env).await;
    let (stop, flow) = start_flow(&topics, Duration::from_millis(3));

    // Wait until both own partitions, then stop one mid-flow.
    let mut shared = false;
    for _ in 0..60 {
        let (_, a) = first.get_json("/api/v1/consumer").await;
        let (_, b) = second.get_json("/api/v1/consumer").await;
        let owned = |v: &serde_json::Value| v["partitions"].as_array().map_or(0, Vec::len);
        if owned(&a) > 0 && owned(&b) > 0 && owned(&a) + owned(&b) == 6 {
            shared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(shared, "the two instances never split the 6 partitions");
    tokio::time::sleep(Duration::from_secs(1)).await;
    second.shutdown().await.expect("clean shutdown");
    tokio::time::sleep(Duration::from_secs(2)).await;
    all_counted_by(&first, stop, flow).await;
}

/// Stops the flow, waits until `survivor` counted every event it produced
/// exactly once, and checks that it owns all six partitions again.
async fn all_counted_by(
    survivor: &TestStats,
    stop: Arc<AtomicBool>,
    flow: tokio::task::JoinHandle<i64>,
) {
    stop.store(true, Ordering::Relaxed);
    let produced = flow.await.unwrap();
    wait_for_totals(&survivor.http, &survivor.url, produced, 0, SETTLE).await;
    let (_, consumer) = survivor.get_json("/api/v1/consumer").await;
    assert_eq!(
        consumer["partitions"].as_array().unwrap().len(),
        6,
        "the survivor owns every partition again: {consumer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migrate_command_prepares_a_fresh_database() {
    let db = TestDatabase::create().await;
    let status = Command::new(env!("CARGO_BIN_EXE_edm-stats"))
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success());
    let pool = db.pool().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for t in [
        "click_counts",
        "consumer_offsets",
        "dead_letters",
        "pageload_counts",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} missing from {tables:?}");
    }
    // Without DATABASE_URL it says which variable is missing and fails.
    let out = Command::new(env!("CARGO_BIN_EXE_edm-stats"))
        .arg("migrate")
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL is not set"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_away_at_start_it_binds_at_once_says_degraded_and_catches_up() {
    let topics = TestTopics::create().await;
    let pg = SparePostgres::start().await;
    pg.stop().await;
    let producer = RawProducer::new(&topics.settings);
    let topic = topics.name(Topic::Click);
    for n in 0..20 {
        let payload = click("v", "areopress-coffee-maker", T0 + n).to_string();
        producer
            .send(&topic, "v", payload.as_bytes(), Some(&format!("away-{n}")))
            .await;
    }
    let started = std::time::Instant::now();
    let stats = TestStats::spawn(service_env(
        &topics.prefix,
        &[
            ("DATABASE_URL", &pg.url()),
            ("EDM_STATS_DB_TIMEOUT_SECS", "2"),
        ],
    ))
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the port was bound without waiting for Postgres ({:?})",
        started.elapsed()
    );
    let mut saw_degraded = false;
    for _ in 0..40 {
        let (status, body) = stats.get_json("/ready").await;
        assert_eq!(status, 503, "{body}");
        if body["database"] == "unreachable" && body["consumer"] == "degraded" {
            saw_degraded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(saw_degraded, "readiness says the database is unreachable");
    let (status, body) = stats.get_json("/api/clickCount").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("database_unavailable"))
    );
    pg.restart().await;
    wait_for_totals(&stats.http, &stats.url, 20, 0, SETTLE).await;
    let (status, _) = stats.get_json("/ready").await;
    assert_eq!(status, 200, "ready once Postgres answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_api_requests_does_not_starve_the_consumer() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let stats = TestStats::spawn(service_env(
        &topics.prefix,
        &[
            ("DATABASE_URL", &db.url),
            ("EDM_STATS_API_DB_CONNECTIONS", "4"),
        ],
    ))
    .await;
    // 32 clients asking for series no cache holds (each URL is new).
    let flooding = Arc::new(AtomicBool::new(true));
    let mut flood = Vec::new();
    for client in 0..32 {
        let (http, url, flooding) = (stats.http.clone(), stats.url.clone(), flooding.clone());
        flood.push(tokio::spawn(async move {
            let mut asked = 0;
            while flooding.load(Ordering::Relaxed) {
                let minute = (client * 1000 + asked) % 1440;
                let from = format!("2025-11-20T{:02}:{:02}:00Z", minute / 60, minute % 60);
                let _ = http
                    .get(format!(
                        "{url}/api/v1/clicks/series?bucket=minute&from={from}&to=2025-11-21T00:00:00Z"
                    ))
                    .send()
                    .await;
                asked += 1;
            }
            asked
        }));
    }
    let producer = RawProducer::new(&topics.settings);
    let events: Vec<(String, String)> = (0..2_000_i64)
        .map(|n| {
            let visitor = format!("v{}", n % 10);
            let payload = click(&visitor, &format!("b{}", n % 3), T0 + n * 1000).to_string();
            (visitor, payload)
        })
        .collect();
    producer.send_all(&topics.name(Topic::Click), &events).await;
    wait_for_totals(&stats.http, &stats.url, 2_000, 0, SETTLE).await;
    flooding.store(false, Ordering::Relaxed);
    let mut asked = 0;
    for client in flood {
        asked += client.await.unwrap();
    }
    assert!(asked > 100, "the flood ran ({asked} requests)");
}
