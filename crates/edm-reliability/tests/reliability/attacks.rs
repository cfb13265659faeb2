//! The attack suite: each attack runs against a real release (or debug)
//! binary of a public service while a well-behaved client at another
//! loopback address keeps using it. Each attack passes when every one of
//! the well-behaved client's requests succeeded and the service's peak
//! resident memory stayed under 256 MiB; the well-behaved client's p99
//! is recorded.
//!
//! `EDM_RELIABILITY_PROFILE=short` (the default, run by CI) uses smaller
//! crowds; `full` (`./edm reliability`) uses the sizes docs/reliability.md
//! reports and writes its table to the file named by
//! `EDM_ATTACK_REPORT` when set.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edm_config::{KafkaSettings, Topic};
use edm_reliability::attacks::{
    attacker_addresses, connect_from, http_client_from, keep_requesting, markdown_table,
    AttackResult, WellBehavedRecord, PEAK_RSS_BOUND_MIB, WELL_BEHAVED,
};
use edm_reliability::listener::Listener;
use edm_reliability::processes::{build_services, Service};
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::polling::{JoinAnswer, Polling};
use edm_testkit::postgres::TestDatabase;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Crowd sizes and durations.
struct Profile {
    name: &'static str,
    /// How long each attack lasts.
    seconds: u64,
    trickling_bodies: usize,
    large_bodies: usize,
    idle_connections: usize,
    idle_sockets: usize,
    oversized_messages: usize,
    binary_sockets: usize,
    non_reading_sockets: usize,
    polling_sessions: usize,
    large_headers: usize,
    distinct_urls: usize,
    /// Distinct 250-character button ids in the stats table.
    button_ids: usize,
    /// 1 MB malformed records produced for stats' dead letters.
    dead_letters: usize,
}

fn profile() -> Profile {
    match std::env::var("EDM_RELIABILITY_PROFILE").as_deref() {
        Ok("full") => Profile {
            name: "full",
            seconds: 20,
            trickling_bodies: 1_100,
            large_bodies: 64,
            idle_connections: 10_000,
            idle_sockets: 1_000,
            oversized_messages: 200,
            binary_sockets: 200,
            non_reading_sockets: 400,
            polling_sessions: 10_500,
            large_headers: 64,
            distinct_urls: 50_000,
            button_ids: 200_000,
            dead_letters: 200,
        },
        _ => Profile {
            name: "short",
            seconds: 12,
            trickling_bodies: 400,
            large_bodies: 24,
            idle_connections: 2_000,
            idle_sockets: 300,
            oversized_messages: 40,
            binary_sockets: 50,
            non_reading_sockets: 200,
            polling_sessions: 2_000,
            large_headers: 16,
            distinct_urls: 5_000,
            button_ids: 20_000,
            dead_letters: 50,
        },
    }
}

/// Sockets per attacker address: under the default per-address cap
/// (`EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS`, 256), so the crowd is really
/// held by the service rather than refused at the door.
const PER_ADDRESS: usize = 220;

/// A service process for `prefix`'s topics with `extra` settings.
fn service(name: &'static str, prefix: &str, extra: &[(&str, &str)]) -> Service {
    Service::new(name, service_env(prefix, extra).0)
}

fn address(service: &Service) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], service.port))
}

fn click(id: &str, padding: usize) -> serde_json::Value {
    json!({"topic":"edm-ui-click","uuid":"well-behaved","event_id":id,
           "event_timestamp":1_763_800_000_000_i64,
           "properties":{"button_id":"buy","description":"button click"},
           "padding":"x".repeat(padding)})
}

/// The well-behaved relay client: one click every 50 ms, each must be
/// answered 200.
fn relay_well_behaved(
    relay: &Service,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<WellBehavedRecord> {
    let http = http_client_from(WELL_BEHAVED);
    let url = format!("{}/produceClickMessage", relay.url());
    tokio::spawn(keep_requesting(
        Duration::from_millis(50),
        stop,
        move || {
            let request = http
                .post(&url)
                .json(&click(&uuid::Uuid::new_v4().to_string(), 0));
            async move {
                let response = request.send().await.map_err(|e| e.to_string())?;
                match response.status().as_u16() {
                    200 => Ok(()),
                    status => Err(format!(
                        "{status} {}",
                        response.text().await.unwrap_or_default()
                    )),
                }
            }
        },
    ))
}

/// Runs `attack` for the profile's duration while the well-behaved client
/// started by `well_behaved` keeps going; returns its record.
async fn under_attack<W, A, Fut>(
    seconds: u64,
    well_behaved: W,
    attack: A,
) -> (WellBehavedRecord, String)
where
    W: FnOnce(Arc<AtomicBool>) -> tokio::task::JoinHandle<WellBehavedRecord>,
    A: FnOnce(Arc<AtomicBool>) -> Fut,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let client = well_behaved(stop.clone());
    // The client is served before the attack begins (its connection is up).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attack = tokio::spawn(attack(stop.clone()));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let record = client.await.expect("the well-behaved client ran");
    let effect = attack.await.expect("the attack ran");
    (record, effect)
}

