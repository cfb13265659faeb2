//! Shared helpers for edm-stats tests: a stats service in this process or as
//! a real child process, events to feed it, and polling its API.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use edm_stats::Stats;
use edm_testkit::service::TestService;
use serde_json::{json, Value};

/// An edm-stats running in this test, stopped when dropped.
pub type TestStats = TestService<Stats>;

pub async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    match http.get(url).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// Polls `/api/v1/totals` at `base` until clicks and page loads reach the
/// expected numbers, then checks they stay there (nothing counted twice).
pub async fn wait_for_totals(
    http: &reqwest::Client,
    base: &str,
    clicks: i64,
    pageloads: i64,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    let mut last = Value::Null;
    loop {
        let (status, body) = get(http, &format!("{base}/api/v1/totals")).await;
        if status == 200 {
            let got = (
                body["clicks"].as_i64().unwrap(),
                body["pageloads"].as_i64().unwrap(),
            );
            assert!(
                got.0 <= clicks && got.1 <= pageloads,
                "counted too many: {body} (want {clicks} clicks, {pageloads} page loads)"
            );
            if got == (clicks, pageloads) {
                break;
            }
            last = body;
        }
        assert!(
            Instant::now() < deadline,
            "totals stuck at {last} (want {clicks} clicks, {pageloads} page loads)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, body) = get(http, &format!("{base}/api/v1/totals")).await;
    assert_eq!(
        (body["clicks"].as_i64(), body["pageloads"].as_i64()),
        (Some(clicks), Some(pageloads)),
        "totals moved after settling"
    );
}

/// A click event as the store sends it.
pub fn click(visitor: &str, button: &str, at_ms: i64) -> Value {
    json!({"topic":"edm-ui-click","uuid":visitor,"event_timestamp":at_ms,
           "properties":{"button_id":button,"description":"button click"}})
}

/// A page-load event as the store sends it.
pub fn pageload(visitor: &str, user_agent: &str, at_ms: i64) -> Value {
    json!({"topic":"edm-ui-pageload","uuid":visitor,"event_timestamp":at_ms,
           "properties":{"user_agent":user_agent,"description":"Page loaded","url":"http://localhost:3000"}})
}

/// 2026-11-20T10:00:00Z in epoch milliseconds.
pub const T0: i64 = 1_763_632_800_000;
pub const MINUTE: i64 = 60_000;
pub const DAY: i64 = 86_400_000;
