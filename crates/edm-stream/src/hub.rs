//! Where events meet clients.
//!
//! The hub keeps the last events it published in a ring (bounded in events
//! and bytes: `EDM_STREAM_RESUME_EVENTS`, `EDM_STREAM_RESUME_BYTES`), each
//! numbered in the order it was published. Every client reads the ring
//! through its own [`Cursor`]: publishing is one push under a short lock and
//! one wake-up, whatever the number of clients, and a slow client holds no
//! queue of its own; it is only further back in the ring. A client loses
//! events only when it falls behind the ring's start, and then it is told
//! how many (counted in `/metrics` too).
//!
//! Every event knows where it is in Kafka (logical topic, partition,
//! offset), which is the same on every instance, so a client that
//! reconnects anywhere can say what it has and get exactly what it missed:
//!
//! - a **fresh** client gets the most recent events of its topics (the
//!   last N of each kind: store events, and edm-trending's results, which
//!   are rare and would otherwise be crowded out by clicks), then live
//!   ones;
//! - a **resuming** client names the last offset it received per partition
//!   and gets every later event the ring holds, then live ones, each at
//!   most once: a cursor skips what is at or below its positions;
//! - a resuming client further behind than the ring reaches is told so
//!   (`too_far_behind`) and starts fresh.
//!
//! A cursor starts at a numbered place in the ring taken under the same
//! lock as its snapshot (recent events, or the positions it resumes from),
//! so snapshot and live events meet without a gap or a duplicate.
//!
//! Events read while an instance catches up after its start (its backfill,
//! below the partition's end at the time it was assigned) fill the ring
//! and reach resuming clients that are behind them, but are never streamed
//! to fresh clients as if they were live.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use edm_config::Topic;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use serde_json::value::RawValue;
use tokio::sync::{watch, Notify};

use crate::records::Kind;

/// A partition of a logical topic: where positions are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    /// Logical topic.
    pub topic: Topic,
    /// Partition number.
    pub partition: i32,
}

impl fmt::Display for PartitionKey {
    /// `edm-ui-click/0`: the key clients use in positions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic.name(), self.partition)
    }
}

impl PartitionKey {
    /// Reads `edm-ui-click/0`.
    pub fn parse(text: &str) -> Option<Self> {
        let (topic, partition) = text.rsplit_once('/')?;
        Some(Self {
            topic: topic.parse().ok()?,
            partition: partition.parse().ok().filter(|p: &i32| *p >= 0)?,
        })
    }
}

/// One event as it is streamed, encoded once for every client.
#[derive(Debug)]
pub struct StreamEvent {
    /// Its partition.
    pub key: PartitionKey,
    /// Its offset in the partition.
    pub offset: i64,
    /// Kafka timestamp (ms), for ordering recent events and latency.
    pub timestamp_ms: i64,
    /// The event's JSON text, exactly as it was in Kafka, as a JSON string.
    pub text_json: Box<RawValue>,
    /// Its position as a JSON string: `"edm-ui-click/0/1234"`.
    pub position_json: Box<RawValue>,
    /// Its number in the hub: events published before it have lower ones.
    seq: u64,
    /// Its number among the events of its topic.
    topic_seq: u64,
    /// Whether it came after its partition's end at assignment (not
    /// backfill).
    live: bool,
    /// For a counts record: its minute and key (`kind:minute:name`), so
    /// that the hub keeps the latest record of each key.
    count_key: Option<(i64, String)>,
}

impl StreamEvent {
    /// The event at `offset` of `key` whose JSON text is `text`.
    pub fn new(key: PartitionKey, offset: i64, text: &str, timestamp_ms: i64) -> Self {
        let json = |value: &str| {
            RawValue::from_string(serde_json::to_string(value).expect("a string encodes"))
                .expect("an encoded string is JSON")
        };
        Self {
            key,
            offset,
            timestamp_ms,
            text_json: json(text),
            position_json: json(&format!("{key}/{offset}")),
            seq: 0,
            topic_seq: 0,
            live: true,
            count_key: None,
        }
    }

    /// This counts record, of `minute` and `key` (`kind:minute:name`).
    pub fn counting(mut self, minute: i64, key: String) -> Self {
        self.count_key = Some((minute, key));
        self
    }

    /// The event's JSON text.
    pub fn text(&self) -> String {
        serde_json::from_str(self.text_json.get()).expect("an encoded string")
    }

    /// Bytes it holds (its encoded text).
    pub(crate) fn size(&self) -> usize {
        self.text_json.get().len()
    }
}

/// The last offset a client has of each partition.
pub type Positions = HashMap<PartitionKey, i64>;

/// Topics are few: per-topic counts live in arrays indexed by this.
const TOPICS: usize = Topic::ALL.len();

fn topic_index(topic: Topic) -> usize {
    Topic::ALL
        .iter()
        .position(|t| *t == topic)
        .expect("every topic is in Topic::ALL")
}

/// Labels of the per-topic counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    /// Logical topic.
    pub topic: &'static str,
}

