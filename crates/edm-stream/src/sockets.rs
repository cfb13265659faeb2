//! Socket.io connections. Each client may choose topics and how many recent
//! events it wants in the handshake query (`?topics=edm-ui-click&recent=20`);
//! past `EDM_STREAM_MAX_CLIENTS` a client is refused with the connect error
//! `too_many_clients`;
//! a writer task per client drains its queue into the socket, waiting (not
//! blocking anyone else) when the socket's own buffer is full.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edm_config::Topic;
use socketioxide::extract::SocketRef;
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::{SendError, SocketError, SocketIo};

use crate::hub::{Hub, HubCounters};

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
}

/// One of the `max_clients` places, held in the socket's extensions.
#[derive(Clone)]
struct ClientPlace {
    _taken: Arc<TakenPlace>,
}

/// Gives its place back when the last copy is dropped.
struct TakenPlace(Arc<AtomicUsize>);

impl Drop for TakenPlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Registers the `/` namespace handlers on `io`.
pub fn register(io: &SocketIo, hub: Arc<Hub>, policy: ClientPolicy) {
    let max_clients = policy.max_clients;
    let places = Arc::new(AtomicUsize::new(0));
    // A place is taken before the socket joins (so clients connecting at
    // once cannot all slip under the cap) and given back when the socket
    // is dropped, however it ended.
    let admit = move |socket: SocketRef| {
        let places = places.clone();
        async move {
            if places.fetch_add(1, Ordering::SeqCst) >= max_clients {
                places.fetch_sub(1, Ordering::SeqCst);
                return Err("too_many_clients");
            }
            socket.extensions.insert(ClientPlace {
                _taken: Arc::new(TakenPlace(places)),
            });
            Ok(())
        }
    };
    let (default_recent, topics) = (policy.default_recent, policy.topics);
    let on_connect = move |socket: SocketRef| {
        let hub = hub.clone();
        let topics = topics.clone();
        async move {
            let query = socket.req_parts().uri.query().unwrap_or("").to_owned();
            let (chosen, recent) = client_options(&query, &topics, default_recent);
            let id = socket.id.to_string();
            let queue = hub.subscribe(&id, chosen, recent);
            tracing::debug!(client = %id, "client connected");
            {
                let hub = hub.clone();
                socket.on_disconnect(move |s: SocketRef, reason: DisconnectReason| {
                    let hub = hub.clone();
                    async move {
                        hub.unsubscribe(&s.id.to_string());
                        tracing::debug!(client = %s.id, ?reason, "client disconnected");
                    }
                });
            }
            tokio::spawn(async move {
                loop {
                    if queue.is_closed() || !socket.connected() {
                        break;
                    }
                    let Some(event) = queue.pop() else {
                        // Wake on new events; re-check now and then in case
                        // the client vanished without a disconnect event.
                        let _ =
                            tokio::time::timeout(Duration::from_secs(5), queue.notify.notified())
                                .await;
                        continue;
                    };
                    match socket.emit("event", event.text.as_str()) {
                        Ok(()) => HubCounters::count(&hub.counters.deliveries, event.topic),
                        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                            queue.unpop(event);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(_) => break,
                    }
                }
                hub.unsubscribe(&socket.id.to_string());
            });
        }
    };
    io.ns("/", on_connect.with(admit));
}

/// The topics (`topics=a,b`, default all streamed) and recent-event count
/// (`recent=N`, default the configured one) a client asked for. Unknown
/// topics are ignored; a count is capped at the configured one.
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
                let chosen: Vec<Topic> = list
                    .split(',')
                    .filter_map(|t| t.parse::<Topic>().ok())
                    .filter(|t| streamed.contains(t))
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
    }
}
