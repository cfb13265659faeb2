//! `edm-bench kafka-bytes <click|pageload> <codec> <events-per-batch> <events>`:
//! the bytes a producer sends to Kafka per event, as the relay writes
//! events (the store's JSON as the value, the visitor's id as the key, an
//! `edm-event-id` header), compressed with `<codec>` in record batches of
//! exactly `<events-per-batch>` events. What a batch holds is what
//! compression can work on: the relay's batches hold the events of one
//! partition that arrive within `linger.ms` (2 ms), so one event each on a
//! quiet store and hundreds on a busy one. The figure is librdkafka's count
//! of bytes sent to the brokers (every request, framing included), which is
//! what a Heroku plan's produce quota counts; it does not depend on the
//! machine's speed.
//!
//! Events come from a fixed-seed generator: 1,000 visitors with UUIDs,
//! the store's 11 button ids, a random UUID event id each, page loads with a
//! browser's user agent.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edm_config::{Compression, KafkaSettings, ProcessEnv, Topic};
use edm_events::EVENT_ID_HEADER;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Statistics};

use crate::produce::{now_ms, Seeded};

const USAGE: &str =
    "usage: edm-bench kafka-bytes <click|pageload> <codec> <events-per-batch> <events>";

/// Keeps librdkafka's latest count of bytes sent to the brokers, and the
/// number of events settled and of those the brokers did not take.
#[derive(Default)]
struct BytesSent {
    bytes: Arc<AtomicI64>,
    settled: AtomicI64,
    failed: AtomicI64,
}

impl ClientContext for BytesSent {
    fn stats(&self, statistics: Statistics) {
        self.bytes.fetch_max(statistics.tx_bytes, Ordering::Relaxed);
    }
}

impl ProducerContext for BytesSent {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.settled.fetch_add(1, Ordering::Relaxed);
    }
}

/// A UUID-shaped id from `rng`.
fn uuid(rng: &mut Seeded) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// One event as the store sends it and the relay writes it: key, value
/// and event id.
fn store_event(topic: Topic, visitors: &[String], rng: &mut Seeded) -> (String, String, String) {
    let visitor = visitors[(rng.next() % visitors.len() as u64) as usize].clone();
    let value = match topic {
        Topic::PageLoad => serde_json::json!({
            "topic": "edm-ui-pageload", "uuid": visitor, "event_timestamp": now_ms(),
            "properties": {
                "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "description": "fix coffee page page loaded",
                "url": "https://edm-ui.herokuapp.com"
            }
        }),
        _ => {
            let items: Vec<_> = edm_ui::catalog::all_items().collect();
            let item = items[(rng.next() % items.len() as u64) as usize];
            serde_json::json!({
                "topic": "edm-ui-click", "uuid": visitor, "event_timestamp": now_ms(),
                "properties": {"button_id": item.button_id(), "description": "button click"}
            })
        }
    };
    (visitor, value.to_string(), uuid(rng))
}

/// `edm-bench kafka-bytes`: see the module documentation.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let topic = match args.get(2).map(String::as_str) {
        Some("click") => Topic::Click,
        Some("pageload") => Topic::PageLoad,
        _ => anyhow::bail!(USAGE),
    };
    let codec = Compression::ALL
        .into_iter()
        .find(|c| Some(c.name()) == args.get(3).map(String::as_str))
        .ok_or_else(|| anyhow::anyhow!(USAGE))?;
    let per_batch: usize = args
        .get(4)
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow::anyhow!(USAGE))?;
    let events: usize = args
        .get(5)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!(USAGE))?;

    let mut settings = KafkaSettings::from_env(&ProcessEnv)?;
    settings.compression = codec;
    let sent = Arc::new(AtomicI64::new(0));
    let producer: BaseProducer<BytesSent> = settings
        .producer_config("edm-bench-kafka-bytes")
        // A batch is what is queued before each flush below: enqueueing
        // even 1,000 events takes well under 5 ms.
        .set("linger.ms", "5")
        .set("batch.num.messages", per_batch.to_string())
        .set("batch.size", "100000000")
        .set("queue.buffering.max.messages", "10000000")
        .set("statistics.interval.ms", "100")
        .create_with_context(BytesSent {
            bytes: sent.clone(),
            ..BytesSent::default()
        })?;
    let wire = settings.topic_name(topic);
    let mut rng = Seeded(0x5eed_2026);
    let visitors: Vec<String> = (0..1000).map(|_| uuid(&mut rng)).collect();
    // Connections, metadata and the idempotent producer's id first: their
    // bytes are not the events'.
    producer
        .client()
        .fetch_metadata(Some(&wire), Duration::from_secs(30))?;
    let start = wait_for_stats(&producer, &sent, 0);
    for batch_start in (0..events).step_by(per_batch) {
        for _ in batch_start..(batch_start + per_batch).min(events) {
            let (key, value, id) = store_event(topic, &visitors, &mut rng);
            let record = BaseRecord::to(&wire)
                .partition(0)
                .key(&key)
                .payload(&value)
                .headers(OwnedHeaders::new().insert(Header {
                    key: EVENT_ID_HEADER,
                    value: Some(&id),
                }));
            producer.send(record).map_err(|(e, _)| e)?;
        }
        // The batch is complete: wait until it is settled, so that no
        // batch holds more or fewer events than asked.
        let queued = ((batch_start + per_batch).min(events)) as i64;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while producer.context().settled.load(Ordering::Relaxed) < queued {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the broker did not settle a batch within 60 s"
            );
            producer.poll(Duration::from_millis(1));
        }
    }
    let end = wait_for_stats(&producer, &sent, start);
    let failed = producer.context().failed.load(Ordering::Relaxed);
    anyhow::ensure!(
        failed == 0,
        "the broker refused {failed} of {events} events"
    );
    let bytes = end - start;
    println!(
        "{}",
        serde_json::json!({
            "kind": if topic == Topic::Click { "click" } else { "pageload" },
            "codec": codec.name(),
            "events_per_batch": per_batch,
            "events": events,
            "bytes": bytes,
            "bytes_per_event": (bytes as f64 / events as f64 * 10.0).round() / 10.0,
        })
    );
    Ok(())
}

/// Polls until librdkafka reports a byte count above `after` and stops
/// changing; returns it.
fn wait_for_stats(producer: &BaseProducer<BytesSent>, sent: &AtomicI64, after: i64) -> i64 {
    let mut last = -1;
    for _ in 0..100 {
        producer.poll(Duration::from_millis(150));
        let now = sent.load(Ordering::Relaxed);
        if now > after && now == last {
            return now;
        }
        last = now;
    }
    last
}
