//! edm-stream with real Kafka and the official JavaScript `socket.io-client`
//! from the npm registry: events arrive in order per visitor, every instance
//! serves every event, a stalled client slows no one, a late joiner gets
//! recent events then live ones with nothing lost or repeated at the seam,
//! and edm-trending's records arrive as `trending`, validated.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use edm_config::Topic;
use edm_stream::Stream;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::polling::{JoinAnswer, Polling};
use edm_testkit::service::TestService;
use serde_json::{json, Value};

/// An edm-stream in this test, stopped when dropped.
pub(crate) type TestStream = TestService<Stream>;

fn client_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/client");
        // npm writes node_modules/.package-lock.json when it installs.
        let modified = |file: &str| std::fs::metadata(dir.join(file)).and_then(|m| m.modified());
        let installed = match (
            modified("node_modules/.package-lock.json"),
            modified("package-lock.json"),
        ) {
            (Ok(installed), Ok(locked)) => installed >= locked,
            _ => false,
        };
        if !installed {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .expect("npm is installed");
            assert!(
                status.success(),
                "npm ci for the Socket.io test client failed"
            );
        }
        dir
    })
    .clone()
}

/// Official Socket.io clients in a node process.
pub(crate) struct Clients {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Clients {
    /// Connects the clients described by `spec` and waits until all are in.
    pub(crate) async fn connect(spec: Value) -> Self {
        let dir = client_dir();
        tokio::task::spawn_blocking(move || {
            let mut child = Command::new("node")
                .arg(dir.join("collect.mjs"))
                .env("EDM_CLIENT_SPEC", spec.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("node runs");
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            assert_eq!(line.trim(), "READY", "clients did not connect");
            Clients { child, stdout }
        })
        .await
        .unwrap()
    }

    /// Waits for the result: per client, the payloads and receive times.
    pub(crate) async fn results(self) -> Vec<(Vec<String>, Vec<i64>)> {
        self.output()
            .await
            .iter()
            .map(|c| {
                let times = c["received_ms"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_i64().unwrap())
                    .collect();
                (strings(&c["events"]), times)
            })
            .collect()
    }

    /// Waits for the result: per client, each message's Socket.io event
    /// name and payload.
    async fn named_results(self) -> Vec<Vec<(String, String)>> {
        self.output()
            .await
            .iter()
            .map(|c| {
                strings(&c["names"])
                    .into_iter()
                    .zip(strings(&c["events"]))
                    .collect()
            })
            .collect()
    }

    /// The node process's result line: one object per client.
    async fn output(mut self) -> Vec<Value> {
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let _ = self.child.wait();
            let v: Value = serde_json::from_str(&line).expect("client result JSON");
            v["clients"].as_array().unwrap().clone()
        })
        .await
        .unwrap()
    }
}

/// A JSON array of strings (payloads are the records' JSON text).
fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().expect("a payload is the JSON text").to_owned())
        .collect()
}

impl Drop for Clients {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

pub(crate) fn click(visitor: &str, n: usize) -> String {
    json!({"topic":"edm-ui-click","uuid":visitor,"event_timestamp":1_763_800_000_000_i64 + n as i64,
           "properties":{"button_id":format!("button-{n}"),"description":"button click"}})
    .to_string()
}

pub(crate) fn spec(url: &str, clients: Value, expect: usize) -> Value {
    json!({"url": url, "clients": clients, "expect": expect, "timeout_ms": 20000})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_receives_every_event_in_order_per_visitor() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(&topics.prefix, &[])).await;
    let clients = Clients::connect(spec(&stream.url, json!([{}]), 30)).await;

