//! Resuming with the official `socket.io-client` and the dashboard's own
//! client module (`edm-dashboard/static/edm-stream-client.js`), against
//! real Kafka: a client whose connection drops gets exactly the events it
//! missed and then live ones, nothing twice; one that was away longer than
//! the instance can replay is told so and starts fresh; a restarted
//! instance serves resuming clients what was produced while it was down,
//! and does not stream its backfill to new clients as if it were live;
//! one started on a backlog holds the newest records of every partition;
//! edm-trending's records resume the same way, each received once.

use std::time::Duration;

use edm_config::Topic;
use edm_stream::Stream;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::service::TestService;
use edm_testkit::stream_clients::ResumingClients;
use serde_json::json;

fn click(id: &str) -> String {
    json!({"topic":"edm-ui-click","uuid":"visitor-1","event_id":id,"event_timestamp":1_763_800_000_000_i64,
           "properties":{"button_id":"buy","description":"button click"}})
    .to_string()
}

/// Produces `ids` to the click topic, one key (so one partition, one
/// order), `per_second` a second.
async fn produce(producer: &RawProducer, topic: &str, ids: &[String], per_second: u64) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
    for id in ids {
        tick.tick().await;
        producer
            .send(topic, "visitor-1", click(id).as_bytes(), Some(id))
            .await;
    }
}

