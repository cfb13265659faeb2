//! Socket.io connections.
//!
//! A client may choose topics and how many recent events it wants in the
//! handshake query (`?topics=edm-ui-click&recent=20`; the count applies to
//! each kind, events and trending records), and may resume: its
//! connect data (`auth`) `{"resume": {"edm-ui-click/0": 1234, …}}` names
//! the last offset it received per partition (see [`crate::hub`]). Every
//! client first gets a `stream` message saying how its stream begins:
//!
//! ```json
//! {"start": "fresh" | "resumed" | "too_far_behind", "replayed": 0,
//!  "positions": {"edm-ui-click/0": 1234},
//!  "mode": "raw" | "summary", "events_per_second": 0}
//! ```
//!
//! (`mode`: whether the instance streams raw events, see [`crate::mode`];
//! each change comes as a `stream` message `{"mode": …,
//! "events_per_second": …}`),
//!
//! then `event` messages (clicks and page loads) and `trending` messages
//! (edm-trending's window results, see [`crate::records`]), each with two
//! arguments: the record's JSON text as it was in Kafka, and its position
//! `edm-ui-click/0/1235` or `edm-trending/0/17`. A client keeps the highest
//! offset per partition from all of them and sends them back when it
//! reconnects (`static/edm-stream-client.js` in edm-dashboard does this).
//! A client so slow that events left the ring before it read them gets
//! `stream` `{"gap": N}` (N events lost) before the next event.
//!
//! Past `EDM_STREAM_MAX_CLIENTS` a client is refused with the connect error
//! `too_many_clients`, and past `EDM_STREAM_MAX_CLIENTS_PER_ADDRESS` from
//! one address (the forwarded one behind trusted proxies) with
//! `too_many_clients_from_address`: every Socket.io client counts, whether
//! it has a WebSocket of its own or long-polls over shared connections.
//!
//! A writer task per client reads the ring through its cursor into the
//! socket, waiting (not blocking anyone else) when the socket's own buffer
//! is full. socketioxide encodes each event for each socket, so what a
//! client that stops reading holds is its buffer's packets
//! (`EDM_STREAM_SOCKET_BUFFER_PACKETS`, each a record of at most
//! `EDM_STREAM_MAX_RECORD_BYTES`). The writer remembers the sizes of the
//! last packets it handed over, which is exactly what a full buffer holds,
//! and counts them against the instance's budget for clients that stopped
//! reading ([`crate::stalls`]) while its socket is full. A client evicted
//! from that budget is disconnected (it may reconnect and resume where it
//! was).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edm_config::Topic;
use edm_runtime::client::ClientAddress;
use edm_runtime::occupancy::{Full, Held, Occupancy};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::{SendError, SocketError, SocketIo};

use tokio::sync::{watch, Notify};

use crate::hub::{Cursor, Hub, HubCounters, PartitionKey, Positions, Request, Start};
use crate::mode::ModeReport;
use crate::records::Kind;
use crate::stalls::{StalledBytes, StalledShare, STALLED_AFTER};

/// What clients may ask for, and how many may connect.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    /// Recent events a client gets unless it asks for fewer.
    pub default_recent: usize,
    /// The topics streamed.
    pub topics: Vec<Topic>,
    /// Clients connected at once; more get the connect error
    /// `too_many_clients`.
    pub max_clients: usize,
    /// Clients from one address (`None`: no cap); more get
    /// `too_many_clients_from_address`.
    pub max_clients_per_address: Option<usize>,
    /// Packets one socket's buffer holds (socketioxide's
    /// `max_buffer_size`).
    pub socket_buffer_packets: usize,
    /// Bytes full socket buffers may hold in all.
    pub stalled_client_bytes: usize,
    /// The instance's mode ([`crate::mode`]), told to every client.
    pub mode: watch::Receiver<ModeReport>,
}

/// How long a resuming client waits for a starting instance to know its
/// partitions.
const WAIT_FOR_PARTITIONS: Duration = Duration::from_secs(10);

/// Most partitions a resume may name.
const MAX_RESUME_PARTITIONS: usize = 1024;

/// One of the client places, held in the socket's extensions; the last
/// copy dropped gives it back.
#[derive(Clone)]
struct ClientPlace {
    _held: Arc<Held>,
}

/// The sizes of the last packets a writer handed to its socket: when the
/// socket's buffer is full, it holds exactly these.
struct HandedPackets {
    sizes: VecDeque<usize>,
    capacity: usize,
    bytes: usize,
}

