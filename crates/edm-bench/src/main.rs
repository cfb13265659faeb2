//! Load generators for `./edm bench`. Every run is repeatable: events come
//! from a fixed-seed generator (20 buttons, 1000 visitors). Each command
//! prints one JSON line of results.
//!
//! - `edm-bench produce <click|pageload> <count> [events-per-second]`:
//!   straight to Kafka ([`produce`]); reads KAFKA_URL / KAFKA_PREFIX.
//! - `edm-bench post <relay-url> <events-per-second> <seconds> [warm-up-seconds]`:
//!   single events to the relay over HTTP at a fixed rate ([`post`]).
//! - `edm-bench stats-lag <relay-url> <stats-url> <probes> <every-ms>`:
//!   how long until edm-stats' API counts an event the relay accepted
//!   ([`stats_lag`]).
//! - `edm-bench kafka-bytes <click|pageload> <codec> <events-per-batch> <events>`:
//!   bytes per event sent to Kafka with a codec and batch size
//!   ([`kafka_bytes`]).
//! - `edm-bench changelog <count>`: fills edm-trending's changelog topic
//!   with that many records, for timing a restore ([`changelog`]).
//! - `edm-bench trending-delay <events-per-second> <seconds> <speedup> <grace-seconds>`:
//!   how long after the click that closes a window its result is readable
//!   from `edm-trending` ([`trending_delay`]).
//! - `edm-bench trending-quiet <clicks> <grace-seconds> <skew-seconds>`: on a
//!   quiet store, how long after a window's end its result is readable
//!   ([`trending_quiet`]).
//! - `edm-bench fanout <stream-url> <clients> <seconds> [--histogram]`:
//!   Socket.io clients on edm-stream, timing every event they get
//!   ([`fanout`]).
//! - `edm-bench run <part> <out-dir>`: a part of `./edm bench` (relay,
//!   stats, stream, trending, stack or all): starts the services, drives
//!   them with the commands above and writes the figures as JSON
//!   ([`parts`]).
//! - `edm-bench report <bench-dir> <benchmarks.md> [part]`: renders those
//!   figures into docs/benchmarks.md, rewriting only the part's sections
//!   ([`report`]).
//! - `edm-bench capacity [bench-dir] [--write <scaling.md>]`: the capacity
//!   model of docs/scaling.md, from those figures ([`capacity`]).

mod capacity;
mod changelog;
mod fanout;
mod kafka_bytes;
mod parts;
mod post;
mod produce;
mod report;
mod stats_lag;
mod trending_delay;
mod trending_quiet;

const USAGE: &str = "usage: edm-bench produce <click|pageload> <count> [events-per-second]
       edm-bench post <relay-url> <events-per-second> <seconds> [warm-up-seconds]
       edm-bench stats-lag <relay-url> <stats-url> <probes> <every-ms>
       edm-bench kafka-bytes <click|pageload> <codec> <events-per-batch> <events>
       edm-bench changelog <count>
       edm-bench trending-delay <events-per-second> <seconds> <speedup> <grace-seconds>
       edm-bench trending-quiet <clicks> <grace-seconds> <skew-seconds>
       edm-bench fanout <stream-url> <clients> <seconds> [--histogram]
       edm-bench run <relay|stats|stream|trending|stack|scale|all> <out-dir>
       edm-bench report <bench-dir> <benchmarks.md> [relay|stats|stream|trending|stack|scale|all]
       edm-bench capacity [bench-dir] [--write <scaling.md>]";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // The parts run processes and wait for them, the report and the
    // capacity model read files: no async runtime.
    match args.get(1).map(String::as_str) {
        Some("run") => return parts::run(&args),
        Some("report") => return report::run(&args),
        Some("capacity") => return capacity::run(&args),
        Some("kafka-bytes") => return kafka_bytes::run(&args),
        _ => {}
    }
    // The fan-out clients run on one thread, as a browser's or node's
    // clients do: a process is one client machine, and a second thread
    // would cost them wake-ups across threads for every message.
    let runtime = if args.get(1).map(String::as_str) == Some("fanout") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()?;
    runtime.block_on(run(&args))
}

async fn run(args: &[String]) -> anyhow::Result<()> {
    match args.get(1).map(String::as_str) {
        Some("produce") => produce::run(args).await,
        Some("post") => post::run(args).await,
        Some("stats-lag") => stats_lag::run(args).await,
        Some("changelog") => changelog::run(args).await,
        Some("trending-delay") => trending_delay::run(args).await,
        Some("trending-quiet") => trending_quiet::run(args).await,
        Some("fanout") => fanout::run(args).await,
        _ => anyhow::bail!(USAGE),
    }
}

/// The value at percentile `p` (0–100) of `sorted` (nearest rank), or 0.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Argument `index` parsed as `T`, or the usage text as the error.
pub fn arg<T: std::str::FromStr>(args: &[String], index: usize) -> anyhow::Result<T> {
    args.get(index)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| anyhow::anyhow!(USAGE))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }
}