fn ids(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("{prefix}-{n}")).collect()
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// Waits until the instance has published `count` clicks in all: a client
/// that comes back before the last missed event reached the instance gets
/// that event live rather than replayed (on a busy machine, a second
/// late), which is right but not what these tests count.
async fn published(stream: &TestService<Stream>, count: u64) {
    let line = r#"edm_stream_events_total{topic="edm-ui-click"} "#;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = stream.metrics().await;
        let seen: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        if seen >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the instance published {seen} of {count} clicks"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_away_for_10_seconds_gets_exactly_the_1000_events_it_missed() {
    let topics = TestTopics::create().await;
    let stream = TestService::<Stream>::spawn_ready(service_env(&topics.prefix, &[])).await;
    let producer = RawProducer::new(&topics.settings);
    let topic = topics.name(Topic::Click);
    let url = stream.url.clone();
    let mut clients = tokio::task::spawn_blocking(move || ResumingClients::connect(&url, 2))
        .await
        .unwrap();

    let before = ids("before", 0..50);
    produce(&producer, &topic, &before, 200).await;
    settle().await;
    clients.command("DROP 0");
    let missed = ids("missed", 0..1000);
    produce(&producer, &topic, &missed, 100).await;
    published(&stream, 1050).await;
    clients.command("BACK 0");
    settle().await;
    let after = ids("after", 0..50);
    produce(&producer, &topic, &after, 200).await;
    settle().await;

    let results = tokio::task::spawn_blocking(move || clients.stop())
        .await
        .unwrap();
    let everything: Vec<String> = [before, missed, after].concat();
    let counts: Vec<usize> = results.iter().map(|c| c.ids.len()).collect();
    for (i, client) in results.iter().enumerate() {
        let (received, statuses) = (&client.ids, &client.statuses);
        assert_eq!(
            received.len(),
            everything.len(),
            "client {i}: every event once (received per client: {counts:?}; its stream messages: {statuses:?})"
        );
        assert!(received == &everything, "client {i}: in the order produced");
        assert_eq!(statuses[0]["start"], "fresh", "{statuses:?}");
    }
    let statuses = &results[0].statuses;
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert_eq!(statuses[1]["start"], "resumed");
    assert_eq!(statuses[1]["replayed"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_away_longer_than_the_instance_remembers_is_told_and_starts_fresh() {
    let topics = TestTopics::create().await;
    let stream = TestService::<Stream>::spawn_ready(service_env(
        &topics.prefix,
        &[("EDM_STREAM_RESUME_EVENTS", "100")],
    ))
    .await;
    let producer = RawProducer::new(&topics.settings);
    let topic = topics.name(Topic::Click);
    let url = stream.url.clone();
    let mut clients = tokio::task::spawn_blocking(move || ResumingClients::connect(&url, 1))
        .await
        .unwrap();
    produce(&producer, &topic, &ids("before", 0..10), 200).await;
    settle().await;
    clients.command("DROP 0");
    produce(&producer, &topic, &ids("missed", 0..300), 500).await;
    published(&stream, 310).await;
    clients.command("BACK 0");
    settle().await;
    produce(&producer, &topic, &ids("after", 0..10), 200).await;
    settle().await;
    let results = tokio::task::spawn_blocking(move || clients.stop())
        .await
        .unwrap();
    let (received, statuses) = (&results[0].ids, &results[0].statuses);
    assert_eq!(statuses[1]["start"], "too_far_behind", "{statuses:?}");
    // Then the recent window (50 by default) and the live events, once each.
    let recent = ids("missed", 250..300);
    let expected: Vec<String> = [ids("before", 0..10), recent, ids("after", 0..10)].concat();
    assert_eq!(received, &expected);
    let metrics = stream.metrics().await;
    assert!(
        metrics.contains(r#"edm_stream_resumes_total{outcome="too_far_behind"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_instance_serves_what_was_produced_while_it_was_down() {
    let topics = TestTopics::create().await;
    let env = service_env(&topics.prefix, &[]);
    let producer = RawProducer::new(&topics.settings);
    let topic = topics.name(Topic::Click);
    let history = ids("history", 0..100);
    produce(&producer, &topic, &history, 500).await;

    let stream = TestService::<Stream>::spawn_ready(env.clone()).await;
    let url = stream.url.clone();
    let port = stream.port();
    let clients = tokio::task::spawn_blocking(move || ResumingClients::connect(&url, 1))
        .await
        .unwrap();
    let before = ids("before", 0..20);
    produce(&producer, &topic, &before, 200).await;
    settle().await;
    stream.shutdown().await.expect("the stream stops cleanly");
    let down = ids("down", 0..200);
    produce(&producer, &topic, &down, 200).await;
    // The same address again: the client reconnects by itself.
    let restarted =
        TestService::<Stream>::spawn_ready(env.clone().with("PORT", port.to_string())).await;
    settle().await;
    let after = ids("after", 0..20);
    produce(&producer, &topic, &after, 200).await;
    settle().await;
    // A new client on the restarted instance gets recent events, then live
    // ones, and none of the backfill as live.
    let url = restarted.url.clone();
    let fresh = tokio::task::spawn_blocking(move || ResumingClients::connect(&url, 1))
        .await
        .unwrap();
    let last = ids("last", 0..5);
    produce(&producer, &topic, &last, 200).await;
    settle().await;

    let resumed = tokio::task::spawn_blocking(move || clients.stop())
        .await
        .unwrap();
    let (received, statuses) = (&resumed[0].ids, &resumed[0].statuses);
    let recent_at_start: Vec<String> = history[50..].to_vec();
    let expected: Vec<String> =
        [recent_at_start, before, down, after.clone(), last.clone()].concat();
    assert_eq!(received, &expected, "{statuses:?}");
    assert_eq!(statuses.last().unwrap()["start"], "resumed");

    let fresh = tokio::task::spawn_blocking(move || fresh.stop())
        .await
        .unwrap();
    let (received, statuses) = (&fresh[0].ids, &fresh[0].statuses);
    assert_eq!(statuses[0]["start"], "fresh");
    let all: Vec<String> = [ids("before", 0..20), ids("down", 0..200), after].concat();
    let recent: Vec<String> = all[all.len() - 50..].to_vec();
    assert_eq!(received, &[recent, last].concat());
}

/// A deploy starts instances on a backlog. Kafka hands a backlog out
/// partition by partition; a new instance's ring must still hold the
/// newest records of every partition, as a long-running instance's does,
/// or clients that were connected to the instance it replaces find
/// themselves too far behind on some partition although they missed less
/// than the ring holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_on_a_backlog_resumes_clients_behind_on_every_partition() {
    let topics = TestTopics::create().await;
    // The ring holds 1,000 records; each partition's backfill is up to
    // 1,000 records too, so the two partitions' backfills do not both fit.
    let env = service_env(&topics.prefix, &[("EDM_STREAM_RESUME_EVENTS", "1000")]);
    let producer = RawProducer::new(&topics.settings);
    let topic = topics.name(Topic::Click);
    // Alternating between partitions 0 and 1, so that their records
    // interleave in time.
    let produce_alternating = |ids: Vec<String>| {
        let (producer, topic) = (&producer, &topic);
        async move {
            for (n, id) in ids.iter().enumerate() {
                let partition = (n % 2) as i32;
                let key = format!("visitor-{partition}");
                producer
                    .send_to(topic, partition, &key, click(id).as_bytes())
                    .await;
            }
        }
    };
    let first = TestService::<Stream>::spawn_ready(env.clone()).await;
    let (url, port) = (first.url.clone(), first.port());
    let clients = tokio::task::spawn_blocking(move || ResumingClients::connect(&url, 1))
        .await
        .unwrap();
    let before = ids("before", 0..2000);
    produce_alternating(before.clone()).await;
    published(&first, 2000).await;
    settle().await;
    first.shutdown().await.expect("the stream stops cleanly");
    // 300 records a partition while no instance runs; then one starts on
    // the same address, with 1,300 records a partition behind it.
    let down = ids("down", 0..600);
    produce_alternating(down.clone()).await;
    let second =
        TestService::<Stream>::spawn_ready(env.clone().with("PORT", port.to_string())).await;
    settle().await;
    let after = ids("after", 0..20);
    produce_alternating(after.clone()).await;
    settle().await;

    let results = tokio::task::spawn_blocking(move || clients.stop())
        .await
        .unwrap();
    let (received, statuses) = (&results[0].ids, &results[0].statuses);
    let last = statuses.last().expect("stream messages");
    assert_eq!(last["start"], "resumed", "{statuses:?}");
    assert_eq!(last["replayed"], 600, "{statuses:?}");
    // Every record once, each partition's in order.
    let partition_of: std::collections::HashMap<&str, usize> = [&before, &down, &after]
        .into_iter()
        .flat_map(|ids| ids.iter().enumerate().map(|(n, id)| (id.as_str(), n % 2)))
        .collect();
    let of_partition = |list: &[String], partition: usize| -> Vec<String> {
        list.iter()
            .filter(|id| partition_of.get(id.as_str()) == Some(&partition))
            .cloned()
            .collect()
    };
    let everything: Vec<String> = [before.clone(), down.clone(), after.clone()].concat();
    assert_eq!(received.len(), everything.len(), "{statuses:?}");
    for partition in 0..2 {
        assert_eq!(
            of_partition(received, partition),
            of_partition(&everything, partition),
            "partition {partition}"
        );
    }
    drop(second);
}

/// edm-trending's record of the one-minute window starting `n` minutes
/// after a fixed time, and its event id as the clients record it.
fn trending_record(n: i64) -> (String, String) {
    let start = 1_763_799_960_000 + n * 60_000;
    let event_id = format!("trending-1m-{start}");
    let record = json!({"topic":"edm-trending","event_id":event_id,
        "window":{"name":"1m","size_seconds":60,"advance_seconds":60,"start":start,"end":start + 60_000},
        "clicks":2,"products":1,"top":[{"button_id":"buy","clicks":2}]});
    (format!("trending:{event_id}"), record.to_string())
}

/// Produces the trending records `range` (one key: one partition, one
/// order) and returns their ids.
async fn produce_trending(
    producer: &RawProducer,
    topic: &str,
    range: std::ops::Range<i64>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for n in range {
        let (id, record) = trending_record(n);
        producer.send(topic, "1m", record.as_bytes(), None).await;
        ids.push(id);
    }
    ids
}

/// edm-trending writes its records in transactions, so its partitions end
/// in a transaction marker, which no record shows. An instance starting
/// while clicks keep coming must still finish reading them back, and show a
/// new page the latest results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_starting_while_clicks_flow_reads_back_transactional_trending_records() {
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
    let topics = TestTopics::create().await;
    let trending = topics.name(Topic::Trending);
    let transactional: FutureProducer = topics
        .settings
        .producer_config("edm-stream-test")
        .set(
            "transactional.id",
            format!("{}edm-stream-test", topics.prefix),
        )
        .create()
        .expect("a transactional producer");
    let timeout = Duration::from_secs(30);
    transactional
        .init_transactions(timeout)
        .expect("transactions");
    let mut records = Vec::new();
    for n in 0..3 {
        let (id, record) = trending_record(n);
        transactional.begin_transaction().expect("a transaction");
        transactional
            .send(
                FutureRecord::to(&trending).key("1m").payload(&record),
                timeout,
            )
            .await
            .map_err(|(e, _)| e)
            .expect("the record written");
        transactional
            .commit_transaction(timeout)
            .expect("committed");
        records.push(id);
    }
    // Clicks keep coming while the instance starts.
    let flowing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let clicks = {
        let (flowing, settings, topic) = (
            flowing.clone(),
            topics.settings.clone(),
            topics.name(Topic::Click),
        );
        tokio::spawn(async move {
            let producer = RawProducer::new(&settings);
            let mut n = 0;
            while flowing.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("flowing-{n}");
                let key = format!("visitor-{}", n % 6);
                producer
                    .send(&topic, &key, click(&id).as_bytes(), Some(&id))
                    .await;
                tokio::time::sleep(Duration::from_millis(5)).await;
                n += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stream = TestService::<Stream>::spawn_ready(service_env(&topics.prefix, &[])).await;
    let url = stream.url.clone();
    let client = tokio::task::spawn_blocking(move || ResumingClients::connect(&url, 1))
        .await
        .unwrap();
    settle().await;
    flowing.store(false, std::sync::atomic::Ordering::Relaxed);
    clicks.await.unwrap();
    let results = tokio::task::spawn_blocking(move || client.stop())
        .await
        .unwrap();
    let shown: Vec<&String> = results[0]
        .ids
        .iter()
        .filter(|id| id.starts_with("trending:"))
        .collect();
    assert_eq!(
        shown,
        records.iter().collect::<Vec<_>>(),
        "{:?}",
        results[0].statuses
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resuming_client_gets_the_trending_records_it_missed_once_each() {
    let topics = TestTopics::create().await;
    let stream = TestService::<Stream>::spawn_ready(service_env(&topics.prefix, &[])).await;
    let producer = RawProducer::new(&topics.settings);
    let (clicks, trending) = (topics.name(Topic::Click), topics.name(Topic::Trending));
    let url = stream.url.clone();
    let mut clients = tokio::task::spawn_blocking(move || ResumingClients::connect(&url, 2))
        .await
        .unwrap();

    let mut records = produce_trending(&producer, &trending, 0..3).await;
    produce(&producer, &clicks, &ids("before", 0..5), 200).await;
    settle().await;
    clients.command("DROP 0");
    records.extend(produce_trending(&producer, &trending, 3..6).await);
    produce(&producer, &clicks, &ids("missed", 0..5), 200).await;
    clients.command("BACK 0");
    settle().await;
    records.extend(produce_trending(&producer, &trending, 6..7).await);
    produce(&producer, &clicks, &ids("after", 0..5), 200).await;
    settle().await;

    let results = tokio::task::spawn_blocking(move || clients.stop())
        .await
        .unwrap();
    let events: Vec<String> =
        [ids("before", 0..5), ids("missed", 0..5), ids("after", 0..5)].concat();
    for (i, client) in results.iter().enumerate() {
        let (got_records, got_events): (Vec<String>, Vec<String>) = client
            .ids
            .iter()
            .cloned()
            .partition(|id| id.starts_with("trending:"));
        assert_eq!(
            got_records, records,
            "client {i}: every record once, in order"
        );
        assert_eq!(got_events, events, "client {i}: every event once, in order");
    }
    let statuses = &results[0].statuses;
    assert_eq!(statuses[1]["start"], "resumed", "{statuses:?}");
    assert_eq!(
        statuses[1]["replayed"], 8,
        "3 records and 5 events missed: {statuses:?}"
    );
}