impl HandedPackets {
    fn new(capacity: usize) -> Self {
        Self {
            sizes: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            bytes: 0,
        }
    }

    fn push(&mut self, size: usize) {
        if self.sizes.len() == self.capacity {
            self.bytes -= self.sizes.pop_front().unwrap_or_default();
        }
        self.sizes.push_back(size);
        self.bytes += size;
    }
}

/// Bytes of a packet besides its arguments: `42["event",` and the rest.
const PACKET_FRAMING: usize = 16;

/// Registers the `/` namespace handlers on `io`.
pub fn register(io: &SocketIo, hub: Arc<Hub>, policy: ClientPolicy) {
    let places = Occupancy::new(policy.max_clients, policy.max_clients_per_address);
    let stalled = Arc::new(StalledBytes::new(policy.stalled_client_bytes));
    // A place is taken before the socket joins (so clients connecting at
    // once cannot all slip under the cap) and given back when the socket
    // is dropped, however it ended.
    let admit = move |socket: SocketRef| {
        let places = places.clone();
        async move {
            // Set by the runtime's client layer on every request; the
            // unspecified address only if it was not there.
            let address = socket
                .req_parts()
                .extensions
                .get::<ClientAddress>()
                .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |a| a.0);
            let held = places.try_hold(address).map_err(|full| match full {
                Full::Total => "too_many_clients",
                Full::Client => "too_many_clients_from_address",
            })?;
            socket.extensions.insert(ClientPlace {
                _held: Arc::new(held),
            });
            Ok::<(), &'static str>(())
        }
    };
    let on_connect = move |socket: SocketRef, TryData(auth): TryData<Value>| {
        let hub = hub.clone();
        let policy = policy.clone();
        let stalled = stalled.clone();
        async move {
            let query = socket.req_parts().uri.query().unwrap_or("").to_owned();
            let (topics, recent) = client_options(&query, &policy.topics, policy.default_recent);
            let resume = auth.ok().as_ref().and_then(resume_positions);
            if resume.is_some() {
                // A starting instance first learns its partitions, so that
                // a resume is checked against what it can hand out.
                let _ = tokio::time::timeout(WAIT_FOR_PARTITIONS, hub.tracking()).await;
            }
            let subscription = hub.subscribe(Request {
                topics,
                recent,
                resume,
            });
            let mut mode = policy.mode.clone();
            let mut start = json!({
                "start": match subscription.start {
                    Start::Fresh => "fresh",
                    Start::Resumed => "resumed",
                    Start::TooFarBehind => "too_far_behind",
                },
                "replayed": subscription.replayed,
                "positions": subscription
                    .positions
                    .iter()
                    .map(|(key, at)| (key.to_string(), *at))
                    .collect::<HashMap<_, _>>(),
            });
            // The mode now; the writer tells later changes.
            let told = *mode.borrow_and_update();
            if let (Some(start), Value::Object(report)) = (start.as_object_mut(), told.to_json()) {
                start.extend(report);
            }
            let _ = socket.emit("stream", &start);
            tracing::debug!(client = %socket.id, start = ?subscription.start, "client connected");
            let gone = Arc::new(Notify::new());
            {
                let gone = gone.clone();
                socket.on_disconnect(move |s: SocketRef, reason: DisconnectReason| {
                    // A permit is kept if the writer is not waiting yet.
                    gone.notify_one();
                    async move {
                        tracing::debug!(client = %s.id, ?reason, "client disconnected");
                    }
                });
            }
            let handed = HandedPackets::new(policy.socket_buffer_packets);
            tokio::spawn(write_to_client(
                Writer {
                    socket,
                    hub,
                    stalled,
                    handed,
                    mode,
                    told,
                },
                subscription.cursor,
                gone,
            ));
        }
    };
    io.ns("/", on_connect.with(admit));
}

/// Events a writer takes from the ring at a time.
const READ_BATCH: usize = 64;

/// How often a writer tries again while its socket's buffer is full: soon
/// at first (a healthy client drains it within moments, and the ring may
/// hold only a fraction of a second of a fast stream), rarely once it has
/// been full for a while (a stalled client should cost little).
const FULL_SOCKET_WAIT: Duration = Duration::from_millis(10);
const STALLED_SOCKET_WAIT: Duration = Duration::from_millis(250);

