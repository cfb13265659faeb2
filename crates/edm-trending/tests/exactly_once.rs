//! edm-trending on the real broker, processes killed on the way: every click
//! reaches the repartition topic exactly once, and the windows written to
//! `edm-trending` (read as a `read_committed` reader reads them) are exactly
//! those the window store computes over that log: none missing, none wrong,
//! none twice. Instance A is SIGKILLed mid-stream, then two instances share
//! the work (a rebalance between them) and must restore the window store
//! from the changelog.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edm_testkit::infra;
use edm_trending::{RepartitionRecord, TrendingConfig, WindowStore};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const GRACE_SECS: i64 = 30;
/// An hour ago, so the clicks' own timestamps are their event times.
fn base_time() -> i64 {
    chrono::Utc::now().timestamp_millis() - 3_600_000
}

fn bootstrap() -> String {
    infra::kafka_url().trim_start_matches("kafka://").to_owned()
}

fn create_topics(prefix: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .unwrap();
    let names = [
        (format!("{prefix}edm-ui-click"), 3, false),
        (
            format!("{prefix}edm-trending-clicks-by-product-repartition"),
            1,
            false,
        ),
        (
            format!("{prefix}edm-trending-window-counts-changelog"),
            1,
            true,
        ),
        (format!("{prefix}edm-trending"), 1, false),
    ];
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|(name, partitions, compact)| {
            let topic = NewTopic::new(name, *partitions, TopicReplication::Fixed(1));
            if *compact {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let results = runtime
        .block_on(admin.create_topics(&topics, &AdminOptions::new()))
        .unwrap();
    for result in results {
        result.expect("topic created");
    }
}

/// Clicks `range` of a fixed pseudo-random sequence: event times spread
/// over 12 minutes, out of order, a few far behind (late beyond grace).
fn produce_clicks(prefix: &str, range: std::ops::Range<u64>, base: i64) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let topic = format!("{prefix}edm-ui-click");
    for n in range {
        let mut x = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x ^= x >> 29;
        let product = ["kit", "mug", "stove", "press", "beans"][(x % 5) as usize];
        let drift = (n as i64) * 240; // 3,000 clicks over 12 minutes
        let jitter = (x >> 8) as i64 % 20_000 - 10_000;
        let late = if x % 97 == 0 { -150_000 } else { 0 };
        let event = serde_json::json!({
            "topic": "edm-ui-click",
            "uuid": format!("visitor-{}", n % 7),
            "event_timestamp": base + drift + jitter + late,
            "event_id": format!("c-{n}"),
            "properties": {"button_id": product, "description": "button click"},
        })
        .to_string();
        let key = format!("visitor-{}", n % 7);
        producer
            .send(BaseRecord::to(&topic).key(&key).payload(&event))
            .unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Every committed record of partition 0 of `topic`, in order.
fn read_committed(topic: &str) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", "edm-trending-test-reader")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => records.push((
                m.key().unwrap_or_default().to_vec(),
                m.payload().map(<[u8]>::to_vec),
            )),
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            _ => {}
        }
    }
    records
}

struct Instance(Child);

impl Instance {
    fn start(prefix: &str, name: &str) -> Self {
        let log = std::fs::File::create(std::env::temp_dir().join(format!(
            "edm-trending-test-{}-{name}.log",
            prefix.trim_end_matches('.')
        )))
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_edm-trending"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAFKA_URL", infra::kafka_url())
            .env("KAFKA_PREFIX", prefix)
            .env("PORT", "0")
            .env("EDM_TRENDING_GRACE_SECS", GRACE_SECS.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("edm-trending starts");
        Self(child)
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn windows_are_exact_through_a_sigkill_and_a_rebalance() {
    let prefix = format!("trending-{}.", uuid::Uuid::new_v4().simple());
    create_topics(&prefix);
    let repartition = format!("{prefix}edm-trending-clicks-by-product-repartition");
    let output = format!("{prefix}edm-trending");
    let base = base_time();

    let mut a = Instance::start(&prefix, "a");
    produce_clicks(&prefix, 0..1500, base);
    wait_for("the first windows", Duration::from_secs(90), || {
        !read_committed(&output).is_empty()
    });
    a.kill(); // mid-stream, transactions open or not

    produce_clicks(&prefix, 1500..3000, base);
    let _b = Instance::start(&prefix, "b");
    std::thread::sleep(Duration::from_secs(3));
    let _c = Instance::start(&prefix, "c"); // the group rebalances between them
                                            // A click 25 minutes on closes every window of the run.
    produce_clicks(&prefix, 5000..5001, base + 1_500_000 - 5000 * 240);

    // Stage 1: every click in the repartition log exactly once.
    let mut clicks: Vec<RepartitionRecord> = Vec::new();
    wait_for(
        "every click repartitioned",
        Duration::from_secs(120),
        || {
            clicks = read_committed(&repartition)
                .into_iter()
                .map(|(k, v)| RepartitionRecord::decode(Some(&k), v.as_deref()).unwrap())
                .collect();
            clicks.len() >= 3001
        },
    );
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for click in &clicks {
        *seen.entry(click.event_id.clone().unwrap()).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n != 1).collect();
    assert_eq!(
        twice,
        Vec::<(&String, &usize)>::new(),
        "clicks repartitioned more than once"
    );
    assert_eq!(seen.len(), 3001, "every click repartitioned");

    // Stage 2: the output is what one uninterrupted store computes.
    let mut store = WindowStore::new(TrendingConfig::new(GRACE_SECS * 1000, 10, 100_000).unwrap());
    let mut expected = Vec::new();
    for click in &clicks {
        let processed = store.process(&click.button_id, click.event_time).unwrap();
        for result in processed.emitted {
            let record = result.to_record().unwrap();
            expected.push((record.key, Some(record.value)));
        }
    }
    assert!(
        expected.len() > 20,
        "the run closes many windows: {}",
        expected.len()
    );
    let mut written = Vec::new();
    wait_for("every window written", Duration::from_secs(120), || {
        written = read_committed(&output);
        written.len() >= expected.len()
    });
    std::thread::sleep(Duration::from_secs(2));
    written = read_committed(&output);
    let text = |records: &[(Vec<u8>, Option<Vec<u8>>)]| -> Vec<String> {
        records
            .iter()
            .map(|(k, v)| {
                format!(
                    "{} {}",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v.as_deref().unwrap_or_default())
                )
            })
            .collect()
    };
    assert_eq!(
        text(&written),
        text(&expected),
        "the windows written to edm-trending"
    );
}
