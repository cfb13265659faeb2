//! `edm-bench produce`: writes generated store events straight to Kafka as
//! fast as the brokers acknowledge them, or at a fixed rate. Events come
//! from a fixed-seed generator (20 buttons, 1000 visitors), carry an
//! `edm-event-id` header, and their `event_timestamp` is the time they were
//! produced, so consumers can measure delivery latency. A paced run first
//! warms the producer's connections up with events marked `bench-warmup`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edm_config::{KafkaSettings, ProcessEnv, Topic};
use edm_events::EVENT_ID_HEADER;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::post::WARM_UP_BUTTON;

/// A small deterministic generator (xorshift), so runs are repeatable.
pub struct Seeded(pub u64);

impl Seeded {
    /// The next pseudo-random number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Wall-clock time in epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The store events the bench writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreEvent {
    /// A click on one of 20 products.
    Click,
    /// A page load.
    PageLoad,
}

impl StoreEvent {
    /// The topic its events go to.
    fn topic(self) -> Topic {
        match self {
            StoreEvent::Click => Topic::Click,
            StoreEvent::PageLoad => Topic::PageLoad,
        }
    }
}

/// The next generated event of `kind` (one of 1,000 visitors), stamped now:
/// its visitor (the record key) and its JSON.
pub fn event(kind: StoreEvent, rng: &mut Seeded) -> (String, serde_json::Value) {
    let visitor = format!("visitor-{}", rng.next() % 1000);
    let value = match kind {
        StoreEvent::Click => {
            serde_json::json!({"topic": "edm-ui-click", "uuid": visitor, "event_timestamp": now_ms(),
            "properties": {"button_id": format!("product-{}", rng.next() % 20), "description": "button click"}})
        }
        StoreEvent::PageLoad => {
            serde_json::json!({"topic": "edm-ui-pageload", "uuid": visitor, "event_timestamp": now_ms(),
            "properties": {"user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "description": "Page loaded", "url": "http://localhost:3000"}})
        }
    };
    (visitor, value)
}

/// Fails on a delivery error (or a producer that went away).
fn settle(
    done: Result<OwnedDeliveryResult, futures::channel::oneshot::Canceled>,
) -> anyhow::Result<()> {
    match done {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(e.into()),
        Err(_) => anyhow::bail!("the producer dropped a delivery report"),
    }
}

/// Before a paced run, whose events' delays are measured: one event with
/// the visitor (and, for a click, the button) `bench-warmup` to every
/// partition, acknowledged, so that the first measured events do not wait
/// for the producer's connections. Latency clients leave these out.
async fn warm_up(producer: &FutureProducer, wire: &str, kind: StoreEvent) -> anyhow::Result<()> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(wire), Duration::from_secs(30))?;
    let partitions = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .map(|p| p.id());
    let mut rng = Seeded(1);
    for partition in partitions {
        let (_, mut value) = event(kind, &mut rng);
        value["uuid"] = WARM_UP_BUTTON.into();
        if kind == StoreEvent::Click {
            value["properties"]["button_id"] = WARM_UP_BUTTON.into();
        }
        let text = value.to_string();
        let record = FutureRecord::<str, str>::to(wire)
            .partition(partition)
            .payload(&text);
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// `edm-bench produce <click|pageload> <count> [events-per-second]`.
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let usage = "usage: edm-bench produce <click|pageload> <count> [events-per-second]";
    let kind = match args.get(2).map(String::as_str) {
        Some("click") => StoreEvent::Click,
        Some("pageload") => StoreEvent::PageLoad,
        _ => anyhow::bail!(usage),
    };
    let count: u64 = args
        .get(3)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow::anyhow!(usage))?;
    let rate: Option<f64> = args.get(4).and_then(|r| r.parse().ok());

    let settings = KafkaSettings::from_env(&ProcessEnv)?;
    let mut config = settings.producer_config("edm-bench");
    config.set("queue.buffering.max.messages", "1000000");
    if rate.is_none() {
        // In bulk, larger batches; a paced run writes as the relay does.
        config.set("linger.ms", "5");
    }
    let producer: FutureProducer = config.create()?;
    let wire = settings.topic_name(kind.topic());
    if rate.is_some() {
        warm_up(&producer, &wire, kind).await?;
    }
    let mut rng = Seeded(0x5eed_2026);
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    for n in 0..count {
        if let Some(rate) = rate {
            let due = started + Duration::from_secs_f64(n as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let (key, value) = event(kind, &mut rng);
        let text = value.to_string();
        let id = format!("bench-{n}");
        let mut record =
            FutureRecord::to(&wire)
                .key(&key)
                .payload(&text)
                .headers(OwnedHeaders::new().insert(Header {
                    key: EVENT_ID_HEADER,
                    value: Some(&id),
                }));
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    // The local queue is full: wait for an acknowledgement.
                    record = back;
                    if let Some(done) = pending.next().await {
                        settle(done)?;
                    }
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    while let Some(done) = pending.next().await {
        settle(done)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{{\"events\": {count}, \"seconds\": {secs:.3}, \"events_per_second\": {:.0}}}",
        count as f64 / secs
    );
    Ok(())
}
