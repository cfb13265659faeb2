//! Reads every partition of the streamed topics and publishes each valid
//! record (a store event, or an edm-trending result: see
//! [`crate::records`]) to the hub. Partitions are assigned manually, not
//! shared through a group rebalance, so every instance sees every event;
//! nothing is committed.
//! Of each partition, found at start or later, up to
//! `EDM_STREAM_RESUME_EVENTS` records before its end are read first (the
//! backfill: what clients resuming here may have missed, and recent events
//! for new ones; see [`crate::backfill`]); the live consumer reads what
//! follows its end at that moment.
//!
//! Once a second the ends of the raw topics' partitions tell the store's
//! rate ([`crate::mode`]); above `EDM_STREAM_RAW_EVENTS_PER_SECOND` the raw
//! partitions are unassigned (and the summary topics read), below it again
//! they are assigned anew from their ends (what came meanwhile is summarised,
//! not replayed).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edm_config::Topic;
use edm_runtime::StopSignal;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};

use crate::backfill::{self, Range};
use crate::hub::{Hub, HubCounters, PartitionKey, StreamEvent, Tracked};
use crate::mode::{Mode, ModeReport, ModeSwitch, SUMMARY_TOPICS};
use crate::records::{streamable, Kind, Unstreamable};
use crate::settings::Settings;

/// What the consumer reports to health checks and metrics.
#[derive(Debug, Default)]
pub struct ConsumerHealth {
    /// Partitions assigned.
    pub partitions: AtomicI64,
    /// Streamed topics with no partition assigned yet (not found, or their
    /// metadata not yet complete just after they were created).
    pub topics_missing: AtomicI64,
    /// Whether the last metadata lookup reached the cluster.
    pub reachable: AtomicBool,
    /// Messages behind the ends of the partitions.
    pub lag: AtomicI64,
    /// Per-partition lag, from librdkafka's statistics.
    pub partition_lag: Mutex<HashMap<(String, i32), i64>>,
}

/// How often partitions are looked up (new partitions, broker reachability).
const METADATA_INTERVAL: Duration = Duration::from_secs(15);
/// How soon to look again while a streamed topic has no partition assigned.
const RETRY_INTERVAL: Duration = Duration::from_millis(500);
/// How often the raw topics' ends are looked up for their rate.
const RATE_INTERVAL: Duration = Duration::from_secs(1);

/// Records lag from librdkafka's statistics.
pub struct LagContext(Arc<ConsumerHealth>);

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        let mut lags = HashMap::new();
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.hi_offset >= 0 && p.app_offset >= 0 {
                    lags.insert(
                        (topic.clone(), *partition),
                        (p.hi_offset - p.app_offset).max(0),
                    );
                }
            }
        }
        self.0.lag.store(lags.values().sum(), Ordering::Relaxed);
        *self.0.partition_lag.lock().unwrap() = lags;
    }
}

impl ConsumerContext for LagContext {}

/// The sum of the ends of `topics`' partitions (`None` when the cluster
/// did not answer).
async fn raw_ends(consumer: &Arc<StreamConsumer<LagContext>>, topics: &[String]) -> Option<i64> {
    let (consumer, topics) = (consumer.clone(), topics.to_vec());
    let ends = tokio::task::spawn_blocking(move || {
        let mut sum = 0;
        for topic in &topics {
            let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(2))?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    let (_, high) =
                        consumer.fetch_watermarks(t.name(), p.id(), Duration::from_secs(2))?;
                    sum += high;
                }
            }
        }
        Ok::<_, rdkafka::error::KafkaError>(sum)
    })
    .await
    .ok()?;
    ends.map_err(|e| tracing::debug!("looking up the raw topics' ends failed: {e}"))
        .ok()
}

/// The settings of every consumer that reads the streamed topics: they
/// assign partitions themselves and never commit.
fn reader_config(settings: &Settings) -> rdkafka::ClientConfig {
    let mut config = settings.consumer.consumer_config("edm-stream");
    config
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50");
    config
}

