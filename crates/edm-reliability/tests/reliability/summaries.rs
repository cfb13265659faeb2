//! Above edm-stream's threshold, with what it streams there produced for
//! real: edm-trending writes the per-minute counts and the sample; two
//! edm-stream instances sit behind Debian's nginx in round-robin (no
//! affinity, as Heroku's router); 200 clients are spread over them, half
//! the official socket.io-client through the dashboard's module, half the
//! bench's light Rust client. Clicks and page loads arrive at four times
//! the threshold.
//!
//! Every client must get every counts record Kafka holds, each once and
//! as Kafka holds it (no gap), so that its latest count per minute adds up
//! to exactly what was produced; and, from the moment its instance switched
//! to summaries, every sample record, each once, whose stated totals per
//! source partition (over the whole topic) add up to the events Kafka
//! holds there.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use edm_config::Topic;
use edm_events::{CountKind, CountsRecord, SampleRecord};
use edm_reliability::processes::{binary, build_services, Service};
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{read_topic, RawProducer, TestTopics};
use edm_testkit::proxy::{Balance, Proxy};
use edm_testkit::stream_clients::ResumingClients;
use rdkafka::Message;
use serde_json::{json, Value};

/// Clients, half of each kind.
const CLIENTS: usize = 200;
/// edm-stream's `EDM_STREAM_RAW_EVENTS_PER_SECOND`.
const THRESHOLD: u64 = 100;
/// The store's rate: clicks, and a page load in every four events.
const PER_SECOND: u64 = 400;
/// How long the store runs.
const PRODUCING: Duration = Duration::from_secs(15);
/// How long the light clients listen: connecting, producing, settling.
const LIGHT_SECONDS: u64 = 60;

/// A record as a client or a reader saw it: its position
/// (`edm-trending-counts/1/8`) and its text.
type Records = Vec<(String, String)>;

/// The bench's light clients in their process (`edm-bench fanout
/// --records`).
struct LightClients(Child, BufReader<std::process::ChildStdout>);

