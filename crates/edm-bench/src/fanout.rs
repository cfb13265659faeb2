//! `edm-bench fanout <stream-url> <clients> <seconds> [--histogram] [--records]`: many
//! Socket.io clients on edm-stream, each recording how long after its
//! `event_timestamp` every event reached it — the same measure and the same
//! result line as `bench/fanout.mjs`, which runs the official
//! socket.io-client.
//!
//! Why a second client: the official client costs about a core per 100,000
//! deliveries a second, so on the bench machine it cannot take the
//! 200,000 a second of the large fan-out cells, whatever the server does.
//! This one speaks the same protocol (Engine.IO 4 over WebSocket, answering
//! the server's pings; Socket.IO 5 packets, each parsed as JSON) and costs
//! a fraction of that, so the cells measure edm-stream rather than the
//! clients. Prints `READY` once every client is connected, then one JSON
//! line after `seconds`: deliveries, the per-client minimum and maximum,
//! the gaps the server reported (events a client lost), p50 / p99 / max
//! delay in ms, with `--histogram`, the count per ms and, with `--records`,
//! every `counts` and `sample` message each client received (`records`:
//! per client, `counts` and `samples`, each a list of [position, text]).

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::arg;
use crate::post::WARM_UP_BUTTON;
use crate::produce::now_ms;

/// Delays are counted per ms up to this; longer ones count as this.
const MAX_DELAY_MS: usize = 60_000;

/// Clients that open their connection at once.
const CONNECTING_AT_ONCE: usize = 64;

/// How long all clients may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the clients received, shared by all of them.
struct Tally {
    /// Deliveries per delay in ms.
    by_delay_ms: Vec<AtomicU64>,
    /// Deliveries per client.
    per_client: Vec<AtomicU64>,
    /// Events of the producer's warm-up (button `bench-warmup`), not
    /// counted as deliveries.
    warm_up: AtomicU64,
    /// Events the server said a client lost (`stream` `{"gap": N}`).
    gaps: AtomicU64,
    /// With `--records`, per client, the `counts` and `sample` messages.
    records: Option<Vec<Mutex<Records>>>,
    connected: AtomicUsize,
    all_connected: Notify,
}

/// One client's `counts` and `sample` messages: [position, text] each.
#[derive(Default)]
struct Records {
    counts: Vec<(String, String)>,
    samples: Vec<(String, String)>,
}

impl Tally {
    /// Nothing received yet by `clients` clients; `with_records` keeps
    /// their `counts` and `sample` messages.
    fn new(clients: usize, with_records: bool) -> Self {
        Self {
            records: with_records.then(|| (0..clients).map(|_| Mutex::default()).collect()),
            by_delay_ms: (0..=MAX_DELAY_MS).map(|_| AtomicU64::new(0)).collect(),
            per_client: (0..clients).map(|_| AtomicU64::new(0)).collect(),
            warm_up: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            connected: AtomicUsize::new(0),
            all_connected: Notify::new(),
        }
    }
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let base: String = arg(args, 2)?;
    let clients: usize = arg(args, 3)?;
    let seconds: u64 = arg(args, 4)?;
    let with_histogram = args.iter().any(|a| a == "--histogram");
    let with_records = args.iter().any(|a| a == "--records");
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket&recent=0",
        base.trim_end_matches('/').replacen("http", "ws", 1)
    );
    let tally = Arc::new(Tally::new(clients, with_records));
    let opening = Arc::new(tokio::sync::Semaphore::new(CONNECTING_AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (url, tally, opening) = (url.clone(), tally.clone(), opening.clone());
        tasks.spawn(async move {
            let permit = opening.acquire_owned().await?;
            receive(&url, client, &tally, permit).await
        });
    }
    let connected = tally.all_connected.notified();
    if tally.connected.load(Ordering::SeqCst) < clients {
        tokio::select! {
            () = connected => {}
            () = tokio::time::sleep(CONNECT_TIMEOUT) => anyhow::bail!("not every client connected within {CONNECT_TIMEOUT:?}"),
            Some(ended) = tasks.join_next() => anyhow::bail!("a client ended while connecting: {:?}", ended?),
        }
    }
    println!("READY");
    std::io::stdout().flush()?;
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(seconds)) => {}
        Some(ended) = tasks.join_next() => anyhow::bail!("a client ended early: {:?}", ended?),
    }
    tasks.abort_all();
    println!("{}", summary(&tally, clients, with_histogram));
    Ok(())
}

