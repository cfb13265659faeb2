//! `edm-bench changelog <count>`: fills edm-trending's changelog topic
//! (`KAFKA_PREFIX` + `edm-trending-window-counts-changelog`) with `count`
//! count records for distinct keys (1-minute windows × 1,000 products),
//! as a long-running instance would leave it, so that `./edm bench
//! trending` can time a restore of that many records.

use std::time::{Duration, Instant};

use edm_config::{KafkaSettings, ProcessEnv};
use edm_trending::{ChangelogRecord, Count, Window, WindowSpec};
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

/// Runs the command; prints `{"records": N, "seconds": S}`.
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let count: u64 = args
        .get(2)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("usage: edm-bench changelog <count>"))?;
    let settings = KafkaSettings::from_env(&ProcessEnv)?;
    let topic = format!("{}edm-trending-window-counts-changelog", settings.prefix);
    tokio::task::spawn_blocking(move || fill(&settings, &topic, count)).await?
}

fn fill(settings: &KafkaSettings, topic: &str, count: u64) -> anyhow::Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = settings
        .producer_config("edm-bench-changelog")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .create()?;
    let started = Instant::now();
    // 2026-12-01T00:00:00Z, in 1-minute windows going back.
    let base = 1_796_083_200_000_i64;
    for n in 0..count {
        let window = Window::new(WindowSpec::OneMinute, base - (n / 1000) as i64 * 60_000)
            .ok_or_else(|| anyhow::anyhow!("window out of range"))?;
        let update = ChangelogRecord::Count {
            window,
            button_id: format!("product-{}", n % 1000),
            count: Count {
                clicks: 1 + n % 7,
                overcount: 0,
            },
        }
        .encode();
        let value = update.value.unwrap_or_default();
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .partition(0)
            .key(&update.key[..])
            .payload(&value[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60))?;
    println!(
        "{}",
        serde_json::json!({"records": count, "seconds": started.elapsed().as_secs_f64()})
    );
    Ok(())
}
