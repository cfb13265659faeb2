//! `edm-bench trending-delay <events-per-second> <seconds> <speedup> <grace-seconds>`:
//! how long after the event that closes a window its result reaches a
//! `read_committed` reader of `edm-trending`, with a running edm-trending
//! and the store's events at a steady rate: clicks, and one page load in
//! four events (edm-trending's watermark waits for the page-load
//! partitions too; a store without page loads would hold it at its clock).
//!
//! A window's result cannot exist before stream time passes its end plus
//! the grace period, that is before the first event with an event time at
//! or past `end + grace` has been written: that event's send time is where
//! the delay starts. It ends when the result is read. What lies between is
//! the pipeline: the repartition stage's transaction, the window stage's,
//! and the reader.
//!
//! To get many windows in a short run, event time runs `speedup` times
//! faster than the wall clock (at 60, a 1-minute window lasts 1 s of wall
//! time): each click's `event_timestamp` and Kafka record timestamp are
//! both that synthetic time. The rate of clicks is real. Every window that
//! must have closed is checked to have arrived exactly once.
//!
//! edm-trending's watermark also follows its clock, `max_skew` behind it
//! (`EDM_TRENDING_MAX_CLOCK_SKEW_SECS`, which both must be given), and its
//! clock caps event times `max_skew` ahead of it. The synthetic time runs
//! between the two: it starts `max_skew` minus grace minus two minutes
//! before now, so that the clock's watermark never closes a window before
//! the clicks do, and it must end before now plus `max_skew` (the bench
//! runs edm-trending with 3,600 s).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use edm_config::{ConsumerGroup, KafkaSettings, ProcessEnv, Topic};
use edm_events::{TrendingRecord, EVENT_ID_HEADER};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::produce::{event, now_ms, Seeded, StoreEvent};
use crate::{arg, percentile};

/// How long the reader waits for the last results once the clicks stop.
const DRAIN: Duration = Duration::from_secs(30);
/// How far apart window ends are: both kinds (1m, 5m) end on every minute.
const WINDOW_ENDS_EVERY_MS: i64 = 60_000;
/// How many windows end on each minute boundary: a 1m and a 5m one.
const WINDOW_KINDS: usize = 2;

/// Runs the command and prints its JSON line.
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let rate: f64 = arg(args, 2)?;
    let seconds: f64 = arg(args, 3)?;
    let speedup: i64 = arg(args, 4)?;
    let grace_ms: i64 = arg::<i64>(args, 5)? * 1000;
    anyhow::ensure!(
        rate > 0.0 && seconds > 0.0 && speedup >= 1,
        "rate, seconds and speedup must be positive"
    );
    let settings = KafkaSettings::from_env(&ProcessEnv)?;
    tokio::task::spawn_blocking(move || measure(&settings, rate, seconds, speedup, grace_ms))
        .await?
}

/// `EDM_TRENDING_MAX_CLOCK_SKEW_SECS` as the edm-trending measured has it,
/// in ms.
fn max_skew_ms() -> anyhow::Result<i64> {
    let secs: i64 = std::env::var("EDM_TRENDING_MAX_CLOCK_SKEW_SECS")
        .map_err(|_| {
            anyhow::anyhow!("set EDM_TRENDING_MAX_CLOCK_SKEW_SECS as edm-trending has it")
        })?
        .trim()
        .parse()?;
    Ok(secs * 1000)
}

/// Event time as a function of wall time since `started`.
struct SyntheticClock {
    started: Instant,
    base_ms: i64,
    speedup: i64,
}

impl SyntheticClock {
    fn event_time(&self, at: Instant) -> i64 {
        self.base_ms + (at - self.started).as_millis() as i64 * self.speedup
    }
}