impl LightClients {
    fn connect(url: &str, count: usize) -> Self {
        let mut child = Command::new(binary("edm-bench"))
            .args([
                "fanout",
                url,
                &count.to_string(),
                &LIGHT_SECONDS.to_string(),
                "--records",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("edm-bench runs");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the clients' output");
        assert_eq!(line.trim(), "READY", "light clients did not connect");
        Self(child, stdout)
    }

    /// Waits for the result line: gaps, and per client its counts and
    /// sample records.
    fn results(mut self) -> (u64, Vec<(Records, Records)>) {
        let mut line = String::new();
        self.1.read_line(&mut line).expect("the clients' result");
        let _ = self.0.wait();
        let v: Value = serde_json::from_str(&line).expect("result JSON");
        let pairs = |list: &Value| -> Records {
            serde_json::from_value(list.clone()).expect("[position, text] pairs")
        };
        let clients = v["records"]
            .as_array()
            .expect("records per client")
            .iter()
            .map(|c| (pairs(&c["counts"]), pairs(&c["samples"])))
            .collect();
        (v["gaps"].as_u64().expect("gaps"), clients)
    }
}

impl Drop for LightClients {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

/// Every record of `topic` as a `read_committed` reader gets it, with its
/// position under the topic's logical name.
async fn read_all(topics: &TestTopics, topic: Topic) -> Records {
    let messages = read_topic(
        &topics.settings,
        &topics.name(topic),
        usize::MAX,
        Duration::from_secs(5),
    )
    .await;
    messages
        .iter()
        .map(|m| {
            let text = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
            (
                format!("{}/{}/{}", topic.name(), m.partition(), m.offset()),
                text,
            )
        })
        .collect()
}

/// What the latest count of every (kind, minute, name) adds up to, per
/// kind, reading `records` in order (each partition's order is Kafka's).
fn latest_totals(records: &Records) -> BTreeMap<CountKind, u64> {
    let mut latest: HashMap<String, (CountKind, u64)> = HashMap::new();
    for (_, text) in records {
        let record = CountsRecord::parse(text.as_bytes()).expect("a valid counts record");
        latest.insert(record.key(), (record.kind, record.count));
    }
    let mut totals = BTreeMap::new();
    for (kind, count) in latest.into_values() {
        *totals.entry(kind).or_insert(0) += count;
    }
    totals
}

/// Checks one client's records against Kafka's: every counts record once,
/// as Kafka holds it, and per sample partition every record from the first
/// one it got.
fn check_client(who: &str, counts: &Records, samples: &Records, kafka: &Kafka) {
    let positions: HashSet<&str> = counts.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        positions.len(),
        counts.len(),
        "{who}: a counts record twice"
    );
    let mut got: Records = counts.clone();
    got.sort();
    assert_eq!(
        got.len(),
        kafka.counts_sorted.len(),
        "{who}: {} of Kafka's {} counts records",
        got.len(),
        kafka.counts_sorted.len()
    );
    assert!(
        got == kafka.counts_sorted,
        "{who}: counts records differ from Kafka's"
    );
    assert_eq!(
        latest_totals(counts),
        kafka.produced,
        "{who}: its latest counts against what was produced"
    );

    assert!(!samples.is_empty(), "{who}: no sample record");
    let sampled: HashSet<&str> = samples.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(sampled.len(), samples.len(), "{who}: a sample record twice");
    let mut by_partition: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
    for (position, text) in samples {
        let (partition, offset) = position.rsplit_once('/').unwrap();
        by_partition
            .entry(partition)
            .or_default()
            .push((offset.parse().unwrap(), text.as_str()));
    }
    for (partition, mut got) in by_partition {
        got.sort();
        let from = got[0].0;
        let expected: Vec<(i64, &str)> = kafka.samples[partition]
            .iter()
            .filter(|(offset, _)| *offset >= from)
            .map(|(offset, text)| (*offset, text.as_str()))
            .collect();
        assert!(
            got == expected,
            "{who}: {partition} from offset {from}: {} records, Kafka holds {}",
            got.len(),
            expected.len()
        );
    }
}

/// What Kafka holds once edm-trending caught up.
struct Kafka {
    counts_sorted: Records,
    /// Per sample partition (`edm-trending-sample/0`): offset and text.
    samples: HashMap<String, Vec<(i64, String)>>,
    /// Clicks and page loads produced.
    produced: BTreeMap<CountKind, u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_threshold_200_clients_on_two_instances_get_exact_counts_and_a_true_sample() {
    let _serial = crate::SERIAL.lock().await;
    tokio::task::spawn_blocking(build_services).await.unwrap();
    let mut topics = TestTopics::create().await;
    topics.create_internal().await;
    let mut trending = Service::new("edm-trending", service_env(&topics.prefix, &[]).0);
    trending.start(Duration::from_secs(60)).await;
    let threshold = THRESHOLD.to_string();
    let mut streams: Vec<Service> = (0..2)
        .map(|_| {
            let env = [("EDM_STREAM_RAW_EVENTS_PER_SECOND", threshold.as_str())];
            Service::new("edm-stream", service_env(&topics.prefix, &env).0)
        })
        .collect();
    for stream in &mut streams {
        stream.start(Duration::from_secs(60)).await;
    }
    let ports: Vec<u16> = streams.iter().map(|s| s.port).collect();
    let proxy = Proxy::start(&ports, Balance::EachRequest);
    let url = proxy.url();
    let official = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || ResumingClients::connect(&url, CLIENTS / 2))
            .await
            .unwrap()
    };
    let light = tokio::task::spawn_blocking(move || LightClients::connect(&url, CLIENTS / 2))
        .await
        .unwrap();

    // The store, at four times the threshold.
    let producer = RawProducer::new(&topics.settings);
    let (clicks, loads) = (topics.name(Topic::Click), topics.name(Topic::PageLoad));
    let mut produced: BTreeMap<CountKind, u64> = BTreeMap::new();
    let mut acks = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / PER_SECOND));
    let started = tokio::time::Instant::now();
    let mut n = 0u64;
    while started.elapsed() < PRODUCING {
        tick.tick().await;
        let visitor = format!("visitor-{}", n % 8);
        let id = format!("e-{n}");
        let now = chrono::Utc::now().timestamp_millis();
        let (topic, kind, event) = if n % 4 == 3 {
            let event = json!({"topic":"edm-ui-pageload","uuid":visitor,"event_id":id,"event_timestamp":now,
                "properties":{"user_agent":"Mozilla/5.0 (X11; Linux x86_64)","url":"http://localhost:3000"}});
            (&loads, CountKind::PageLoad, event)
        } else {
            let event = json!({"topic":"edm-ui-click","uuid":visitor,"event_id":id,"event_timestamp":now,
                "properties":{"button_id":format!("product-{}", n % 12),"description":"button click"}});
            (&clicks, CountKind::Click, event)
        };
        acks.push(producer.enqueue(topic, &visitor, event.to_string().as_bytes(), Some(&id)));
        *produced.entry(kind).or_insert(0) += 1;
        n += 1;
    }
    for ack in acks {
        ack.await
            .expect("the producer is alive")
            .map_err(|(e, _)| e)
            .expect("every event acknowledged");
    }

    // edm-trending caught up: its latest counts add up to what was produced.
    let mut counts = Records::new();
    for _ in 0..20 {
        counts = read_all(&topics, Topic::Counts).await;
        if latest_totals(&counts) == produced {
            break;
        }
    }
    assert_eq!(latest_totals(&counts), produced, "edm-trending's counts");
    // The sample's stated totals, over the whole topic, add up to what
    // Kafka holds per source partition.
    let sample_records = read_all(&topics, Topic::Sample).await;
    let mut stated: BTreeMap<String, u64> = BTreeMap::new();
    let mut samples: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for (position, text) in &sample_records {
        let record = SampleRecord::parse(text.as_bytes()).expect("a valid sample record");
        *stated.entry(record.source.to_string()).or_insert(0) += record.stands_for;
        let (partition, offset) = position.rsplit_once('/').unwrap();
        samples
            .entry(partition.to_owned())
            .or_default()
            .push((offset.parse().unwrap(), text.clone()));
    }
    let mut held: BTreeMap<String, u64> = BTreeMap::new();
    for topic in [Topic::Click, Topic::PageLoad] {
        for (position, _) in read_all(&topics, topic).await {
            let (partition, _) = position.rsplit_once('/').unwrap();
            *held.entry(partition.to_owned()).or_insert(0) += 1;
        }
    }
    assert_eq!(
        stated, held,
        "the sample's stated totals per source partition"
    );
    // What the instances streamed has reached the clients.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut counts_sorted = counts;
    counts_sorted.sort();
    let kafka = Kafka {
        counts_sorted,
        samples,
        produced,
    };

    let official = tokio::task::spawn_blocking(move || official.stop())
        .await
        .unwrap();
    let (light_gaps, light) = tokio::task::spawn_blocking(move || light.results())
        .await
        .unwrap();
    drop(proxy);
    assert_eq!(light_gaps, 0, "light clients were told of lost records");
    for (i, client) in official.iter().enumerate() {
        let who = format!("official client {i}");
        assert!(
            client.statuses.iter().all(|s| s.get("gap").is_none()),
            "{who} lost records: {:?}",
            client.statuses
        );
        assert!(
            client.statuses.iter().any(|s| s["mode"] == "summary"),
            "{who} was never told of summaries: {:?}",
            client.statuses
        );
        check_client(&who, &client.counts, &client.samples, &kafka);
    }
    for (i, (counts, samples)) in light.iter().enumerate() {
        check_client(&format!("light client {i}"), counts, samples, &kafka);
    }
    println!(
        "{} clients on 2 instances behind a round-robin proxy, {} events in {:.0} s: \
         each got all {} counts records and every sample record since its switch; \
         the sample's {} records state {} events, as Kafka holds",
        official.len() + light.len(),
        n,
        PRODUCING.as_secs_f64(),
        kafka.counts_sorted.len(),
        sample_records.len(),
        kafka.produced.values().sum::<u64>()
    );
    for stream in &mut streams {
        stream.stop();
    }
    trending.stop();
}
