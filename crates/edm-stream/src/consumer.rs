//! Reads every partition of the streamed topics and publishes each valid
//! record (a store event, or an edm-trending result: see
//! [`crate::records`]) to the hub. Partitions are assigned manually, not
//! shared through a group rebalance, so every instance sees every event;
//! nothing is committed.
//! Each partition, found at start or later, is read from up to
//! `EDM_STREAM_RESUME_EVENTS` before its end (the backfill: what clients
//! resuming here may have missed, and recent events for new ones); what
//! follows its end at that moment is live.
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
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};

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
        let consumer: StreamConsumer<LagContext> = settings
            .consumer
            .consumer_config("edm-stream")
            .set("enable.auto.commit", "false")
            .set("statistics.interval.ms", "5000")
            .set("fetch.wait.max.ms", "50")
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
                    self.assign_new_partitions(&topics, backfill, &mut assigned).await;
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
                    self.assign_new_partitions(&self.topics_in(mode), 0, &mut assigned).await;
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

    fn publish(&self, message: &rdkafka::message::BorrowedMessage<'_>) {
        let Some(topic) = self
            .settings
            .consumer
            .kafka
            .topic_from_wire(message.topic())
        else {
            return;
        };
        let streamed = match streamable(topic, message.payload(), self.settings.max_record_bytes) {
            Ok(streamed) => streamed,
            Err(Unstreamable::Invalid(reason)) => {
                HubCounters::count(&self.hub.counters.invalid, topic, 1);
                tracing::debug!(
                    topic = message.topic(),
                    partition = message.partition(),
                    offset = message.offset(),
                    // Quoted and escaped: it may quote the message.
                    reason = ?reason,
                    "skipping a message that is not a valid record of its topic"
                );
                return;
            }
            Err(Unstreamable::Oversized(bytes)) => {
                HubCounters::count(&self.hub.counters.oversized, topic, 1);
                tracing::warn!(
                    topic = message.topic(),
                    partition = message.partition(),
                    offset = message.offset(),
                    bytes,
                    max = self.settings.max_record_bytes,
                    "not streaming a record longer than EDM_STREAM_MAX_RECORD_BYTES, \
                     even without the fields its topic does not define"
                );
                return;
            }
        };
        if streamed.trimmed {
            HubCounters::count(&self.hub.counters.trimmed, topic, 1);
        }
        let timestamp_ms = message.timestamp().to_millis().unwrap_or_default();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        // The age of what the relay wrote; edm-trending's results are
        // written when a window closes, and are not store events.
        if Kind::of(topic) == Kind::StoreEvent && timestamp_ms > 0 && now_ms >= timestamp_ms {
            let age = (now_ms - timestamp_ms) as f64 / 1000.0;
            self.hub.counters.event_age.observe(age);
        }
        let key = PartitionKey {
            topic,
            partition: message.partition(),
        };
        let mut event = StreamEvent::new(key, message.offset(), &streamed.text, timestamp_ms);
        if let Some((minute, count_key)) = streamed.count_key {
            event = event.counting(minute, count_key);
        }
        self.hub.publish(event);
    }

    /// Looks up `topics`' partitions and assigns the ones not yet read,
    /// each from `backfill` events before its end, telling the hub where its
    /// live part begins.
    async fn assign_new_partitions(
        &self,
        topics: &[Topic],
        backfill: i64,
        assigned: &mut HashSet<(String, i32)>,
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
        let tracked: Vec<Tracked> = fresh
            .iter()
            .filter_map(|((topic, partition), from, live_from)| {
                Some(Tracked {
                    key: PartitionKey {
                        topic: kafka.topic_from_wire(topic)?,
                        partition: *partition,
                    },
                    from: *from,
                    live_from: *live_from,
                })
            })
            .collect();
        self.hub.track(&tracked);
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), from, _) in &fresh {
            let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*from));
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