    let producer = RawProducer::new(&topics.settings);
    let mut sent = Vec::new();
    for n in 0..30 {
        let visitor = format!("visitor-{}", n % 3);
        let text = click(&visitor, n);
        producer
            .send(&topics.name(Topic::Click), &visitor, text.as_bytes(), None)
            .await;
        sent.push(text);
    }
    let results = clients.results().await;
    let (events, _) = &results[0];
    assert_eq!(events.len(), 30, "every event arrived");
    let mut got_sorted = events.clone();
    got_sorted.sort();
    let mut sent_sorted = sent.clone();
    sent_sorted.sort();
    assert_eq!(
        got_sorted, sent_sorted,
        "payloads are the JSON text as produced"
    );
    for v in 0..3 {
        let visitor = format!("\"uuid\":\"visitor-{v}\"");
        let got: Vec<&String> = events.iter().filter(|e| e.contains(&visitor)).collect();
        let want: Vec<&String> = sent.iter().filter(|e| e.contains(&visitor)).collect();
        assert_eq!(got, want, "visitor-{v}'s events in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_topic_that_appears_after_start_is_read_at_once_and_ready_waits_for_it() {
    let topics = TestTopics::create().await;
    topics.delete(Topic::Click).await;
    let stream = TestStream::spawn(service_env(&topics.prefix, &[])).await;
    // Page loads are there, clicks not: not ready, and it says why.
    let mut ready = (0, Value::Null);
    for _ in 0..40 {
        ready = stream.get_json("/ready").await;
        if ready.1["partitions"].as_i64() > Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, body) = ready;
    assert_eq!(status, 503, "a streamed topic is missing: {body}");
    assert_eq!(body["topics_missing"], 1, "{body}");

    // Once it exists, it is read within a second or two, not after the
    // 15 s between routine lookups.
    topics.create_again(Topic::Click).await;
    let created = std::time::Instant::now();
    stream.wait_ready().await;
    assert!(
        created.elapsed() < Duration::from_secs(10),
        "ready {:?} after the topic appeared",
        created.elapsed()
    );
    let clients = Clients::connect(spec(&stream.url, json!([{}]), 5)).await;
    let producer = RawProducer::new(&topics.settings);
    for n in 0..5 {
        producer
            .send(
                &topics.name(Topic::Click),
                "v",
                click("v", n).as_bytes(),
                None,
            )
            .await;
    }
    let results = clients.results().await;
    assert_eq!(results[0].0.len(), 5, "the new topic's events are streamed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_instances_clients_on_each_receive_every_event() {
    let topics = TestTopics::create().await;
    let env = service_env(&topics.prefix, &[]);
    let first = TestStream::spawn_ready(env.clone()).await;
    let second = TestStream::spawn_ready(env).await;
    let on_first = Clients::connect(spec(&first.url, json!([{}, {}]), 20)).await;
    let on_second = Clients::connect(spec(&second.url, json!([{}]), 20)).await;

    let producer = RawProducer::new(&topics.settings);
    for n in 0..20 {
        let visitor = format!("v{n}");
        producer
            .send(
                &topics.name(Topic::Click),
                &visitor,
                click(&visitor, n).as_bytes(),
                None,
            )
            .await;
    }
    for (events, _) in on_first
        .results()
        .await
        .into_iter()
        .chain(on_second.results().await)
    {
        assert_eq!(
            events.len(),
            20,
            "a client saw only {} of 20 events",
            events.len()
        );
    }
}

/// `n` page loads of about 4 kB each, in chunks of 100 every 50 ms
/// (8 MB/s); each carries its production time.
async fn produce_large_page_loads(topics: &TestTopics, n: usize) {
    let producer = RawProducer::new(&topics.settings);
    let (agent, text, url) = (
        "a".repeat(1000),
        "d".repeat(1000),
        format!("http://localhost:3000/{}", "u".repeat(1900)),
    );
    for chunk in 0..n / 100 {
        let items: Vec<(String, String)> = (0..100)
            .map(|i| {
                let event = json!({"topic":"edm-ui-pageload","uuid":format!("v{}", chunk * 100 + i),"event_timestamp":now_ms(),
                                   "properties":{"user_agent":agent,"description":text,"url":url}});
                ("v".to_owned(), event.to_string())
            })
            .collect();
        producer
            .send_all(&topics.name(Topic::PageLoad), &items)
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_does_not_delay_a_healthy_one() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(
        &topics.prefix,
        // The default ring (16 MiB) holds about 4,000 of the 4 kB events
        // below, 2 s of them: the healthy client may fall that far behind
        // on a busy machine and lose nothing, while the stalled one, which
        // takes a few MB into its socket's and the kernel's buffers and
        // then nothing, falls out of it. 2,000 events a second are above
        // the raw-events threshold: raw events here at every rate.
        &[
            ("EDM_STREAM_RECENT_EVENTS", "0"),
            ("EDM_STREAM_RAW_EVENTS_PER_SECOND", "0"),
        ],
    ))
    .await;
    const N: usize = 12_000;
    let clients = Clients::connect(spec(&stream.url, json!([{"stall": true}, {}]), N)).await;

    // 4 kB events (48 MB in all), in chunks of 100 every 50 ms (8 MB/s).
    produce_large_page_loads(&topics, N).await;
    let results = clients.results().await;
    let (healthy, received) = &results[1];
    assert_eq!(healthy.len(), N, "the healthy client got every event");
    // Delivery to the healthy client kept pace with production: no event
    // reached it more than 2 s after it was produced.
    let worst = healthy
        .iter()
        .zip(received)
        .map(|(text, at)| {
            at - serde_json::from_str::<Value>(text).unwrap()["event_timestamp"]
                .as_i64()
                .unwrap()
        })
        .max()
        .unwrap();
    assert!(worst < 2000, "worst delay {worst} ms");
    let metrics = stream.metrics().await;
    let drops: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("edm_stream_client_drops_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        drops > 0,
        "the events the stalled client lost were counted:\n{metrics}"
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_gets_recent_events_then_live_ones_with_no_seam() {
    let topics = TestTopics::create().await;
    let producer = RawProducer::new(&topics.settings);
    let topic = topics.name(Topic::Click);
    for n in 0..10 {
        producer
            .send(&topic, "v", click("v", n).as_bytes(), None)
            .await;
    }
    let stream = TestStream::spawn_ready(service_env(
        &topics.prefix,
        &[("EDM_STREAM_RECENT_EVENTS", "5")],
    ))
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for n in 10..12 {
        producer
            .send(&topic, "v", click("v", n).as_bytes(), None)
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let clients = Clients::connect(spec(&stream.url, json!([{}, {"query": {"recent": "2", "topics": "edm-ui-click"}, "expect": 6}, {"query": {"topics": "edm-ui-pageload"}, "expect": 0}]), 9)).await;
    for n in 12..16 {
        producer
            .send(&topic, "v", click("v", n).as_bytes(), None)
            .await;
    }
    let results = clients.results().await;
    let expected: Vec<String> = (7..16).map(|n| click("v", n)).collect();
    assert_eq!(
        results[0].0, expected,
        "5 recent (7..12), then 4 live, no gap, no duplicate"
    );
    let expected: Vec<String> = (10..16).map(|n| click("v", n)).collect();
    assert_eq!(results[1].0, expected, "asked for 2 recent");
    assert!(results[2].0.is_empty(), "chose page loads only");
    stream.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_store_events_and_events_with_unknown_fields_are_streamed_unchanged() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(&topics.prefix, &[])).await;
    let clients = Clients::connect(spec(&stream.url, json!([{}]), 4)).await;

    // The original reference store's events, and a newer producer's events
    // with fields no EDM reader knows (tolerant reader, docs/events.md).
    let reference_click = r#"{"topic":"edm-ui-click","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","event_timestamp":1763800000000,"properties":{"button_id":"bunum-wo-aa,-papua-new-guinea","description":"button click"}}"#;
    let reference_load = r#"{"topic":"edm-ui-pageload","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","event_timestamp":1763800000000,"properties":{"user_agent":"Mozilla/5.0 (X11; Linux x86_64)","description":"fix coffee page page loaded","url":"https://edm-ui.herokuapp.com"}}"#;
    let extended_click =
        json!({"topic":"edm-ui-click","uuid":"v2","event_timestamp":1_763_800_000_001_i64,
        "schema_version": 2, "properties":{"button_id":"the-camper's-kit","color":"blue"}})
        .to_string();
    let extended_load = json!({"topic":"edm-ui-pageload","uuid":"v2","event_timestamp":1_763_800_000_001_i64,
        "locale": "de-DE", "properties":{"user_agent":"Mozilla/5.0","url":"http://localhost:3000","viewport":{"w":390}}})
    .to_string();
    let producer = RawProducer::new(&topics.settings);
    let (clicks, loads) = (topics.name(Topic::Click), topics.name(Topic::PageLoad));
    producer
        .send(&clicks, "v1", reference_click.as_bytes(), None)
        .await;
    producer
        .send(&clicks, "v1", b"{\"topic\":\"edm-ui-click\"}", None)
        .await;
    producer
        .send(&clicks, "v2", extended_click.as_bytes(), None)
        .await;
    producer
        .send(&loads, "v1", reference_load.as_bytes(), None)
        .await;
    producer
        .send(&loads, "v2", extended_load.as_bytes(), None)
        .await;

    let results = clients.results().await;
    let mut got = results[0].0.clone();
    got.sort();
    let mut want = vec![
        reference_click.to_owned(),
        extended_click,
        reference_load.to_owned(),
        extended_load,
    ];
    want.sort();
    assert_eq!(
        got, want,
        "every valid event, as its JSON text; the invalid one skipped"
    );
}

/// edm-trending's record of the `name` window starting at `start`, with
/// `top` as (button id, clicks).
fn trending(name: &str, start: i64, top: &[(&str, u64)]) -> String {
    let size: i64 = if name == "1m" { 60 } else { 300 };
    let clicks: u64 = top.iter().map(|(_, n)| n).sum();
    json!({"topic":"edm-trending","event_id":format!("trending-{name}-{start}"),
           "window":{"name":name,"size_seconds":size,"advance_seconds":60,"start":start,"end":start + size * 1000},
           "clicks":clicks,"products":top.len(),
           "top":top.iter().map(|(id, n)| json!({"button_id":id,"clicks":n})).collect::<Vec<_>>()})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trending_records_reach_clients_as_trending_and_invalid_ones_are_skipped_and_counted() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(&topics.prefix, &[])).await;
    let both = json!(["event", "trending"]);
    let clients = Clients::connect(spec(
        &stream.url,
        json!([{"on": both}, {"on": both, "query": {"topics": "edm-trending"}, "expect": 2}, {"expect": 1}]),
        3,
    ))
    .await;

    let producer = RawProducer::new(&topics.settings);
    let wire = topics.name(Topic::Trending);
    let one_minute = trending(
        "1m",
        1_763_799_960_000,
        &[("<img src=x onerror=alert(1)>", 3), ("kit", 1)],
    );
    let five_minutes = trending("5m", 1_763_799_720_000, &[("the-camper's-kit", 9)]);
    let contradicting = trending("5m", 1_763_799_720_000, &[("kit", 1), ("mug", 2)]);
    // Skipped: not JSON, a click (not a trending record), a record whose
    // top list is out of order.
    for (key, value) in [
        ("1m:0", "not a record".to_owned()),
        ("v", click("v", 1)),
        ("5m:1763799720000", contradicting),
        ("1m:1763799960000", one_minute.clone()),
        ("5m:1763799720000", five_minutes.clone()),
    ] {
        producer.send(&wire, key, value.as_bytes(), None).await;
    }
    producer
        .send(
            &topics.name(Topic::Click),
            "v",
            click("v", 2).as_bytes(),
            None,
        )
        .await;

    let results = clients.named_results().await;
    let mut everything = results[0].clone();
    everything.sort();
    let mut want = vec![
        ("event".to_owned(), click("v", 2)),
        ("trending".to_owned(), five_minutes.clone()),
        ("trending".to_owned(), one_minute.clone()),
    ];
    want.sort();
    assert_eq!(
        everything, want,
        "the valid records as trending, byte for byte; the click as event"
    );
    let mut chosen = results[1].clone();
    chosen.sort();
    let mut records = vec![
        ("trending".to_owned(), five_minutes),
        ("trending".to_owned(), one_minute),
    ];
    records.sort();
    assert_eq!(
        chosen, records,
        "a client that chose edm-trending gets its records only"
    );
    assert_eq!(
        results[2],
        [("event".to_owned(), click("v", 2))],
        "a client listening to `event` alone sees no trending record"
    );

    let metrics = stream.metrics().await;
    for (series, want) in [
        (r#"edm_stream_events_total{topic="edm-trending"}"#, 2.0),
        (
            r#"edm_stream_invalid_events_total{topic="edm-trending"}"#,
            3.0,
        ),
        (r#"edm_stream_events_total{topic="edm-ui-click"}"#, 1.0),
        // The age of what the relay wrote only.
        ("edm_stream_event_age_seconds_count", 1.0),
    ] {
        assert_eq!(
            sample(&metrics, series),
            Some(want),
            "{series} in:\n{metrics}"
        );
    }
    assert!(
        sample(
            &metrics,
            r#"edm_stream_deliveries_total{topic="edm-trending"}"#
        )
        .is_some_and(|n| n >= 4.0),
        "both records to the two clients that waited for them:\n{metrics}"
    );
}

/// The value of the sample whose line starts with `series` (exact labels).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_events_deliveries_clients_and_invalid_messages() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(&topics.prefix, &[])).await;
    let clients = Clients::connect(spec(&stream.url, json!([{}, {}]), 10)).await;
    let connected = stream.metrics().await;
    assert_eq!(
        sample(&connected, "edm_stream_clients"),
        Some(2.0),
        "{connected}"
    );

    let producer = RawProducer::new(&topics.settings);
    let wire = topics.name(Topic::Click);
    producer.send(&wire, "v", b"not an event", None).await;
    for n in 0..10 {
        producer
            .send(&wire, "v", click("v", n).as_bytes(), None)
            .await;
    }
    for (events, _) in clients.results().await {
        assert_eq!(events.len(), 10);
    }
    let metrics = stream.metrics().await;
    for (series, want) in [
        (r#"edm_stream_events_total{topic="edm-ui-click"}"#, 10.0),
        (r#"edm_stream_deliveries_total{topic="edm-ui-click"}"#, 20.0),
        (
            r#"edm_stream_invalid_events_total{topic="edm-ui-click"}"#,
            1.0,
        ),
        ("edm_stream_client_drops_total", 0.0),
        // Every published event's age, from its Kafka timestamp.
        ("edm_stream_event_age_seconds_count", 10.0),
        // Every topic read in raw mode (clicks, page loads, trending,
        // counts; the sample is read in summary mode only), every partition.
        (
            "edm_stream_partitions",
            4.0 * f64::from(edm_testkit::kafka::TEST_PARTITIONS),
        ),
        ("edm_stream_kafka_reachable", 1.0),
    ] {
        assert_eq!(
            sample(&metrics, series),
            Some(want),
            "{series} in:\n{metrics}"
        );
    }
    assert!(
        sample(
            &metrics,
            r#"http_requests_total{method="GET",route="/ready",status="200"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_from_other_origins_cannot_open_a_socket() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(
        &topics.prefix,
        &[("EDM_ALLOWED_ORIGINS", "https://dashboard.example")],
    ))
    .await;
    let handshake = |origin: Option<&str>, websocket: bool| {
        let mut request = stream
            .http
            .get(format!("{}/socket.io/?EIO=4&transport=polling", stream.url));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if websocket {
            request = request
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        request.send()
    };
    for websocket in [false, true] {
        let refused = handshake(Some("https://evil.example"), websocket)
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "websocket: {websocket}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "origin_not_allowed");
    }
    let allowed = handshake(Some("https://dashboard.example"), false)
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(allowed.text().await.unwrap().contains("\"sid\""));
    let no_origin = handshake(None, false).await.unwrap();
    assert_eq!(
        no_origin.status(),
        200,
        "clients that are not browsers pass"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_past_the_cap_are_refused_with_a_clear_error() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(
        &topics.prefix,
        &[("EDM_STREAM_MAX_CLIENTS", "2")],
    ))
    .await;
    let three = spec(&stream.url, json!([{}, {}, {}]), 1);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(client_dir().join("collect.mjs"))
            .env("EDM_CLIENT_SPEC", three.to_string())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(": too_many_clients"), "{stderr}");
    // The places are given back when those clients go away.
    let mut ready = false;
    for _ in 0..50 {
        if stream.metrics().await.contains("edm_stream_clients 0") {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the refused run's clients went away");
    let again = Clients::connect(spec(&stream.url, json!([{}, {}]), 1)).await;
    drop(again);
}

/// Runs the clients of `spec` to the end; the exit code and what they
/// printed on stderr (a refused client exits 2 naming the connect error).
async fn run_clients(spec: Value) -> (Option<i32>, String) {
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(client_dir().join("collect.mjs"))
            .env("EDM_CLIENT_SPEC", spec.to_string())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_clients_from_one_address_count_one_by_one() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(
        &topics.prefix,
        &[("EDM_STREAM_MAX_CLIENTS_PER_ADDRESS", "3")],
    ))
    .await;
    // Four long-polling clients over keep-alive connections they share:
    // the fourth is one client too many for the address, however few TCP
    // connections carry them.
    let polling = json!({"transport": "polling", "local_address": "127.0.0.2"});
    let four = spec(
        &stream.url,
        json!([polling.clone(), polling.clone(), polling.clone(), polling]),
        1,
    );
    let (code, stderr) = run_clients(four).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(": too_many_clients_from_address"),
        "{stderr}"
    );
    // Another address is not held back by the first one's clients.
    let others = spec(
        &stream.url,
        json!([{"local_address": "127.0.0.3"}, {"local_address": "127.0.0.4", "transport": "polling"}]),
        1,
    );
    let clients = Clients::connect(others).await;
    drop(clients);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_clients_count_by_their_forwarded_address() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(
        &topics.prefix,
        &[
            ("EDM_STREAM_MAX_CLIENTS_PER_ADDRESS", "2"),
            ("EDM_TRUSTED_PROXY_HOPS", "1"),
        ],
    ))
    .await;
    // Every request comes from 127.0.0.1, the "proxy"; the client is what
    // it forwards.
    let from = |address: &str, transport: &str| json!({"transport": transport, "headers": {"X-Forwarded-For": address}});
    let three = spec(
        &stream.url,
        json!([
            from("203.0.113.7", "websocket"),
            from("203.0.113.7", "polling"),
            from("203.0.113.7", "polling")
        ]),
        1,
    );
    let (code, stderr) = run_clients(three).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(": too_many_clients_from_address"),
        "{stderr}"
    );
    let others = spec(
        &stream.url,
        json!([
            from("203.0.113.8", "polling"),
            from("203.0.113.8", "websocket"),
            from("198.51.100.1", "polling")
        ]),
        1,
    );
    drop(Clients::connect(others).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_past_the_size_cap_are_streamed_as_their_known_fields_or_skipped_and_counted() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(
        &topics.prefix,
        &[("EDM_STREAM_MAX_RECORD_BYTES", "2048")],
    ))
    .await;
    let clients = Clients::connect(spec(&stream.url, json!([{}]), 2)).await;

    // A click carrying 60 KB of a field no reader knows (the relay keeps
    // such fields), a page load whose defined fields alone pass the cap,
    // then an ordinary click.
    let padded = json!({"topic":"edm-ui-click","uuid":"v","event_timestamp":1_763_800_000_000_i64,
        "padding": "x".repeat(60_000), "properties":{"button_id":"kit","description":"button click"}})
    .to_string();
    let long_load = json!({"topic":"edm-ui-pageload","uuid":"v","event_timestamp":1_763_800_000_000_i64,
        "properties":{"user_agent":"a".repeat(1000),"description":"d".repeat(1000),"url":"https://example.com/"}})
    .to_string();
    let ordinary = click("v", 1);
    let producer = RawProducer::new(&topics.settings);
    let (clicks, loads) = (topics.name(Topic::Click), topics.name(Topic::PageLoad));
    producer.send(&loads, "v", long_load.as_bytes(), None).await;
    producer.send(&clicks, "v", padded.as_bytes(), None).await;
    producer.send(&clicks, "v", ordinary.as_bytes(), None).await;

    let got = clients.results().await.remove(0).0;
    let known = json!({"topic":"edm-ui-click","uuid":"v","event_timestamp":1_763_800_000_000_i64,
        "properties":{"button_id":"kit","description":"button click"}});
    assert_eq!(got.len(), 2, "{got:?}");
    let first: Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(first, known, "the padded click, without its padding");
    assert_eq!(got[1], ordinary, "an ordinary click, as it was");
    let metrics = stream.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "edm_stream_trimmed_records_total{topic=\"edm-ui-click\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "edm_stream_oversized_records_total{topic=\"edm-ui-pageload\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_are_disconnected_past_the_instances_byte_budget() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(
        &topics.prefix,
        // A full socket buffer holds 128 of the 5 kB events below, about
        // 640 kB: one stalled client fits in 1 MiB, a second does not. The
        // ring holds all 20 MB of them, so that the healthy client loses
        // none on a busy machine.
        &[
            ("EDM_STREAM_RECENT_EVENTS", "0"),
            ("EDM_STREAM_RESUME_BYTES", "67108864"),
            ("EDM_STREAM_RAW_EVENTS_PER_SECOND", "0"),
            ("EDM_STREAM_STALLED_CLIENT_BYTES", "1048576"),
        ],
    ))
    .await;
    // Three clients stop reading: once their buffers are full, one fits the
    // budget and each of the others costs one disconnect (refused while the
    // first is young, or evicting whoever stalled longest).
    let mut stalling = spec(
        &stream.url,
        json!([{"stall": true, "on": []}, {"stall": true, "on": []}, {"stall": true, "on": []}]),
        0,
    );
    stalling["timeout_ms"] = json!(120_000);
    let _stalled = Clients::connect(stalling).await;
    let disconnects =
        |metrics: &str| sample(metrics, "edm_stream_stalled_disconnects_total").unwrap_or_default();
    let mut rounds = 0;
    while disconnects(&stream.metrics().await) < 2.0 {
        rounds += 1;
        assert!(rounds <= 40, "the stalled clients' buffers never filled");
        produce_large_page_loads(&topics, 200).await;
    }

    // A client that reads, after the stall that fits has lasted a while: a
    // buffer of its that fills for a moment evicts the stalled client, it
    // is never cut itself.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    const N: usize = 4_000;
    let reading = Clients::connect(spec(&stream.url, json!([{}]), N)).await;
    produce_large_page_loads(&topics, N).await;
    let results = reading.results().await;
    assert_eq!(results[0].0.len(), N, "the reading client got every event");
    let metrics = stream.metrics().await;
    assert!(
        (2.0..=3.0).contains(&disconnects(&metrics)),
        "stalled clients only were cut:\n{metrics}"
    );
}

/// Produces `count` clicks named `<prefix>-<n>` at `per_second`.
async fn produce_clicks(
    producer: &RawProducer,
    topic: &str,
    prefix: &str,
    count: usize,
    per_second: u64,
) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
    for n in 0..count {
        tick.tick().await;
        producer
            .send(topic, prefix, click(prefix, n).as_bytes(), None)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_raw_rate_raw_events_stop_and_clients_are_told_until_it_falls() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(
        &topics.prefix,
        &[
            ("EDM_STREAM_RAW_EVENTS_PER_SECOND", "100"),
            ("EDM_STREAM_RECENT_EVENTS", "0"),
        ],
    ))
    .await;
    let mut watching = spec(
        &stream.url,
        json!([{"on": ["stream", "event", "sample"]}]),
        1_000_000,
    );
    watching["timeout_ms"] = json!(30_000);
    let clients = Clients::connect(watching).await;
    let producer = RawProducer::new(&topics.settings);
    let clicks = topics.name(Topic::Click);
    let mode = |metrics: String| sample(&metrics, "edm_stream_summary_mode");
    // edm-trending's sample, as another producer could write it: read in
    // summary mode only.
    let samples = topics.name(Topic::Sample);
    let produce_samples = |uuid: &'static str, count: usize| {
        let (producer, samples) = (&producer, &samples);
        async move {
            for n in 0..count {
                let record = json!({"topic": "edm-trending-sample",
                    "event": serde_json::from_str::<Value>(&click(uuid, n)).unwrap(),
                    "stands_for": 40, "source": "edm-ui-click/0", "offset": n, "second": 1_763_800_000_000_i64});
                producer
                    .send(
                        samples,
                        "edm-ui-click/0",
                        record.to_string().as_bytes(),
                        None,
                    )
                    .await;
            }
        }
    };
    produce_samples("sampled-before", 2).await;

    // 400 clicks a second: raw events stop once 5 seconds of it are seen.
    let busy = async {
        for round in 0..20 {
            if mode(stream.metrics().await) == Some(1.0) {
                return round;
            }
            produce_clicks(&producer, &clicks, "busy", 400, 400).await;
        }
        panic!("never switched to summaries");
    };
    busy.await;
    // In summary mode clicks are not read; the sample is.
    produce_clicks(&producer, &clicks, "during", 20, 20).await;
    produce_samples("sampled-during", 3).await;
    // Quiet: after 10 seconds under 80 of them a second, raw events again.
    let mut raw = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if mode(stream.metrics().await) == Some(0.0) {
            raw = true;
            break;
        }
    }
    assert!(raw, "back to raw events once the store is quiet");
    // Assigned again from their backfill start: wait for the live part.
    tokio::time::sleep(Duration::from_secs(2)).await;
    produce_clicks(&producer, &clicks, "after", 10, 20).await;
    produce_samples("sampled-after", 2).await;

    // `stream` messages are objects, events their JSON text.
    let output = clients.output().await;
    let names = strings(&output[0]["names"]);
    let bodies = output[0]["events"].as_array().unwrap().clone();
    let messages: Vec<(String, Value)> = names.into_iter().zip(bodies).collect();
    let modes: Vec<String> = messages
        .iter()
        .filter(|(name, _)| name == "stream")
        .filter_map(|(_, body)| body["mode"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        modes,
        ["raw", "summary", "raw"],
        "told at the start and at each change"
    );
    let uuids: Vec<String> = messages
        .iter()
        .filter(|(name, _)| name == "event")
        .map(|(_, body)| {
            let event: Value = serde_json::from_str(body.as_str().unwrap()).unwrap();
            event["uuid"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        uuids.iter().any(|u| u == "busy"),
        "raw events before the switch"
    );
    assert!(
        !uuids.iter().any(|u| u == "during"),
        "no raw event read while summaries are on"
    );
    assert_eq!(
        uuids.iter().filter(|u| *u == "after").count(),
        10,
        "every raw event once back"
    );
    let sampled: Vec<String> = messages
        .iter()
        .filter(|(name, _)| name == "sample")
        .map(|(_, body)| {
            let record: Value = serde_json::from_str(body.as_str().unwrap()).unwrap();
            assert_eq!(record["stands_for"], 40);
            record["event"]["uuid"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        sampled, ["sampled-during"; 3],
        "the sample streamed in summary mode only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_join_was_refused_is_closed_after_the_connect_timeout() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(
        &topics.prefix,
        &[
            ("EDM_STREAM_CONNECT_TIMEOUT_SECS", "1"),
            ("EDM_STREAM_MAX_CLIENTS_PER_ADDRESS", "1"),
        ],
    ))
    .await;
    // Engine.IO long-polling by hand, as a crowd of sessions would.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let polling = Polling::new(&http, &stream.url, None);
    let (first, joined) = polling.open_and_join().await.expect("an answer");
    assert_eq!(joined, JoinAnswer::Joined, "the first joins");
    let (refused, answer) = polling.open_and_join().await.expect("an answer");
    assert_eq!(
        answer,
        JoinAnswer::Refused("too_many_clients_from_address".into())
    );
    // Past the timeout the refused session is gone: its next poll is
    // answered at once, as a session the server does not know.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let poll = http.get(&refused).send().await.expect("answered at once");
    assert_eq!(poll.status(), 400, "{}", poll.text().await.unwrap());
    // The session that joined is still there.
    let posted = http.post(&first).body("3").send().await.unwrap();
    assert_eq!(posted.status(), 200);
}