/// Totals for `/metrics` (prometheus-client counters, registered by
/// [`crate::metrics`]).
#[derive(Debug, Clone)]
pub struct HubCounters {
    /// Events read from Kafka and published to clients, by topic.
    pub events: Family<TopicLabels, Counter>,
    /// Messages skipped because they were not valid events, by topic.
    pub invalid: Family<TopicLabels, Counter>,
    /// Records longer than `EDM_STREAM_MAX_RECORD_BYTES`, streamed as the
    /// fields their topic defines, by topic.
    pub trimmed: Family<TopicLabels, Counter>,
    /// Records longer than the cap even so, not streamed, by topic.
    pub oversized: Family<TopicLabels, Counter>,
    /// Events handed to a client's socket, by topic.
    pub deliveries: Family<TopicLabels, Counter>,
    /// Clients with full socket buffers disconnected to keep what such
    /// buffers hold within `EDM_STREAM_STALLED_CLIENT_BYTES`.
    pub stalled_disconnects: Counter,
    /// Events slow clients lost because the ring dropped them before they
    /// were read.
    pub drops: Counter,
    /// Clients that resumed, by outcome (`resumed`, `too_far_behind`).
    pub resumes: Family<ResumeLabels, Counter>,
    /// Seconds from an event's Kafka timestamp (when the relay produced
    /// it) to its publication here: how fresh the stream is.
    pub event_age: Histogram,
}

/// Labels of the resume counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResumeLabels {
    /// `resumed` or `too_far_behind`.
    pub outcome: &'static str,
}

impl Default for HubCounters {
    fn default() -> Self {
        Self {
            events: Family::default(),
            invalid: Family::default(),
            trimmed: Family::default(),
            oversized: Family::default(),
            deliveries: Family::default(),
            stalled_disconnects: Counter::default(),
            drops: Counter::default(),
            resumes: Family::default(),
            event_age: Histogram::new(EVENT_AGE_BUCKETS),
        }
    }
}

/// Upper bounds (seconds) of the event-age buckets: 1 ms to 10 s.
const EVENT_AGE_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl HubCounters {
    /// Counts `n` events of `topic` in `family`.
    pub fn count(family: &Family<TopicLabels, Counter>, topic: Topic, n: u64) {
        family
            .get_or_create(&TopicLabels {
                topic: topic.name(),
            })
            .inc_by(n);
    }
}

/// How far back the ring reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingBounds {
    /// Events at most (`EDM_STREAM_RESUME_EVENTS`).
    pub events: usize,
    /// Bytes of event text at most (`EDM_STREAM_RESUME_BYTES`).
    pub bytes: usize,
}

/// A partition this instance reads: from where, and where live events
/// begin (its end when it was assigned; what comes before is backfill).
#[derive(Debug, Clone, Copy)]
pub struct Tracked {
    /// The partition.
    pub key: PartitionKey,
    /// The first offset read.
    pub from: i64,
    /// The first offset that is live.
    pub live_from: i64,
}

/// What the hub knows of one partition.
#[derive(Debug, Clone, Copy)]
struct PartitionState {
    /// The first offset the ring can still hand out: events below it are
    /// gone (evicted, or read before this instance started).
    ring_start: i64,
    /// The last offset published (`ring_start - 1` before any).
    last: i64,
    /// The first live offset: a fresh client starts no earlier.
    live_from: i64,
}

impl PartitionState {
    /// Where a fresh client starts: after what is published, and never in
    /// the backfill.
    fn fresh_position(&self) -> i64 {
        self.last.max(self.live_from - 1)
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Events in the order they were published.
    ring: VecDeque<Arc<StreamEvent>>,
    ring_bytes: usize,
    /// The number of the event at the ring's front (of the next one when
    /// the ring is empty).
    first_seq: u64,
    partitions: HashMap<PartitionKey, PartitionState>,
    /// Events of each topic published so far.
    published: [u64; TOPICS],
    /// Events of each topic dropped from the ring so far.
    evicted: [u64; TOPICS],
    /// The ring's events of each kind (see [`Kind`]), in the same order.
    by_kind: [VecDeque<Arc<StreamEvent>>; Kind::COUNT],
    /// The latest counts record of each key, kept after it leaves the
    /// ring: a count is state, and a client that lost records gets them
    /// all again ([`Cursor::read`]). At most as many keys as the ring holds
    /// events; past that, the oldest minutes' go.
    latest_counts: HashMap<String, (i64, Arc<StreamEvent>)>,
}

impl Inner {
    /// The number the next event published gets.
    fn next_seq(&self) -> u64 {
        self.first_seq + self.ring.len() as u64
    }
}

/// What a client asked for when it connected.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Topics it wants.
    pub topics: Vec<Topic>,
    /// Recent events of each kind (see [`Kind`]) it wants if it starts
    /// fresh.
    pub recent: usize,
    /// Where it was, when it resumes.
    pub resume: Option<Positions>,
}

/// How a client's stream begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// No position given: recent events, then live ones.
    Fresh,
    /// Every event after its positions, then live ones.
    Resumed,
    /// Its positions are older than the ring reaches: started fresh.
    TooFarBehind,
}

/// A registered client: how its stream begins, and its cursor.
#[derive(Debug)]
pub struct Subscription {
    /// How the stream begins.
    pub start: Start,
    /// Events it missed that the ring hands it (resumed clients).
    pub replayed: usize,
    /// The positions the client starts from, for every partition known.
    pub positions: Positions,
    /// Where it reads.
    pub cursor: Cursor,
}

/// What a cursor read: events lost since the last read, then events.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Events of the client's topics that left the ring before it read
    /// them.
    pub gap: u64,
    /// Events to send, in order.
    pub events: Vec<Arc<StreamEvent>>,
}

/// One client's place in the hub's ring.
#[derive(Debug)]
pub struct Cursor {
    /// Sent before the ring: the recent events of a fresh client.
    first: VecDeque<Arc<StreamEvent>>,
    /// The number of the next event to look at.
    next_seq: u64,
    /// The number, within each topic, of the next event it expects (to
    /// count what it lost).
    expected: [u64; TOPICS],
    /// Where the client is; events at or below are not sent.
    positions: Positions,
    topics: Vec<Topic>,
    /// Changes when events are published.
    head: watch::Receiver<u64>,
    _client: ClientCount,
}

