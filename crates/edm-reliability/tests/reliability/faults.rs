//! The node-failure exercise and friends, end to end: under steady load,
//! brokers, Postgres and each service are killed and restarted. Every event
//! the relay acknowledged must be counted exactly once by edm-stats and
//! received by a connected Socket.io client, and nothing else counted or
//! received: compared event id by event id (edm-stats' aggregates, where
//! each click has a button of its own named after its id, and the client's
//! output against the acknowledged ids), so that a lost
//! event and a duplicate cannot cancel out as they would in a total.
//!
//! `EDM_RELIABILITY_PROFILE=short` (the default, run by CI) injects each
//! fault once at 50 events/s; `full` (`./edm reliability`) runs longer at a
//! higher rate and also takes the whole cluster down, and writes its report
//! to docs/reliability.md (the short run writes .edm/reliability-short.md).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use edm_config::{KafkaSettings, MapEnv, Topic};
use edm_reliability::listener::Listener;
use edm_reliability::load;
use edm_reliability::processes::{build_services, Cluster, Service};
use edm_reliability::report::{sample, FaultRecord, IdCheck, RunReport};
use edm_testkit::infra::workspace_root;
use edm_testkit::spare_postgres::SparePostgres;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// A step of the fault schedule.
#[derive(Clone, Copy, Debug)]
enum Action {
    KillBroker(u8),
    StartBroker(u8),
    KillCluster,
    StartCluster,
    StopPostgres,
    StartPostgres,
    KillService(&'static str),
    StartService(&'static str),
}

struct Profile {
    name: &'static str,
    rate: u32,
    seconds: u64,
    steps: Vec<(u64, Action)>,
}

fn profile() -> Profile {
    use Action::*;
    match std::env::var("EDM_RELIABILITY_PROFILE").as_deref() {
        Ok("full") => Profile {
            name: "full",
            rate: 100,
            seconds: 100,
            steps: vec![
                (5, KillBroker(2)),
                (20, StartBroker(2)),
                (25, KillBroker(1)),
                (40, StartBroker(1)),
                (44, KillService("edm-stats")),
                (47, StartService("edm-stats")),
                (50, StopPostgres),
                (58, StartPostgres),
                (61, KillService("edm-relay")),
                (62, StartService("edm-relay")),
                (65, KillService("edm-stream")),
                (66, StartService("edm-stream")),
                (70, KillCluster),
                (78, StartCluster),
            ],
        },
        _ => Profile {
            name: "short",
            rate: 50,
            seconds: 36,
            steps: vec![
                (4, KillBroker(2)),
                (10, StartBroker(2)),
                (13, KillService("edm-stats")),
                (15, StartService("edm-stats")),
                (18, StopPostgres),
                (23, StartPostgres),
                (26, KillService("edm-relay")),
                (27, StartService("edm-relay")),
                (30, KillService("edm-stream")),
                (31, StartService("edm-stream")),
            ],
        },
    }
}

async fn create_replicated_topics(bootstrap: &str, prefix: &str) {
    let settings = KafkaSettings::from_env(
        &MapEnv::default()
            .with("KAFKA_URL", bootstrap)
            .with("KAFKA_PREFIX", prefix),
    )
    .unwrap();
    let admin: AdminClient<DefaultClientContext> =
        settings.client_config("faults-admin").create().unwrap();
    let names: Vec<String> = Topic::ALL.iter().map(|t| settings.topic_name(*t)).collect();
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, 3, TopicReplication::Fixed(3)).set("min.insync.replicas", "2"))
        .collect();
    // All three brokers must have registered before RF 3 is possible.
    for _ in 0..60 {
        let results = admin
            .create_topics(&topics, &AdminOptions::new())
            .await
            .unwrap();
        if results.iter().all(|r| {
            r.is_ok()
                || matches!(
                    r,
                    Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))
                )
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("could not create replicated topics");
}

async fn counted(http: &reqwest::Client, stats: &str) -> Option<i64> {
    let r = http
        .get(format!("{stats}/api/v1/totals"))
        .send()
        .await
        .ok()?;
    r.json::<serde_json::Value>().await.ok()?["clicks"].as_i64()
}

/// What edm-stats has counted, read from its database in one statement:
/// the load names each click's button after its id (`product-<id>`), so
/// the click aggregates count each id.
#[derive(Debug, Default)]
struct Counted {
    /// The event ids counted at least once.
    ids: HashSet<String>,
    /// Events added to the aggregates, clicks and page loads: beyond
    /// `ids.len()` when an event was counted twice.
    events: i64,
}

async fn counted_in_db(pool: &sqlx::PgPool) -> Option<Counted> {
    let (ids, events): (Option<Vec<String>>, i64) = sqlx::query_as(
        "SELECT (SELECT array_agg(DISTINCT substr(button_id, 9)) FROM click_counts
                 WHERE button_id LIKE 'product-%'),
                ((SELECT COALESCE(SUM(clicks), 0) FROM click_counts)
                 + (SELECT COALESCE(SUM(loads), 0) FROM pageload_counts))::bigint",
    )
    .fetch_one(pool)
    .await
    .ok()?;
    Some(Counted {
        ids: ids.unwrap_or_default().into_iter().collect(),
        events,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_are_counted_once_and_streamed_through_faults() {
    let _serial = crate::SERIAL.lock().await;
    let profile = profile();
    tokio::task::spawn_blocking(build_services).await.unwrap();
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let prefix = format!("faults-{}.", uuid::Uuid::new_v4().simple());
    create_replicated_topics(&cluster.bootstrap(), &prefix).await;
    let pg = SparePostgres::start().await;

    let common = |extra: &[(&str, &str)]| -> HashMap<String, String> {
        let mut env: HashMap<String, String> = [
            ("KAFKA_URL", cluster.bootstrap()),
            ("KAFKA_PREFIX", prefix.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let mut services: HashMap<&'static str, Service> = HashMap::new();
    services.insert(
        "edm-relay",
        Service::new(
            "edm-relay",
            common(&[
                ("EDM_RELAY_RATE_LIMIT_PER_SECOND", "0"),
                ("EDM_RELAY_DELIVERY_TIMEOUT_MS", "5000"),
            ]),
        ),
    );
    services.insert(
        "edm-stats",
        Service::new(
            "edm-stats",
            common(&[
                ("DATABASE_URL", &pg.url()),
                ("EDM_STATS_BATCH_MAX_WAIT_MS", "50"),
            ]),
        ),
    );
    // A restarted stream replays enough recent events to cover its downtime.
    services.insert(
        "edm-stream",
        Service::new(
            "edm-stream",
            common(&[("EDM_STREAM_RECENT_EVENTS", "1000")]),
        ),
    );
    for name in ["edm-relay", "edm-stats", "edm-stream"] {
        services
            .get_mut(name)
            .unwrap()
            .start(Duration::from_secs(60))
            .await;
    }
    let relay_url = services["edm-relay"].url();
    let stats_url = services["edm-stats"].url();
    let mut listener = Listener::connect(&services["edm-stream"].url());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();

    let started = Instant::now();
    let load = load::start(relay_url, profile.rate, started);
    let mut faults: Vec<FaultRecord> = Vec::new();
    let at = |s: &Instant| s.elapsed().as_secs_f64();
    for (second, action) in &profile.steps {
        tokio::time::sleep_until((started + Duration::from_secs(*second)).into()).await;
        let now = at(&started);
        match *action {
            Action::KillBroker(n) => {
                tokio::task::block_in_place(|| cluster.kill(n));
                faults.push(FaultRecord::new(
                    format!("SIGKILL broker {n}"),
                    now,
                    "next event acknowledged after the kill",
                    false,
                ));
            }
            Action::KillCluster => {
                tokio::task::block_in_place(|| (1..=3).for_each(|n| cluster.kill(n)));
                faults.push(FaultRecord::new(
                    "SIGKILL all three brokers",
                    now,
                    "next event acknowledged after the restart",
                    true,
                ));
            }
            Action::StartBroker(n) => {
                tokio::task::block_in_place(|| cluster.start_broker(n));
                faults.last_mut().unwrap().restored_at = Some(at(&started));
            }
            Action::StartCluster => {
                tokio::task::block_in_place(|| (1..=3).for_each(|n| cluster.start_broker(n)));
                faults.last_mut().unwrap().restored_at = Some(at(&started));
            }
            Action::StopPostgres => {
                pg.stop().await;
                faults.push(FaultRecord::new(
                    "PostgreSQL stopped",
                    now,
                    "edm-stats /ready 200 again",
                    true,
                ));
            }
            Action::StartPostgres => {
                pg.restart().await;
                faults.last_mut().unwrap().restored_at = Some(at(&started));
                let deadline = Instant::now() + Duration::from_secs(60);
                while Instant::now() < deadline {
                    if http
                        .get(format!("{stats_url}/ready"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200)
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                faults.last_mut().unwrap().recovered_at = Some(at(&started));
            }
            Action::KillService(name) => {
                services.get_mut(name).unwrap().kill();
                faults.push(FaultRecord::new(
                    format!("SIGKILL {name}"),
                    now,
                    "restarted process ready",
                    true,
                ));
            }
            Action::StartService(name) => {
                let restored = at(&started);
                let took = services
                    .get_mut(name)
                    .unwrap()
                    .start(Duration::from_secs(60))
                    .await;
                let fault = faults.last_mut().unwrap();
                fault.restored_at = Some(restored);
                fault.recovered_at = Some(restored + took.as_secs_f64());
            }
        }
    }
    tokio::time::sleep_until((started + Duration::from_secs(profile.seconds)).into()).await;
    let totals = load.stop().await;
    let seconds = profile.seconds as f64;

    // Broker faults recover when the next event is acknowledged.
    for fault in faults
        .iter_mut()
        .filter(|f| f.recovery.starts_with("next event"))
    {
        let from = if fault.timed_from_restore {
            fault.restored_at.unwrap_or(fault.injected_at)
        } else {
            fault.injected_at
        };
        fault.recovered_at = totals.ack_times.iter().copied().find(|t| *t > from);
    }

    let acknowledged = totals.acknowledged.len() as i64;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy(&pg.url())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut last, mut db) = (None, None);
    while Instant::now() < deadline {
        last = counted(&http, &stats_url).await;
        db = counted_in_db(&pool).await;
        if last == Some(acknowledged) && db.as_ref().is_some_and(|db| db.ids == totals.acknowledged)
        {
            // Settled; anything counted late (twice) shows in a second read.
            tokio::time::sleep(Duration::from_secs(3)).await;
            last = counted(&http, &stats_url).await;
            db = counted_in_db(&pool).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let db = db.expect("edm-stats' database answered");
    tokio::time::sleep(Duration::from_secs(2)).await;
    listener.stop();
    let received: HashSet<String> = listener.event_ids().into_iter().collect();
    let repeated_records = listener.repeated_records();
    let streamed = totals
        .acknowledged
        .iter()
        .filter(|id| received.contains(*id))
        .count() as u64;
    let stats_ids = IdCheck::compare(
        &totals.acknowledged,
        &totals.given_up,
        &db.ids,
        (db.events - db.ids.len() as i64).max(0) as u64,
    );
    let stream_ids = IdCheck::compare(
        &totals.acknowledged,
        &totals.given_up,
        &received,
        listener.repeats(),
    );

    let report = RunReport {
        profile: profile.name.into(),
        rate: profile.rate,
        seconds,
        sent: totals.sent,
        acknowledged: acknowledged as u64,
        rejected: totals.rejected,
        failed: totals.failed,
        unknown: totals.unknown,
        retries: totals.retries,
        counted: last.unwrap_or(-1),
        counted_in_db: db.events,
        counted_ids: db.ids.len() as u64,
        stats_ids: stats_ids.clone(),
        streamed,
        stream_ids: stream_ids.clone(),
        faults,
    };
    let path = if profile.name == "full" {
        workspace_root().join("docs/reliability.md")
    } else {
        workspace_root().join(".edm/reliability-short.md")
    };
    std::fs::write(&path, report.markdown()).unwrap();
    println!("{}", report.markdown());

    assert!(
        acknowledged > (profile.rate as i64) * (profile.seconds as i64) / 2,
        "most events were acknowledged: {acknowledged}"
    );
    assert_eq!(totals.rejected, 0, "valid events are never refused");
    assert_eq!(
        totals.unknown, 0,
        "no event was left with an unknown outcome"
    );
    assert!(
        stats_ids.missing.is_empty(),
        "edm-stats counted every acknowledged event: {} missing {}",
        stats_ids.missing.len(),
        sample(&stats_ids.missing)
    );
    assert!(
        stats_ids.not_acknowledged.is_empty(),
        "edm-stats counted only acknowledged events: {} the client gave up on were counted {}",
        stats_ids.not_acknowledged.len(),
        sample(&stats_ids.not_acknowledged)
    );
    assert!(
        stats_ids.never_sent.is_empty(),
        "edm-stats counted only events that were sent: {} others {}",
        stats_ids.never_sent.len(),
        sample(&stats_ids.never_sent)
    );
    assert_eq!(
        db.events,
        db.ids.len() as i64,
        "edm-stats counted each event once: as many events in its aggregates as distinct ids"
    );
    assert_eq!(
        last,
        Some(acknowledged),
        "edm-stats counted every acknowledged event exactly once"
    );
    assert_eq!(
        streamed,
        acknowledged as u64,
        "every acknowledged event reached the Socket.io client: {} missing {}",
        stream_ids.missing.len(),
        sample(&stream_ids.missing)
    );
    assert!(
        stream_ids.not_acknowledged.is_empty(),
        "the Socket.io client received only acknowledged events: {} the client gave up on arrived {}",
        stream_ids.not_acknowledged.len(),
        sample(&stream_ids.not_acknowledged)
    );
    assert!(
        stream_ids.never_sent.is_empty(),
        "the Socket.io client received only events that were sent: {} others {}",
        stream_ids.never_sent.len(),
        sample(&stream_ids.never_sent)
    );
    // An id may arrive twice when Kafka holds it twice (a write the relay
    // retried); one record arriving twice breaks the resume's promise.
    assert_eq!(
        repeated_records, 0,
        "the client resumed without receiving a record twice ({} repeated ids in all)",
        stream_ids.repeats
    );
}