/// What a client's writer works with.
struct Writer {
    socket: SocketRef,
    hub: Arc<Hub>,
    stalled: Arc<StalledBytes>,
    handed: HandedPackets,
    /// The instance's mode; each change is told to the client.
    mode: watch::Receiver<ModeReport>,
    /// The mode the client was last told.
    told: ModeReport,
}

impl Writer {
    /// Hands `event` with its arguments to the socket, remembering its
    /// size.
    fn emit(&mut self, event: &str, args: &(&RawValue, &RawValue)) -> Result<(), SendError> {
        self.socket.emit(event, args)?;
        self.handed
            .push(event.len() + args.0.get().len() + args.1.get().len() + PACKET_FRAMING);
        Ok(())
    }

    /// Tells the client the instance's mode when it changed.
    fn emit_mode_change(&mut self) {
        let now = *self.mode.borrow();
        if now.mode == self.told.mode {
            return;
        }
        self.told = now;
        if self.socket.emit("stream", &now.to_json()).is_ok() {
            // `"stream",{"mode":"summary","events_per_second":N}`.
            self.handed.push(80 + PACKET_FRAMING);
        }
    }

    /// Disconnects a client that stopped reading, saying why: it may
    /// reconnect and resume where it was.
    fn cut_stalled(&self, stalled: &StalledBytes, why: &str) {
        self.hub.counters.stalled_disconnects.inc();
        tracing::warn!(
            client = %self.socket.id,
            bytes = self.handed.bytes,
            stalled = stalled.held(),
            "disconnecting a client that stopped reading: {why}"
        );
        let _ = self.socket.clone().disconnect();
    }

    /// Tells the client how many events it lost.
    fn emit_gap(&mut self, gap: u64) {
        if self.socket.emit("stream", &json!({ "gap": gap })).is_ok() {
            // `"stream",{"gap":N}`: at most 40 bytes.
            self.handed.push(40 + PACKET_FRAMING);
        }
    }
}

/// Sends what the client's cursor reads until the client goes away
/// (`gone` is notified), or until its full socket would take the bytes
/// stalled clients hold past the instance's budget.
async fn write_to_client(mut writer: Writer, mut cursor: Cursor, gone: Arc<Notify>) {
    let hub = writer.hub.clone();
    let stalled = writer.stalled.clone();
    let mut share = StalledShare::new(&stalled);
    // Events lost while the socket was full, reported before what follows.
    let mut lost = 0;
    // One wait for the whole life of the writer, not one per wake-up.
    let client_gone = gone.notified();
    tokio::pin!(client_gone);
    'client: loop {
        writer.emit_mode_change();
        let delivery = cursor.read(&hub, READ_BATCH);
        let gap = std::mem::take(&mut lost) + delivery.gap;
        if gap > 0 {
            writer.emit_gap(gap);
        }
        if delivery.events.is_empty() {
            tokio::select! {
                published = cursor.published() => if !published { break },
                changed = writer.mode.changed() => if changed.is_err() { break },
                () = &mut client_gone => break,
            }
            continue;
        }
        let mut delivered = [0u64; Topic::ALL.len()];
        for event in &delivery.events {
            let mut full_since: Option<Instant> = None;
            loop {
                let name = Kind::of(event.key.topic).socket_event();
                match writer.emit(name, &(&*event.text_json, &*event.position_json)) {
                    Ok(()) => {
                        share.release();
                        break;
                    }
                    Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                        let since = *full_since.get_or_insert_with(Instant::now);
                        if !share.hold(writer.handed.bytes, since) {
                            writer.cut_stalled(
                                &stalled,
                                "its full socket would take what \
                                clients that stopped reading hold past \
                                EDM_STREAM_STALLED_CLIENT_BYTES",
                            );
                            break 'client;
                        }
                        // Counted as soon as they are lost, not when the
                        // client reads again (it may never).
                        lost += cursor.skip_lost(&hub);
                        let wait = if since.elapsed() < STALLED_AFTER {
                            FULL_SOCKET_WAIT
                        } else {
                            STALLED_SOCKET_WAIT
                        };
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            () = share.evicted() => {
                                writer.cut_stalled(&stalled, "it stopped reading longest, and \
                                    another full socket needed room within \
                                    EDM_STREAM_STALLED_CLIENT_BYTES");
                                break 'client;
                            }
                            () = &mut client_gone => break 'client,
                        }
                    }
                    Err(_) => break 'client,
                }
            }
            for (topic, n) in Topic::ALL.iter().zip(&mut delivered) {
                *n += u64::from(*topic == event.key.topic);
            }
        }
        for (topic, n) in Topic::ALL.iter().zip(delivered) {
            if n > 0 {
                HubCounters::count(&hub.counters.deliveries, *topic, n);
            }
        }
    }
}