/// One client: connects, then tallies what it receives until aborted.
async fn receive(
    url: &str,
    client: usize,
    tally: &Tally,
    opening: tokio::sync::OwnedSemaphorePermit,
) -> anyhow::Result<()> {
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(small_reads()), false)
            .await
            .with_context(|| format!("connecting to {url}"))?;
    let mut opening = Some(opening);
    while let Some(message) = socket.next().await {
        let text = match message? {
            Message::Text(text) => text,
            Message::Close(frame) => anyhow::bail!("closed by the server: {frame:?}"),
            _ => continue,
        };
        let at_ms = now_ms();
        match text.as_bytes() {
            // Engine.IO open: join the default namespace.
            [b'0', ..] => socket.send(Message::text("40")).await?,
            // Engine.IO ping.
            [b'2', ..] => socket.send(Message::text("3")).await?,
            // Socket.IO connect: this client is in.
            [b'4', b'0', ..] => {
                drop(opening.take());
                if tally.connected.fetch_add(1, Ordering::SeqCst) + 1 == tally.per_client.len() {
                    tally.all_connected.notify_one();
                }
            }
            [b'4', b'4', ..] => anyhow::bail!("connect refused: {text}"),
            // Socket.IO event: ["name", args...].
            [b'4', b'2', ..] => {
                let packet: Vec<Value> = serde_json::from_str(&text[2..])
                    .with_context(|| format!("not a Socket.IO event: {text}"))?;
                tally_event(&packet, at_ms, client, tally);
            }
            _ => {}
        }
    }
    anyhow::bail!("the connection ended")
}

/// WebSocket settings for many small messages: tungstenite zeroes its whole
/// read buffer (128 KiB by default) before every read, which cost these
/// clients a third of their CPU at the default.
fn small_reads() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER)
}

/// Bytes a client reads at a time: many events of a few hundred bytes.
const READ_BUFFER: usize = 4 * 1024;

/// Counts one event packet.
fn tally_event(packet: &[Value], at_ms: i64, client: usize, tally: &Tally) {
    match (packet.first().and_then(Value::as_str), packet.get(1)) {
        (Some("event"), Some(Value::String(record))) => {
            if is_warm_up(record) {
                tally.warm_up.fetch_add(1, Ordering::Relaxed);
            } else if let Some(sent_ms) = event_timestamp(record) {
                let delay = (at_ms - sent_ms).clamp(0, MAX_DELAY_MS as i64) as usize;
                tally.by_delay_ms[delay].fetch_add(1, Ordering::Relaxed);
                tally.per_client[client].fetch_add(1, Ordering::Relaxed);
            }
        }
        (Some(kind @ ("counts" | "sample")), Some(Value::String(record))) => {
            let position = packet.get(2).and_then(Value::as_str).unwrap_or_default();
            if let Some(records) = &tally.records {
                let mut mine = records[client]
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let list = if kind == "counts" {
                    &mut mine.counts
                } else {
                    &mut mine.samples
                };
                list.push((position.to_owned(), record.clone()));
            }
        }
        (Some("stream"), Some(Value::Object(start))) => {
            if let Some(gap) = start.get("gap").and_then(Value::as_u64) {
                tally.gaps.fetch_add(gap, Ordering::Relaxed);
            }
        }
        _ => {}
    }
}

/// Whether an event's JSON text holds the string `"bench-warmup"` (the
/// producer's warm-up events). A search, like the timestamp's below.
fn is_warm_up(record: &str) -> bool {
    record
        .match_indices(WARM_UP_BUTTON)
        .any(|(at, word)| record[..at].ends_with('"') && record[at + word.len()..].starts_with('"'))
}

