//! The scale part: the consumers of the pipeline at two store rates ten
//! times apart (`EDM_BENCH_SCALE_RATES`, default 5,000 and 50,000 clicks a
//! second, straight into Kafka), each with fresh topics, database and
//! services: edm-trending, edm-stats and edm-stream at its default
//! threshold with 50 light clients (the capacity model's dashboards). After
//! a warm-up long enough for edm-stream to switch to summaries, each
//! service's CPU is measured over a window; the Kafka offsets at the
//! window's ends say how many events it held. Then the clients' counts are
//! checked: each client's latest count per minute must add up to exactly
//! the clicks Kafka holds. Writes `scale-<rate>.json`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Context;
use edm_config::{KafkaSettings, MapEnv, Topic};
use edm_events::{CountKind, CountsRecord};
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Serialize;
use serde_json::Value;

use super::proc_stats::{cpu_ticks, ticks_to_seconds, MachineShare, MachineTicks};
use super::{log, Bench, LineClient};

const RATES: &str = "5000 50000";
/// The consumers measured, each with its port.
const SERVICES: [(&str, u16); 3] = [
    ("edm-stream", 5931),
    ("edm-stats", 5932),
    ("edm-trending", 5933),
];
/// Light clients on edm-stream: the dashboards of docs/scaling.md.
const CLIENTS: u32 = 50;
/// Seconds before the window: edm-stream switches after 5 s above its
/// threshold, and the services settle.
const WARM_UP_S: u64 = 10;
/// The measured window.
const WINDOW_S: u64 = 20;
/// Seconds after the store stops for edm-trending's last counts to reach
/// the clients.
const SETTLE_S: u64 = 20;

/// One rate's figures (`scale-<rate>.json`).
#[derive(Serialize)]
struct Scale {
    rate: u64,
    window_seconds: u64,
    /// Clicks Kafka took during the window.
    window_events: u64,
    /// CPU seconds of each service during the window.
    cpu_seconds: BTreeMap<String, f64>,
    /// Whether edm-stream streamed summaries at the window's start and end.
    summary_mode: (bool, bool),
    clients: u32,
    /// Clients whose latest counts add up to the clicks Kafka holds.
    clients_exact: usize,
    /// The clicks Kafka holds, and what each client's counts add up to
    /// (the smallest and the largest).
    clicks_in_kafka: u64,
    counted_min: u64,
    counted_max: u64,
    #[serde(flatten)]
    machine: MachineShare,
}

pub fn run(bench: &Bench) -> anyhow::Result<()> {
    let rates = std::env::var("EDM_BENCH_SCALE_RATES").unwrap_or_else(|_| RATES.into());
    bench.remove("scale-", ".json");
    for rate in rates.split_whitespace() {
        let rate: u64 = rate
            .parse()
            .with_context(|| format!("EDM_BENCH_SCALE_RATES: {rate} is not a rate"))?;
        let figures = at_rate(bench, rate)?;
        log(format!(
            "scale at {rate}/s: {} events in the window, CPU s {:?}, summaries {:?}, {} of {} clients' counts exact",
            figures.window_events, figures.cpu_seconds, figures.summary_mode, figures.clients_exact, figures.clients
        ));
        bench.write(&format!("scale-{rate}.json"), &figures)?;
    }
    Ok(())
}

