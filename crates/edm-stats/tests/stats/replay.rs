//! `edm-stats replay` with real Kafka and Postgres, next to a running stats
//! service: a rebuild gives exactly the live aggregates, repairs damaged
//! tables, refuses to silently drop what Kafka no longer retains or to read a
//! topic created again as the one counted, and events produced while it runs
//! are counted exactly once; and the live consumer's batch and a replay turn
//! the same records into the same rows.

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, Utc};
use edm_config::{MapEnv, Topic};
use edm_events::Event;
use edm_runtime::ServiceSettings;
use edm_stats::consumer::dedup::PartitionIds;
use edm_stats::consumer::record::{Consumed, Record};
use edm_stats::consumer::store::{self, PartitionKey, StoreSettings};
use edm_stats::replay::aggregates::Aggregates;
use edm_stats::replay::{self, ReplayError, ReplayOptions, Totals};
use edm_stats::tally;
use edm_stats::Settings;
use edm_testkit::infra::{kafka_url, service_env};
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::postgres::TestDatabase;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use sqlx::PgPool;

const SETTLE: Duration = Duration::from_secs(30);
const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0";
const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148";
const BUTTONS: [&str; 3] = [
    "the-camper's-kit",
    "bunum-wo-aa,-papua-new-guinea",
    "msr-reactor-2.5l-stove-system",
];

/// Every row of both aggregate tables, in a stable order.
#[derive(Debug, PartialEq)]
struct Tables {
    clicks: Vec<(String, DateTime<Utc>, i32, i64)>,
    loads: Vec<(DateTime<Utc>, String, i32, i64)>,
}

