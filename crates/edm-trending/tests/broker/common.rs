//! What the broker tests share: topics under a fresh prefix, clicks
//! written as the relay or another producer would, `read_committed`
//! readers, edm-trending instances as real processes (killed, frozen,
//! restarted), their metrics, and the reference counts a window must hold.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use edm_testkit::broker::free_port;
use edm_testkit::infra;
use edm_tool::launcher::{Launch, Launched};
use edm_trending::merge::merged;
use edm_trending::{
    ClickRecord, RepartitionRecord, TrendingConfig, TrendingRecord, Window, WindowResult,
    WindowSpec, WindowStore,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

/// The shared broker's `host:port`.
pub fn shared_broker() -> String {
    infra::kafka_url().trim_start_matches("kafka://").to_owned()
}

/// Now, epoch ms.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The window tasks of the tests' topics, unless a test says otherwise.
pub const WINDOW_TASKS: i32 = 3;

/// A test's topics: a prefix of its own on a broker, the input with
/// `partitions` partitions, and edm-trending's internal topics (the
/// repartition topic and the changelog with `tasks` partitions) and output
/// topic.
#[derive(Clone)]
pub struct Topics {
    pub bootstrap: String,
    pub prefix: String,
    pub partitions: i32,
    pub tasks: i32,
}

impl Topics {
    /// Creates the topics under a fresh prefix, for [`WINDOW_TASKS`] tasks.
    pub fn create(bootstrap: &str, partitions: i32) -> Self {
        Self::with_tasks(bootstrap, partitions, WINDOW_TASKS)
    }

    /// Creates the topics under a fresh prefix, for `tasks` window tasks.
    pub fn with_tasks(bootstrap: &str, partitions: i32, tasks: i32) -> Self {
        let topics = Self::named(bootstrap, partitions, tasks);
        topics.make(|_| true);
        topics
    }

    /// Names the topics under a fresh prefix; creates none.
    pub fn named(bootstrap: &str, partitions: i32, tasks: i32) -> Self {
        Self {
            bootstrap: bootstrap.to_owned(),
            prefix: format!("trending-{}.", uuid::Uuid::new_v4().simple()),
            partitions,
            tasks,
        }
    }

    /// Creates those of the topics whose name `which` accepts.
    pub fn make(&self, which: impl Fn(&str) -> bool) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .unwrap();
        let (partitions, tasks) = (self.partitions, self.tasks);
        let specs = [
            (self.input(), partitions, false),
            (self.page_loads(), partitions, false),
            (self.repartition(), tasks, false),
            (self.changelog(), tasks, true),
            (self.partials(), 1, false),
            (self.output(), 1, false),
            (self.counts(), partitions, true),
            (self.sample(), partitions, false),
        ];
        let new: Vec<NewTopic> = specs
            .iter()
            .filter(|(name, _, _)| which(name))
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
        for result in runtime
            .block_on(admin.create_topics(&new, &AdminOptions::new()))
            .unwrap()
        {
            result.expect("topic created");
        }
    }

    /// The topics already created under `prefix` on `bootstrap` (as
    /// `./edm topics` or a plan's provisioning makes them).
    pub fn existing(bootstrap: &str, prefix: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .unwrap();
        let input = format!("{prefix}edm-ui-click");
        let metadata = consumer
            .fetch_metadata(Some(&input), Duration::from_secs(30))
            .unwrap();
        let partitions = metadata.topics()[0].partitions().len() as i32;
        assert!(partitions > 0, "{input} exists");
        let repartition = format!("{prefix}edm-trending-clicks-by-product-repartition");
        let metadata = consumer
            .fetch_metadata(Some(&repartition), Duration::from_secs(30))
            .unwrap();
        let tasks = metadata.topics()[0].partitions().len() as i32;
        assert!(tasks > 0, "{repartition} exists");
        Self {
            bootstrap: bootstrap.to_owned(),
            prefix: prefix.to_owned(),
            partitions,
            tasks,
        }
    }

    pub fn input(&self) -> String {
        format!("{}edm-ui-click", self.prefix)
    }

    pub fn page_loads(&self) -> String {
        format!("{}edm-ui-pageload", self.prefix)
    }

    pub fn repartition(&self) -> String {
        format!("{}edm-trending-clicks-by-product-repartition", self.prefix)
    }

    pub fn changelog(&self) -> String {
        format!("{}edm-trending-window-counts-changelog", self.prefix)
    }

    pub fn partials(&self) -> String {
        format!("{}edm-trending-window-partials", self.prefix)
    }

    pub fn output(&self) -> String {
        format!("{}edm-trending", self.prefix)
    }

    pub fn counts(&self) -> String {
        format!("{}edm-trending-counts", self.prefix)
    }

    pub fn sample(&self) -> String {
        format!("{}edm-trending-sample", self.prefix)
    }

    /// A producer as any app attached to the add-on could run.
    pub fn producer(&self) -> BaseProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .unwrap()
    }
}