fn at_rate(bench: &Bench, rate: u64) -> anyhow::Result<Scale> {
    let prefix = bench.prefix()?;
    let db = bench.database(&format!("bench_scale_{rate}_{}", std::process::id()))?;
    let kafka = bench.kafka_env(&prefix);
    let mut running = Vec::new();
    for (service, port) in SERVICES {
        let mut env = kafka.clone();
        match service {
            "edm-stats" => env.push(("DATABASE_URL".into(), db.url())),
            // The default threshold; clients all from 127.0.0.1.
            "edm-stream" => env.extend(
                [
                    ("EDM_STREAM_RECENT_EVENTS", "0"),
                    ("EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0"),
                    ("EDM_STREAM_MAX_CLIENTS_PER_ADDRESS", "0"),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
            ),
            _ => {}
        }
        running.push((service, bench.start(service, port, env)?.0));
    }
    let stream_url = running[0].1.url();
    let seconds = WARM_UP_S + WINDOW_S + SETTLE_S;
    let clients = LineClient::start(bench.tool_command(&[
        "fanout",
        &stream_url,
        &CLIENTS.to_string(),
        &seconds.to_string(),
        "--records",
    ]))?;
    log(format!(
        "scale: {rate} clicks/s for {} s",
        WARM_UP_S + WINDOW_S
    ));
    let count = (rate * (WARM_UP_S + WINDOW_S)).to_string();
    let mut producer = bench
        .tool_command(&["produce", "click", &count, &rate.to_string()])
        .envs(kafka.iter().cloned())
        .spawn()
        .context("starting the producer")?;
    let offsets = Offsets::new(bench, &prefix)?;
    std::thread::sleep(Duration::from_secs(WARM_UP_S));
    let summary = |running: &[(&str, edm_tool::launcher::Launched)]| {
        running[0].1.metric("edm_stream_summary_mode") == 1.0
    };
    let pids: Vec<u32> = running
        .iter()
        .map(|(_, l)| l.pid().unwrap_or_default())
        .collect();
    let (start_mode, start_events, start_ticks, machine) = (
        summary(&running),
        offsets.clicks()?,
        pids.iter().map(|&p| cpu_ticks(p)).collect::<Vec<_>>(),
        MachineTicks::now(),
    );
    std::thread::sleep(Duration::from_secs(WINDOW_S));
    let end_ticks: Vec<u64> = pids.iter().map(|&p| cpu_ticks(p)).collect();
    let machine = machine.share_since();
    let (end_mode, end_events) = (summary(&running), offsets.clicks()?);
    let status = producer.wait()?;
    anyhow::ensure!(status.success(), "the producer failed ({status})");
    let results: Value = serde_json::from_str(&clients.finish()?)?;
    let clicks_in_kafka = offsets.clicks()?;
    let counted: Vec<u64> = results["records"]
        .as_array()
        .context("the clients' records")?
        .iter()
        .map(|client| latest_clicks(&client["counts"]))
        .collect::<anyhow::Result<_>>()?;
    for (_, launched) in &mut running {
        launched.stop();
    }
    Ok(Scale {
        rate,
        window_seconds: WINDOW_S,
        window_events: end_events - start_events,
        cpu_seconds: SERVICES
            .iter()
            .zip(start_ticks.iter().zip(&end_ticks))
            .map(|((service, _), (t0, t1))| ((*service).to_owned(), ticks_to_seconds(t1 - t0)))
            .collect(),
        summary_mode: (start_mode, end_mode),
        clients: CLIENTS,
        clients_exact: counted.iter().filter(|&&n| n == clicks_in_kafka).count(),
        clicks_in_kafka,
        counted_min: counted.iter().copied().min().unwrap_or_default(),
        counted_max: counted.iter().copied().max().unwrap_or_default(),
        machine,
    })
}

/// What a client's latest click counts per (minute, product) add up to,
/// from its `[[position, text]…]` counts messages in arrival order.
fn latest_clicks(counts: &Value) -> anyhow::Result<u64> {
    let mut latest: HashMap<String, u64> = HashMap::new();
    for pair in counts.as_array().context("counts messages")? {
        let text = pair[1].as_str().context("a counts record's text")?;
        let record = CountsRecord::parse(text.as_bytes())?;
        if record.kind == CountKind::Click {
            latest.insert(record.key(), record.count);
        }
    }
    Ok(latest.values().sum())
}

/// The click topic's end offsets, for how many clicks Kafka holds.
struct Offsets {
    consumer: BaseConsumer,
    topic: String,
}

impl Offsets {
    fn new(bench: &Bench, prefix: &str) -> anyhow::Result<Self> {
        let env = MapEnv::default()
            .with("KAFKA_URL", bench.kafka_url())
            .with("KAFKA_PREFIX", prefix);
        let settings = KafkaSettings::from_env(&env)?;
        Ok(Self {
            consumer: settings.client_config("edm-bench-scale").create()?,
            topic: settings.topic_name(Topic::Click),
        })
    }

    /// Clicks in the topic now (written without transactions, so offsets
    /// count records).
    fn clicks(&self) -> anyhow::Result<u64> {
        let timeout = Duration::from_secs(30);
        let metadata = self.consumer.fetch_metadata(Some(&self.topic), timeout)?;
        let mut total = 0;
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            let (low, high) =
                self.consumer
                    .fetch_watermarks(&self.topic, partition.id(), timeout)?;
            total += (high - low) as u64;
        }
        Ok(total)
    }
}