/// The `event_timestamp` (ms) in an event's JSON text. A search, as the
/// official-client bench does: only the timestamp is needed.
fn event_timestamp(record: &str) -> Option<i64> {
    const FIELD: &str = "\"event_timestamp\":";
    let rest = record[record.find(FIELD)? + FIELD.len()..].trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The result line.
fn summary(tally: &Tally, clients: usize, with_histogram: bool) -> Value {
    let counts: Vec<u64> = tally
        .by_delay_ms
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let deliveries: u64 = counts.iter().sum();
    let at_percentile = |p: f64| {
        let rank = ((p / 100.0) * deliveries as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        counts.iter().position(|c| {
            seen += c;
            seen >= rank
        })
    };
    let per_client: Vec<u64> = tally
        .per_client
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let mut line = json!({
        "clients": clients,
        "deliveries": deliveries,
        "warm_up_deliveries": tally.warm_up.load(Ordering::Relaxed),
        "gaps": tally.gaps.load(Ordering::Relaxed),
        "min_per_client": per_client.iter().min(),
        "max_per_client": per_client.iter().max(),
        "p50_ms": at_percentile(50.0).filter(|_| deliveries > 0),
        "p99_ms": at_percentile(99.0).filter(|_| deliveries > 0),
        "max_ms": counts.iter().rposition(|c| *c > 0),
    });
    if let Some(records) = &tally.records {
        line["records"] = records
            .iter()
            .map(|r| {
                let r = r.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                json!({"counts": r.counts, "samples": r.samples})
            })
            .collect::<Vec<_>>()
            .into();
    }
    if with_histogram {
        line["histogram_ms"] = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(ms, c)| (ms.to_string(), json!(c)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_by_delay_warm_up_and_gaps_apart() {
        let t = Tally::new(2, true);
        let event = |button: &str, ts: i64| {
            json!([
                "event",
                format!("{{\"button_id\": \"{button}\", \"event_timestamp\": {ts}}}"),
                "edm-ui-click/0/1"
            ])
        };
        for (client, packet, at) in [
            (0, event("b1", 1_000), 1_004),
            (0, event("b2", 1_000), 1_010),
            (1, event("b1", 2_000), 2_004),
            (1, event(WARM_UP_BUTTON, 2_000), 2_004),
            (1, json!(["stream", {"gap": 3}]), 0),
            (
                1,
                json!(["counts", "{\"count\":2}", "edm-trending-counts/0/7"]),
                0,
            ),
        ] {
            tally_event(packet.as_array().unwrap(), at, client, &t);
        }
        let line = summary(&t, 2, true);
        assert_eq!(line["deliveries"], 3);
        assert_eq!(line["warm_up_deliveries"], 1);
        assert_eq!(line["gaps"], 3);
        assert_eq!(
            line["records"],
            json!([{"counts": [], "samples": []},
                   {"counts": [["edm-trending-counts/0/7", "{\"count\":2}"]], "samples": []}])
        );
        assert_eq!(
            (
                line["min_per_client"].clone(),
                line["max_per_client"].clone()
            ),
            (json!(1), json!(2))
        );
        assert_eq!(
            (line["p50_ms"].clone(), line["p99_ms"].clone()),
            (json!(4), json!(10))
        );
        assert_eq!(line["histogram_ms"], json!({"4": 2, "10": 1}));
    }

    #[test]
    fn only_the_warm_up_button_itself_marks_a_warm_up_event() {
        assert!(is_warm_up(
            r#"{"button_id": "bench-warmup", "event_timestamp": 1}"#
        ));
        assert!(!is_warm_up(
            r#"{"button_id": "bench-warmup-2", "event_timestamp": 1}"#
        ));
        assert!(!is_warm_up(
            r#"{"button_id": "product-1", "event_timestamp": 1}"#
        ));
    }
}