/// A click as the store and relay write it.
#[derive(Debug, Clone)]
pub struct Click {
    /// Its event id; `None`: written as the original reference relay
    /// wrote clicks (the JSON alone, no key, no headers, no id).
    pub id: Option<String>,
    pub product: String,
    pub event_time: i64,
    pub partition: i32,
}

impl Click {
    pub fn json(&self) -> String {
        let mut json = serde_json::json!({
            "topic": "edm-ui-click",
            "uuid": format!("visitor-{}", self.partition),
            "event_timestamp": self.event_time,
            "properties": {"button_id": self.product, "description": "button click"},
        });
        if let Some(id) = &self.id {
            json["event_id"] = id.as_str().into();
        }
        json.to_string()
    }

    /// The record key: the visitor, as this relay writes it; none for a
    /// click in the original relay's shape.
    pub fn key(&self) -> Option<String> {
        self.id
            .as_ref()
            .map(|_| format!("visitor-{}", self.partition))
    }
}

/// Writes `clicks` to the input topic, each to its partition, with the
/// Kafka timestamp `record_time(click)` (`None`: the producer's clock).
pub fn produce(
    topics: &Topics,
    clicks: &[Click],
    record_time: impl Fn(&Click) -> Option<i64>,
    pause: Duration,
) {
    let producer = topics.producer();
    let topic = topics.input();
    for click in clicks {
        let value = click.json();
        let key = click.key();
        let mut record = BaseRecord::<String, String>::to(&topic)
            .partition(click.partition)
            .payload(&value);
        if let Some(key) = &key {
            record = record.key(key);
        }
        if let Some(t) = record_time(click) {
            record = record.timestamp(t);
        }
        producer.send(record).expect("queued");
        producer.poll(Duration::ZERO);
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// A page load as the store and relay write it.
#[derive(Debug, Clone)]
pub struct PageLoad {
    pub user_agent: String,
    pub event_time: i64,
    pub partition: i32,
}

/// Writes `loads` to the page-load topic, each to its partition.
pub fn produce_page_loads(topics: &Topics, loads: &[PageLoad]) {
    let producer = topics.producer();
    let topic = topics.page_loads();
    for load in loads {
        let value = serde_json::json!({
            "topic": "edm-ui-pageload",
            "uuid": format!("visitor-{}", load.partition),
            "event_timestamp": load.event_time,
            "properties": {"user_agent": load.user_agent, "url": "https://example.com"},
        })
        .to_string();
        let record = BaseRecord::<str, String>::to(&topic)
            .partition(load.partition)
            .payload(&value);
        producer.send(record).expect("queued");
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// Writes one click with the Kafka timestamp `record_time` and says
/// whether the broker took it (a Kafka 4 broker refuses timestamps more
/// than an hour ahead: `log.message.timestamp.after.max.ms`; Heroku's 3.7
/// takes any).
pub fn produce_one(topics: &Topics, click: &Click, record_time: i64) -> bool {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &topics.bootstrap)
        .create()
        .unwrap();
    let topic = topics.input();
    let value = click.json();
    let key = click.key();
    let mut record = FutureRecord::<String, String>::to(&topic)
        .partition(click.partition)
        .payload(&value)
        .timestamp(record_time);
    if let Some(key) = &key {
        record = record.key(key);
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(producer.send(record, Duration::from_secs(30)))
        .is_ok()
}

/// Writes raw bytes to `topic` (partition 0), as another producer could.
pub fn produce_raw(
    topics: &Topics,
    topic: &str,
    key: Option<&[u8]>,
    value: &[u8],
    timestamp: Option<i64>,
) {
    let producer = topics.producer();
    let mut record = BaseRecord::<[u8], [u8]>::to(topic)
        .partition(0)
        .payload(value);
    if let Some(key) = key {
        record = record.key(key);
    }
    if let Some(t) = timestamp {
        record = record.timestamp(t);
    }
    producer.send(record).map_err(|(e, _)| e).unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A record as read: its key and value.
pub type Record = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Every committed record of `topic`, in order within each partition
/// (partition by partition).
pub fn read_committed(bootstrap: &str, topic: &str) -> Vec<Record> {
    read_committed_by_partition(bootstrap, topic)
        .into_values()
        .flatten()
        .collect()
}

/// Every committed record of `topic`, by partition, in order.
pub fn read_committed_by_partition(bootstrap: &str, topic: &str) -> BTreeMap<i32, Vec<Record>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "edm-trending-test-reader")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len();
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p as i32, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut records: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
    let mut ended = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && ended.len() < partitions {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => records
                .entry(m.partition())
                .or_default()
                .push((m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec))),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                ended.insert(p);
            }
            _ => {}
        }
    }
    records
}