async fn tables(pool: &PgPool) -> Tables {
    Tables {
        clicks: sqlx::query_as(
            "SELECT button_id, bucket, source_partition, clicks FROM click_counts
             ORDER BY button_id, bucket, source_partition",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        loads: sqlx::query_as(
            "SELECT bucket, device_type, source_partition, loads FROM pageload_counts
             ORDER BY bucket, device_type, source_partition",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    }
}

/// What a workload should end up as.
#[derive(Debug, Default)]
struct Expected {
    clicks: i64,
    pageloads: i64,
    per_button: BTreeMap<String, i64>,
}

/// Clicks spread over buttons, minutes and two days, page loads from two
/// kinds of device, three client retries (same event id) and two malformed
/// messages: what a day of the store looks like, in miniature.
async fn produce_workload(topics: &TestTopics, producer: &RawProducer) -> Expected {
    let mut expected = Expected::default();
    let click_topic = topics.name(Topic::Click);
    for i in 0..45_i64 {
        let button = BUTTONS[(i % 3) as usize];
        let visitor = format!("v{}", i % 4);
        let at = T0 + i * 37_000 + (i % 2) * DAY;
        let event = click(&visitor, button, at).to_string();
        let id = format!("click-{i}");
        producer
            .send(&click_topic, &visitor, event.as_bytes(), Some(&id))
            .await;
        if i % 15 == 0 {
            // The client retried: same id, counted once.
            producer
                .send(&click_topic, &visitor, event.as_bytes(), Some(&id))
                .await;
        }
        expected.clicks += 1;
        *expected.per_button.entry(button.to_owned()).or_default() += 1;
    }
    producer.send(&click_topic, "v0", b"{not json", None).await;
    let load_topic = topics.name(Topic::PageLoad);
    for i in 0..12_i64 {
        let ua = if i % 3 == 0 { PHONE } else { DESKTOP };
        let event = pageload("v1", ua, T0 + i * 61_000).to_string();
        producer
            .send(
                &load_topic,
                "v1",
                event.as_bytes(),
                Some(&format!("load-{i}")),
            )
            .await;
        expected.pageloads += 1;
    }
    producer
        .send(&load_topic, "v1", br#"{"topic":"edm-ui-pageload"}"#, None)
        .await;
    expected
}

fn env_for(topics: &TestTopics, db: &TestDatabase) -> MapEnv {
    service_env(&topics.prefix, &[("DATABASE_URL", &db.url)])
}

async fn replay(env: &MapEnv, options: ReplayOptions) -> Result<replay::ReplayReport, ReplayError> {
    let settings = Settings::from_env(env).expect("valid settings");
    replay::run(&settings, &options).await
}

/// `/api/clickCount` once any cached answer has expired (at most 1 s).
async fn click_count(stats: &TestStats) -> Value {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    stats.get_json("/api/clickCount").await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_command_rebuilds_exactly_what_the_live_consumer_counted() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let producer = RawProducer::new(&topics.settings);
    let expected = produce_workload(&topics, &producer).await;
    let stats = TestStats::spawn(env_for(&topics, &db)).await;
    wait_for_totals(
        &stats.http,
        &stats.url,
        expected.clicks,
        expected.pageloads,
        SETTLE,
    )
    .await;
    let pool = db.pool().await;
    let live = tables(&pool).await;
    let (_, history_before) = stats.get_json("/api/clickHistory").await;

    // The documented command, as an operator runs it (`heroku run`).
    let output = Command::new(env!("CARGO_BIN_EXE_edm-stats"))
        .arg("replay")
        .env_clear()
        .env("KAFKA_URL", kafka_url())
        .env("KAFKA_PREFIX", &topics.prefix)
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("edm-stats runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.trim();
    println!("{line}");
    assert_eq!(line.lines().count(), 1, "one line on stdout: {stdout}");
    // 45 clicks + 3 retries + 1 bad click + 12 loads + 1 bad load.
    assert!(
        line.starts_with("replayed 62 events from 6 partitions in "),
        "{line}"
    );
    assert!(
        line.contains(
            ": 57 counted, 3 duplicates, 2 malformed; clicks 45 -> 45, page loads 12 -> 12;"
        ),
        "{line}"
    );

    assert_eq!(
        tables(&pool).await,
        live,
        "the rebuilt rows equal the live ones"
    );
    assert_eq!(stats.get_json("/api/clickHistory").await.1, history_before);
    let counts = click_count(&stats).await;
    for (button, n) in &expected.per_button {
        let row = counts
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["button_id"] == button.as_str())
            .unwrap_or_else(|| panic!("{button} missing from {counts}"));
        assert_eq!(row["sum"], *n, "{button}");
    }

    // The live consumer carries on from where the rebuild ended.
    let click_topic = topics.name(Topic::Click);
    for i in 0..5 {
        let event = click("v9", "areopress-coffee-maker", T0 + i).to_string();
        producer
            .send(
                &click_topic,
                "v9",
                event.as_bytes(),
                Some(&format!("after-{i}")),
            )
            .await;
    }
    wait_for_totals(
        &stats.http,
        &stats.url,
        expected.clicks + 5,
        expected.pageloads,
        SETTLE,
    )
    .await;

    let bad = Command::new(env!("CARGO_BIN_EXE_edm-stats"))
        .args(["replay", "--dryrun"])
        .env_clear()
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown replay option '--dryrun'"),
        "a typo is named"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_repairs_damaged_tables_and_a_dry_run_only_reports() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let producer = RawProducer::new(&topics.settings);
    let expected = produce_workload(&topics, &producer).await;
    let env = env_for(&topics, &db);
    let stats = TestStats::spawn(env.clone()).await;
    wait_for_totals(
        &stats.http,
        &stats.url,
        expected.clicks,
        expected.pageloads,
        SETTLE,
    )
    .await;
    let pool = db.pool().await;
    let healthy = tables(&pool).await;

    // Someone ran the wrong SQL.
    sqlx::query("UPDATE click_counts SET clicks = clicks + 100 WHERE button_id = $1")
        .bind(BUTTONS[0])
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM pageload_counts WHERE device_type = 'mobile'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO click_counts (button_id, bucket, clicks, source_partition)
         VALUES ('ghost-button', now(), 7, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let damaged = tables(&pool).await;
    assert_ne!(damaged, healthy);
    let ghost_shown = click_count(&stats).await;
    assert!(ghost_shown.to_string().contains("ghost-button"));

    let dry = replay(
        &env,
        ReplayOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .expect("dry run");
    assert!(dry.dry_run && dry.to_string().ends_with("; dry run, nothing changed"));
    let correct = Totals {
        clicks: expected.clicks,
        pageloads: expected.pageloads,
    };
    assert_eq!(dry.after, correct, "the dry run shows the right totals");
    assert_ne!(dry.before, dry.after, "and that the live ones differ");
    assert_eq!(tables(&pool).await, damaged, "a dry run changes nothing");

    let report = replay(&env, ReplayOptions::default())
        .await
        .expect("replay");
    assert_eq!(report.before, dry.before);
    assert_eq!(report.after, correct);
    assert_eq!(tables(&pool).await, healthy, "every row is right again");
    let counts = click_count(&stats).await;
    assert!(!counts.to_string().contains("ghost-button"), "{counts}");
    let repaired = counts
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["button_id"] == BUTTONS[0])
        .unwrap();
    assert_eq!(repaired["sum"], expected.per_button[BUTTONS[0]]);
    let (_, loads) = stats.get_json("/api/v1/pageloads").await;
    assert_eq!(loads["total"], expected.pageloads);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_produced_while_replays_run_are_counted_exactly_once() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let env = env_for(&topics, &db);
    let stats = TestStats::spawn(env.clone()).await;
    let producer = RawProducer::new(&topics.settings);
    let batch = |round: usize, n: usize, topic: Topic| -> Vec<(String, String)> {
        (0..n)
            .map(|i| {
                let visitor = format!("v{}", (round + i) % 7);
                let at = T0 + (round * n + i) as i64 * 1_000;
                // Clicks, or page loads: the store topics.
                let event = if topic == Topic::Click {
                    click(&visitor, BUTTONS[i % 3], at)
                } else {
                    pageload(&visitor, DESKTOP, at)
                };
                (visitor, event.to_string())
            })
            .collect()
    };
    // History first, so each replay has something to read.
    for round in 0..10 {
        producer
            .send_all(&topics.name(Topic::Click), &batch(round, 200, Topic::Click))
            .await;
    }
    wait_for_totals(&stats.http, &stats.url, 2000, 0, SETTLE).await;

    // Keep producing to both topics while replays run.
    const ROUNDS: usize = 60;
    let producing = Arc::new(AtomicBool::new(true));
    let production = {
        let settings = topics.settings.clone();
        let (clicks, loads) = (topics.name(Topic::Click), topics.name(Topic::PageLoad));
        let producing = producing.clone();
        tokio::spawn(async move {
            let producer = RawProducer::new(&settings);
            for round in 10..10 + ROUNDS {
                producer
                    .send_all(&clicks, &batch(round, 30, Topic::Click))
                    .await;
                producer
                    .send_all(&loads, &batch(round, 10, Topic::PageLoad))
                    .await;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            producing.store(false, Ordering::SeqCst);
        })
    };
    let mut during = 0;
    let mut replays = 0;
    while producing.load(Ordering::SeqCst) || replays < 2 {
        let report = replay(&env, ReplayOptions::default())
            .await
            .expect("replay");
        println!("{report}");
        assert!(report.after.clicks >= 2000, "{report}");
        replays += 1;
        if producing.load(Ordering::SeqCst) {
            during += 1;
        }
    }
    production.await.unwrap();
    assert!(
        during >= 1,
        "at least one replay ended while events were still arriving"
    );

    let clicks = 2000 + (ROUNDS * 30) as i64;
    let pageloads = (ROUNDS * 10) as i64;
    wait_for_totals(&stats.http, &stats.url, clicks, pageloads, SETTLE).await;
    let per_button = click_count(&stats).await;
    let sums: Vec<i64> = per_button
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sum"].as_i64().unwrap())
        .collect();
    assert_eq!(sums.iter().sum::<i64>(), clicks, "{per_button}");
    assert_eq!(sums.len(), 3);
    // A last dry run agrees with what the live consumer built on top of the
    // replays: nothing was lost or counted twice across any swap.
    let check = replay(
        &env,
        ReplayOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(check.before, check.after, "{check}");
    assert_eq!(check.after, Totals { clicks, pageloads });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_after_the_topic_was_created_again_refuses_and_changes_nothing() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let env = env_for(&topics, &db);
    let producer = RawProducer::new(&topics.settings);
    let click_topic = topics.name(Topic::Click);
    let send = |from: i64, n: i64| {
        let (producer, click_topic) = (&producer, &click_topic);
        async move {
            for i in from..from + n {
                let event = click("v1", "the-chemex-kit", T0 + i).to_string();
                producer
                    .send(click_topic, "v1", event.as_bytes(), None)
                    .await;
            }
        }
    };
    send(0, 10).await;
    let stats = TestStats::spawn(env.clone()).await;
    wait_for_totals(&stats.http, &stats.url, 10, 0, SETTLE).await;
    stats.shutdown().await.unwrap();

    // The stored offset (10) is now past the new log's end (3).
    topics.recreate(Topic::Click).await;
    send(100, 3).await;
    let refused = replay(&env, ReplayOptions::default()).await.unwrap_err();
    let message = refused.to_string();
    assert!(
        matches!(
            refused,
            ReplayError::OffsetPastEnd {
                stored: 10,
                end: 3,
                ..
            }
        ),
        "{message}"
    );
    assert!(message.contains("created again"), "{message}");
    let pool = db.pool().await;
    let (clicks,): (i64,) = sqlx::query_as("SELECT sum(clicks)::bigint FROM click_counts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(clicks, 10, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_refuses_to_drop_counted_events_that_kafka_no_longer_holds() {
    let topics = TestTopics::create().await;
    let db = TestDatabase::create().await;
    let env = env_for(&topics, &db);
    let producer = RawProducer::new(&topics.settings);
    let click_topic = topics.name(Topic::Click);
    for i in 0..10 {
        let event = click("v1", "the-chemex-kit", T0 + i).to_string();
        producer
            .send(&click_topic, "v1", event.as_bytes(), None)
            .await;
    }
    let stats = TestStats::spawn(env.clone()).await;
    wait_for_totals(&stats.http, &stats.url, 10, 0, SETTLE).await;

    // Retention removes the oldest four (one visitor: one partition).
    let pool = db.pool().await;
    let (partition,): (i32,) = sqlx::query_as(
        "SELECT partition FROM consumer_offsets WHERE topic = $1 AND next_offset = 10",
    )
    .bind(&click_topic)
    .fetch_one(&pool)
    .await
    .unwrap();
    let admin: AdminClient<DefaultClientContext> = topics
        .settings
        .client_config("test-admin")
        .create()
        .unwrap();
    let mut before = TopicPartitionList::new();
    before
        .add_partition_offset(&click_topic, partition, Offset::Offset(4))
        .unwrap();
    admin
        .delete_records(&before, &AdminOptions::new())
        .await
        .expect("records deleted");

    let refused = replay(&env, ReplayOptions::default()).await.unwrap_err();
    let message = refused.to_string();
    assert!(
        matches!(refused, ReplayError::HistoryLost { messages: 4, .. }),
        "{message}"
    );
    assert!(message.contains("--allow-history-loss"), "{message}");
    assert!(
        message.contains(&format!("{click_topic}/{partition} offsets 0..4")),
        "{message}"
    );
    let (clicks,): (i64,) = sqlx::query_as("SELECT sum(clicks)::bigint FROM click_counts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(clicks, 10, "nothing changed");

    let report = replay(
        &env,
        ReplayOptions {
            allow_history_loss: true,
            ..Default::default()
        },
    )
    .await
    .expect("replay with history loss allowed");
    assert_eq!(report.history_lost, 4);
    assert_eq!(report.after.clicks, 6, "{report}");
    assert!(report
        .to_string()
        .contains("4 counted messages no longer in Kafka"));
    let counts = click_count(&stats).await;
    assert_eq!(counts[0]["sum"], 6);
    // And counting goes on from there.
    producer
        .send(
            &click_topic,
            "v1",
            click("v1", "the-chemex-kit", T0).to_string().as_bytes(),
            None,
        )
        .await;
    wait_for_totals(&stats.http, &stats.url, 7, 0, SETTLE).await;
}

/// The same records, as the live consumer writes a batch and as a replay
/// counts them: clicks over buttons, minutes and days, page loads from two
/// kinds of device, a retried id and a malformed message.
fn consumed_workload() -> Vec<Consumed> {
    let event = |value: Value| Record::Event {
        event_id: None,
        event: Box::new(Event::parse(value.to_string().as_bytes()).unwrap()),
    };
    let mut records = Vec::new();
    for i in 0..45_i64 {
        let mut record = event(click(
            "v0",
            BUTTONS[(i % 3) as usize],
            T0 + i * 37_000 + (i % 2) * DAY,
        ));
        if let Record::Event { event_id, .. } = &mut record {
            *event_id = Some(format!("click-{}", i - i % 15 / 14));
        }
        records.push(record);
    }
    for i in 0..12_i64 {
        records.push(event(pageload(
            "v1",
            if i % 3 == 0 { PHONE } else { DESKTOP },
            T0 + i * 61_000,
        )));
    }
    records.push(Record::malformed(
        Some(b"{not json"),
        "not JSON".into(),
        1024,
    ));
    records
        .into_iter()
        .enumerate()
        .map(|(offset, record)| Consumed {
            topic: "edm-ui-click".into(),
            partition: 0,
            offset: offset as i64,
            record,
            duplicate: false,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_consumer_and_a_replay_count_the_same_records_into_the_same_rows() {
    let records = consumed_workload();
    let live_db = TestDatabase::create().await;
    let live = live_db.pool().await;
    edm_stats::db::migrate(&live).await.unwrap();
    // The live consumer marks retries as it reads, then writes the batch.
    let mut recent = PartitionIds::new(100_000);
    let mut records = records;
    for record in &mut records {
        record.duplicate = recent.is_duplicate(record);
    }
    let settings = StoreSettings {
        group: "g".into(),
        dead_letter_max: 100,
        timeout: Duration::from_secs(30),
    };
    let positions: HashMap<PartitionKey, Option<i64>> =
        HashMap::from([(("edm-ui-click".to_owned(), 0), None)]);
    let written = store::write_batch(&live, &settings, &records, &positions)
        .await
        .unwrap();

    let replay_db = TestDatabase::create().await;
    let rebuilt = replay_db.pool().await;
    edm_stats::db::migrate(&rebuilt).await.unwrap();
    let mut aggregates = Aggregates::new(100_000);
    for record in &records {
        aggregates.add(record);
    }
    let mut tx = rebuilt.begin().await.unwrap();
    aggregates
        .flush_into(&mut tx, tally::Tables::LIVE)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        (aggregates.counted, aggregates.duplicates),
        (written.counted, written.duplicates)
    );
    let rows = tables(&live).await;
    assert!(rows.clicks.len() > 10 && rows.loads.len() > 2, "{rows:?}");
    assert_eq!(tables(&rebuilt).await, rows);
}
