//! `edm-bench trending-quiet <clicks> <grace-seconds> <skew-seconds>`: on a
//! quiet store, how long after a window's end its result reaches a
//! `read_committed` reader of `edm-trending`: `clicks` clicks now, as the
//! relay writes them, then nothing. No click closes the window; edm-trending's
//! watermark follows its clock once the input is read to its end, so the
//! result is due by the window's end plus grace plus skew plus 2 s (the
//! documented bound, printed beside the measure).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use edm_config::{KafkaSettings, ProcessEnv, Topic};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::arg;
use crate::produce::{event, now_ms, Seeded, StoreEvent};
use crate::trending_delay::{output_reader, read_results};

/// Runs the command and prints its JSON line.
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let clicks: u64 = arg(args, 2)?;
    let grace_ms: i64 = arg::<i64>(args, 3)? * 1000;
    let skew_ms: i64 = arg::<i64>(args, 4)? * 1000;
    anyhow::ensure!(clicks > 0, "at least one click");
    let settings = KafkaSettings::from_env(&ProcessEnv)?;
    tokio::task::spawn_blocking(move || measure(&settings, clicks, grace_ms, skew_ms)).await?
}

fn measure(
    settings: &KafkaSettings,
    clicks: u64,
    grace_ms: i64,
    skew_ms: i64,
) -> anyhow::Result<()> {
    let reader = output_reader(settings)?;
    let producer: ThreadedProducer<DefaultProducerContext> = settings
        .producer_config("edm-bench-trending-quiet")
        .create()?;
    let topic = settings.topic_name(Topic::Click);
    let clicked_at = now_ms();
    let mut rng = Seeded(0x9e1e_2026);
    for _ in 0..clicks {
        let (visitor, mut click) = event(StoreEvent::Click, &mut rng);
        click["event_timestamp"] = clicked_at.into();
        let text = click.to_string();
        producer
            .send(
                BaseRecord::<str, str>::to(&topic)
                    .key(&visitor)
                    .payload(&text),
            )
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(30))?;
    let end = clicked_at - clicked_at.rem_euclid(60_000) + 60_000;
    let bound_ms = grace_ms + skew_ms + 2_000;
    let give_up = Instant::now()
        + Duration::from_millis((end - now_ms() + bound_ms).max(0) as u64)
        + Duration::from_secs(60);
    let mut arrivals = BTreeMap::new();
    let key = ("1m".to_owned(), end);
    while !arrivals.contains_key(&key) && Instant::now() < give_up {
        read_results(&reader, Duration::from_millis(100), &mut arrivals)?;
    }
    let after_end_ms = arrivals.contains_key(&key).then(|| now_ms() - end);
    let result = serde_json::json!({
        "clicks": clicks,
        "grace_seconds": grace_ms / 1000,
        "skew_seconds": skew_ms / 1000,
        "bound_after_end_ms": bound_ms,
        "result_after_end_ms": after_end_ms,
    });
    println!("{result}");
    anyhow::ensure!(after_end_ms.is_some(), "no result for the window: {result}");
    Ok(())
}