fn measure(
    settings: &KafkaSettings,
    rate: f64,
    seconds: f64,
    speedup: i64,
    grace_ms: i64,
) -> anyhow::Result<()> {
    let reader = output_reader(settings)?;
    let producer: ThreadedProducer<DefaultProducerContext> = settings
        .producer_config("edm-bench-trending-delay")
        .create()?;
    let clicks = settings.topic_name(Topic::Click);
    let page_loads = settings.topic_name(Topic::PageLoad);
    // Ahead of edm-trending's clock watermark (now minus the skew) by more
    // than grace, behind its cap (now plus the skew) to the end, aligned so
    // the first minute starts with the run.
    let max_skew_ms = max_skew_ms()?;
    let span_ms = (seconds * 1000.0) as i64 * speedup;
    let start_ms = now_ms() - max_skew_ms + grace_ms + 120_000;
    anyhow::ensure!(
        start_ms + span_ms + 60_000 <= now_ms() + max_skew_ms,
        "{span_ms} ms of synthetic time do not fit between edm-trending's clock watermark and \
         its cap: give it (and this command) a larger EDM_TRENDING_MAX_CLOCK_SKEW_SECS"
    );
    let base_ms =
        start_ms.div_euclid(WINDOW_ENDS_EVERY_MS) * WINDOW_ENDS_EVERY_MS + WINDOW_ENDS_EVERY_MS;
    let clock = SyntheticClock {
        started: Instant::now(),
        base_ms,
        speedup,
    };

    let mut rng = Seeded(0x5eed_2026);
    let mut sent: Vec<(i64, Instant)> = Vec::new();
    let mut arrivals: BTreeMap<(String, i64), Vec<Instant>> = BTreeMap::new();
    let count = (rate * seconds) as u64;
    for n in 0..count {
        let due = clock.started + Duration::from_secs_f64(n as f64 / rate);
        while Instant::now() < due {
            read_results(
                &reader,
                due.saturating_duration_since(Instant::now()),
                &mut arrivals,
            )?;
        }
        let at = Instant::now();
        let event_time = clock.event_time(at);
        let (kind, topic) = if n % 4 == 3 {
            (StoreEvent::PageLoad, &page_loads)
        } else {
            (StoreEvent::Click, &clicks)
        };
        let (visitor, mut value) = event(kind, &mut rng);
        value["event_timestamp"] = event_time.into();
        let text = value.to_string();
        let id = format!("bench-delay-{n}");
        let record = BaseRecord::<str, str>::to(topic)
            .key(&visitor)
            .payload(&text)
            .timestamp(event_time)
            .headers(OwnedHeaders::new().insert(Header {
                key: EVENT_ID_HEADER,
                value: Some(&id),
            }));
        producer.send(record).map_err(|(e, _)| e)?;
        sent.push((event_time, at));
    }
    producer.flush(Duration::from_secs(30))?;
    let last_event_time = sent.last().map_or(base_ms, |s| s.0);
    // Every window ending at a minute boundary e with e + grace at or
    // before the last event's time must close (two kinds per boundary).
    let first_end = base_ms + WINDOW_ENDS_EVERY_MS;
    let closed_ends: Vec<i64> = (0..)
        .map(|k| first_end + k * WINDOW_ENDS_EVERY_MS)
        .take_while(|end| end + grace_ms <= last_event_time)
        .collect();
    let expected = closed_ends.len() * WINDOW_KINDS;
    let drain_until = Instant::now() + DRAIN;
    while arrivals.len() < expected && Instant::now() < drain_until {
        read_results(&reader, Duration::from_millis(100), &mut arrivals)?;
    }

    let mut delays = Vec::new();
    for ((_, end), seen) in &arrivals {
        let closes_at = end + grace_ms;
        let closing = sent.partition_point(|(t, _)| *t < closes_at);
        if let Some((_, sent_at)) = sent.get(closing) {
            delays.push(seen[0].saturating_duration_since(*sent_at).as_secs_f64() * 1000.0);
        }
    }
    delays.sort_by(f64::total_cmp);
    let missing = closed_ends
        .iter()
        .map(|end| {
            WINDOW_KINDS
                - arrivals
                    .keys()
                    .filter(|(_, e)| e == end)
                    .count()
                    .min(WINDOW_KINDS)
        })
        .sum::<usize>();
    let repeated = arrivals.values().filter(|seen| seen.len() > 1).count();
    let result = serde_json::json!({
        "events": count,
        "events_per_second": rate,
        "speedup": speedup,
        "grace_seconds": grace_ms / 1000,
        "windows_expected": expected,
        "windows_received": arrivals.len(),
        "windows_missing": missing,
        "windows_repeated": repeated,
        "p50_ms": percentile(&delays, 50.0),
        "p99_ms": percentile(&delays, 99.0),
        "max_ms": delays.last().copied().unwrap_or(0.0),
    });
    println!("{result}");
    anyhow::ensure!(
        missing == 0 && repeated == 0,
        "edm-trending's results are incomplete or repeated: {result}"
    );
    Ok(())
}

/// A `read_committed` reader of `edm-trending` from its beginning (the
/// bench runs under a prefix of its own).
pub(crate) fn output_reader(settings: &KafkaSettings) -> anyhow::Result<BaseConsumer> {
    let group = ConsumerGroup::new("edm-bench-trending-delay")?;
    let reader: BaseConsumer = settings
        .consumer_config("edm-bench-trending-delay", &group)
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let topic = settings.topic_name(Topic::Trending);
    let metadata = reader.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        assignment.add_partition_offset(&topic, partition.id(), Offset::Beginning)?;
    }
    anyhow::ensure!(assignment.count() > 0, "topic {topic} has no partitions");
    reader.assign(&assignment)?;
    Ok(reader)
}

/// Reads results for up to `wait`, noting when each window's arrived
/// (keyed by window name and end).
pub(crate) fn read_results(
    reader: &BaseConsumer,
    wait: Duration,
    arrivals: &mut BTreeMap<(String, i64), Vec<Instant>>,
) -> anyhow::Result<()> {
    let Some(message) = reader.poll(wait) else {
        return Ok(());
    };
    let message = message?;
    let seen = Instant::now();
    let record: TrendingRecord = serde_json::from_slice(message.payload().unwrap_or_default())?;
    arrivals
        .entry((record.window.name.to_string(), record.window.end))
        .or_default()
        .push(seen);
    Ok(())
}