/// How the service answered one attacking HTTP connection.
#[derive(Default)]
struct Answers {
    /// 503 (a connection cap, or no place in flight).
    refused: AtomicUsize,
    /// 429 (this client's share of places in flight is taken).
    limited: AtomicUsize,
    timed_out: AtomicUsize,
    closed: AtomicUsize,
    other: AtomicUsize,
}

impl Answers {
    fn count(&self, answer: &[u8]) {
        let text = String::from_utf8_lossy(answer);
        let counter = if text.starts_with("HTTP/1.1 503") {
            &self.refused
        } else if text.starts_with("HTTP/1.1 429") {
            &self.limited
        } else if text.starts_with("HTTP/1.1 408") {
            &self.timed_out
        } else if text.is_empty() {
            &self.closed
        } else {
            &self.other
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Relaxed)
    }
}

/// Relay: connections from several addresses, each announcing a body and
/// sending one byte of it a second.
async fn trickling_bodies(relay: &Service, crowd: usize, seconds: u64) -> AttackResult {
    let to = address(relay);
    let (record, effect) = under_attack(seconds, |stop| relay_well_behaved(relay, stop), move |stop| async move {
        let answers = Arc::new(Answers::default());
        let held = Arc::new(AtomicUsize::new(0));
        let addresses = attacker_addresses(2, crowd.div_ceil(PER_ADDRESS));
        let mut tasks = Vec::new();
        for i in 0..crowd {
            let (from, answers, held, stop) = (addresses[i / PER_ADDRESS], answers.clone(), held.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let Ok(stream) = connect_from(from, to).await else { return };
                let (mut read, mut write) = stream.into_split();
                let head = "POST /produceClickMessage HTTP/1.1\r\nhost: relay\r\n\
                            content-type: application/json\r\ncontent-length: 60000\r\n\r\n";
                if write.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                held.fetch_add(1, Ordering::Relaxed);
                let trickle = async {
                    while !stop.load(Ordering::Relaxed) {
                        if write.write_all(b" ").await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    std::future::pending::<()>().await;
                };
                let mut answer = Vec::new();
                tokio::select! {
                    _ = read.read_to_end(&mut answer) => answers.count(&answer),
                    () = trickle => {}
                    () = wait_for(&stop) => {}
                }
            }));
        }
        futures::future::join_all(tasks).await;
        format!(
            "{} connections opened; {} refused at once with 429 (the client's places in flight taken), {} with 503; {} answered 408 at the body deadline, {} closed otherwise",
            Answers::get(&held),
            Answers::get(&answers.limited),
            Answers::get(&answers.refused),
            Answers::get(&answers.timed_out),
            Answers::get(&answers.closed) + Answers::get(&answers.other),
        )
    })
    .await;
    AttackResult {
        service: "edm-relay",
        attack: format!(
            "{crowd} connections trickling a request body (1 byte/s) from {} addresses",
            crowd.div_ceil(PER_ADDRESS)
        ),
        effect,
        well_behaved: record,
        peak_rss_mib: relay.peak_rss_mib().expect("the relay runs"),
    }
}

async fn wait_for(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What an 8 MiB batch body holds.
#[derive(Clone, Copy)]
enum BatchBody {
    /// One string: cheap to send, all of it read.
    OneString,
    /// About four million items `0`: counted as they are read.
    TinyItems,
}

/// Relay: batch bodies just under the 8 MiB limit, sent in parallel and
/// again as soon as each is answered.
async fn large_bodies(
    relay: &Service,
    parallel: usize,
    seconds: u64,
    kind: BatchBody,
) -> AttackResult {
    let url = format!("{}/api/v1/events", relay.url());
    let (record, effect) = under_attack(
        seconds,
        |stop| relay_well_behaved(relay, stop),
        move |stop| async move {
            let mut body = Vec::with_capacity(8 << 20);
            match kind {
                BatchBody::OneString => {
                    body.extend_from_slice(b"[\"");
                    body.resize((8 << 20) - 16, b'a');
                    body.extend_from_slice(b"\"]");
                }
                BatchBody::TinyItems => {
                    body.push(b'[');
                    while body.len() < (8 << 20) - 16 {
                        body.extend_from_slice(b"0,");
                    }
                    body.extend_from_slice(b"0]");
                }
            }
            let body = bytes::Bytes::from(body);
            let statuses = Arc::new(std::sync::Mutex::new(HashMap::<u16, usize>::new()));
            let http = http_client_from(Ipv4Addr::new(127, 3, 0, 1));
            let tasks: Vec<_> = (0..parallel)
                .map(|_| {
                    let (http, url, body, statuses, stop) = (
                        http.clone(),
                        url.clone(),
                        body.clone(),
                        statuses.clone(),
                        stop.clone(),
                    );
                    tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            let sent = http
                                .post(&url)
                                .header("content-type", "application/json")
                                .body(body.clone())
                                .send()
                                .await;
                            let status = sent.map_or(0, |r| r.status().as_u16());
                            *statuses.lock().unwrap().entry(status).or_default() += 1;
                        }
                    })
                })
                .collect();
            futures::future::join_all(tasks).await;
            let mut statuses: Vec<_> = statuses.lock().unwrap().clone().into_iter().collect();
            statuses.sort();
            let answered: Vec<String> = statuses
                .iter()
                .map(|(s, n)| {
                    if *s == 0 {
                        format!("{n} cut off while still sending")
                    } else {
                        format!("{n} × {s}")
                    }
                })
                .collect();
            format!("answered {}", answered.join(", "))
        },
    )
    .await;
    AttackResult {
        service: "edm-relay",
        attack: format!(
            "{parallel} parallel 8 MiB batch bodies of {}, resent as soon as answered",
            match kind {
                BatchBody::OneString => "one string",
                BatchBody::TinyItems => "4 million items `0`",
            }
        ),
        effect,
        well_behaved: record,
        peak_rss_mib: relay.peak_rss_mib().expect("the relay runs"),
    }
}

