//! Where events meet clients. The hub keeps the most recent events in a ring
//! and a bounded queue per client. Adding an event to the ring and taking
//! the list of clients to hand it to happen under one short lock, as does
//! registering a client with its snapshot of the ring, so a new client's
//! recent events and its live queue meet without a gap or a duplicate.
//! The list of clients is shared, copied only when a client comes or goes,
//! so handing an event to thousands of queues happens outside the lock and
//! each queue's own lock is held only for its push.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use edm_config::Topic;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::Notify;

/// One event as it is streamed.
#[derive(Debug)]
pub struct StreamEvent {
    /// Its logical topic, for clients that chose topics.
    pub topic: Topic,
    /// The JSON text exactly as it was in Kafka.
    pub text: String,
    /// Kafka timestamp (ms), for ordering the recent ring and latency.
    pub timestamp_ms: i64,
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
        self.bytes -= event.text.len();
        Some(event)
    }

    /// Whether it holds more than `bounds` allow (one event always fits).
    fn over(&self, bounds: QueueBounds) -> bool {
        self.events.len() > bounds.events || (self.bytes > bounds.bytes && self.events.len() > 1)
    }
}

/// The queue of one client: bounded in events and bytes, dropping the
/// oldest when full.
#[derive(Debug)]
pub struct ClientQueue {
    queued: Mutex<Queued>,
    bounds: QueueBounds,
    topics: Vec<Topic>,
    dropped: AtomicU64,
    closed: std::sync::atomic::AtomicBool,
    /// Woken when events arrive or the client closes.
    pub notify: Notify,
}