/// The stream event `message` is, or `None` (counted and logged) when its
/// topic does not stream it.
fn stream_event(
    settings: &Settings,
    hub: &Hub,
    message: &BorrowedMessage<'_>,
) -> Option<StreamEvent> {
    let topic = settings.consumer.kafka.topic_from_wire(message.topic())?;
    let streamed = match streamable(topic, message.payload(), settings.max_record_bytes) {
        Ok(streamed) => streamed,
        Err(Unstreamable::Invalid(reason)) => {
            HubCounters::count(&hub.counters.invalid, topic, 1);
            tracing::debug!(
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                // Quoted and escaped: it may quote the message.
                reason = ?reason,
                "skipping a message that is not a valid record of its topic"
            );
            return None;
        }
        Err(Unstreamable::Oversized(bytes)) => {
            HubCounters::count(&hub.counters.oversized, topic, 1);
            tracing::warn!(
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                bytes,
                max = settings.max_record_bytes,
                "not streaming a record longer than EDM_STREAM_MAX_RECORD_BYTES, \
                 even without the fields its topic does not define"
            );
            return None;
        }
    };
    if streamed.trimmed {
        HubCounters::count(&hub.counters.trimmed, topic, 1);
    }
    let timestamp_ms = message.timestamp().to_millis().unwrap_or_default();
    let key = PartitionKey {
        topic,
        partition: message.partition(),
    };
    let event = StreamEvent::new(key, message.offset(), &streamed.text, timestamp_ms);
    Some(match streamed.count_key {
        Some((minute, count_key)) => event.counting(minute, count_key),
        None => event,
    })
}

/// The running consumer task.
pub struct StreamReader {
    consumer: Arc<StreamConsumer<LagContext>>,
    settings: Settings,
    hub: Arc<Hub>,
    health: Arc<ConsumerHealth>,
    /// The mode clients are told of.
    mode: tokio::sync::watch::Sender<ModeReport>,
}

impl StreamReader {
    /// Creates the consumer (nothing is read until [`StreamReader::run`]).
    pub fn new(
        settings: &Settings,
        hub: Arc<Hub>,
        health: Arc<ConsumerHealth>,
        mode: tokio::sync::watch::Sender<ModeReport>,
    ) -> anyhow::Result<Self> {
        let consumer: StreamConsumer<LagContext> = reader_config(settings)
            .set("statistics.interval.ms", "5000")
            .create_with_context(LagContext(health.clone()))?;
        Ok(Self {
            consumer: Arc::new(consumer),
            settings: settings.clone(),
            hub,
            health,
            mode,
        })
    }

    /// The streamed topics read in `mode`: the raw topics in raw mode, the
    /// summary topics in summary mode, the others in both.
    fn topics_in(&self, mode: Mode) -> Vec<Topic> {
        self.settings
            .consumer
            .topics
            .iter()
            .copied()
            .filter(|topic| match mode {
                Mode::Raw => !SUMMARY_TOPICS.contains(topic),
                Mode::Summary => !topic.is_store_event(),
            })
            .collect()
    }

