//! Where events meet clients.
//!
//! The hub keeps the last events it published in a ring (bounded in events
//! and bytes: `EDM_STREAM_RESUME_EVENTS`, `EDM_STREAM_RESUME_BYTES`) and a
//! bounded queue per client. Every event knows where it is in Kafka
//! (logical topic, partition, offset), which is the same on every instance,
//! so a client that reconnects anywhere can say what it has and get exactly
//! what it missed:
//!
//! - a **fresh** client gets the most recent events of its topics, then
//!   live ones;
//! - a **resuming** client names the last offset it received per partition
//!   and gets every later event the ring holds, then live ones, each at
//!   most once: a client's queue skips what is at or below its positions;
//! - a resuming client further behind than the ring reaches is told so
//!   (`too_far_behind`) and starts fresh.
//!
//! Adding an event to the ring and taking the list of clients to hand it
//! to happen under one short lock, as does registering a client with its
//! snapshot of the ring, so snapshot and live queue meet without a gap or a
//! duplicate. The list of clients is shared and copied only when a client
//! comes or goes, so handing an event to thousands of queues happens
//! outside the lock, each queue's own lock held only for its push.
//!
//! Events read while an instance catches up after its start (its backfill,
//! below the partition's end at the time it was assigned) fill the ring
//! and reach resuming clients that are behind them, but are never streamed
//! to fresh clients as if they were live.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use edm_config::Topic;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use serde_json::value::RawValue;
use tokio::sync::Notify;

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
        }
    }

    /// The event's JSON text.
    pub fn text(&self) -> String {
        serde_json::from_str(self.text_json.get()).expect("an encoded string")
    }

    /// Bytes it holds (its encoded text).
    fn size(&self) -> usize {
        self.text_json.get().len()
    }
}

/// How much one client's queue may hold: events, and bytes of event text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBounds {
    /// Events at most (`EDM_STREAM_CLIENT_BUFFER`).
    pub events: usize,
    /// Bytes of event text at most (`EDM_STREAM_CLIENT_BUFFER_BYTES`); the
    /// newest event is kept even when it alone is larger.
    pub bytes: usize,
}

/// A client's queued events and the bytes of text they hold.
#[derive(Debug, Default)]
struct Queued {
    events: VecDeque<Arc<StreamEvent>>,
    bytes: usize,
}

impl Queued {
    fn pop_front(&mut self) -> Option<Arc<StreamEvent>> {
        let event = self.events.pop_front()?;
        self.bytes -= event.size();
        Some(event)
    }

    /// Whether it holds more than `bounds` allow (one event always fits).
    fn over(&self, bounds: QueueBounds) -> bool {
        self.events.len() > bounds.events || (self.bytes > bounds.bytes && self.events.len() > 1)
    }
}

/// The last offset a client has of each partition.
pub type Positions = HashMap<PartitionKey, i64>;

/// The queue of one client: bounded in events and bytes, dropping the
/// oldest when full; it passes on only events past the client's positions.
#[derive(Debug)]
pub struct ClientQueue {
    queued: Mutex<Queued>,
    /// Where the client is; events at or below are not passed on.
    positions: Mutex<Positions>,
    bounds: QueueBounds,
    topics: Vec<Topic>,
    dropped: AtomicU64,
    closed: AtomicBool,
    /// Woken when events arrive or the client closes.
    pub notify: Notify,
}

impl ClientQueue {
    /// Queues `event`, dropping the oldest while over the bounds; returns
    /// how many were dropped.
    fn push(&self, event: Arc<StreamEvent>) -> u64 {
        let mut q = self.queued.lock().unwrap();
        q.bytes += event.size();
        q.events.push_back(event);
        let mut dropped = 0;
        while q.over(self.bounds) {
            q.pop_front();
            dropped += 1;
        }
        drop(q);
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        self.notify.notify_one();
        dropped
    }

    /// Takes the next event to send that the client does not have yet,
    /// and counts it as the client's.
    pub fn pop(&self) -> Option<Arc<StreamEvent>> {
        loop {
            let event = self.queued.lock().unwrap().pop_front()?;
            if self.take(&event) {
                return Some(event);
            }
        }
    }

