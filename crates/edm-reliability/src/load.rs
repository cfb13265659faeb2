//! The load generator: click events posted to the relay at a fixed rate,
//! each with its own id (as `Idempotency-Key` and `event_id`), retried like
//! a careful client would (same id, honouring Retry-After) while the answer
//! is 429, 503, 504 or no answer, and given up after a budget. Every outcome is accounted for.
//! Each click is on a button named after its id (`product-<id>`), so
//! edm-stats' aggregates say how many times each id was counted.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;

/// How one event ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The relay answered 200: the brokers have it.
    Acknowledged {
        /// Seconds since the run started.
        at: f64,
    },
    /// A 4xx: refused, nothing written.
    Rejected,
    /// Given up; every answer said nothing was written (429, 503).
    Failed,
    /// Given up after an answer that left the outcome open (504 or none).
    Unknown,
}

/// Totals of a run.
#[derive(Debug, Default, Clone)]
pub struct LoadTotals {
    /// Events generated.
    pub sent: u64,
    /// Ids the relay acknowledged.
    pub acknowledged: HashSet<String>,
    /// Ids the client gave up on (rejected, failed or outcome unknown):
    /// with `acknowledged`, every id sent.
    pub given_up: HashSet<String>,
    /// Seconds since start of each acknowledgement.
    pub ack_times: Vec<f64>,
    /// Refused with a 4xx.
    pub rejected: u64,
    /// Given up, known not written.
    pub failed: u64,
    /// Given up, outcome unknown.
    pub unknown: u64,
    /// Attempts that were retried.
    pub retries: u64,
}

/// A running load; [`Load::stop`] ends it and returns the totals.
pub struct Load {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<LoadTotals>,
}

/// How long one event is retried before the client gives up.
const RETRY_BUDGET: Duration = Duration::from_secs(40);

/// Starts posting `rate` events per second to `relay_url`.
pub fn start(relay_url: String, rate: u32, run_started: Instant) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let task = tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, Outcome, u64)>();
        let mut sent = 0u64;
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
        let started = Instant::now();
        while !flag.load(Ordering::Relaxed) {
            let id = format!("evt-{sent:07}");
            let (http, url, tx) = (http.clone(), relay_url.clone(), tx.clone());
            tokio::spawn(async move {
                let (outcome, retries) = post_until_settled(&http, &url, &id, run_started).await;
                let _ = tx.send((id, outcome, retries));
            });
            sent += 1;
            tokio::time::sleep_until((started + interval * sent as u32).into()).await;
        }
        drop(tx);
        let mut totals = LoadTotals {
            sent,
            ..LoadTotals::default()
        };
        while let Some((id, outcome, retries)) = rx.recv().await {
            totals.retries += retries;
            match outcome {
                Outcome::Acknowledged { at } => {
                    totals.acknowledged.insert(id);
                    totals.ack_times.push(at);
                    continue;
                }
                Outcome::Rejected => totals.rejected += 1,
                Outcome::Failed => totals.failed += 1,
                Outcome::Unknown => totals.unknown += 1,
            }
            totals.given_up.insert(id);
        }
        totals.ack_times.sort_by(f64::total_cmp);
        totals
    });
    Load { stop, task }
}

impl Load {
    /// Stops generating, waits for every event to settle, returns totals.
    pub async fn stop(self) -> LoadTotals {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("load task")
    }
}

async fn post_until_settled(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    run_started: Instant,
) -> (Outcome, u64) {
    let body = json!({"topic": "edm-ui-click", "uuid": format!("visitor-{}", &id[id.len() - 2..]),
        "event_timestamp": 1_795_339_137_000_i64, "event_id": id,
        "properties": {"button_id": format!("product-{id}"), "description": "button click"}})
    .to_string();
    let deadline = Instant::now() + RETRY_BUDGET;
    let mut unknown = false;
    let mut retries = 0;
    loop {
        let answer = http
            .post(format!("{url}/produceClickMessage"))
            .header("content-type", "application/json")
            .header("idempotency-key", id)
            .body(body.clone())
            .send()
            .await;
        // A careful client waits as long as Retry-After says (at least 250 ms).
        let mut wait = Duration::from_millis(250);
        match answer {
            Ok(r) if r.status() == 200 => {
                return (
                    Outcome::Acknowledged {
                        at: run_started.elapsed().as_secs_f64(),
                    },
                    retries,
                )
            }
            // 429: this client has too many requests in flight (or is
            // over its rate); nothing was written, and it may try again.
            Ok(r) if [429, 502, 503, 504].contains(&r.status().as_u16()) => {
                unknown |= ![429, 503].contains(&r.status().as_u16());
                let after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                wait = wait.max(Duration::from_secs(after.unwrap_or(0)));
            }
            Ok(_) => return (Outcome::Rejected, retries),
            Err(_) => unknown = true,
        }
        if Instant::now() > deadline {
            return (
                if unknown {
                    Outcome::Unknown
                } else {
                    Outcome::Failed
                },
                retries,
            );
        }
        retries += 1;
        tokio::time::sleep(wait).await;
    }
}