impl ClientQueue {
    /// Queues `event`, dropping the oldest while over the bounds; returns
    /// how many were dropped.
    fn push(&self, event: Arc<StreamEvent>) -> u64 {
        let mut q = self.queued.lock().unwrap();
        q.bytes += event.text.len();
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

    /// Takes the next event to send.
    pub fn pop(&self) -> Option<Arc<StreamEvent>> {
        self.queued.lock().unwrap().pop_front()
    }

    /// Puts back an event that could not be sent yet, unless newer events
    /// filled the queue meanwhile (then it is the oldest and is dropped).
    pub fn unpop(&self, event: Arc<StreamEvent>) {
        let mut q = self.queued.lock().unwrap();
        q.bytes += event.text.len();
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
    /// Seconds from an event's Kafka timestamp (when the relay produced
    /// it) to its publication here: how fresh the stream is.
    pub event_age: Histogram,
}

impl Default for HubCounters {
    fn default() -> Self {
        Self {
            events: Family::default(),
            invalid: Family::default(),
            deliveries: Family::default(),
            drops: Counter::default(),
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

#[derive(Debug, Default)]
struct Inner {
    recent: VecDeque<Arc<StreamEvent>>,
    /// Replaced (not changed in place) when a client comes or goes, so a
    /// publisher's copy of the `Arc` stays valid without the lock.
    clients: Arc<HashMap<String, Arc<ClientQueue>>>,
}

/// The hub shared by the consumer and all connections.
#[derive(Debug)]
pub struct Hub {
    inner: Mutex<Inner>,
    recent_capacity: usize,
    client_bounds: QueueBounds,
    /// Totals for metrics.
    pub counters: HubCounters,
}

impl Hub {
    /// A hub keeping `recent` events, and per client at most `client`.
    pub fn new(recent: usize, client: QueueBounds) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            recent_capacity: recent,
            client_bounds: QueueBounds {
                events: client.events.max(1),
                bytes: client.bytes,
            },
            counters: HubCounters::default(),
        }
    }

    /// Adds an event to the recent ring (kept in timestamp order) and to
    /// every interested client's queue.
    pub fn publish(&self, event: StreamEvent) {
        let event = Arc::new(event);
        let clients = {
            let mut inner = self.inner.lock().unwrap();
            if self.recent_capacity > 0 {
                let at = inner
                    .recent
                    .iter()
                    .rposition(|e| e.timestamp_ms <= event.timestamp_ms)
                    .map_or(0, |i| i + 1);
                inner.recent.insert(at, event.clone());
                if inner.recent.len() > self.recent_capacity {
                    inner.recent.pop_front();
                }
            }
            inner.clients.clone()
        };
        let mut dropped = 0;
        for client in clients.values() {
            if client.wants(event.topic) {
                dropped += client.push(event.clone());
            }
        }
        if dropped > 0 {
            self.counters.drops.inc_by(dropped);
        }
        HubCounters::count(&self.counters.events, event.topic);
    }

    /// Registers a client interested in `topics`; its queue starts with the
    /// last `recent` matching events.
    pub fn subscribe(&self, id: &str, topics: Vec<Topic>, recent: usize) -> Arc<ClientQueue> {
        let mut inner = self.inner.lock().unwrap();
        let mut queued = Queued::default();
        for event in inner
            .recent
            .iter()
            .rev()
            .filter(|e| topics.contains(&e.topic))
            .take(recent)
        {
            queued.bytes += event.text.len();
            queued.events.push_front(event.clone());
            if queued.over(self.client_bounds) {
                queued.events.pop_front();
                queued.bytes -= event.text.len();
                break;
            }
        }
        let queue = Arc::new(ClientQueue {
            queued: Mutex::new(queued),
            bounds: self.client_bounds,
            topics,
            dropped: AtomicU64::new(0),
            closed: false.into(),
            notify: Notify::new(),
        });
        queue.notify.notify_one();
        Arc::make_mut(&mut inner.clients).insert(id.to_owned(), queue.clone());
        queue
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(topic: Topic, n: i64) -> StreamEvent {
        StreamEvent {
            topic,
            text: format!("e{n}"),
            timestamp_ms: n,
        }
    }

    fn bounds(events: usize) -> QueueBounds {
        QueueBounds {
            events,
            bytes: 1 << 20,
        }
    }

    fn drain(q: &ClientQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop())
            .map(|e| e.text.clone())
            .collect()
    }

    #[test]
    fn a_new_client_gets_recent_events_then_live_ones_without_gap_or_duplicate() {
        let hub = Hub::new(3, bounds(100));
        for n in 1..=5 {
            hub.publish(ev(Topic::Click, n));
        }
        let q = hub.subscribe("a", Topic::ALL.to_vec(), 10);
        hub.publish(ev(Topic::Click, 6));
        assert_eq!(drain(&q), ["e3", "e4", "e5", "e6"]);
    }

    #[test]
    fn clients_choose_topics_and_recent_counts() {
        let hub = Hub::new(10, bounds(100));
        hub.publish(ev(Topic::Click, 1));
        hub.publish(ev(Topic::PageLoad, 2));
        hub.publish(ev(Topic::Click, 3));
        let clicks = hub.subscribe("c", vec![Topic::Click], 1);
        let loads = hub.subscribe("l", vec![Topic::PageLoad], 0);
        hub.publish(ev(Topic::PageLoad, 4));
        assert_eq!(drain(&clicks), ["e3"]);
        assert_eq!(drain(&loads), ["e4"]);
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let hub = Hub::new(0, bounds(2));
        let q = hub.subscribe("slow", Topic::ALL.to_vec(), 0);
        for n in 1..=5 {
            hub.publish(ev(Topic::Click, n));
        }
        assert_eq!(drain(&q), ["e4", "e5"]);
        assert_eq!(q.dropped(), 3);
        assert_eq!(hub.counters.drops.get(), 3);
    }

    #[test]
    fn the_recent_ring_is_ordered_by_timestamp() {
        let hub = Hub::new(3, bounds(10));
        for n in [5, 1, 7, 3, 6] {
            hub.publish(ev(Topic::Click, n));
        }
        let q = hub.subscribe("a", Topic::ALL.to_vec(), 3);
        assert_eq!(drain(&q), ["e5", "e6", "e7"]);
    }

    #[test]
    fn a_queue_holds_at_most_its_bytes_and_always_the_newest_event() {
        let hub = Hub::new(
            0,
            QueueBounds {
                events: 100,
                bytes: 10,
            },
        );
        let q = hub.subscribe("slow", Topic::ALL.to_vec(), 0);
        let text = |n: usize| StreamEvent {
            topic: Topic::Click,
            text: "x".repeat(n),
            timestamp_ms: 0,
        };
        for n in [4, 4, 4] {
            hub.publish(text(n));
        }
        assert_eq!(q.dropped(), 1, "12 bytes do not fit in 10");
        hub.publish(text(25));
        assert_eq!(
            drain(&q),
            ["x".repeat(25)],
            "a large event alone still goes out"
        );
        assert_eq!(hub.counters.drops.get(), 3);
    }

    #[test]
    fn a_late_joiner_gets_only_the_recent_events_that_fit() {
        let hub = Hub::new(
            10,
            QueueBounds {
                events: 100,
                bytes: 5,
            },
        );
        for n in 1..=5 {
            hub.publish(ev(Topic::Click, n));
        }
        let q = hub.subscribe("late", Topic::ALL.to_vec(), 10);
        assert_eq!(drain(&q), ["e4", "e5"], "the newest events, 4 bytes");
    }
}
