//! `edm-bench post <relay-url> <events-per-second> <seconds> [warm-up-seconds]`:
//! posts single click events to the relay's original endpoint
//! (`/produceClickMessage`) at a fixed rate, open loop: each event leaves at
//! its scheduled time whether or not earlier ones were answered (at most
//! [`MAX_IN_FLIGHT`] at once; any delay that causes is reported as
//! `behind_max_ms`).
//!
//! Each event's `event_timestamp` is the moment it is sent, so a Socket.io
//! client can measure relay-to-browser latency as receipt minus
//! `event_timestamp`. Warm-up events carry the button id `bench-warmup`, so
//! receivers can leave them out. The results cover the measured events only.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::produce::{now_ms, Seeded};
use crate::{arg, percentile};

/// The most requests waiting for an answer at once.
const MAX_IN_FLIGHT: usize = 4096;

/// Button id of warm-up events.
pub const WARM_UP_BUTTON: &str = "bench-warmup";

/// One answered (or failed) request.
struct Sample {
    accepted: bool,
    latency: Duration,
}

/// Runs the command and prints its JSON line.
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let relay: String = arg(args, 2)?;
    let rate: f64 = arg(args, 3)?;
    let seconds: f64 = arg(args, 4)?;
    let warm_up: f64 = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(0.0);
    anyhow::ensure!(
        rate > 0.0 && seconds > 0.0,
        "rate and seconds must be positive"
    );
    let url = format!("{}/produceClickMessage", relay.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .build()?;
    let warm_count = (rate * warm_up).round() as u64;
    let count = (rate * seconds).round() as u64;
    let samples = Arc::new(Mutex::new(Vec::with_capacity(count as usize)));
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut rng = Seeded(0x5eed_2026);
    let mut behind = Duration::ZERO;
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    let mut measured_from = started;
    for n in 0..warm_count + count {
        let due = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let permit = permits.clone().acquire_owned().await?;
        behind = behind.max(Instant::now().saturating_duration_since(due));
        let measured = n >= warm_count;
        if n == warm_count {
            measured_from = Instant::now();
        }
        let button = if measured {
            format!("product-{}", rng.next() % 20)
        } else {
            WARM_UP_BUTTON.to_owned()
        };
        let body = serde_json::json!({
            "topic": "edm-ui-click",
            "uuid": format!("visitor-{}", rng.next() % 1000),
            "event_timestamp": now_ms(),
            "properties": {"button_id": button, "description": "button click"},
        })
        .to_string();
        let request = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-request-id", format!("bench-{n}"))
            .body(body);
        let samples = samples.clone();
        tasks.spawn(async move {
            let sent = Instant::now();
            let accepted = matches!(request.send().await, Ok(r) if r.status().is_success());
            if measured {
                let sample = Sample {
                    accepted,
                    latency: sent.elapsed(),
                };
                samples.lock().unwrap().push(sample);
            }
            drop(permit);
        });
        // Reap finished tasks now and then so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    let sending = measured_from.elapsed().as_secs_f64();
    while tasks.join_next().await.is_some() {}
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let accepted = samples.iter().filter(|s| s.accepted).count();
    let mut latencies: Vec<f64> = samples
        .iter()
        .filter(|s| s.accepted)
        .map(|s| s.latency.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let result = serde_json::json!({
        "rate": rate,
        "seconds": seconds,
        "warm_up_seconds": warm_up,
        "sent": samples.len(),
        "accepted": accepted,
        "errors": samples.len() - accepted,
        "achieved_rate": count as f64 / sending.max(f64::EPSILON),
        "http_p50_ms": percentile(&latencies, 50.0),
        "http_p99_ms": percentile(&latencies, 99.0),
        "http_max_ms": latencies.last().copied().unwrap_or(0.0),
        "behind_max_ms": behind.as_secs_f64() * 1000.0,
    });
    println!("{result}");
    Ok(())
}