    /// Reads until `stop` fires.
    pub async fn run(self, stop: StopSignal) {
        let mut assigned: HashSet<(String, i32)> = HashSet::new();
        let mut next_lookup = tokio::time::Instant::now();
        let mut mode = Mode::Raw;
        // The rate is looked up beside the reading, which it never holds up.
        let (switched, mut switches) = tokio::sync::mpsc::channel(1);
        let watcher = tokio::spawn(self.watch_rate(switched));
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tokio::time::sleep_until(next_lookup) => {
                    let topics = self.topics_in(mode);
                    let backfill = self.settings.ring.events as i64;
                    self.assign_new_partitions(&topics, backfill, &mut assigned, &stop).await;
                    // Until every streamed topic has partitions, look again
                    // soon (a topic created a moment ago may not show all
                    // of them yet): none of its events may wait 15 s.
                    let kafka = &self.settings.consumer.kafka;
                    let missing = topics
                        .iter()
                        .map(|topic| kafka.topic_name(*topic))
                        .filter(|topic| !assigned.iter().any(|(t, _)| t == topic))
                        .count();
                    self.health.topics_missing.store(missing as i64, Ordering::Relaxed);
                    let wait = if missing > 0 { RETRY_INTERVAL } else { METADATA_INTERVAL };
                    next_lookup = tokio::time::Instant::now() + wait;
                }
                Some(next) = switches.recv() => {
                    mode = next;
                    self.switch_to(mode, &mut assigned);
                    // From their ends: what came while they were not read
                    // is summarised, not replayed.
                    self.assign_new_partitions(&self.topics_in(mode), 0, &mut assigned, &stop).await;
                }
                message = self.consumer.recv() => match message {
                    Ok(m) => self.publish(&m),
                    Err(e) => tracing::warn!("consumer error: {e}"),
                },
            }
        }
        watcher.abort();
        let _ = self.consumer.unassign();
        tracing::info!("stream consumer stopped");
    }

    /// Looks up the store's rate every second and sends each change of
    /// mode it decides.
    fn watch_rate(
        &self,
        switched: tokio::sync::mpsc::Sender<Mode>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let consumer = self.consumer.clone();
        let settings = self.settings.clone();
        let report = self.mode.clone();
        async move {
            let kafka = &settings.consumer.kafka;
            let raw: Vec<String> = settings
                .consumer
                .topics
                .iter()
                .filter(|topic| topic.is_store_event())
                .map(|topic| kafka.topic_name(*topic))
                .collect();
            if raw.is_empty() {
                return;
            }
            let mut switch = ModeSwitch::new(settings.raw_events_per_second);
            let mut tick = tokio::time::interval(RATE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(ends) = raw_ends(&consumer, &raw).await else {
                    continue;
                };
                let Some(mode) = switch.observe(std::time::Instant::now(), ends) else {
                    continue;
                };
                let rate = switch.rate().unwrap_or_default();
                tracing::info!(
                    mode = mode.name(),
                    events_per_second = rate as u64,
                    threshold = settings.raw_events_per_second,
                    "the store's rate crossed EDM_STREAM_RAW_EVENTS_PER_SECOND: switching"
                );
                report.send_replace(ModeReport {
                    mode,
                    events_per_second: rate as u64,
                });
                if switched.send(mode).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Stops reading the partitions of the topics `mode` does not read;
    /// the next lookup assigns those it does.
    fn switch_to(&self, mode: Mode, assigned: &mut HashSet<(String, i32)>) {
        let kafka = &self.settings.consumer.kafka;
        let wanted: Vec<String> = self
            .topics_in(mode)
            .into_iter()
            .map(|topic| kafka.topic_name(topic))
            .collect();
        let mut dropped = TopicPartitionList::new();
        for (topic, partition) in assigned.iter() {
            if !wanted.contains(topic) {
                dropped.add_partition(topic, *partition);
            }
        }
        if dropped.count() == 0 {
            return;
        }
        match self.consumer.incremental_unassign(&dropped) {
            Ok(()) => {
                assigned.retain(|(topic, _)| wanted.contains(topic));
                self.health
                    .partitions
                    .store(assigned.len() as i64, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!("unassigning partitions failed: {e}"),
        }
    }

    /// Publishes a live record, and observes its age.
    fn publish(&self, message: &BorrowedMessage<'_>) {
        let Some(event) = stream_event(&self.settings, &self.hub, message) else {
            return;
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        // The age of what the relay wrote; edm-trending's results are
        // written when a window closes, and are not store events.
        let timestamp_ms = event.timestamp_ms;
        if Kind::of(event.key.topic) == Kind::StoreEvent
            && timestamp_ms > 0
            && now_ms >= timestamp_ms
        {
            let age = (now_ms - timestamp_ms) as f64 / 1000.0;
            self.hub.counters.event_age.observe(age);
        }
        self.hub.publish(event);
    }

    /// Reads `ranges` ([`crate::backfill`]) with a consumer of its own, on a
    /// blocking thread.
    async fn read_backfill(&self, ranges: &[Range], stop: &StopSignal) -> backfill::Backfilled {
        if ranges.iter().all(|range| range.from >= range.to) {
            return backfill::Backfilled {
                events: Vec::new(),
                ring_starts: ranges.iter().map(|r| (r.key, r.from)).collect(),
            };
        }
        let (settings, hub, ranges, stop) = (
            self.settings.clone(),
            self.hub.clone(),
            ranges.to_vec(),
            stop.clone(),
        );
        let started = std::time::Instant::now();
        let read = tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = reader_config(&settings)
                .set("enable.partition.eof", "false")
                .create()?;
            Ok::<_, rdkafka::error::KafkaError>(backfill::read(
                &consumer,
                &ranges,
                settings.ring,
                &stop,
                |message| stream_event(&settings, &hub, message),
            ))
        })
        .await;
        match read {
            Ok(Ok(backfilled)) => {
                tracing::info!(
                    events = backfilled.events.len(),
                    millis = started.elapsed().as_millis() as u64,
                    "read the backfill"
                );
                backfilled
            }
            Ok(Err(e)) => {
                tracing::warn!("no backfill: its consumer could not be created: {e}");
                backfill::Backfilled::default()
            }
            Err(_) => backfill::Backfilled::default(),
        }
    }

    /// Looks up `topics`' partitions and assigns the ones not yet read from
    /// their ends, after handing the hub up to `backfill` records before
    /// each end ([`crate::backfill`]) and telling it where live records
    /// begin.
    async fn assign_new_partitions(
        &self,
        topics: &[Topic],
        backfill: i64,
        assigned: &mut HashSet<(String, i32)>,
        stop: &StopSignal,
    ) {
        let consumer = self.consumer.clone();
        let kafka = &self.settings.consumer.kafka;
        let topics: Vec<String> = topics.iter().map(|t| kafka.topic_name(*t)).collect();
        let known = assigned.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut fresh = Vec::new();
            for topic in &topics {
                let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(5))?;
                for t in metadata.topics() {
                    for p in t.partitions() {
                        let key = (t.name().to_owned(), p.id());
                        if known.contains(&key) {
                            continue;
                        }
                        let (low, high) =
                            consumer.fetch_watermarks(t.name(), p.id(), Duration::from_secs(5))?;
                        fresh.push((key, (high - backfill).max(low), high));
                    }
                }
            }
            Ok::<_, rdkafka::error::KafkaError>(fresh)
        })
        .await;
        let fresh = match found {
            Ok(Ok(fresh)) => fresh,
            Ok(Err(e)) => {
                self.health.reachable.store(false, Ordering::Relaxed);
                tracing::warn!("looking up partitions failed: {e}");
                return;
            }
            Err(_) => return,
        };
        self.health.reachable.store(true, Ordering::Relaxed);
        if fresh.is_empty() {
            return;
        }
        let kafka = &self.settings.consumer.kafka;
        let ranges: Vec<Range> = fresh
            .iter()
            .filter_map(|((topic, partition), from, to)| {
                Some(Range {
                    key: PartitionKey {
                        topic: kafka.topic_from_wire(topic)?,
                        partition: *partition,
                    },
                    wire_topic: topic.clone(),
                    from: *from,
                    to: *to,
                })
            })
            .collect();
        let backfilled = self.read_backfill(&ranges, stop).await;
        let tracked: Vec<Tracked> = ranges
            .iter()
            .map(|range| Tracked {
                key: range.key,
                from: backfilled
                    .ring_starts
                    .get(&range.key)
                    .copied()
                    .unwrap_or(range.to),
                live_from: range.to,
            })
            .collect();
        self.hub.track(&tracked, backfilled.events);
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), _, to) in &fresh {
            let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*to));
        }
        match self.consumer.incremental_assign(&tpl) {
            Ok(()) => {
                assigned.extend(fresh.into_iter().map(|(k, _, _)| k));
                self.health
                    .partitions
                    .store(assigned.len() as i64, Ordering::Relaxed);
                tracing::info!(partitions = assigned.len(), "reading every partition");
            }
            Err(e) => tracing::warn!("assigning partitions failed: {e}"),
        }
    }
}