/// The output records, parsed as every reader parses them.
pub fn results(topics: &Topics) -> Vec<TrendingRecord> {
    read_committed(&topics.bootstrap, &topics.output())
        .into_iter()
        .map(|(_, v)| TrendingRecord::parse(&v.unwrap_or_default()).expect("a valid record"))
        .collect()
}

/// An edm-trending process, started by the one launcher
/// ([`edm_tool::launcher`]); everything a [`Launched`] does, and killed when
/// dropped.
pub struct Instance(Launched);

impl Instance {
    /// Starts one on `topics` with the test's settings and `env` over them.
    pub fn start(topics: &Topics, name: &str, env: &[(&str, &str)]) -> Self {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("KAFKA_URL".into(), format!("kafka://{}", topics.bootstrap));
        vars.insert("KAFKA_PREFIX".into(), topics.prefix.clone());
        for (k, v) in env {
            vars.insert((*k).into(), (*v).into());
        }
        Self::start_env(&topics.prefix, name, vars)
    }

    /// Starts one with exactly these variables (and a free port).
    pub fn start_env(prefix: &str, name: &str, vars: HashMap<String, String>) -> Self {
        let log = std::env::temp_dir().join(format!(
            "edm-trending-test-{}-{name}.log",
            prefix.trim_end_matches('.')
        ));
        let launched = Launch::new(env!("CARGO_BIN_EXE_edm-trending"), log)
            .env("RUST_LOG", "info")
            .envs(vars)
            .env("PORT", free_port().to_string())
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        Self(launched)
    }

    pub fn is_running(&mut self) -> bool {
        self.0.exit_status().is_none()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.0.log_path()).unwrap_or_default()
    }
}

impl std::ops::Deref for Instance {
    type Target = Launched;

    fn deref(&self) -> &Launched {
        &self.0
    }
}

impl std::ops::DerefMut for Instance {
    fn deref_mut(&mut self) -> &mut Launched {
        &mut self.0
    }
}

pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The repartition log, partition by partition.
pub fn repartition_logs(topics: &Topics) -> BTreeMap<i32, Vec<RepartitionRecord>> {
    read_committed_by_partition(&topics.bootstrap, &topics.repartition())
        .into_iter()
        .map(|(partition, records)| {
            let records = records
                .into_iter()
                .map(|(k, v)| {
                    RepartitionRecord::decode(k.as_deref(), v.as_deref())
                        .expect("edm-trending's own records decode")
                })
                .collect();
            (partition, records)
        })
        .collect()
}

/// The clicks a repartition record holds: (product, input partition,
/// input offset) of each (none for a record written before sources).
pub fn clicks_in(record: &RepartitionRecord) -> Vec<(&str, i32, i64)> {
    match record {
        RepartitionRecord::Click(ClickRecord {
            button_id, source, ..
        }) => source
            .iter()
            .map(|s| (button_id.as_str(), s.partition, s.offset))
            .collect(),
        RepartitionRecord::Clicks(batch) => batch
            .offsets
            .iter()
            .map(|o| (batch.button_id.as_str(), batch.partition, *o))
            .collect(),
        RepartitionRecord::PageLoads(_) | RepartitionRecord::Progress(_) => Vec::new(),
    }
}