/// Any service: connections that send nothing at all.
async fn idle_connections(
    target: &Service,
    crowd: usize,
    seconds: u64,
    well_behaved: impl FnOnce(Arc<AtomicBool>) -> tokio::task::JoinHandle<WellBehavedRecord>,
) -> AttackResult {
    let to = address(target);
    let (record, effect) = under_attack(seconds, well_behaved, move |stop| async move {
        let answers = Arc::new(Answers::default());
        let held = Arc::new(AtomicUsize::new(0));
        let addresses = attacker_addresses(4, crowd.div_ceil(PER_ADDRESS));
        let tasks: Vec<_> = (0..crowd)
            .map(|i| {
                let (from, answers, held, stop) = (
                    addresses[i / PER_ADDRESS],
                    answers.clone(),
                    held.clone(),
                    stop.clone(),
                );
                tokio::spawn(async move {
                    let Ok(mut stream) = connect_from(from, to).await else {
                        return;
                    };
                    held.fetch_add(1, Ordering::Relaxed);
                    let mut answer = Vec::new();
                    tokio::select! {
                        _ = stream.read_to_end(&mut answer) => answers.count(&answer),
                        () = wait_for(&stop) => {}
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        format!(
            "{} connections opened; {} refused (503), {} closed by the service before the end",
            Answers::get(&held),
            Answers::get(&answers.refused),
            Answers::get(&answers.closed)
                + Answers::get(&answers.timed_out)
                + Answers::get(&answers.other),
        )
    })
    .await;
    AttackResult {
        service: target.name,
        attack: format!(
            "{crowd} idle connections from {} addresses",
            crowd.div_ceil(PER_ADDRESS)
        ),
        effect,
        well_behaved: record,
        peak_rss_mib: target.peak_rss_mib().expect("the service runs"),
    }
}

/// A raw engine.io v4 WebSocket connection from `from`, joined to the
/// default Socket.io namespace.
async fn raw_socket(
    from: Ipv4Addr,
    to: SocketAddr,
) -> Option<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
    let stream = connect_from(from, to).await.ok()?;
    let url = format!("ws://{to}/socket.io/?EIO=4&transport=websocket");
    let (mut socket, _) = tokio_tungstenite::client_async(url, stream).await.ok()?;
    // engine.io "open", then join the namespace and wait for its ack.
    socket.next().await?.ok()?;
    socket.send(Message::text("40")).await.ok()?;
    loop {
        match socket.next().await?.ok()? {
            Message::Text(text) if text.starts_with("40") => return Some(socket),
            Message::Text(text) if text.starts_with("44") => return None,
            _ => {}
        }
    }
}

/// Whether the service closes `socket` within `limit` (whatever it sends
/// before is read and dropped).
async fn closed_within(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    limit: Duration,
) -> bool {
    tokio::time::timeout(limit, async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// The stream's well-behaved client: the official Socket.io client, and
/// events produced every 50 ms (`padding` bytes each); each must arrive.
/// Latency is from the produce call to the client printing its id.
fn stream_well_behaved(
    stream: &Service,
    kafka: KafkaSettings,
    topic: String,
    padding: usize,
) -> impl FnOnce(Arc<AtomicBool>) -> tokio::task::JoinHandle<WellBehavedRecord> {
    let listener = Listener::connect(&stream.url());
    move |stop| {
        tokio::spawn(async move {
            let producer = RawProducer::new(&kafka);
            let mut sent = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let id = format!("well-behaved-{}", uuid::Uuid::new_v4().simple());
                let payload = click(&id, padding).to_string();
                sent.push((id.clone(), Instant::now()));
                producer
                    .send(&topic, "well-behaved", payload.as_bytes(), Some(&id))
                    .await;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            let mut record = WellBehavedRecord::default();
            for (id, at) in sent {
                record.record(match listener.arrived(&id) {
                    Some(arrived) => Ok(arrived.saturating_duration_since(at)),
                    None => Err(format!("{id} never arrived")),
                });
            }
            record
        })
    }
}

/// Stream: sockets that join and then only read.
async fn idle_sockets(
    stream: &Service,
    well_behaved: impl FnOnce(Arc<AtomicBool>) -> tokio::task::JoinHandle<WellBehavedRecord>,
    crowd: usize,
    seconds: u64,
) -> AttackResult {
    let to = address(stream);
    let (record, effect) = under_attack(seconds, well_behaved, move |stop| async move {
        let joined = Arc::new(AtomicUsize::new(0));
        let addresses = attacker_addresses(5, crowd.div_ceil(PER_ADDRESS));
        let tasks: Vec<_> = (0..crowd)
            .map(|i| {
                let (from, joined, stop) =
                    (addresses[i / PER_ADDRESS], joined.clone(), stop.clone());
                tokio::spawn(async move {
                    let Some(mut socket) = raw_socket(from, to).await else {
                        return;
                    };
                    joined.fetch_add(1, Ordering::Relaxed);
                    tokio::select! {
                        () = async { while let Some(Ok(_)) = socket.next().await {} } => {}
                        () = wait_for(&stop) => {}
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        format!("{} sockets joined and held", Answers::get(&joined))
    })
    .await;
    AttackResult {
        service: "edm-stream",
        attack: format!(
            "{crowd} idle sockets from {} addresses",
            crowd.div_ceil(PER_ADDRESS)
        ),
        effect,
        well_behaved: record,
        peak_rss_mib: stream.peak_rss_mib().expect("the stream runs"),
    }
}

/// Stream: sockets that each send 1 MiB messages.
async fn oversized_messages(
    stream: &Service,
    well_behaved: impl FnOnce(Arc<AtomicBool>) -> tokio::task::JoinHandle<WellBehavedRecord>,
    crowd: usize,
    seconds: u64,
) -> AttackResult {
    let to = address(stream);
    let (record, effect) = under_attack(seconds, well_behaved, move |stop| async move {
        let message = format!("42[\"event\",\"{}\"]", "a".repeat(1 << 20));
        let (sent, cut) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let from = Ipv4Addr::new(127, 6, 0, 1);
        let tasks: Vec<_> = (0..crowd)
            .map(|_| {
                let (message, sent, cut, stop) =
                    (message.clone(), sent.clone(), cut.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let Some(mut socket) = raw_socket(from, to).await else {
                            continue;
                        };
                        sent.fetch_add(1, Ordering::Relaxed);
                        let _ = socket.send(Message::text(message.clone())).await;
                        if closed_within(&mut socket, Duration::from_secs(5)).await {
                            cut.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        format!(
            "{} sockets joined and sent a 1 MiB message; {} of them were closed by the service within 5 s",
            Answers::get(&sent),
            Answers::get(&cut)
        )
    })
    .await;
    AttackResult {
        service: "edm-stream",
        attack: format!("{crowd} sockets sending 1 MiB messages, reconnecting when cut"),
        effect,
        well_behaved: record,
        peak_rss_mib: stream.peak_rss_mib().expect("the stream runs"),
    }
}

/// Stream: sockets that each announce a binary event with 2,499
/// attachments and send 4,000-byte binary frames for it (each under the
/// WebSocket message cap; socketioxide's defaults would buffer up to 10 MB
/// per socket), reconnecting when cut.
async fn binary_attachments(
    stream: &Service,
    well_behaved: impl FnOnce(Arc<AtomicBool>) -> tokio::task::JoinHandle<WellBehavedRecord>,
    crowd: usize,
    seconds: u64,
) -> AttackResult {
    let to = address(stream);
    let (record, effect) = under_attack(seconds, well_behaved, move |stop| async move {
        let header = format!(
            "452499-[\"event\",{}]",
            (0..2499)
                .map(|n| format!("{{\"_placeholder\":true,\"num\":{n}}}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let frame = vec![7u8; 4_000];
        let (sent, cut) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let addresses = attacker_addresses(9, crowd.div_ceil(PER_ADDRESS));
        let tasks: Vec<_> = (0..crowd)
            .map(|i| {
                let (header, frame, sent, cut, stop) = (
                    header.clone(),
                    frame.clone(),
                    sent.clone(),
                    cut.clone(),
                    stop.clone(),
                );
                let from = addresses[i / PER_ADDRESS];
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let Some(mut socket) = raw_socket(from, to).await else {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        };
                        sent.fetch_add(1, Ordering::Relaxed);
                        let mut open = socket.send(Message::text(header.clone())).await.is_ok();
                        for _ in 0..2498 {
                            if !open || stop.load(Ordering::Relaxed) {
                                break;
                            }
                            open = socket.send(Message::binary(frame.clone())).await.is_ok();
                        }
                        if closed_within(&mut socket, Duration::from_secs(5)).await {
                            cut.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        format!(
            "{} sockets announced 2,499 attachments; {} of them were closed by the service within 5 s",
            Answers::get(&sent),
            Answers::get(&cut)
        )
    })
    .await;
    AttackResult {
        service: "edm-stream",
        attack: format!(
            "{crowd} sockets announcing 2,499 binary attachments and sending 4,000-byte frames"
        ),
        effect,
        well_behaved: record,
        peak_rss_mib: stream.peak_rss_mib().expect("the stream runs"),
    }
}

/// The value of the line starting with `series` at `metrics_url` (0 when
/// absent).
async fn metric(metrics_url: &str, series: &str) -> String {
    let metrics = reqwest::get(metrics_url)
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("0")
        .to_owned()
}

/// Stream: sockets that join and never read while 60 KiB events flow.
async fn non_reading_sockets(
    stream: &Service,
    well_behaved: impl FnOnce(Arc<AtomicBool>) -> tokio::task::JoinHandle<WellBehavedRecord>,
    crowd: usize,
    seconds: u64,
) -> AttackResult {
    let to = address(stream);
    // Up to 200 from one address, as the attack did (under the
    // per-address client cap).
    let per_address = 200;
    let addresses = attacker_addresses(7, crowd.div_ceil(per_address));
    let metrics_url = format!("{}/metrics", stream.url());
    let (record, effect) = under_attack(seconds, well_behaved, move |stop| async move {
        let joined = futures::future::join_all(
            (0..crowd).map(|i| raw_socket(addresses[i / per_address], to)),
        )
        .await;
        let sockets: Vec<_> = joined.into_iter().flatten().collect();
        wait_for(&stop).await;
        format!(
            "{} sockets joined; {} records streamed without their unknown fields; {} events they lost (counted); {} disconnected at the stalled-bytes budget",
            sockets.len(),
            metric(&metrics_url, "edm_stream_trimmed_records_total").await,
            metric(&metrics_url, "edm_stream_client_drops_total").await,
            metric(&metrics_url, "edm_stream_stalled_disconnects_total").await,
        )
    })
    .await;
    AttackResult {
        service: "edm-stream",
        attack: format!(
            "{crowd} sockets from {} address(es) that never read while 60 KiB events flow at 20/s",
            crowd.div_ceil(per_address)
        ),
        effect,
        well_behaved: record,
        peak_rss_mib: stream.peak_rss_mib().expect("the stream runs"),
    }
}

/// Stream: Engine.IO long-polling sessions, each joined to the namespace,
/// from one address over 64 keep-alive connections (with `forwarded`, all
/// naming that address in `X-Forwarded-For` to a stream behind a trusted
/// proxy). Then a new WebSocket client from another address must still
/// get in.
async fn polling_sessions(
    stream: &Service,
    well_behaved: impl FnOnce(Arc<AtomicBool>) -> tokio::task::JoinHandle<WellBehavedRecord>,
    sessions: usize,
    seconds: u64,
    forwarded: Option<&'static str>,
) -> AttackResult {
    let to = address(stream);
    let base = stream.url();
    let (record, effect) = under_attack(seconds, well_behaved, move |stop| async move {
        let http = http_client_from(Ipv4Addr::new(127, 8, 0, 1));
        let next = Arc::new(AtomicUsize::new(0));
        let outcomes = Arc::new(std::sync::Mutex::new(HashMap::<String, usize>::new()));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (http, base, next, outcomes, stop) = (
                    http.clone(),
                    base.clone(),
                    next.clone(),
                    outcomes.clone(),
                    stop.clone(),
                );
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < sessions
                        && !stop.load(Ordering::Relaxed)
                    {
                        let polling = Polling::new(&http, &base, forwarded);
                        let outcome = match polling.open_and_join().await {
                            Ok((_, JoinAnswer::Joined)) => "joined".to_owned(),
                            Ok((_, JoinAnswer::Refused(why))) => format!("refused {why}"),
                            Err(failure) => format!("{failure:?}"),
                        };
                        *outcomes.lock().unwrap().entry(outcome).or_default() += 1;
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        wait_for(&stop).await;
        let newcomer = raw_socket(Ipv4Addr::new(127, 9, 0, 1), to).await.is_some();
        assert!(
            newcomer,
            "a WebSocket client from another address joins after the flood"
        );
        let mut outcomes: Vec<_> = outcomes.lock().unwrap().clone().into_iter().collect();
        outcomes.sort();
        let outcomes: Vec<String> = outcomes.iter().map(|(o, n)| format!("{n} {o}")).collect();
        format!(
            "{}; a new WebSocket client from another address afterwards joined",
            outcomes.join(", ")
        )
    })
    .await;
    AttackResult {
        service: "edm-stream",
        attack: format!(
            "{sessions} long-polling sessions joined to the namespace from one address over 64 keep-alive connections{}",
            if forwarded.is_some() {
                ", behind a trusted proxy (one X-Forwarded-For address)"
            } else {
                ""
            }
        ),
        effect,
        well_behaved: record,
        peak_rss_mib: stream.peak_rss_mib().expect("the stream runs"),
    }
}

/// Relay: requests whose head carries 100 KB of headers, from parallel
/// connections, again as soon as each is answered.
async fn large_headers(relay: &Service, parallel: usize, seconds: u64) -> AttackResult {
    let to = address(relay);
    let (record, effect) = under_attack(
        seconds,
        |stop| relay_well_behaved(relay, stop),
        move |stop| async move {
            let statuses = Arc::new(std::sync::Mutex::new(HashMap::<String, usize>::new()));
            let header = format!("x-padding: {}\r\n", "h".repeat(1000));
            let head = format!(
            "POST /produceClickMessage HTTP/1.1\r\nhost: relay\r\n{}content-length: 2\r\n\r\n{{}}",
            header.repeat(100)
        );
            let head = Arc::new(head);
            let tasks: Vec<_> = (0..parallel)
                .map(|i| {
                    let (head, statuses, stop) = (head.clone(), statuses.clone(), stop.clone());
                    tokio::spawn(async move {
                        let from = Ipv4Addr::new(127, 10, 0, (i % 250 + 1) as u8);
                        while !stop.load(Ordering::Relaxed) {
                            let Ok(mut stream) = connect_from(from, to).await else {
                                continue;
                            };
                            // The service may answer and close before the head is
                            // all written.
                            let _ = stream.write_all(head.as_bytes()).await;
                            let mut answer = Vec::new();
                            let _ = tokio::time::timeout(
                                Duration::from_secs(5),
                                stream.read_to_end(&mut answer),
                            )
                            .await;
                            let status = String::from_utf8_lossy(&answer)
                                .lines()
                                .next()
                                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
                                .unwrap_or_else(|| "closed without an answer".into());
                            *statuses.lock().unwrap().entry(status).or_default() += 1;
                        }
                    })
                })
                .collect();
            futures::future::join_all(tasks).await;
            let mut statuses: Vec<_> = statuses.lock().unwrap().clone().into_iter().collect();
            statuses.sort();
            let answered: Vec<String> =
                statuses.iter().map(|(s, n)| format!("{n} × {s}")).collect();
            format!("answered {}", answered.join(", "))
        },
    )
    .await;
    AttackResult {
        service: "edm-relay",
        attack: format!("{parallel} connections sending requests with 100 KB of headers, again as soon as answered"),
        effect,
        well_behaved: record,
        peak_rss_mib: relay.peak_rss_mib().expect("the relay runs"),
    }
}

/// Stats: GETs of distinct URLs, as fast as 64 connections allow.
async fn distinct_url_flood(stats: &Service, total: usize, seconds: u64) -> AttackResult {
    let well_behaved = stats_well_behaved(stats, "/api/clickCount", Duration::from_millis(50));
    let flood_base = stats.url();
    let (record, effect) = under_attack(seconds, well_behaved, move |stop| async move {
        let next = Arc::new(AtomicUsize::new(0));
        let statuses = Arc::new(std::sync::Mutex::new(HashMap::<u16, usize>::new()));
        let paths = [
            "/api/clickCount",
            "/api/clickHistory",
            "/api/v1/totals",
            "/api/v1/clicks",
            "/api/v1/clicks/series",
            "/api/v1/pageloads/series",
        ];
        let tasks: Vec<_> = attacker_addresses(8, 16)
            .into_iter()
            .flat_map(|from| std::iter::repeat_n(http_client_from(from), 4))
            .map(|http| {
                let (next, statuses, stop, base) = (
                    next.clone(),
                    statuses.clone(),
                    stop.clone(),
                    flood_base.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= total || stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let url = format!(
                            "{base}{}?n={n}&utm_source={}",
                            paths[n % paths.len()],
                            "x".repeat(n % 200)
                        );
                        let status = http
                            .get(url)
                            .send()
                            .await
                            .map_or(0, |r| r.status().as_u16());
                        *statuses.lock().unwrap().entry(status).or_default() += 1;
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        let mut statuses: Vec<_> = statuses.lock().unwrap().clone().into_iter().collect();
        statuses.sort();
        let answered: Vec<String> = statuses.iter().map(|(s, n)| format!("{n} × {s}")).collect();
        format!(
            "{} requests answered {}",
            next.load(Ordering::Relaxed).min(total),
            answered.join(", ")
        )
    })
    .await;
    AttackResult {
        service: "edm-stats",
        attack: format!("up to {total} GETs of distinct URLs from 64 connections at 16 addresses"),
        effect,
        well_behaved: record,
        peak_rss_mib: stats.peak_rss_mib().expect("stats runs"),
    }
}

/// A stats client asking `path` every `every`; each must be answered 200.
fn stats_well_behaved(
    stats: &Service,
    path: &'static str,
    every: Duration,
) -> impl FnOnce(Arc<AtomicBool>) -> tokio::task::JoinHandle<WellBehavedRecord> {
    let url = format!("{}{path}", stats.url());
    move |stop| {
        let http = http_client_from(WELL_BEHAVED);
        tokio::spawn(keep_requesting(every, stop, move || {
            let request = http.get(&url);
            async move {
                let response = request.send().await.map_err(|e| e.to_string())?;
                match response.status().as_u16() {
                    200 => response.bytes().await.map(drop).map_err(|e| e.to_string()),
                    status => Err(format!(
                        "{status} {}",
                        response.text().await.unwrap_or_default()
                    )),
                }
            }
        }))
    }
}

/// GETs of `path(n)` for n = 0, 1, … from 16 connections at 4 addresses
/// until `stop`; the answers counted by status.
async fn flood(base: String, path: fn(usize) -> String, stop: Arc<AtomicBool>) -> String {
    let statuses = Arc::new(std::sync::Mutex::new(HashMap::<u16, usize>::new()));
    let bytes = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = attacker_addresses(11, 4)
        .into_iter()
        .flat_map(|from| std::iter::repeat_n(http_client_from(from), 4))
        .enumerate()
        .map(|(i, http)| {
            let (statuses, bytes, stop, base) =
                (statuses.clone(), bytes.clone(), stop.clone(), base.clone());
            tokio::spawn(async move {
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    let url = format!("{base}{}", path(n));
                    n += 16;
                    let status = match http.get(url).send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let body = r.bytes().await.map_or(0, |b| b.len());
                            bytes.fetch_add(body, Ordering::Relaxed);
                            status
                        }
                        Err(_) => 0,
                    };
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                }
            })
        })
        .collect();
    futures::future::join_all(tasks).await;
    let mut statuses: Vec<_> = statuses.lock().unwrap().clone().into_iter().collect();
    statuses.sort();
    let answered: Vec<String> = statuses.iter().map(|(s, n)| format!("{n} × {s}")).collect();
    format!(
        "answered {} ({} MB in all)",
        answered.join(", "),
        bytes.load(Ordering::Relaxed) >> 20
    )
}

/// Stats: the original endpoints and the totals, each URL with a random
/// query string, over a table of `ids` distinct 250-character button ids,
/// while a dashboard asks `/api/clickCount` every 0.5 s.
async fn large_table_flood(
    stats: &Service,
    database: &TestDatabase,
    ids: usize,
    seconds: u64,
) -> AttackResult {
    let pool = database.pool().await;
    sqlx::query(
        "INSERT INTO click_counts (button_id, bucket, source_partition, clicks)
         SELECT 'button-' || lpad(g::text, 243, 'x'), date_trunc('minute', now()), 0, 1
         FROM generate_series(1, $1) g",
    )
    .bind(ids as i64)
    .execute(&pool)
    .await
    .expect("the table is filled");
    let base = stats.url();
    let well_behaved = stats_well_behaved(stats, "/api/clickCount", Duration::from_millis(500));
    let (record, effect) = under_attack(seconds, well_behaved, move |stop| {
        flood(
            base,
            |n| {
                let path = ["/api/clickCount", "/api/clickHistory", "/api/v1/totals"][n % 3];
                format!("{path}?x={}", uuid::Uuid::new_v4().simple())
            },
            stop,
        )
    })
    .await;
    AttackResult {
        service: "edm-stats",
        attack: format!(
            "16 connections asking the original endpoints with random query strings over {ids} distinct 250-character button ids"
        ),
        effect,
        well_behaved: record,
        peak_rss_mib: stats.peak_rss_mib().expect("stats runs"),
    }
}

/// Stats: 1 MB malformed records on the click topic, then pages of 1,000
/// dead letters asked for again and again.
async fn large_dead_letters(
    stats: &Service,
    kafka: &KafkaSettings,
    topic: &str,
    count: usize,
    seconds: u64,
) -> AttackResult {
    let producer = RawProducer::new(kafka);
    // As large as a default producer may send (1,000,000 bytes with the
    // record's overhead).
    let payload = vec![b'{'; 990_000];
    for i in 0..count {
        producer
            .send(topic, &format!("hostile-{i}"), &payload, None)
            .await;
    }
    // Stored before the flood begins.
    let url = format!("{}/api/v1/dead-letters?limit=1000", stats.url());
    let mut stored = 0;
    for _ in 0..300 {
        stored = reqwest::get(&url)
            .await
            .expect("dead letters")
            .json::<Vec<serde_json::Value>>()
            .await
            .map_or(0, |page| page.len());
        if stored >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stored >= count,
        "every malformed record became a dead letter ({stored} of {count})"
    );
    let base = stats.url();
    let well_behaved = stats_well_behaved(stats, "/api/clickCount", Duration::from_millis(50));
    let (record, effect) = under_attack(seconds, well_behaved, move |stop| {
        flood(
            base,
            |n| {
                format!(
                    "/api/v1/dead-letters?limit=1000&before={}",
                    i64::MAX - n as i64
                )
            },
            stop,
        )
    })
    .await;
    AttackResult {
        service: "edm-stats",
        attack: format!(
            "{count} malformed 1 MB records on the click topic, then 16 connections asking for pages of 1,000 dead letters"
        ),
        effect,
        well_behaved: record,
        peak_rss_mib: stats.peak_rss_mib().expect("stats runs"),
    }
}

/// Keeps `result` and prints its row at once, so a long run shows progress.
fn record(results: &mut Vec<AttackResult>, result: AttackResult) {
    print!(
        "{}",
        markdown_table(std::slice::from_ref(&result))
            .lines()
            .last()
            .unwrap_or_default()
    );
    println!();
    results.push(result);
}

/// Starts `service` afresh, runs `attack` against it, keeps the result
/// ([`record`]) and kills the service: every attack meets a process of
/// its own.
async fn against_fresh(
    results: &mut Vec<AttackResult>,
    mut service: Service,
    attack: impl AsyncFnOnce(&Service) -> AttackResult,
) {
    service.start(Duration::from_secs(60)).await;
    record(results, attack(&service).await);
    service.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_service_keeps_serving_within_its_memory_under_attack() {
    let _serial = crate::SERIAL.lock().await;
    let profile = profile();
    tokio::task::spawn_blocking(build_services).await.unwrap();
    let topics = TestTopics::create().await;
    let prefix = topics.prefix.clone();
    let mut results = Vec::new();

    let relay = || service("edm-relay", &prefix, &[]);
    let seconds = profile.seconds;
    against_fresh(&mut results, relay(), async |relay| {
        trickling_bodies(relay, profile.trickling_bodies, seconds).await
    })
    .await;
    for body in [BatchBody::OneString, BatchBody::TinyItems] {
        against_fresh(&mut results, relay(), async |relay| {
            large_bodies(relay, profile.large_bodies, seconds, body).await
        })
        .await;
    }
    against_fresh(&mut results, relay(), async |relay| {
        large_headers(relay, profile.large_headers, seconds).await
    })
    .await;
    against_fresh(&mut results, relay(), async |relay| {
        let well_behaved = |stop| relay_well_behaved(relay, stop);
        idle_connections(relay, profile.idle_connections, seconds, well_behaved).await
    })
    .await;

    let kafka = KafkaSettings::from_env(&service_env(&prefix, &[])).unwrap();
    let clicks = topics.name(Topic::Click);
    let stream = || service("edm-stream", &prefix, &[]);
    // The well-behaved Socket.io client of `stream`, its events carrying
    // `extra_bytes` of padding.
    let well_behaved = |stream: &Service, extra_bytes| {
        stream_well_behaved(stream, kafka.clone(), clicks.clone(), extra_bytes)
    };
    against_fresh(&mut results, stream(), async |stream| {
        idle_sockets(
            stream,
            well_behaved(stream, 0),
            profile.idle_sockets,
            seconds,
        )
        .await
    })
    .await;
    against_fresh(&mut results, stream(), async |stream| {
        let sockets = profile.oversized_messages;
        oversized_messages(stream, well_behaved(stream, 0), sockets, seconds).await
    })
    .await;
    against_fresh(&mut results, stream(), async |stream| {
        let sockets = profile.binary_sockets;
        binary_attachments(stream, well_behaved(stream, 0), sockets, seconds).await
    })
    .await;
    against_fresh(&mut results, stream(), async |stream| {
        let sockets = profile.non_reading_sockets;
        non_reading_sockets(stream, well_behaved(stream, 60 * 1024), sockets, seconds).await
    })
    .await;
    for forwarded in [None, Some("198.51.100.23")] {
        let hops = if forwarded.is_some() { "1" } else { "0" };
        let stream = service("edm-stream", &prefix, &[("EDM_TRUSTED_PROXY_HOPS", hops)]);
        against_fresh(&mut results, stream, async |stream| {
            let sessions = profile.polling_sessions;
            polling_sessions(
                stream,
                well_behaved(stream, 0),
                sessions,
                seconds,
                forwarded,
            )
            .await
        })
        .await;
    }

    // Each stats attack on a database of its own.
    let stats =
        |database: &TestDatabase| service("edm-stats", &prefix, &[("DATABASE_URL", &database.url)]);
    let database = TestDatabase::create().await;
    against_fresh(&mut results, stats(&database), async |stats| {
        distinct_url_flood(stats, profile.distinct_urls, seconds).await
    })
    .await;
    let database = TestDatabase::create().await;
    against_fresh(&mut results, stats(&database), async |stats| {
        large_table_flood(stats, &database, profile.button_ids, seconds).await
    })
    .await;
    let database = TestDatabase::create().await;
    against_fresh(&mut results, stats(&database), async |stats| {
        large_dead_letters(stats, &kafka, &clicks, profile.dead_letters, seconds).await
    })
    .await;

    let table = markdown_table(&results);
    println!("attack suite, profile {}:\n{table}", profile.name);
    if let Ok(path) = std::env::var("EDM_ATTACK_REPORT") {
        std::fs::write(path, &table).expect("the attack report can be written");
    }
    for result in &results {
        assert!(
            result.held(),
            "{} under '{}': well-behaved client failed {} of {} (first: {:?}), peak RSS {:.0} MiB (bound {PEAK_RSS_BOUND_MIB} MiB)",
            result.service,
            result.attack,
            result.well_behaved.failed,
            result.well_behaved.requests(),
            result.well_behaved.failures,
            result.peak_rss_mib,
        );
    }
}
