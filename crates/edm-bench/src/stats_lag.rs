//! `edm-bench stats-lag <relay-url> <stats-url> <probes> <every-ms>`: how
//! long until edm-stats' API reflects an event. Each probe posts one click
//! with a button id of its own to the relay, then polls `GET /api/clickCount`
//! every 5 ms until that button is counted; the lag is from just before the
//! post to the first answer that counts it. Probes start `every-ms` apart,
//! so they can run alongside a steady load.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::produce::now_ms;
use crate::{arg, percentile};

/// Pause between two polls of the API.
const POLL_EVERY: Duration = Duration::from_millis(5);
/// A probe not counted within this long is reported as lost.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the command and prints its JSON line.
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let relay: String = arg(args, 2)?;
    let stats: String = arg(args, 3)?;
    let probes: usize = arg(args, 4)?;
    let every = Duration::from_millis(arg(args, 5)?);
    let client = reqwest::Client::new();
    let run_id = now_ms();
    let mut lags = Vec::with_capacity(probes);
    let mut lost = 0;
    for probe in 0..probes {
        let started = Instant::now();
        let button = format!("bench-probe-{run_id}-{probe}");
        let event = serde_json::json!({
            "topic": "edm-ui-click",
            "uuid": "bench-prober",
            "event_timestamp": now_ms(),
            "properties": {"button_id": button, "description": "button click"},
        });
        // Under the heaviest load the relay may shed a request (503, or 429
        // for this one client): try again shortly, as a careful client does.
        let mut attempts = 0;
        let posted = loop {
            let posted = client
                .post(format!("{relay}/produceClickMessage"))
                .json(&event)
                .send()
                .await?;
            attempts += 1;
            if !matches!(posted.status().as_u16(), 429 | 503) || attempts == 50 {
                break posted;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        anyhow::ensure!(
            posted.status().is_success(),
            "the relay answered {}",
            posted.status()
        );
        loop {
            let counts: Value = client
                .get(format!("{stats}/api/clickCount"))
                .send()
                .await?
                .json()
                .await?;
            let counted = counts
                .as_array()
                .is_some_and(|rows| rows.iter().any(|r| r["button_id"] == button.as_str()));
            if counted {
                lags.push(started.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if started.elapsed() > PROBE_TIMEOUT {
                lost += 1;
                break;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        tokio::time::sleep(every.saturating_sub(started.elapsed())).await;
    }
    lags.sort_by(f64::total_cmp);
    let result = serde_json::json!({
        "probes": probes,
        "lost": lost,
        "p50_ms": percentile(&lags, 50.0),
        "p99_ms": percentile(&lags, 99.0),
        "max_ms": lags.last().copied().unwrap_or(0.0),
    });
    println!("{result}");
    Ok(())
}