impl Cursor {
    /// Up to `max` events for the client, after what it was handed before.
    pub fn read(&mut self, hub: &Hub, max: usize) -> Delivery {
        if !self.first.is_empty() {
            let n = max.min(self.first.len());
            return Delivery {
                gap: 0,
                events: self.first.drain(..n).collect(),
            };
        }
        let inner = hub.inner.read().unwrap();
        let mut delivery = Delivery {
            gap: self.skip_evicted(&inner),
            events: Vec::new(),
        };
        let from = (self.next_seq - inner.first_seq) as usize;
        for event in inner.ring.range(from..) {
            if delivery.events.len() >= max {
                break;
            }
            self.next_seq = event.seq + 1;
            if !self.topics.contains(&event.key.topic) {
                continue;
            }
            self.expected[topic_index(event.key.topic)] = event.topic_seq + 1;
            if self.take(event) {
                delivery.events.push(event.clone());
            }
        }
        drop(inner);
        hub.counters.drops.inc_by(delivery.gap);
        delivery
    }

    /// Moves past events that left the ring before the client read them
    /// (while its socket is full, say), and says how many of its topics'
    /// events that was: the gap to report before the next event read.
    pub fn skip_lost(&mut self, hub: &Hub) -> u64 {
        let gap = self.skip_evicted(&hub.inner.read().unwrap());
        hub.counters.drops.inc_by(gap);
        gap
    }

    /// Moves past what left the ring unread; when that was something,
    /// queues the latest record of every count it may have lost, so that a
    /// client's counts are whole again (one it already had comes again;
    /// readers keep the highest count of a key).
    fn skip_evicted(&mut self, inner: &Inner) -> u64 {
        let mut gap = 0;
        if self.next_seq < inner.first_seq {
            for topic in &self.topics {
                let t = topic_index(*topic);
                gap += inner.evicted[t].saturating_sub(self.expected[t]);
                self.expected[t] = self.expected[t].max(inner.evicted[t]);
            }
            if gap > 0 && self.topics.contains(&Topic::Counts) {
                let mut counts: Vec<&Arc<StreamEvent>> = inner
                    .latest_counts
                    .values()
                    .map(|(_, event)| event)
                    .filter(|event| event.seq < inner.first_seq)
                    .collect();
                counts.sort_by_key(|event| event.seq);
                self.first.extend(counts.into_iter().cloned());
            }
            self.next_seq = inner.first_seq;
        }
        gap
    }

    /// Whether `event` is past the client's position (then it becomes the
    /// client's position). Of a partition it has no position in, it gets
    /// live events only.
    fn take(&mut self, event: &StreamEvent) -> bool {
        match self.positions.get_mut(&event.key) {
            Some(at) if event.offset <= *at => false,
            Some(at) => {
                *at = event.offset;
                true
            }
            None if event.live => {
                self.positions.insert(event.key, event.offset);
                true
            }
            None => false,
        }
    }

    /// Waits until events are published after the last wait; `false` when
    /// the hub is gone.
    pub async fn published(&mut self) -> bool {
        self.head.changed().await.is_ok()
    }
}

/// Counts a client as connected while it lives.
#[derive(Debug)]
struct ClientCount(Arc<AtomicUsize>);

impl ClientCount {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for ClientCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How often a hub wakes its clients. Waking every client and writing to
/// every socket costs about the same for one event as for several, so with
/// many clients the hub wakes them at most once per interval, and each
/// wake-up carries every event published since the last. The interval
/// grows with the clients connected (`per_client` each, up to `max`): a
/// handful of clients are woken at every event, where pacing would only
/// add delay, while thousands share one wake-up per `max`. The first event
/// after a quiet spell always goes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WakePacing {
    /// Added to the interval for each connected client.
    pub per_client: Duration,
    /// The longest interval (zero: pacing off).
    pub max: Duration,
}