    /// Whether `event` is past the client's position (then it becomes the
    /// client's position).
    fn take(&self, event: &StreamEvent) -> bool {
        let mut positions = self.positions.lock().unwrap();
        let fresh = positions
            .get(&event.key)
            .is_none_or(|at| event.offset > *at);
        if fresh {
            positions.insert(event.key, event.offset);
        }
        fresh
    }

    /// Puts back an event that could not be sent yet, unless newer events
    /// filled the queue meanwhile (then it is the oldest and is dropped).
    pub fn unpop(&self, event: Arc<StreamEvent>) {
        // It will pass the position check again.
        {
            let mut positions = self.positions.lock().unwrap();
            positions.insert(event.key, event.offset - 1);
        }
        let mut q = self.queued.lock().unwrap();
        q.bytes += event.size();
        q.events.push_front(event);
        if q.over(self.bounds) {
            q.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events dropped for this client so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether the client went away.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn wants(&self, topic: Topic) -> bool {
        self.topics.contains(&topic)
    }
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
    /// Events handed to a client's socket, by topic.
    pub deliveries: Family<TopicLabels, Counter>,
    /// Events dropped from slow clients' queues.
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
            deliveries: Family::default(),
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
    /// Counts one event of `topic` in `family`.
    pub fn count(family: &Family<TopicLabels, Counter>, topic: Topic) {
        family
            .get_or_create(&TopicLabels {
                topic: topic.name(),
            })
            .inc();
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
    partitions: HashMap<PartitionKey, PartitionState>,
    /// Replaced (not changed in place) when a client comes or goes, so a
    /// publisher's copy of the `Arc` stays valid without the lock.
    clients: Arc<HashMap<String, Arc<ClientQueue>>>,
}

/// What a client asked for when it connected.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Topics it wants.
    pub topics: Vec<Topic>,
    /// Recent events it wants if it starts fresh.
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

/// A registered client: what to send first, then its live queue.
#[derive(Debug)]
pub struct Subscription {
    /// How the stream begins.
    pub start: Start,
    /// Sent before anything from the queue: recent events (fresh) or the
    /// missed ones (resumed).
    pub first: Vec<Arc<StreamEvent>>,
    /// The positions the client starts from, for every partition known.
    pub positions: Positions,
    /// The live queue.
    pub queue: Arc<ClientQueue>,
}

/// The hub shared by the consumer and all connections.
#[derive(Debug)]
pub struct Hub {
    inner: Mutex<Inner>,
    ring_bounds: RingBounds,
    client_bounds: QueueBounds,
    /// Set once partitions are known, so resumes can be checked.
    tracking: Notify,
    tracking_started: AtomicBool,
    /// Totals for metrics.
    pub counters: HubCounters,
}

impl Hub {
    /// A hub whose ring holds `ring` and each client's queue `client`.
    pub fn new(ring: RingBounds, client: QueueBounds) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            ring_bounds: ring,
            client_bounds: QueueBounds {
                events: client.events.max(1),
                bytes: client.bytes,
            },
            tracking: Notify::new(),
            tracking_started: AtomicBool::new(false),
            counters: HubCounters::default(),
        }
    }

    /// Starts tracking `partitions`. Clients already connected start them
    /// at their live offset, as fresh clients do.
    pub fn track(&self, partitions: &[Tracked]) {
        let mut inner = self.inner.lock().unwrap();
        for tracked in partitions {
            let state = PartitionState {
                ring_start: tracked.from,
                last: tracked.from - 1,
                live_from: tracked.live_from,
            };
            if inner.partitions.insert(tracked.key, state).is_none() {
                for client in inner.clients.values() {
                    client
                        .positions
                        .lock()
                        .unwrap()
                        .entry(tracked.key)
                        .or_insert(state.fresh_position());
                }
            }
        }
        drop(inner);
        self.tracking_started.store(true, Ordering::SeqCst);
        self.tracking.notify_waiters();
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

    /// Adds an event to the ring and to every interested client's queue.
    pub fn publish(&self, event: StreamEvent) {
        let event = Arc::new(event);
        let clients = {
            let mut inner = self.inner.lock().unwrap();
            let state = inner.partitions.entry(event.key).or_insert(PartitionState {
                ring_start: event.offset,
                last: event.offset - 1,
                live_from: event.offset,
            });
            state.last = state.last.max(event.offset);
            inner.ring_bytes += event.size();
            inner.ring.push_back(event.clone());
            while inner.ring.len() > self.ring_bounds.events
                || (inner.ring_bytes > self.ring_bounds.bytes && inner.ring.len() > 1)
            {
                let Some(gone) = inner.ring.pop_front() else {
                    break;
                };
                inner.ring_bytes -= gone.size();
                if let Some(state) = inner.partitions.get_mut(&gone.key) {
                    state.ring_start = state.ring_start.max(gone.offset + 1);
                }
            }
            inner.clients.clone()
        };
        let mut dropped = 0;
        for client in clients.values() {
            if client.wants(event.key.topic) {
                dropped += client.push(event.clone());
            }
        }
        if dropped > 0 {
            self.counters.drops.inc_by(dropped);
        }
        HubCounters::count(&self.counters.events, event.key.topic);
    }

    /// Registers client `id`; see [`Request`] and [`Subscription`].
    pub fn subscribe(&self, id: &str, request: Request) -> Subscription {
        let mut inner = self.inner.lock().unwrap();
        let wanted = |key: &PartitionKey| request.topics.contains(&key.topic);
        let resumable = request.resume.as_ref().filter(|positions| {
            positions.iter().all(|(key, at)| {
                inner
                    .partitions
                    .get(key)
                    .is_none_or(|state| *at + 1 >= state.ring_start)
            })
        });
        let (start, first, positions) = match resumable {
            Some(resume) => {
                let mut positions = resume.clone();
                // Partitions it has never seen: from the ring's start.
                for (key, state) in &inner.partitions {
                    positions.entry(*key).or_insert(state.ring_start - 1);
                }
                let first = inner
                    .ring
                    .iter()
                    .filter(|e| {
                        wanted(&e.key) && positions.get(&e.key).is_some_and(|at| e.offset > *at)
                    })
                    .cloned()
                    .collect();
                (Start::Resumed, first, positions)
            }
            None => {
                let mut recent: Vec<Arc<StreamEvent>> = inner
                    .ring
                    .iter()
                    .rev()
                    .filter(|e| wanted(&e.key))
                    .take(request.recent)
                    .cloned()
                    .collect();
                recent.reverse();
                recent.sort_by_key(|e| e.timestamp_ms);
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
                (start, recent, positions)
            }
        };
        let queue = Arc::new(ClientQueue {
            queued: Mutex::new(Queued::default()),
            positions: Mutex::new(positions.clone()),
            bounds: self.client_bounds,
            topics: request.topics,
            dropped: AtomicU64::new(0),
            closed: false.into(),
            notify: Notify::new(),
        });
        Arc::make_mut(&mut inner.clients).insert(id.to_owned(), queue.clone());
        drop(inner);
        // What is sent first counts as the client's too.
        for event in &first {
            queue.take(event);
        }
        match start {
            Start::Resumed => self.count_resume("resumed"),
            Start::TooFarBehind => self.count_resume("too_far_behind"),
            Start::Fresh => {}
        }
        Subscription {
            start,
            first,
            positions,
            queue,
        }
    }

    fn count_resume(&self, outcome: &'static str) {
        self.counters
            .resumes
            .get_or_create(&ResumeLabels { outcome })
            .inc();
    }

    /// Forgets a client and wakes its writer so it ends.
    pub fn unsubscribe(&self, id: &str) {
        let removed = {
            let mut inner = self.inner.lock().unwrap();
            if inner.clients.contains_key(id) {
                Arc::make_mut(&mut inner.clients).remove(id)
            } else {
                None
            }
        };
        if let Some(q) = removed {
            q.closed.store(true, Ordering::Relaxed);
            q.notify.notify_one();
        }
    }

    /// Connected clients.
    pub fn client_count(&self) -> usize {
        self.inner.lock().unwrap().clients.len()
    }

    /// Events in the ring.
    pub fn ring_len(&self) -> usize {
        self.inner.lock().unwrap().ring.len()
    }
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

    fn hub(ring: usize, client: usize) -> Hub {
        Hub::new(
            RingBounds {
                events: ring,
                bytes: 1 << 20,
            },
            QueueBounds {
                events: client,
                bytes: 1 << 20,
            },
        )
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

    /// What the client receives: `first`, then its queue.
    fn drain(subscription: &Subscription) -> Vec<String> {
        let first = subscription.first.iter().map(|e| e.text());
        let queued: Vec<String> = std::iter::from_fn(|| subscription.queue.pop())
            .map(|e| e.text())
            .collect();
        first.chain(queued).collect()
    }

    fn texts(range: std::ops::RangeInclusive<i64>) -> Vec<String> {
        range.map(|n| format!("e{n}")).collect()
    }

    #[test]
    fn a_new_client_gets_recent_events_then_live_ones_without_gap_or_duplicate() {
        let hub = hub(3, 100);
        for n in 1..=5 {
            hub.publish(ev(CLICKS, n));
        }
        let s = hub.subscribe("a", fresh(&Topic::ALL, 10));
        assert_eq!(s.start, Start::Fresh);
        assert_eq!(s.positions[&CLICKS], 5);
        hub.publish(ev(CLICKS, 6));
        assert_eq!(drain(&s), texts(3..=6));
    }

    #[test]
    fn clients_choose_topics_and_recent_counts() {
        let hub = hub(10, 100);
        hub.publish(ev(CLICKS, 1));
        hub.publish(ev(LOADS, 2));
        hub.publish(ev(CLICKS, 3));
        let clicks = hub.subscribe("c", fresh(&[Topic::Click], 1));
        let loads = hub.subscribe("l", fresh(&[Topic::PageLoad], 0));
        hub.publish(ev(LOADS, 4));
        assert_eq!(drain(&clicks), ["e3"]);
        assert_eq!(drain(&loads), ["e4"]);
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let hub = hub(0, 2);
        let s = hub.subscribe("slow", fresh(&Topic::ALL, 0));
        for n in 1..=5 {
            hub.publish(ev(CLICKS, n));
        }
        assert_eq!(drain(&s), ["e4", "e5"]);
        assert_eq!(s.queue.dropped(), 3);
        assert_eq!(hub.counters.drops.get(), 3);
    }

    #[test]
    fn recent_events_are_sent_in_timestamp_order() {
        let hub = hub(3, 10);
        for (partition, at) in [(0, 5), (1, 1), (0, 7), (1, 3), (2, 6)] {
            let key = PartitionKey {
                topic: Topic::Click,
                partition,
            };
            hub.publish(StreamEvent::new(key, at, &format!("e{at}"), at));
        }
        let s = hub.subscribe("a", fresh(&Topic::ALL, 3));
        assert_eq!(drain(&s), ["e3", "e6", "e7"]);
    }

    #[test]
    fn a_queue_holds_at_most_its_bytes_and_always_the_newest_event() {
        let hub = Hub::new(
            RingBounds {
                events: 0,
                bytes: 0,
            },
            QueueBounds {
                events: 100,
                bytes: 20,
            },
        );
        let s = hub.subscribe("slow", fresh(&Topic::ALL, 0));
        let text = |n: i64, len: usize| StreamEvent::new(CLICKS, n, &"x".repeat(len), n);
        for n in 1..=3 {
            hub.publish(text(n, 6)); // 8 bytes encoded
        }
        assert_eq!(s.queue.dropped(), 1, "24 bytes do not fit in 20");
        hub.publish(text(4, 40));
        assert_eq!(
            drain(&s),
            ["x".repeat(40)],
            "a large event alone still goes out"
        );
    }

    #[test]
    fn a_resuming_client_gets_exactly_what_it_missed_then_live_events() {
        let hub = hub(100, 100);
        hub.track(&[tracked(CLICKS, 1), tracked(LOADS, 1)]);
        for n in 1..=10 {
            hub.publish(ev(CLICKS, n));
        }
        hub.publish(ev(LOADS, 1));
        let s = hub.subscribe("back", resume(&[(CLICKS, 6), (LOADS, 1)]));
        assert_eq!(s.start, Start::Resumed);
        hub.publish(ev(CLICKS, 11));
        hub.publish(ev(LOADS, 2));
        let mut expected = texts(7..=11);
        expected.push("e2".into());
        assert_eq!(drain(&s), expected);
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
        let hub = hub(5, 100);
        hub.track(&[tracked(CLICKS, 1)]);
        for n in 1..=10 {
            hub.publish(ev(CLICKS, n));
        }
        // The ring holds 6..=10: a client that has 5 misses nothing.
        let caught = hub.subscribe("a", resume(&[(CLICKS, 5)]));
        assert_eq!(caught.start, Start::Resumed);
        assert_eq!(drain(&caught), texts(6..=10));
        let behind = hub.subscribe("b", resume(&[(CLICKS, 4)]));
        assert_eq!(behind.start, Start::TooFarBehind);
        assert_eq!(behind.positions[&CLICKS], 10, "it starts from now");
        assert_eq!(drain(&behind), texts(6..=10), "with the recent events");
    }

    #[test]
    fn a_client_ahead_of_this_instance_gets_nothing_twice() {
        let hub = hub(100, 100);
        hub.track(&[tracked(CLICKS, 1)]);
        for n in 1..=3 {
            hub.publish(ev(CLICKS, n));
        }
        // It had 1..=5 from an instance that was further along.
        let s = hub.subscribe("ahead", resume(&[(CLICKS, 5)]));
        for n in 4..=7 {
            hub.publish(ev(CLICKS, n));
        }
        assert_eq!(drain(&s), texts(6..=7));
    }

    #[test]
    fn backfill_reaches_resuming_clients_but_is_never_streamed_as_live() {
        let hub = hub(100, 100);
        // Read from 1; the partition ended at 4 when it was assigned.
        hub.track(&[Tracked {
            key: CLICKS,
            from: 1,
            live_from: 5,
        }]);
        let fresh_client = hub.subscribe("new", fresh(&Topic::ALL, 10));
        let resuming = hub.subscribe("old", resume(&[(CLICKS, 2)]));
        for n in 1..=5 {
            hub.publish(ev(CLICKS, n));
        }
        assert_eq!(drain(&fresh_client), ["e5"]);
        assert_eq!(drain(&resuming), texts(3..=5));
        let late = hub.subscribe("late", fresh(&Topic::ALL, 2));
        assert_eq!(drain(&late), ["e4", "e5"], "backfill is recent history");
    }

    #[test]
    fn a_partition_found_later_is_live_from_its_end_for_connected_clients() {
        let hub = hub(100, 100);
        hub.track(&[tracked(CLICKS, 1)]);
        let connected = hub.subscribe("a", fresh(&Topic::ALL, 0));
        let other = PartitionKey {
            topic: Topic::Click,
            partition: 1,
        };
        hub.track(&[Tracked {
            key: other,
            from: 1,
            live_from: 3,
        }]);
        for n in 1..=3 {
            hub.publish(ev(other, n));
        }
        assert_eq!(drain(&connected), ["e3"]);
    }

    #[test]
    fn a_partition_the_client_never_saw_is_sent_from_the_rings_start() {
        let hub = hub(100, 100);
        let other = PartitionKey {
            topic: Topic::Click,
            partition: 1,
        };
        hub.track(&[tracked(CLICKS, 1), tracked(other, 1)]);
        hub.publish(ev(CLICKS, 1));
        hub.publish(ev(other, 1));
        hub.publish(ev(other, 2));
        let s = hub.subscribe("a", resume(&[(CLICKS, 1)]));
        assert_eq!(drain(&s), ["e1", "e2"]);
    }

    #[test]
    fn the_ring_is_bounded_in_bytes_too() {
        let hub = Hub::new(
            RingBounds {
                events: 100,
                bytes: 20,
            },
            QueueBounds {
                events: 100,
                bytes: 1 << 20,
            },
        );
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
        let tricky = StreamEvent::new(CLICKS, 1, "{\"a\":\"\u{2028}\\\"\"}", 1);
        assert_eq!(tricky.text(), "{\"a\":\"\u{2028}\\\"\"}");
    }
}
