//! Many edm-stream instances behind a proxy that sends every HTTP request
//! to the next instance (Debian's nginx, round-robin, no affinity: what
//! Heroku's router does without session affinity), with official
//! Socket.io clients using the dashboard's client module. While events
//! flow, one instance is SIGKILLed and restarted, then every instance is
//! replaced one by one (SIGTERM, as a deploy does). Every client must end
//! with every event produced, each once, in order per partition.
//!
//! `EDM_RELIABILITY_PROFILE=short` (CI): 20 clients, 200 events/s; `full`:
//! 50 clients, 1,000 events/s.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edm_config::Topic;
use edm_reliability::processes::{build_services, Service};
use edm_testkit::infra::service_env;
use edm_testkit::kafka::{RawProducer, TestTopics};
use edm_testkit::proxy::{Balance, Proxy};
use edm_testkit::stream_clients::ResumingClients;
use serde_json::json;

struct Profile {
    clients: usize,
    per_second: u64,
}

fn profile() -> Profile {
    match std::env::var("EDM_RELIABILITY_PROFILE").as_deref() {
        Ok("full") => Profile {
            clients: 50,
            per_second: 1000,
        },
        _ => Profile {
            clients: 20,
            per_second: 200,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_gets_every_event_once_while_instances_die_and_are_replaced() {
    let _serial = crate::SERIAL.lock().await;
    let profile = profile();
    tokio::task::spawn_blocking(build_services).await.unwrap();
    let topics = TestTopics::create().await;
    let mut instances: Vec<Service> = (0..3)
        .map(|_| {
            // Raw events at every rate: the full profile runs at the
            // default threshold itself.
            // Clients' connections logged, for a failure's story.
            let raw = [
                ("EDM_STREAM_RAW_EVENTS_PER_SECOND", "0"),
                ("RUST_LOG", "warn,edm_stream=debug,edm_runtime=info"),
            ];
            Service::new("edm-stream", service_env(&topics.prefix, &raw).0)
        })
        .collect();
    for instance in &mut instances {
        instance.start(Duration::from_secs(60)).await;
    }
    let ports: Vec<u16> = instances.iter().map(|s| s.port).collect();
    let proxy = Proxy::start(&ports, Balance::EachRequest);
    let url = proxy.url();
    let count = profile.clients;
    let clients = tokio::task::spawn_blocking(move || ResumingClients::connect(&url, count))
        .await
        .unwrap();

    // Events keep flowing, spread over the partitions by visitor.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (stop, settings, topic) = (
            stop.clone(),
            topics.settings.clone(),
            topics.name(Topic::Click),
        );
        let per_second = profile.per_second;
        tokio::spawn(async move {
            let producer = RawProducer::new(&settings);
            let mut produced: Vec<(String, String)> = Vec::new();
            let mut acks = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let visitor = format!("visitor-{}", n % 6);
                let id = format!("e-{n}");
                let event = json!({"topic":"edm-ui-click","uuid":visitor,"event_id":id,
                    "event_timestamp":1_763_800_000_000_i64,
                    "properties":{"button_id":"buy","description":"button click"}});
                // Queued in order without waiting for each acknowledgement,
                // so the rate holds whatever the brokers' round trip.
                acks.push(producer.enqueue(
                    &topic,
                    &visitor,
                    event.to_string().as_bytes(),
                    Some(&id),
                ));
                produced.push((visitor, id));
                n += 1;
            }
            for ack in acks {
                ack.await
                    .expect("the producer is alive")
                    .map_err(|(e, _)| e)
                    .expect("every event acknowledged");
            }
            produced
        })
    };

    let producing = std::time::Instant::now();
    let pause = |secs| tokio::time::sleep(Duration::from_secs(secs));
    // What happened when (Unix ms, as the clients log), for a failure.
    let mut story: Vec<String> = Vec::new();
    let mut told = |what: String| story.push(format!("{} {what}", unix_ms()));
    pause(3).await;
    told(format!("kill {}", instances[1].port));
    instances[1].kill();
    pause(3).await;
    instances[1].start(Duration::from_secs(60)).await;
    told(format!("ready {}", instances[1].port));
    pause(3).await;
    for instance in &mut instances {
        told(format!("stop {}", instance.port));
        instance.stop();
        told(format!("stopped {}", instance.port));
        instance.start(Duration::from_secs(60)).await;
        told(format!("ready {}", instance.port));
        pause(3).await;
    }
    told("production ends".into());
    stop.store(true, Ordering::Relaxed);
    let production = producing.elapsed();
    let produced = producer.await.unwrap();
    pause(4).await;
    let results = tokio::task::spawn_blocking(move || clients.stop())
        .await
        .unwrap();
    drop(proxy);

    let produced_ids: HashSet<&str> = produced.iter().map(|(_, id)| id.as_str()).collect();
    let mut order_by_visitor: HashMap<&str, Vec<&str>> = HashMap::new();
    for (visitor, id) in &produced {
        order_by_visitor.entry(visitor).or_default().push(id);
    }
    let visitor_of: HashMap<&str, &str> = produced
        .iter()
        .map(|(visitor, id)| (id.as_str(), visitor.as_str()))
        .collect();
    for (i, client) in results.iter().enumerate() {
        let ids: Vec<&str> = client.ids.iter().map(String::as_str).collect();
        let distinct: HashSet<&str> = ids.iter().copied().collect();
        let mut seen_at: HashMap<&str, usize> = HashMap::new();
        let twice: Vec<(&str, usize, usize)> = ids
            .iter()
            .enumerate()
            .filter_map(|(n, id)| seen_at.insert(id, n).map(|first| (*id, first, n)))
            .collect();
        assert!(
            twice.is_empty(),
            "client {i} received {} events twice (id, first and second index: {:?}); \
             its connections: {:?}; its stream messages: {:?}; the test's steps: {:?}",
            twice.len(),
            &twice[..twice.len().min(10)],
            client.lifecycle,
            client.statuses,
            story
        );
        let missing: Vec<&str> = produced
            .iter()
            .map(|(_, id)| id.as_str())
            .filter(|id| !distinct.contains(id))
            .collect();
        assert!(
            missing.is_empty(),
            "client {i} missed {} of {} events (first {:?}, last {:?}; it had {} after them), \
             connected {} times ({:?}); its stream messages: {:?}; the test's steps: {:?}; \
             instance logs: {:?}",
            missing.len(),
            produced.len(),
            missing.first(),
            missing.last(),
            missing.last().map_or(0, |last| ids
                .iter()
                .filter(|id| number(id) > number(last))
                .count()),
            client.connects,
            client.lifecycle,
            client.statuses,
            story,
            instances.iter().map(Service::log_path).collect::<Vec<_>>()
        );
        assert_eq!(
            distinct.len(),
            produced_ids.len(),
            "client {i} got events not produced"
        );
        let mut seen_by_visitor: HashMap<&str, Vec<&str>> = HashMap::new();
        for id in &ids {
            seen_by_visitor.entry(visitor_of[id]).or_default().push(id);
        }
        assert_eq!(
            seen_by_visitor, order_by_visitor,
            "client {i}: order per visitor"
        );
        let resumed = client
            .statuses
            .iter()
            .filter(|s| s["start"] == "resumed")
            .count();
        assert!(
            resumed >= 1,
            "client {i} never had to resume: {:?}",
            client.statuses
        );
    }
    println!(
        "{} clients through a round-robin proxy, {} events in {:.0} s ({:.0}/s): every client got every event once",
        results.len(),
        produced.len(),
        production.as_secs_f64(),
        produced.len() as f64 / production.as_secs_f64()
    );
}

/// The number in a produced event's id ("e-17" is 17).
fn number(id: &str) -> u64 {
    id.trim_start_matches("e-").parse().unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