impl WakePacing {
    /// Clients woken at every event.
    pub const OFF: Self = Self {
        per_client: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// Intervals shorter than this are not worth a timer (tokio's are
    /// whole milliseconds): clients are woken at every event.
    const SHORTEST: Duration = Duration::from_millis(1);

    /// The interval for `clients` connected clients.
    pub fn interval(&self, clients: usize) -> Duration {
        let scaled = self
            .per_client
            .saturating_mul(u32::try_from(clients).unwrap_or(u32::MAX))
            .min(self.max);
        if scaled < Self::SHORTEST {
            Duration::ZERO
        } else {
            scaled
        }
    }
}

/// The hub shared by the consumer and all connections.
#[derive(Debug)]
pub struct Hub {
    inner: RwLock<Inner>,
    ring_bounds: RingBounds,
    /// The number of the next event; cursors wait for it to change.
    head: watch::Sender<u64>,
    /// How often clients may be woken; see [`WakePacing`].
    pacing: WakePacing,
    /// The number of the next event, not yet announced on `head`.
    unannounced: AtomicU64,
    /// Tells [`Hub::pace_wakes`] that events were published.
    wake_requested: Notify,
    clients: Arc<AtomicUsize>,
    /// Set once partitions are known, so resumes can be checked.
    tracking: Notify,
    tracking_started: AtomicBool,
    /// Totals for metrics.
    pub counters: HubCounters,
}

impl Hub {
    /// A hub whose ring holds `ring` (at least one event).
    pub fn new(ring: RingBounds) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            ring_bounds: RingBounds {
                events: ring.events.max(1),
                bytes: ring.bytes,
            },
            head: watch::Sender::new(0),
            pacing: WakePacing::OFF,
            unannounced: AtomicU64::new(0),
            wake_requested: Notify::new(),
            clients: Arc::default(),
            tracking: Notify::new(),
            tracking_started: AtomicBool::new(false),
            counters: HubCounters::default(),
        }
    }

    /// The same hub, waking its clients as `pacing` says; with pacing on,
    /// [`Hub::pace_wakes`] must run.
    pub fn with_wake_pacing(mut self, pacing: WakePacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// Announces published events to the clients: the first after a quiet
    /// spell at once, later ones at most once per wake interval. Runs until
    /// dropped.
    pub async fn pace_wakes(&self) {
        loop {
            self.wake_requested.notified().await;
            self.wake_clients(self.unannounced.load(Ordering::Acquire));
            // Events published meanwhile leave a permit: the loop announces
            // them as soon as the interval is over.
            tokio::time::sleep(self.pacing.interval(self.client_count())).await;
        }
    }

    /// Wakes the clients now, or lets the pacer do it.
    fn announce(&self, next_seq: u64) {
        if self.pacing.interval(self.client_count()).is_zero() {
            self.wake_clients(next_seq);
        } else {
            self.unannounced.fetch_max(next_seq, Ordering::AcqRel);
            self.wake_requested.notify_one();
        }
    }

    /// Tells every cursor that events up to `next_seq` are published.
    fn wake_clients(&self, next_seq: u64) {
        self.head.send_modify(|head| *head = (*head).max(next_seq));
    }

    /// Starts tracking `partitions` and publishes their `backfill` (records
    /// before their live parts, oldest first), in one step: a client that
    /// connects meanwhile sees neither or both. Clients already connected
    /// get their live events only, as fresh clients do.
    pub fn track(&self, partitions: &[Tracked], backfill: Vec<StreamEvent>) {
        let mut inner = self.inner.write().unwrap();
        for tracked in partitions {
            inner.partitions.insert(
                tracked.key,
                PartitionState {
                    ring_start: tracked.from,
                    last: tracked.from - 1,
                    live_from: tracked.live_from,
                },
            );
        }
        let mut published = [0u64; TOPICS];
        for event in backfill {
            published[topic_index(event.key.topic)] += 1;
            self.push(&mut inner, event);
        }
        let next_seq = inner.next_seq();
        drop(inner);
        self.tracking_started.store(true, Ordering::SeqCst);
        self.tracking.notify_waiters();
        self.announce(next_seq);
        for (topic, n) in Topic::ALL.iter().zip(published) {
            if n > 0 {
                HubCounters::count(&self.counters.events, *topic, n);
            }
        }
    }

    /// Waits until partitions are known (resumes are checked against them).
    pub async fn tracking(&self) {
        loop {
            let notified = self.tracking.notified();
            if self.tracking_started.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Adds an event to the ring and wakes the clients.
    pub fn publish(&self, event: StreamEvent) {
        let topic = event.key.topic;
        let next_seq = {
            let mut inner = self.inner.write().unwrap();
            self.push(&mut inner, event);
            inner.next_seq()
        };
        self.announce(next_seq);
        HubCounters::count(&self.counters.events, topic, 1);
    }

    /// Adds an event to the ring, letting the oldest go past its bounds.
    fn push(&self, inner: &mut Inner, mut event: StreamEvent) {
        let topic = event.key.topic;
        let state = inner.partitions.entry(event.key).or_insert(PartitionState {
            ring_start: event.offset,
            last: event.offset - 1,
            live_from: event.offset,
        });
        state.last = state.last.max(event.offset);
        event.live = event.offset >= state.live_from;
        event.seq = inner.next_seq();
        event.topic_seq = inner.published[topic_index(topic)];
        inner.published[topic_index(topic)] += 1;
        inner.ring_bytes += event.size();
        let event = Arc::new(event);
        if let Some((minute, key)) = &event.count_key {
            inner
                .latest_counts
                .insert(key.clone(), (*minute, event.clone()));
            if inner.latest_counts.len() > self.ring_bounds.events {
                let oldest = inner.latest_counts.values().map(|(m, _)| *m).min();
                inner.latest_counts.retain(|_, (m, _)| Some(*m) != oldest);
            }
        }
        inner.by_kind[Kind::of(topic).index()].push_back(event.clone());
        inner.ring.push_back(event);
        while inner.ring.len() > self.ring_bounds.events
            || (inner.ring_bytes > self.ring_bounds.bytes && inner.ring.len() > 1)
        {
            let Some(gone) = inner.ring.pop_front() else {
                break;
            };
            inner.ring_bytes -= gone.size();
            inner.first_seq += 1;
            inner.evicted[topic_index(gone.key.topic)] += 1;
            // The oldest of its kind: the indexes keep the ring's order.
            inner.by_kind[Kind::of(gone.key.topic).index()].pop_front();
            if let Some(state) = inner.partitions.get_mut(&gone.key) {
                state.ring_start = state.ring_start.max(gone.offset + 1);
            }
        }
    }

    /// Registers a client; see [`Request`] and [`Subscription`].
    pub fn subscribe(&self, request: Request) -> Subscription {
        let inner = self.inner.read().unwrap();
        let wanted = |key: &PartitionKey| request.topics.contains(&key.topic);
        let resumable = request.resume.as_ref().filter(|positions| {
            positions.iter().all(|(key, at)| {
                inner
                    .partitions
                    .get(key)
                    .is_none_or(|state| *at + 1 >= state.ring_start)
            })
        });
        let (start, replayed, positions, first, next_seq, expected) = match resumable {
            Some(resume) => {
                let mut positions = resume.clone();
                // Partitions it has never seen: from the ring's start.
                for (key, state) in &inner.partitions {
                    positions.entry(*key).or_insert(state.ring_start - 1);
                }
                let replayed = inner
                    .ring
                    .iter()
                    .filter(|e| {
                        wanted(&e.key) && positions.get(&e.key).is_some_and(|at| e.offset > *at)
                    })
                    .count();
                // It reads the whole ring, skipping what it has.
                let (first_seq, evicted) = (inner.first_seq, inner.evicted);
                (
                    Start::Resumed,
                    replayed,
                    positions,
                    VecDeque::new(),
                    first_seq,
                    evicted,
                )
            }
            None => {
                let mut recent = recent_of_each_kind(&inner, &request);
                recent.sort_by_key(|e| (e.timestamp_ms, e.seq));
                let positions = inner
                    .partitions
                    .iter()
                    .map(|(key, state)| (*key, state.fresh_position()))
                    .collect();
                let start = if request.resume.is_some() {
                    Start::TooFarBehind
                } else {
                    Start::Fresh
                };
                let (next_seq, published) = (inner.next_seq(), inner.published);
                (start, 0, positions, recent.into(), next_seq, published)
            }
        };
        // Taken under the lock: nothing published since is marked seen.
        let head = self.head.subscribe();
        drop(inner);
        match start {
            Start::Resumed => self.count_resume("resumed"),
            Start::TooFarBehind => self.count_resume("too_far_behind"),
            Start::Fresh => {}
        }
        Subscription {
            start,
            replayed,
            positions: positions.clone(),
            cursor: Cursor {
                first,
                next_seq,
                expected,
                positions,
                topics: request.topics,
                head,
                _client: ClientCount::new(&self.clients),
            },
        }
    }

    fn count_resume(&self, outcome: &'static str) {
        self.counters
            .resumes
            .get_or_create(&ResumeLabels { outcome })
            .inc();
    }

    /// Connected clients (cursors alive).
    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Events in the ring.
    pub fn ring_len(&self) -> usize {
        self.inner.read().unwrap().ring.len()
    }
}

/// The last `request.recent` events of each kind among the requested
/// topics, newest first. Each kind's events are read from its own index,
/// so rare trending records are found without reading past every click.
fn recent_of_each_kind(inner: &Inner, request: &Request) -> Vec<Arc<StreamEvent>> {
    let mut recent = Vec::new();
    for kind in Kind::ALL {
        if !request.topics.iter().any(|topic| Kind::of(*topic) == kind) {
            continue;
        }
        recent.extend(
            inner.by_kind[kind.index()]
                .iter()
                .rev()
                .filter(|e| request.topics.contains(&e.key.topic))
                .take(request.recent)
                .cloned(),
        );
    }
    recent
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLICKS: PartitionKey = PartitionKey {
        topic: Topic::Click,
        partition: 0,
    };
    const LOADS: PartitionKey = PartitionKey {
        topic: Topic::PageLoad,
        partition: 0,
    };
    const TRENDING: PartitionKey = PartitionKey {
        topic: Topic::Trending,
        partition: 0,
    };

    /// Event `n` of `key`, at offset `n`, with text `e<n>`.
    fn ev(key: PartitionKey, n: i64) -> StreamEvent {
        StreamEvent::new(key, n, &format!("e{n}"), n)
    }

    fn tracked(key: PartitionKey, from: i64) -> Tracked {
        Tracked {
            key,
            from,
            live_from: from,
        }
    }

    fn hub(ring: usize) -> Hub {
        Hub::new(RingBounds {
            events: ring,
            bytes: 1 << 20,
        })
    }

    fn fresh(topics: &[Topic], recent: usize) -> Request {
        Request {
            topics: topics.to_vec(),
            recent,
            resume: None,
        }
    }

    fn resume(positions: &[(PartitionKey, i64)]) -> Request {
        Request {
            topics: Topic::ALL.to_vec(),
            recent: 10,
            resume: Some(positions.iter().copied().collect()),
        }
    }

    /// What the client receives now, read in batches of two.
    fn drain(hub: &Hub, subscription: &mut Subscription) -> Vec<String> {
        let mut texts = Vec::new();
        loop {
            let delivery = subscription.cursor.read(hub, 2);
            assert_eq!(delivery.gap, 0, "nothing lost");
            if delivery.events.is_empty() {
                return texts;
            }
            texts.extend(delivery.events.iter().map(|e| e.text()));
        }
    }

    fn texts(range: std::ops::RangeInclusive<i64>) -> Vec<String> {
        range.map(|n| format!("e{n}")).collect()
    }

    #[test]
    fn a_new_client_gets_recent_events_then_live_ones_without_gap_or_duplicate() {
        let hub = hub(3);
        for n in 1..=5 {
            hub.publish(ev(CLICKS, n));
        }
        let mut s = hub.subscribe(fresh(&Topic::ALL, 10));
        assert_eq!(s.start, Start::Fresh);
        assert_eq!(s.positions[&CLICKS], 5);
        hub.publish(ev(CLICKS, 6));
        assert_eq!(drain(&hub, &mut s), texts(3..=6));
        hub.publish(ev(CLICKS, 7));
        assert_eq!(drain(&hub, &mut s), texts(7..=7));
    }

    #[test]
    fn clients_choose_topics_and_recent_counts() {
        let hub = hub(10);
        hub.publish(ev(CLICKS, 1));
        hub.publish(ev(LOADS, 2));
        hub.publish(ev(CLICKS, 3));
        let mut clicks = hub.subscribe(fresh(&[Topic::Click], 1));
        let mut loads = hub.subscribe(fresh(&[Topic::PageLoad], 0));
        hub.publish(ev(LOADS, 4));
        assert_eq!(drain(&hub, &mut clicks), ["e3"]);
        assert_eq!(drain(&hub, &mut loads), ["e4"]);
        assert_eq!(hub.client_count(), 2);
        drop(clicks);
        assert_eq!(hub.client_count(), 1);
    }

    #[test]
    fn a_slow_client_loses_only_what_left_the_ring_and_is_told_how_many() {
        let hub = hub(3);
        let mut slow = hub.subscribe(fresh(&[Topic::Click], 0));
        // Page loads it does not want do not count as lost.
        for n in 1..=5 {
            hub.publish(ev(CLICKS, n));
            hub.publish(ev(LOADS, n));
        }
        // The ring holds load 4, click 5, load 5.
        let delivery = slow.cursor.read(&hub, 10);
        assert_eq!(delivery.gap, 4, "clicks 1 to 4 left the ring unread");
        let got: Vec<String> = delivery.events.iter().map(|e| e.text()).collect();
        assert_eq!(got, ["e5"]);
        assert_eq!(hub.counters.drops.get(), 4);
        hub.publish(ev(CLICKS, 6));
        assert_eq!(drain(&hub, &mut slow), ["e6"], "then nothing more is lost");
        // Losses are found while a client is stuck too, before it reads.
        for n in 7..=10 {
            hub.publish(ev(CLICKS, n));
        }
        assert_eq!(slow.cursor.skip_lost(&hub), 1, "click 7 left the ring");
        assert_eq!(hub.counters.drops.get(), 5);
        assert_eq!(drain(&hub, &mut slow), texts(8..=10));
    }

    #[test]
    fn a_client_that_lost_records_gets_the_latest_count_of_every_key_again() {
        const COUNTS: PartitionKey = PartitionKey {
            topic: Topic::Counts,
            partition: 0,
        };
        let count = |key: &str, n: i64| ev(COUNTS, n).counting(0, key.to_owned());
        let hub = hub(3);
        let mut slow = hub.subscribe(fresh(&Topic::ALL, 0));
        hub.publish(count("click:0:kit", 1));
        hub.publish(count("click:0:mug", 2));
        hub.publish(count("click:0:kit", 3));
        for n in 4..=6 {
            hub.publish(ev(CLICKS, n));
        }
        // Counts 1 to 3 left the ring: the latest of each key comes first,
        // in the order they were published, then what the ring holds.
        let delivery = slow.cursor.read(&hub, 10);
        assert_eq!(delivery.gap, 3);
        let got: Vec<String> = delivery.events.iter().map(|e| e.text()).collect();
        assert_eq!(got, texts(4..=6));
        assert_eq!(drain(&hub, &mut slow), ["e2", "e3"], "mug's 2, kit's 3");
        // A client that does not take counts gets none when it loses events.
        let mut other = hub.subscribe(fresh(&[Topic::Click], 0));
        for n in 7..=10 {
            hub.publish(ev(CLICKS, n));
        }
        let delivery = other.cursor.read(&hub, 10);
        assert_eq!(delivery.gap, 1, "click 7 left the ring");
        let got: Vec<String> = delivery.events.iter().map(|e| e.text()).collect();
        assert_eq!(got, texts(8..=10));
        assert!(other.cursor.read(&hub, 10).events.is_empty());
    }

    #[test]
    fn a_client_behind_within_the_ring_loses_nothing() {
        let hub = hub(100);
        let mut behind = hub.subscribe(fresh(&Topic::ALL, 0));
        for n in 1..=60 {
            hub.publish(ev(CLICKS, n));
        }
        assert_eq!(drain(&hub, &mut behind), texts(1..=60));
        assert_eq!(hub.counters.drops.get(), 0);
    }

    #[tokio::test]
    async fn a_waiting_client_wakes_when_an_event_is_published() {
        let hub = Arc::new(hub(10));
        let mut s = hub.subscribe(fresh(&Topic::ALL, 0));
        assert!(s.cursor.read(&hub, 10).events.is_empty());
        let publisher = {
            let hub = hub.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                hub.publish(ev(CLICKS, 1));
            })
        };
        let woke = tokio::time::timeout(std::time::Duration::from_secs(5), s.cursor.published());
        assert!(woke.await.expect("woken within 5 s"));
        assert_eq!(drain(&hub, &mut s), ["e1"]);
        publisher.await.unwrap();
    }

    /// Whether the cursor is woken without time passing.
    async fn woken_now(cursor: &mut Cursor) -> bool {
        tokio::select! {
            biased;
            woken = cursor.published() => woken,
            () = std::future::ready(()) => false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn paced_wake_ups_send_a_lone_event_at_once_and_a_burst_once_per_interval() {
        let interval = Duration::from_millis(50);
        let hub = Arc::new(hub(100).with_wake_pacing(WakePacing {
            per_client: interval,
            max: interval,
        }));
        let pacer = tokio::spawn({
            let hub = hub.clone();
            async move { hub.pace_wakes().await }
        });
        let mut s = hub.subscribe(fresh(&Topic::ALL, 0));

        // After a quiet spell, the first event wakes the client at once.
        hub.publish(ev(CLICKS, 1));
        tokio::task::yield_now().await;
        assert!(woken_now(&mut s.cursor).await, "a lone event goes at once");
        assert_eq!(drain(&hub, &mut s), ["e1"]);

        // Events right after it wait for the interval, then go together.
        hub.publish(ev(CLICKS, 2));
        hub.publish(ev(CLICKS, 3));
        tokio::task::yield_now().await;
        assert!(
            !woken_now(&mut s.cursor).await,
            "a burst waits for the interval"
        );
        tokio::time::advance(interval).await;
        tokio::task::yield_now().await;
        assert!(
            woken_now(&mut s.cursor).await,
            "announced when the interval ends"
        );
        assert_eq!(drain(&hub, &mut s), ["e2", "e3"]);

        // Quiet again for an interval: the next one goes at once.
        tokio::time::advance(interval).await;
        tokio::task::yield_now().await;
        hub.publish(ev(CLICKS, 4));
        tokio::task::yield_now().await;
        assert!(woken_now(&mut s.cursor).await);
        assert_eq!(drain(&hub, &mut s), ["e4"]);
        pacer.abort();
    }

    #[test]
    fn the_wake_interval_grows_with_the_clients_up_to_its_bound() {
        let pacing = WakePacing {
            per_client: Duration::from_micros(20),
            max: Duration::from_millis(20),
        };
        // A handful of clients: woken at every event.
        assert_eq!(pacing.interval(0), Duration::ZERO);
        assert_eq!(pacing.interval(10), Duration::ZERO);
        assert_eq!(pacing.interval(100), Duration::from_millis(2));
        assert_eq!(pacing.interval(500), Duration::from_millis(10));
        assert_eq!(pacing.interval(1000), Duration::from_millis(20));
        assert_eq!(pacing.interval(100_000), Duration::from_millis(20));
        assert_eq!(WakePacing::OFF.interval(100_000), Duration::ZERO);
    }

    #[test]
    fn recent_events_are_sent_in_timestamp_order() {
        let hub = hub(3);
        for (partition, at) in [(0, 5), (1, 1), (0, 7), (1, 3), (2, 6)] {
            let key = PartitionKey {
                topic: Topic::Click,
                partition,
            };
            hub.publish(StreamEvent::new(key, at, &format!("e{at}"), at));
        }
        let mut s = hub.subscribe(fresh(&Topic::ALL, 3));
        assert_eq!(drain(&hub, &mut s), ["e3", "e6", "e7"]);
    }

    #[test]
    fn a_resuming_client_gets_exactly_what_it_missed_then_live_events() {
        let hub = hub(100);
        hub.track(&[tracked(CLICKS, 1), tracked(LOADS, 1)], Vec::new());
        for n in 1..=10 {
            hub.publish(ev(CLICKS, n));
        }
        hub.publish(ev(LOADS, 1));
        let mut s = hub.subscribe(resume(&[(CLICKS, 6), (LOADS, 1)]));
        assert_eq!(s.start, Start::Resumed);
        assert_eq!(s.replayed, 4);
        hub.publish(ev(CLICKS, 11));
        hub.publish(ev(LOADS, 2));
        let mut expected = texts(7..=11);
        expected.push("e2".into());
        assert_eq!(drain(&hub, &mut s), expected);
        assert_eq!(
            hub.counters
                .resumes
                .get_or_create(&ResumeLabels { outcome: "resumed" })
                .get(),
            1
        );
    }

    #[test]
    fn a_client_further_behind_than_the_ring_is_told_and_starts_fresh() {
        let hub = hub(5);
        hub.track(&[tracked(CLICKS, 1)], Vec::new());
        for n in 1..=10 {
            hub.publish(ev(CLICKS, n));
        }
        // The ring holds 6..=10: a client that has 5 misses nothing.
        let mut caught = hub.subscribe(resume(&[(CLICKS, 5)]));
        assert_eq!(caught.start, Start::Resumed);
        assert_eq!(drain(&hub, &mut caught), texts(6..=10));
        let mut behind = hub.subscribe(resume(&[(CLICKS, 4)]));
        assert_eq!(behind.start, Start::TooFarBehind);
        assert_eq!(behind.positions[&CLICKS], 10, "it starts from now");
        assert_eq!(
            drain(&hub, &mut behind),
            texts(6..=10),
            "with the recent events"
        );
    }

    #[test]
    fn a_client_ahead_of_this_instance_gets_nothing_twice() {
        let hub = hub(100);
        hub.track(&[tracked(CLICKS, 1)], Vec::new());
        for n in 1..=3 {
            hub.publish(ev(CLICKS, n));
        }
        // It had 1..=5 from an instance that was further along.
        let mut s = hub.subscribe(resume(&[(CLICKS, 5)]));
        for n in 4..=7 {
            hub.publish(ev(CLICKS, n));
        }
        assert_eq!(drain(&hub, &mut s), texts(6..=7));
    }

    #[test]
    fn backfill_reaches_resuming_clients_but_is_never_streamed_as_live() {
        let hub = hub(100);
        let mut connected_before = hub.subscribe(fresh(&Topic::ALL, 10));
        // Read from 1; the partition ended at 4 when it was assigned.
        let backfill = (1..=4).map(|n| ev(CLICKS, n)).collect();
        hub.track(
            &[Tracked {
                key: CLICKS,
                from: 1,
                live_from: 5,
            }],
            backfill,
        );
        let mut fresh_client = hub.subscribe(fresh(&Topic::ALL, 0));
        let mut resuming = hub.subscribe(resume(&[(CLICKS, 2)]));
        hub.publish(ev(CLICKS, 5));
        assert_eq!(drain(&hub, &mut connected_before), ["e5"]);
        assert_eq!(drain(&hub, &mut fresh_client), ["e5"]);
        assert_eq!(drain(&hub, &mut resuming), texts(3..=5));
        let mut late = hub.subscribe(fresh(&Topic::ALL, 2));
        assert_eq!(
            drain(&hub, &mut late),
            ["e4", "e5"],
            "backfill is recent history"
        );
    }

    #[test]
    fn a_partition_found_later_is_live_from_its_end_for_connected_clients() {
        let hub = hub(100);
        hub.track(&[tracked(CLICKS, 1)], Vec::new());
        let mut connected = hub.subscribe(fresh(&Topic::ALL, 0));
        let other = PartitionKey {
            topic: Topic::Click,
            partition: 1,
        };
        let backfill = (1..=2).map(|n| ev(other, n)).collect();
        hub.track(
            &[Tracked {
                key: other,
                from: 1,
                live_from: 3,
            }],
            backfill,
        );
        hub.publish(ev(other, 3));
        assert_eq!(drain(&hub, &mut connected), ["e3"]);
    }

    #[test]
    fn a_partition_the_client_never_saw_is_sent_from_the_rings_start() {
        let hub = hub(100);
        let other = PartitionKey {
            topic: Topic::Click,
            partition: 1,
        };
        hub.track(&[tracked(CLICKS, 1), tracked(other, 1)], Vec::new());
        hub.publish(ev(CLICKS, 1));
        hub.publish(ev(other, 1));
        hub.publish(ev(other, 2));
        let mut s = hub.subscribe(resume(&[(CLICKS, 1)]));
        assert_eq!(drain(&hub, &mut s), ["e1", "e2"]);
    }

    #[test]
    fn a_new_client_gets_the_recent_records_of_each_kind_it_asked_for() {
        let hub = hub(100);
        // A trending record, long before many clicks: it is not crowded out.
        hub.publish(StreamEvent::new(TRENDING, 0, "t0", 1));
        hub.publish(StreamEvent::new(TRENDING, 1, "t1", 2));
        for n in 3..=12 {
            hub.publish(ev(CLICKS, n));
        }
        let mut everything = hub.subscribe(fresh(&Topic::ALL, 1));
        assert_eq!(drain(&hub, &mut everything), ["t1", "e12"]);
        let mut both = hub.subscribe(fresh(&Topic::ALL, 3));
        assert_eq!(
            drain(&hub, &mut both),
            ["t0", "t1", "e10", "e11", "e12"],
            "in time order"
        );
        let mut clicks = hub.subscribe(fresh(&[Topic::Click], 3));
        assert_eq!(drain(&hub, &mut clicks), texts(10..=12));
        let mut trending = hub.subscribe(fresh(&[Topic::Trending], 5));
        assert_eq!(drain(&hub, &mut trending), ["t0", "t1"]);
        let mut none = hub.subscribe(fresh(&Topic::ALL, 0));
        assert!(drain(&hub, &mut none).is_empty());
    }

    #[test]
    fn a_trending_record_that_left_the_ring_is_not_recent_any_more() {
        let hub = hub(3);
        hub.publish(StreamEvent::new(TRENDING, 0, "t0", 1));
        hub.publish(ev(CLICKS, 2));
        hub.publish(StreamEvent::new(TRENDING, 1, "t1", 3));
        for n in 4..=5 {
            hub.publish(ev(CLICKS, n));
        }
        // The ring holds t1, e4, e5.
        let mut s = hub.subscribe(fresh(&Topic::ALL, 5));
        assert_eq!(drain(&hub, &mut s), ["t1", "e4", "e5"]);
        hub.publish(ev(CLICKS, 6));
        let mut later = hub.subscribe(fresh(&Topic::ALL, 5));
        assert_eq!(drain(&hub, &mut later), texts(4..=6));
    }

    #[test]
    fn a_resuming_client_gets_the_trending_records_it_missed_once() {
        let hub = hub(100);
        hub.track(&[tracked(CLICKS, 1), tracked(TRENDING, 0)], Vec::new());
        hub.publish(StreamEvent::new(TRENDING, 0, "t0", 1));
        hub.publish(ev(CLICKS, 1));
        hub.publish(StreamEvent::new(TRENDING, 1, "t1", 2));
        hub.publish(ev(CLICKS, 2));
        // It had the first record and the first click.
        let mut s = hub.subscribe(resume(&[(CLICKS, 1), (TRENDING, 0)]));
        assert_eq!(s.start, Start::Resumed);
        assert_eq!(s.replayed, 2);
        hub.publish(StreamEvent::new(TRENDING, 2, "t2", 3));
        assert_eq!(drain(&hub, &mut s), ["t1", "e2", "t2"]);
        // Resumed again from what it now has, it gets nothing twice.
        let mut again = hub.subscribe(resume(&[(CLICKS, 2), (TRENDING, 2)]));
        assert_eq!(again.replayed, 0);
        assert!(drain(&hub, &mut again).is_empty());
    }

    #[test]
    fn the_ring_is_bounded_in_bytes_too() {
        let hub = Hub::new(RingBounds {
            events: 100,
            bytes: 20,
        });
        for n in 1..=10 {
            hub.publish(StreamEvent::new(CLICKS, n, "abcd", n)); // 6 bytes
        }
        assert_eq!(hub.ring_len(), 3);
    }

    #[test]
    fn positions_read_and_written_the_same_way() {
        assert_eq!(CLICKS.to_string(), "edm-ui-click/0");
        assert_eq!(PartitionKey::parse("edm-ui-click/0"), Some(CLICKS));
        assert_eq!(PartitionKey::parse("edm-ui-click/-1"), None);
        assert_eq!(PartitionKey::parse("nope/0"), None);
        assert_eq!(ev(LOADS, 7).position_json.get(), r#""edm-ui-pageload/0/7""#);
        assert_eq!(PartitionKey::parse("edm-trending/0"), Some(TRENDING));
        assert_eq!(ev(TRENDING, 3).position_json.get(), r#""edm-trending/0/3""#);
        let tricky = StreamEvent::new(CLICKS, 1, "{\"a\":\"\u{2028}\\\"\"}", 1);
        assert_eq!(tricky.text(), "{\"a\":\"\u{2028}\\\"\"}");
    }
}
