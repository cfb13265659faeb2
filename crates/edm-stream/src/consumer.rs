//! Reads every partition of the streamed topics and publishes each valid
//! record (a store event, or an edm-trending result: see
//! [`crate::records`]) to the hub. Partitions are assigned manually, not
//! shared through a group rebalance, so every instance sees every event;
//! nothing is committed.
//! Each partition, found at start or later, is read from up to
//! `EDM_STREAM_RESUME_EVENTS` before its end (the backfill: what clients
//! resuming here may have missed, and recent events for new ones); what
//! follows its end at that moment is live.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edm_runtime::StopSignal;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};

use crate::hub::{Hub, HubCounters, PartitionKey, StreamEvent, Tracked};
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

/// The running consumer task.
pub struct StreamReader {
    consumer: Arc<StreamConsumer<LagContext>>,
    settings: Settings,
    hub: Arc<Hub>,
    health: Arc<ConsumerHealth>,
}

impl StreamReader {
    /// Creates the consumer (nothing is read until [`StreamReader::run`]).
    pub fn new(
        settings: &Settings,
        hub: Arc<Hub>,
        health: Arc<ConsumerHealth>,
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
        })
    }

    /// Reads until `stop` fires.
    pub async fn run(self, stop: StopSignal) {
        let mut assigned: HashSet<(String, i32)> = HashSet::new();
        let mut next_lookup = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tokio::time::sleep_until(next_lookup) => {
                    self.assign_new_partitions(&mut assigned).await;
                    // Until every streamed topic has partitions, look again
                    // soon (a topic created a moment ago may not show all
                    // of them yet): none of its events may wait 15 s.
                    let missing = self
                        .settings
                        .consumer
                        .topic_names()
                        .iter()
                        .filter(|topic| !assigned.iter().any(|(t, _)| t == *topic))
                        .count();
                    self.health.topics_missing.store(missing as i64, Ordering::Relaxed);
                    let wait = if missing > 0 { RETRY_INTERVAL } else { METADATA_INTERVAL };
                    next_lookup = tokio::time::Instant::now() + wait;
                }
                message = self.consumer.recv() => match message {
                    Ok(m) => self.publish(&m),
                    Err(e) => tracing::warn!("consumer error: {e}"),
                },
            }
        }
        let _ = self.consumer.unassign();
        tracing::info!("stream consumer stopped");
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
        self.hub.publish(StreamEvent::new(
            key,
            message.offset(),
            &streamed.text,
            timestamp_ms,
        ));
    }

    /// Looks up the topics' partitions and assigns the ones not yet read,
    /// each from its backfill start, telling the hub where its live part
    /// begins.
    async fn assign_new_partitions(&self, assigned: &mut HashSet<(String, i32)>) {
        let consumer = self.consumer.clone();
        let topics = self.settings.consumer.topic_names();
        let backfill = self.settings.ring.events as i64;
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