/// The positions in a client's connect data `{"resume": {key: offset}}`;
/// `None` when it names none. Keys that are not a streamed partition and
/// offsets that are not whole numbers are ignored.
pub fn resume_positions(auth: &Value) -> Option<Positions> {
    let named = auth.get("resume")?.as_object()?;
    let positions: Positions = named
        .iter()
        .take(MAX_RESUME_PARTITIONS)
        .filter_map(|(key, offset)| {
            Some((
                PartitionKey::parse(key)?,
                offset.as_i64().filter(|o| *o >= -1)?,
            ))
        })
        .collect();
    (!positions.is_empty()).then_some(positions)
}

/// The topics (`topics=a,b`, default all streamed) and recent-event count
/// (`recent=N`, default the configured one) a client asked for. Unknown
/// topics are ignored and repeated ones count once, so a client holds at
/// most every streamed topic; a count is capped at the configured one.
pub fn client_options(
    query: &str,
    streamed: &[Topic],
    default_recent: usize,
) -> (Vec<Topic>, usize) {
    let mut topics = streamed.to_vec();
    let mut recent = default_recent;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("topics", list)) => {
                // Each streamed topic at most once, in the instance's order,
                // however long the list or often a name repeats: the list
                // is consulted for every event.
                let named: Vec<&str> = list.split(',').collect();
                let chosen: Vec<Topic> = streamed
                    .iter()
                    .copied()
                    .filter(|t| named.contains(&t.name()))
                    .collect();
                if !chosen.is_empty() {
                    topics = chosen;
                }
            }
            Some(("recent", n)) => {
                if let Ok(n) = n.parse::<usize>() {
                    recent = n.min(default_recent);
                }
            }
            _ => {}
        }
    }
    (topics, recent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_pick_topics_and_counts_within_bounds() {
        let all = Topic::ALL.to_vec();
        assert_eq!(
            client_options("EIO=4&transport=websocket", &all, 50),
            (all.clone(), 50)
        );
        assert_eq!(
            client_options("topics=edm-ui-click&recent=5", &all, 50),
            (vec![Topic::Click], 5)
        );
        assert_eq!(client_options("recent=5000", &all, 50).1, 50);
        assert_eq!(client_options("topics=nope", &all, 50).0, all);
        assert_eq!(
            client_options("topics=edm-trending", &all, 50).0,
            [Topic::Trending]
        );
        // Repeats count once, in the instance's order.
        let repeated = format!("topics={}edm-trending", "edm-ui-click,".repeat(1000));
        assert_eq!(
            client_options(&repeated, &all, 50).0,
            [Topic::Click, Topic::Trending]
        );
        // A topic this instance does not stream cannot be chosen.
        let store = Topic::STORE_EVENTS.to_vec();
        assert_eq!(
            client_options("topics=edm-trending,edm-ui-click", &store, 50).0,
            [Topic::Click]
        );
    }

    #[test]
    fn a_full_socket_holds_the_last_packets_handed() {
        let mut handed = HandedPackets::new(3);
        for size in [100, 200, 300, 400] {
            handed.push(size);
        }
        assert_eq!(handed.bytes, 900, "the last three only");
    }

    #[test]
    fn a_resume_names_streamed_partitions_and_whole_offsets_only() {
        let auth = json!({"resume": {
            "edm-ui-click/0": 41, "edm-ui-pageload/2": -1,
            "edm-ui-click/x": 5, "other/0": 3, "edm-ui-click/1": "7", "edm-ui-click/3": 1.5
        }});
        let positions = resume_positions(&auth).unwrap();
        assert_eq!(positions.len(), 2);
        assert_eq!(
            positions[&PartitionKey {
                topic: Topic::Click,
                partition: 0
            }],
            41
        );
        assert_eq!(
            positions[&PartitionKey {
                topic: Topic::PageLoad,
                partition: 2
            }],
            -1
        );
        assert!(resume_positions(&json!({})).is_none());
        assert!(resume_positions(&json!({"resume": {"nope": 1}})).is_none());
        assert!(resume_positions(&json!("text")).is_none());
    }
}