/// Every click of the input in the repartition log exactly once, by event
/// id (a click's input partition and offset name its input record, whose
/// event id, or for a click without one its place, is compared), and each
/// product's clicks in one partition (one window task's).
pub fn assert_every_click_repartitioned_once(topics: &Topics, clicks: usize) {
    let mut logs = BTreeMap::new();
    wait_for(
        "every click repartitioned",
        Duration::from_secs(120),
        || {
            logs = repartition_logs(topics);
            logs.values()
                .flatten()
                .map(|r| clicks_in(r).len())
                .sum::<usize>()
                >= clicks
        },
    );
    // Offsets counted from 0: the tests write the input without transactions.
    let ids: BTreeMap<(i32, i64), String> =
        read_committed_by_partition(&topics.bootstrap, &topics.input())
            .into_iter()
            .flat_map(|(partition, records)| {
                records
                    .into_iter()
                    .enumerate()
                    .map(move |(offset, (_, value))| {
                        let value: serde_json::Value =
                            serde_json::from_slice(&value.unwrap_or_default()).unwrap_or_default();
                        let id = value["event_id"]
                            .as_str()
                            .map_or_else(|| format!("input {partition}/{offset}"), str::to_owned);
                        ((partition, offset as i64), id)
                    })
            })
            .collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut task_of: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for (task, log) in &logs {
        for record in log {
            for (product, partition, offset) in clicks_in(record) {
                let id = ids
                    .get(&(partition, offset))
                    .cloned()
                    .unwrap_or_else(|| format!("not in the input: {partition}/{offset}"));
                *seen.entry(id).or_default() += 1;
                task_of.entry(product.to_owned()).or_default().insert(*task);
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n != 1).collect();
    assert_eq!(
        twice,
        Vec::<(&String, &usize)>::new(),
        "clicks repartitioned more than once"
    );
    assert_eq!(seen.len(), clicks, "every click repartitioned");
    let split: Vec<_> = task_of
        .iter()
        .filter(|(_, tasks)| tasks.len() > 1)
        .collect();
    assert!(split.is_empty(), "products in two window tasks: {split:?}");
}

/// What the window tasks and the merge compute over the repartition log
/// as it is now: a store per partition (with `config`), their results
/// merged, the latest of each window as (key, value) text; and how many
/// windows the log leaves open.
pub fn reference_results(
    topics: &Topics,
    config: TrendingConfig,
) -> (BTreeMap<String, String>, usize) {
    let mut partials: BTreeMap<Window, BTreeMap<i32, WindowResult>> = BTreeMap::new();
    let mut open = 0;
    for (partition, log) in repartition_logs(topics) {
        let mut store = WindowStore::new(config);
        store.set_input_partitions(topics.partitions, topics.partitions);
        for record in &log {
            if let Ok(processed) = store.process(record) {
                for result in processed.emitted {
                    partials
                        .entry(result.window)
                        .or_default()
                        .insert(partition, result);
                }
            }
        }
        open += store.open_windows();
    }
    // A window whose partials hold late clicks alone has no result.
    let results = partials
        .iter()
        .map(|(window, partials)| merged(*window, partials, config.top_n()))
        .filter(|result| result.clicks > 0)
        .map(|result| {
            let record = result.to_record().unwrap();
            (
                String::from_utf8(record.key).unwrap(),
                String::from_utf8(record.value).unwrap(),
            )
        })
        .collect();
    (results, open)
}

/// The records of `topics`' output as (key, value) text, in order.
pub fn written(topics: &Topics) -> Vec<(String, String)> {
    read_committed(&topics.bootstrap, &topics.output())
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8(k.unwrap_or_default()).unwrap(),
                String::from_utf8(v.unwrap_or_default()).unwrap(),
            )
        })
        .collect()
}

/// The windows written to `edm-trending` are those the window tasks and
/// the merge compute over the repartition log: the latest record of each
/// window is its reference result, no window is missing or extra, and no
/// record is written twice (a window is written again only with more late
/// clicks); and the log closes every window it opened (its progress
/// records reach the processor's clock).
pub fn assert_output_follows_the_log(topics: &Topics, grace_secs: i64) {
    let config = TrendingConfig::new(grace_secs * 1000, 10, 100_000).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut expected, mut open, mut all, mut latest);
    loop {
        (expected, open) = reference_results(topics, config);
        all = written(topics);
        latest = all.iter().cloned().collect::<BTreeMap<_, _>>();
        if (open == 0 && latest == expected) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(latest, expected, "the latest record of each window");
    assert_eq!(open, 0, "the log closes every window it opened");
    let distinct: BTreeSet<&(String, String)> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a record written twice");
}

/// The clicks of each product in each window that `clicks` fall in.
pub fn counts_by_window(clicks: &[Click]) -> BTreeMap<(WindowSpec, i64), BTreeMap<String, u64>> {
    let mut counts: BTreeMap<(WindowSpec, i64), BTreeMap<String, u64>> = BTreeMap::new();
    for click in clicks {
        for spec in WindowSpec::ALL {
            let size = spec.size_ms();
            let mut start = click.event_time - click.event_time.rem_euclid(60_000);
            while start > click.event_time - size {
                let window = Window::new(spec, start).unwrap();
                *counts
                    .entry((window.spec(), window.start()))
                    .or_default()
                    .entry(click.product.clone())
                    .or_default() += 1;
                start -= 60_000;
            }
        }
    }
    counts
}
