//! edm-trending on the real broker, processes killed on the way: every click
//! reaches the repartition topic exactly once, and the windows written to
//! `edm-trending` (read as a `read_committed` reader reads them) are exactly
//! those the window store computes over that log: none missing, none wrong,
//! none twice. Instance A is SIGKILLed mid-stream, then two instances share
//! the work (a rebalance between them) and must restore the window store
//! from the changelog. In the second test the broker itself is SIGKILLed
//! while clicks arrive and started again: the one instance goes on by
//! itself.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edm_testkit::broker::SpareBroker;
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

/// The shared broker's `host:port`.
fn shared_broker() -> String {
    infra::kafka_url().trim_start_matches("kafka://").to_owned()
}

fn create_topics(bootstrap: &str, prefix: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
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
/// `pause` between clicks spreads them over time.
fn produce_clicks(
    bootstrap: &str,
    prefix: &str,
    range: std::ops::Range<u64>,
    base: i64,
    pause: Duration,
) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
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
        std::thread::sleep(pause);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// Every committed record of partition 0 of `topic`, in order.
fn read_committed(bootstrap: &str, topic: &str) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
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
    fn start(bootstrap: &str, prefix: &str, name: &str) -> Self {
        Self::start_with(bootstrap, prefix, name, &[])
    }

    fn start_with(bootstrap: &str, prefix: &str, name: &str, env: &[(&str, &str)]) -> Self {
        let log = std::fs::File::create(std::env::temp_dir().join(format!(
            "edm-trending-test-{}-{name}.log",
            prefix.trim_end_matches('.')
        )))
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_edm-trending"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAFKA_URL", format!("kafka://{bootstrap}"))
            .env("KAFKA_PREFIX", prefix)
            .env("PORT", "0")
            .env("EDM_TRENDING_GRACE_SECS", GRACE_SECS.to_string())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("edm-trending starts");
        Self(child)
    }

    fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
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
    let bootstrap = shared_broker();
    let prefix = fresh_topics(&bootstrap);
    let base = base_time();

    let mut a = Instance::start(&bootstrap, &prefix, "a");
    produce_clicks(&bootstrap, &prefix, 0..1500, base, Duration::ZERO);
    wait_for_first_windows(&bootstrap, &prefix);
    a.kill(); // mid-stream, transactions open or not

    produce_clicks(&bootstrap, &prefix, 1500..3000, base, Duration::ZERO);
    let _b = Instance::start(&bootstrap, &prefix, "b");
    std::thread::sleep(Duration::from_secs(3));
    // The group rebalances between the two.
    let _c = Instance::start(&bootstrap, &prefix, "c");
    produce_closing_click(&bootstrap, &prefix, base);
    assert_exact(&bootstrap, &prefix);
}

#[test]
fn windows_are_exact_through_a_broker_crash_and_restart() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = runtime.block_on(SpareBroker::start());
    let bootstrap = broker.bootstrap();
    let prefix = fresh_topics(&bootstrap);
    let base = base_time();

    let mut a = Instance::start(&bootstrap, &prefix, "outage");
    // 3,000 clicks over about 15 s; the producer holds and resends those
    // written while the broker is down.
    let clicks = {
        let (bootstrap, prefix) = (bootstrap.clone(), prefix.clone());
        std::thread::spawn(move || {
            produce_clicks(&bootstrap, &prefix, 0..3000, base, Duration::from_millis(5))
        })
    };
    wait_for_first_windows(&bootstrap, &prefix);
    runtime.block_on(broker.kill()); // mid-stream, transactions open or not
    std::thread::sleep(Duration::from_secs(5));
    runtime.block_on(broker.restart());
    clicks.join().expect("every click written");
    produce_closing_click(&bootstrap, &prefix, base);
    assert_exact(&bootstrap, &prefix);
    assert!(
        a.is_running(),
        "edm-trending went on by itself after the broker came back"
    );
}

#[test]
fn a_fenced_window_task_takes_its_work_back_when_no_rebalance_comes() {
    let bootstrap = shared_broker();
    let prefix = fresh_topics(&bootstrap);
    let base = base_time();

    let mut a = Instance::start_with(
        &bootstrap,
        &prefix,
        "fenced",
        &[("EDM_TRENDING_KAFKA_TIMEOUT_SECS", "5")],
    );
    produce_clicks(&bootstrap, &prefix, 0..1500, base, Duration::ZERO);
    wait_for_first_windows(&bootstrap, &prefix);
    // A producer outside the group takes the window task's transactional
    // id, as the broker does when it expires a stalled transaction: the
    // task is fenced and no rebalance follows.
    let usurper: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set(
            "transactional.id",
            format!("{prefix}edm-trending-windows-0"),
        )
        .create()
        .unwrap();
    usurper.init_transactions(Duration::from_secs(30)).unwrap();

    produce_clicks(&bootstrap, &prefix, 1500..3000, base, Duration::ZERO);
    produce_closing_click(&bootstrap, &prefix, base);
    assert_exact(&bootstrap, &prefix);
    assert!(a.is_running(), "edm-trending went on by itself");
}

/// A prefix of its own, with the topics created under it on `bootstrap`.
fn fresh_topics(bootstrap: &str) -> String {
    let prefix = format!("trending-{}.", uuid::Uuid::new_v4().simple());
    create_topics(bootstrap, &prefix);
    prefix
}

/// Waits until edm-trending has committed its first window results.
fn wait_for_first_windows(bootstrap: &str, prefix: &str) {
    let output = format!("{prefix}edm-trending");
    wait_for("the first windows", Duration::from_secs(90), || {
        !read_committed(bootstrap, &output).is_empty()
    });
}

/// A click 25 minutes on closes every window of the run.
fn produce_closing_click(bootstrap: &str, prefix: &str, base: i64) {
    produce_clicks(
        bootstrap,
        prefix,
        5000..5001,
        base + 1_500_000 - 5000 * 240,
        Duration::ZERO,
    );
}

/// Every click (0..3000 and the closing one) is in the repartition log
/// exactly once, and the windows written to `edm-trending` are those one
/// uninterrupted store computes over that log, in order.
fn assert_exact(bootstrap: &str, prefix: &str) {
    let repartition = format!("{prefix}edm-trending-clicks-by-product-repartition");
    let output = format!("{prefix}edm-trending");
    // Stage 1: every click in the repartition log exactly once.
    let mut clicks: Vec<RepartitionRecord> = Vec::new();
    wait_for(
        "every click repartitioned",
        Duration::from_secs(120),
        || {
            clicks = read_committed(bootstrap, &repartition)
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
        written = read_committed(bootstrap, &output);
        written.len() >= expected.len()
    });
    std::thread::sleep(Duration::from_secs(2));
    written = read_committed(bootstrap, &output);
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
