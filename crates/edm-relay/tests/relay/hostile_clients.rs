//! The relay against clients with bad intentions, over real sockets from
//! different loopback addresses (any 127.x.y.z works): one address cannot
//! take every connection or permit, trickled headers and bodies are cut off
//! at their deadlines, `X-Forwarded-For` from a client that connects
//! directly changes nothing, and oversized events inside a batch are
//! refused like oversized single events. Meanwhile a well-behaved client at
//! another address is served.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use edm_config::Topic;
use edm_relay::Relay;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::TestTopics;
use edm_testkit::service::TestService;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn click(button: &str) -> Value {
    json!({"topic":"edm-ui-click","uuid":"visitor-1","event_timestamp":1_763_800_000_000_i64,
           "properties":{"button_id":button,"description":"button click"}})
}

/// The relay's socket address.
fn address_of(relay: &TestService<Relay>) -> SocketAddr {
    relay
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("the test relay listens on 127.0.0.1:PORT")
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("any 127.x.y.z can be bound");
    socket.connect(to).await.expect("the relay accepts")
}

/// An HTTP client whose connections come from `from`.
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .build()
        .unwrap()
}

/// Reads what the relay sends until it closes the connection (at most
/// `within`); `None` when it kept the connection open that long.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut answer = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut answer))
        .await
        .ok()
        .map(|_| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn slow_bodies_from_one_address_neither_take_every_permit_nor_last() {
    let topics = TestTopics::create().await;
    let relay = TestService::<Relay>::spawn(service_env(
        &topics.prefix,
        &[
            ("EDM_RELAY_MAX_IN_FLIGHT", "64"),
            ("EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "16"),
            ("EDM_HTTP_BODY_TIMEOUT_SECS", "4"),
        ],
    ))
    .await;
    let to = address_of(&relay);
    // 40 connections from 127.0.0.2, each announcing a body it never sends.
    let mut trickling = Vec::new();
    for _ in 0..40 {
        let mut stream = connect_from([127, 0, 0, 2], to).await;
        let head = "POST /produceClickMessage HTTP/1.1\r\nhost: relay\r\n\
                    content-type: application/json\r\ncontent-length: 1000\r\n\r\n{";
        // A refused connection may already be closed: that is the point.
        let _ = stream.write_all(head.as_bytes()).await;
        trickling.push(stream);
    }
    let started = Instant::now();
    let resp = client_from([127, 0, 0, 1])
        .post(format!("{}/produceClickMessage", relay.url))
        .json(&click("well-behaved"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "another address is served at once");
    // Not after the trickling bodies' deadline freed their permits.
    assert!(started.elapsed() < Duration::from_secs(3));

    let mut refused = 0;
    let mut timed_out = 0;
    for stream in &mut trickling {
        let answer = read_until_closed(stream, Duration::from_secs(10))
            .await
            .expect("every trickling connection is answered and closed");
        if answer.starts_with("HTTP/1.1 503") {
            assert!(
                answer.contains("too_many_connections_from_address"),
                "{answer}"
            );
            refused += 1;
        } else {
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
            assert!(answer.contains("body_timeout"), "{answer}");
            timed_out += 1;
        }
    }
    assert_eq!((timed_out, refused), (16, 24));
    let metrics = relay.metrics().await;
    assert!(
        metrics.contains(
            r#"http_connections_refused_total{reason="too_many_connections_from_address"} 24"#
        ),
        "{metrics}"
    );
    assert_eq!(
        topics
            .read(Topic::Click, 1, Duration::from_secs(10))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn one_client_holds_at_most_its_share_of_places_and_large_batches_wait_for_memory() {
    let topics = TestTopics::create().await;
    let relay = TestService::<Relay>::spawn(service_env(
        &topics.prefix,
        &[
            ("EDM_RELAY_MAX_IN_FLIGHT_PER_CLIENT", "4"),
            ("EDM_RELAY_MAX_BATCH_BYTES", "1048576"),
            ("EDM_RELAY_MAX_BATCH_BUFFER_BYTES", "2097152"),
        ],
    ))
    .await;
    let to = address_of(&relay);
    let head = |path: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\n\
             content-length: {length}\r\n\r\n"
        )
    };
    // Two batches from 127.0.0.3 declaring 1 MiB each take the whole
    // budget; a third, from anyone, is refused before a byte of it is sent.
    let mut holding = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from([127, 0, 0, 3], to).await;
        stream
            .write_all(head("/api/v1/events", 1 << 20).as_bytes())
            .await
            .unwrap();
        holding.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = connect_from([127, 0, 0, 4], to).await;
    third
        .write_all(head("/api/v1/events", 1 << 20).as_bytes())
        .await
        .unwrap();
    let answer = read_until_closed(&mut third, Duration::from_secs(3)).await;
    let answer = answer.expect("refused at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("overloaded"), "{answer}");
    // A declared size over the limit is refused unread, whatever is free.
    let mut huge = connect_from([127, 0, 0, 4], to).await;
    huge.write_all(head("/api/v1/events", 9 << 20).as_bytes())
        .await
        .unwrap();
    let answer = read_until_closed(&mut huge, Duration::from_secs(3)).await;
    assert!(answer.expect("refused at once").starts_with("HTTP/1.1 413"));

    // 127.0.0.3 holds 2 places; two more single events may wait on their
    // bodies, the fifth request is refused with 429 at once.
    for _ in 0..2 {
        let mut stream = connect_from([127, 0, 0, 3], to).await;
        stream
            .write_all(head("/produceClickMessage", 1000).as_bytes())
            .await
            .unwrap();
        holding.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let over = client_from([127, 0, 0, 3])
        .post(format!("{}/produceClickMessage", relay.url))
        .json(&click("fifth"))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 429);
    let body: Value = over.json().await.unwrap();
    assert_eq!(body["error"], "too_many_in_flight", "{body}");
    let other = client_from([127, 0, 0, 5])
        .post(format!("{}/produceClickMessage", relay.url))
        .json(&click("another client"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another client is served");
    drop(holding);
}

#[tokio::test]
async fn headers_trickled_past_the_deadline_lose_the_connection() {
    let topics = TestTopics::create().await;
    let relay = TestService::<Relay>::spawn(service_env(
        &topics.prefix,
        &[("EDM_HTTP_HEADER_TIMEOUT_SECS", "1")],
    ))
    .await;
    let to = address_of(&relay);
    let mut silent = connect_from([127, 0, 0, 3], to).await;
    let mut partial = connect_from([127, 0, 0, 3], to).await;
    partial
        .write_all(b"POST /produceClickMessage HTTP/1.1\r\nhost: relay\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    for (what, stream) in [("silent", &mut silent), ("partial headers", &mut partial)] {
        let closed = read_until_closed(stream, Duration::from_secs(5)).await;
        assert!(
            closed.is_some(),
            "a {what} connection outlived the deadline"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn forwarded_for_from_a_direct_client_is_ignored_and_believed_from_a_trusted_proxy() {
    let topics = TestTopics::create().await;
    let limits = [
        ("EDM_RELAY_RATE_LIMIT_PER_SECOND", "1"),
        ("EDM_RELAY_RATE_LIMIT_BURST", "2"),
    ];
    let direct = TestService::<Relay>::spawn(service_env(&topics.prefix, &limits)).await;
    let post = |relay: &TestService<Relay>, from: [u8; 4], forwarded_for: &str| {
        client_from(from)
            .post(format!("{}/produceClickMessage", relay.url))
            .header("x-forwarded-for", forwarded_for.to_owned())
            .json(&click("spoof"))
            .send()
    };
    // A new forged address each time does not refill the allowance.
    let statuses: Vec<u16> = futures_statuses(&[
        post(&direct, [127, 0, 0, 4], "198.51.100.1").await,
        post(&direct, [127, 0, 0, 4], "198.51.100.2").await,
        post(&direct, [127, 0, 0, 4], "198.51.100.3").await,
    ]);
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(
        post(&direct, [127, 0, 0, 5], "198.51.100.3")
            .await
            .unwrap()
            .status(),
        200
    );

    // Behind one trusted proxy (as on Heroku), the entry it appended counts.
    let mut env = service_env(&topics.prefix, &limits);
    env = env.with("EDM_TRUSTED_PROXY_HOPS", "1");
    let proxied = TestService::<Relay>::spawn(env).await;
    let statuses: Vec<u16> = futures_statuses(&[
        post(&proxied, [127, 0, 0, 6], "203.0.113.9, 198.51.100.7").await,
        post(&proxied, [127, 0, 0, 6], "203.0.113.8, 198.51.100.7").await,
        post(&proxied, [127, 0, 0, 6], "198.51.100.7").await,
        post(&proxied, [127, 0, 0, 6], "198.51.100.8").await,
    ]);
    assert_eq!(statuses, [200, 200, 429, 200]);
}

fn futures_statuses(responses: &[Result<reqwest::Response, reqwest::Error>]) -> Vec<u16> {
    responses
        .iter()
        .map(|r| r.as_ref().expect("the relay answers").status().as_u16())
        .collect()
}

#[tokio::test]
async fn an_event_larger_than_a_single_event_may_be_is_refused_inside_a_batch() {
    let topics = TestTopics::create().await;
    let relay = TestService::<Relay>::spawn(service_env(
        &topics.prefix,
        &[("EDM_RELAY_MAX_BODY_BYTES", "2048")],
    ))
    .await;
    let mut big = click("big");
    big["properties"]["padding"] = json!("x".repeat(4096));
    let resp = relay
        .post("/api/v1/events", &json!([click("small"), big]))
        .await;
    assert_eq!(resp.status(), 207);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"], 1);
    assert_eq!(body["results"][1]["code"], 413, "{body}");
    let written = topics.read(Topic::Click, 2, Duration::from_secs(5)).await;
    assert_eq!(written.len(), 1, "only the small event was written");
}

/// `edm_relay_events_total{topic="edm-ui-click",outcome=…}` from `/metrics`.
async fn clicks_counted(relay: &TestService<Relay>, outcome: &str) -> u64 {
    let needle = format!(r#"edm_relay_events_total{{topic="edm-ui-click",outcome="{outcome}"}} "#);
    relay
        .metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix(&needle))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test]
async fn events_whose_client_hung_up_are_still_accounted_for() {
    let topics = TestTopics::create().await;
    let relay = TestService::<Relay>::spawn(service_env(
        &topics.prefix,
        &[("EDM_RELAY_RATE_LIMIT_PER_SECOND", "0")],
    ))
    .await;
    let to = address_of(&relay);
    // 20 batches of 50, each from a client that hangs up as soon as it has
    // sent its request, never reading the answer.
    for batch in 0..20 {
        let events: Vec<Value> = (0..50).map(|i| click(&format!("b{batch}-{i}"))).collect();
        let body = Value::Array(events).to_string();
        let mut stream = connect_from([127, 0, 0, 7], to).await;
        let request = format!(
            "POST /api/v1/events HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        drop(stream);
    }
    let written = topics
        .read(Topic::Click, 1000, Duration::from_secs(10))
        .await
        .len() as u64;
    assert!(written > 0, "the relay wrote the events it had read");
    let deadline = Instant::now() + Duration::from_secs(10);
    while clicks_counted(&relay, "accepted").await != written && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        clicks_counted(&relay, "accepted").await,
        written,
        "every event in Kafka is counted as accepted, client or no client"
    );
    assert_eq!(clicks_counted(&relay, "failed").await, 0);
}
