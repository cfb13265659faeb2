//! The relay part: wrk against the single and batch endpoints (one load
//! generator is one client, so the per-client limits are lifted), and the
//! relay's memory after.

use super::proc_stats::rss_kb;
use super::{log, Bench};

/// The settings that lift the relay's per-client limits for one load
/// generator (the stack uses them too).
pub const TUNING: [(&str, &str); 3] = [
    ("EDM_RELAY_RATE_LIMIT_PER_SECOND", "0"),
    ("EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0"),
    ("EDM_RELAY_MAX_IN_FLIGHT_PER_CLIENT", "1024"),
];

pub fn run(bench: &Bench) -> anyhow::Result<()> {
    let prefix = bench.prefix()?;
    let env = bench
        .kafka_env(&prefix)
        .into_iter()
        .chain(TUNING.map(|(k, v)| (k.into(), v.into())));
    let (relay, _) = bench.start("edm-relay", 5900, env)?;
    log("relay: single events");
    bench.wrk_runs("relay-single", &relay.url(), "bench/relay-single.lua")?;
    log("relay: batches of 100");
    bench.wrk_runs("relay-batch", &relay.url(), "bench/relay-batch.lua")?;
    let rss = relay.pid().map_or(0, rss_kb);
    bench.write("relay-rss.json", &serde_json::json!({ "rss_kb": rss }))
}
