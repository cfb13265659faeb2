//! Beside the original reference apps: the original dashboard's Socket.io
//! 2 client (`io(url)`, default options: Engine.IO 3, long-polling first)
//! receives every event, with one instance and behind a proxy with session
//! affinity, next to today's clients; and records written as the original
//! relay wrote them (the JSON alone: no key, no headers) are streamed like
//! this relay's.

use edm_config::Topic;
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::proxy::{Balance, Proxy};
use serde_json::json;

use crate::socketio::{click, spec, Clients, TestStream};

/// `count` clicks, every other one written as the original relay wrote it
/// (no key, no headers), the others as this relay does (keyed by visitor).
async fn produce_both_shapes(topics: &TestTopics, count: usize) -> Vec<String> {
    let producer = RawProducer::new(&topics.settings);
    let topic = topics.name(Topic::Click);
    let mut sent = Vec::new();
    for n in 0..count {
        let visitor = format!("visitor-{}", n % 3);
        let text = click(&visitor, n);
        if n % 2 == 0 {
            producer.send_unkeyed(&topic, text.as_bytes()).await;
        } else {
            producer
                .send(&topic, &visitor, text.as_bytes(), Some(&format!("id-{n}")))
                .await;
        }
        sent.push(text);
    }
    sent.sort();
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_dashboards_socket_io_2_client_receives_every_event() {
    let topics = TestTopics::create().await;
    let stream = TestStream::spawn_ready(service_env(&topics.prefix, &[])).await;
    let clients = Clients::connect(spec(&stream.url, json!([{"version": 2}]), 20)).await;
    let sent = produce_both_shapes(&topics, 20).await;
    let results = clients.results().await;
    let mut got = results[0].0.clone();
    got.sort();
    assert_eq!(got, sent, "every event, as its JSON text, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_with_session_affinity_old_and_new_clients_get_every_event() {
    let topics = TestTopics::create().await;
    let env = service_env(&topics.prefix, &[]);
    let first = TestStream::spawn_ready(env.clone()).await;
    let second = TestStream::spawn_ready(env).await;
    let proxy = Proxy::start(&[first.port(), second.port()], Balance::ByClientAddress);
    // Socket.io 2 clients from several addresses (long-polling needs every
    // request of a session on one instance), and a Socket.io 4 client.
    let mut specs: Vec<_> = (2..8)
        .map(|n| json!({"version": 2, "local_address": format!("127.0.0.{n}")}))
        .collect();
    specs.push(json!({"local_address": "127.0.0.8"}));
    let clients = Clients::connect(spec(&proxy.url(), json!(specs), 20)).await;
    let on = |body: &serde_json::Value| body["clients"].as_u64().unwrap_or(0);
    // A client hears it is connected as its instance registers it: on a
    // busy machine the count may take a moment to reach every client.
    let (mut on_first, mut on_second) = (serde_json::Value::Null, serde_json::Value::Null);
    for _ in 0..50 {
        on_first = first.get_json("/ready").await.1;
        on_second = second.get_json("/ready").await.1;
        if on(&on_first) + on(&on_second) == 7 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(on(&on_first) + on(&on_second), 7, "{on_first} {on_second}");
    assert!(
        on(&on_first) > 0 && on(&on_second) > 0,
        "the proxy spreads the clients over both instances: {on_first} {on_second}"
    );

    let sent = produce_both_shapes(&topics, 20).await;
    for (n, (events, _)) in clients.results().await.into_iter().enumerate() {
        let mut got = events;
        got.sort();
        assert_eq!(got, sent, "client {n} got every event once");
    }
}
