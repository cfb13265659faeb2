//! The relay part: wrk against the single and batch endpoints (one load
//! generator is one client, so the per-client limits are lifted), the
//! relay's memory after, and the bytes each event costs in Kafka by codec
//! and batch size (`edm-bench kafka-bytes`).

use super::proc_stats::{cpu_ticks, rss_kb, ticks_to_seconds};
use edm_tool::launcher::Launched;

use super::{log, Bench};

/// The settings that lift the relay's per-client limits for one load
/// generator (the stack uses them too).
pub const TUNING: [(&str, &str); 3] = [
    ("EDM_RELAY_RATE_LIMIT_PER_SECOND", "0"),
    ("EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0"),
    ("EDM_RELAY_MAX_IN_FLIGHT_PER_CLIENT", "1024"),
];

/// A relay for one load generator on topics under `prefix`, producing
/// with `codec` (the default when `None`).
fn start_relay(
    bench: &Bench,
    prefix: &str,
    codec: Option<edm_config::Compression>,
) -> anyhow::Result<Launched> {
    let env = bench
        .kafka_env(prefix)
        .into_iter()
        .chain(TUNING.map(|(k, v)| (k.into(), v.into())))
        .chain(codec.map(|c| ("EDM_KAFKA_COMPRESSION".into(), c.name().into())));
    Ok(bench.start("edm-relay", 5900, env)?.0)
}

pub fn run(bench: &Bench) -> anyhow::Result<()> {
    let prefix = bench.prefix()?;
    let relay = start_relay(bench, &prefix, None)?;
    log("relay: single events");
    bench.wrk_runs("relay-single", &relay.url(), "bench/relay-single.lua")?;
    log("relay: batches of 100");
    bench.wrk_runs("relay-batch", &relay.url(), "bench/relay-batch.lua")?;
    let rss = relay.pid().map_or(0, rss_kb);
    bench.write("relay-rss.json", &serde_json::json!({ "rss_kb": rss }))?;
    drop(relay);
    codec_cost(bench, &prefix)?;
    kafka_bytes(bench, &prefix)
}

/// The codecs whose cost to the relay is measured: none, the default and
/// the one that saves most bytes.
const CODECS_COSTED: [edm_config::Compression; 3] = [
    edm_config::Compression::None,
    edm_config::Compression::Lz4,
    edm_config::Compression::Zstd,
];

/// For each of [`CODECS_COSTED`], in one run: a relay producing with it,
/// wrk against its batch endpoint (5 s warm-up, one 15 s run), and the
/// relay's CPU time per 1,000 accepted events, which does not count the
/// broker's work (on Heroku that is the plan's, not the dyno's).
fn codec_cost(bench: &Bench, prefix: &str) -> anyhow::Result<()> {
    log("relay: its CPU per event by codec (batches of 100)");
    let mut rows = Vec::new();
    for codec in CODECS_COSTED {
        let relay = start_relay(bench, prefix, Some(codec))?;
        let pid = relay.pid().unwrap_or_default();
        let name = format!("relay-codec-{}", codec.name());
        let (run, ticks) = bench.wrk_timed(&name, &relay.url(), "bench/relay-batch.lua", || {
            cpu_ticks(pid)
        })?;
        let events = run.requests * 100.0;
        rows.push(serde_json::json!({
            "codec": codec.name(),
            "events_per_second": (events / run.duration_s).round(),
            "cpu_ms_per_1k": (ticks_to_seconds(ticks) * 1e6 / events * 100.0).round() / 100.0,
        }));
    }
    bench.write(crate::report::kafka::CODEC_COST_FILE, &rows)
}

/// Events per record batch the Kafka bytes are measured at.
const EVENTS_PER_BATCH: [u64; 4] = [1, 10, 100, 1000];

fn kafka_bytes(bench: &Bench, prefix: &str) -> anyhow::Result<()> {
    log("relay: Kafka bytes per event, by codec and events per batch");
    let mut rows = Vec::new();
    for kind in ["click", "pageload"] {
        for per_batch in EVENTS_PER_BATCH {
            let events = (per_batch * 20).max(2000).to_string();
            for codec in edm_config::Compression::ALL {
                let per_batch = per_batch.to_string();
                let args = ["kafka-bytes", kind, codec.name(), &per_batch, &events];
                let line = bench.tool(&args, bench.kafka_env(prefix))?;
                rows.push(serde_json::from_str::<serde_json::Value>(&line)?);
            }
        }
    }
    bench.write(crate::report::kafka::FILE, &rows)
}
