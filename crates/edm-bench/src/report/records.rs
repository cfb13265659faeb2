//! The JSON files of the bench folder that the report reads, one type each
//! (`edm-bench run` in `src/parts/` writes them). Figures printed as they
//! were written are [`Num`]s; figures only computed with are `f64`s.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::numbers::Num;

/// `machine.json`: the machine as the run started.
#[derive(Deserialize)]
pub struct Machine {
    /// `/proc/loadavg`'s three load averages.
    pub loadavg: String,
    /// When the run started, `2026-12-06T04:25:09Z`.
    pub started: Option<String>,
}

/// `<name>.run<N>.json`: one wrk run (`bench/wrk-report.lua`).
#[derive(Deserialize)]
pub struct WrkRun {
    pub requests: f64,
    pub duration_s: f64,
    pub errors: Num,
    pub non2xx: Num,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl WrkRun {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests / self.duration_s
    }
}

/// `relay-rss.json`, `stats-rss.json`: a service's RSS after its runs.
#[derive(Deserialize)]
pub struct Rss {
    pub rss_kb: f64,
}

/// `stats-produce.json`, `trending-produce.json`: the backlog produced.
#[derive(Deserialize)]
pub struct Produced {
    pub events_per_second: f64,
}

/// `stats-ingest.json`: one edm-stats counting the backlog.
#[derive(Deserialize)]
pub struct Ingest {
    pub events: Num,
    pub seconds: f64,
}

/// `stats-ingest-<k>.json`: k instances counting a backlog together.
#[derive(Deserialize)]
pub struct SharedIngest {
    pub instances: Num,
    pub events: Num,
    pub seconds: f64,
    pub counted: Num,
    /// Events per second from 20 % to 80 % of the backlog counted (runs
    /// before it have none).
    pub steady_events_per_second: Option<f64>,
    /// The most sessions seen waiting on a lock.
    pub lock_waits_max: Option<u64>,
    /// Events counted in the steady span (runs before it have none: their
    /// span was 20 % to 80 % of `events`).
    pub steady_events: Option<f64>,
    /// CPU-seconds the instances spent in the steady span (runs before it
    /// have none).
    pub steady_stats_cpu_seconds: Option<f64>,
    /// CPU-seconds every Postgres process spent in the same span.
    pub steady_postgres_cpu_seconds: Option<f64>,
}

impl SharedIngest {
    /// CPU-milliseconds per 1,000 events counted in the steady span, of
    /// `cpu_seconds` (the instances' or Postgres').
    pub fn steady_cpu_ms_per_1k(&self, cpu_seconds: Option<f64>) -> Option<f64> {
        let events = self.steady_events.unwrap_or(self.events.value() * 0.6);
        cpu_seconds
            .filter(|cpu| *cpu > 0.0 && events > 0.0)
            .map(|cpu| cpu * 1e6 / events)
    }
}

/// `stream-<client>-<clients>x<rate>.json`: one fan-out cell.
#[derive(Deserialize)]
pub struct StreamCell {
    /// `official` or `light`; runs before the light client have none.
    pub client: Option<String>,
    pub clients: Num,
    pub rate: Num,
    pub seconds: Num,
    pub rss_idle_kb: f64,
    pub rss_clients_kb: f64,
    pub cpu_seconds: Option<f64>,
    pub clients_cpu_seconds: Option<f64>,
    pub machine_busy_percent: Option<Num>,
    pub steal_percent: Option<f64>,
}

/// A fan-out cell's RSS with its clients (for the memory table).
#[derive(Deserialize)]
pub struct StreamCellRss {
    pub rss_clients_kb: f64,
}

/// A line of `stream-<client>-<clients>x<rate>-clients.jsonl`: one client
/// process of a fan-out cell.
#[derive(Deserialize)]
pub struct ClientProcess {
    pub deliveries: Num,
    /// Counted by the light client only.
    pub gaps: Option<Num>,
    pub p50_ms: Num,
    pub p99_ms: Num,
    pub max_ms: Num,
}

/// `trending-rate.json` (one instance), `trending-rate-3.json` (three):
/// the window tasks taking a backlog. Runs before issue 28 recorded the
/// first three fields only.
#[derive(Deserialize)]
pub struct TrendingRate {
    pub events: Num,
    pub seconds: f64,
    pub aborted_cycles: f64,
    #[serde(default)]
    pub steady_events_per_second: Option<f64>,
    #[serde(default)]
    pub repartition_records: Option<f64>,
    #[serde(default)]
    pub peak_rss_kb: Option<f64>,
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
}

/// `trending-kafka-streams.json`: Kafka Streams on the same backlog.
#[derive(Deserialize)]
pub struct KafkaStreamsRate {
    pub events: Num,
    pub seconds: f64,
    pub steady_events_per_second: f64,
    pub peak_rss_kb: f64,
}

/// `trending-changelog.json`: the changelog filled for the restore.
#[derive(Deserialize)]
pub struct ChangelogFill {
    pub seconds: f64,
}

/// `trending-restore.json`: edm-trending restoring its window store.
#[derive(Deserialize)]
pub struct Restore {
    pub records: f64,
    pub milliseconds: f64,
    pub rss_kb: f64,
}

/// `trending-delay.json`: `edm-bench trending-delay`.
#[derive(Deserialize)]
pub struct TrendingDelay {
    pub events: f64,
    pub events_per_second: f64,
    pub speedup: Num,
    pub grace_seconds: Num,
    pub windows_received: Num,
    pub windows_missing: Num,
    pub windows_repeated: Num,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// `trending-quiet.json`: `edm-bench trending-quiet`.
#[derive(Deserialize)]
pub struct TrendingQuiet {
    pub clicks: Num,
    pub grace_seconds: Num,
    pub skew_seconds: Num,
    pub result_after_end_ms: f64,
    pub bound_after_end_ms: f64,
}

/// `e2e-<rate>.run<N>.clients.json`: the socket.io client of an end-to-end run.
#[derive(Deserialize)]
pub struct E2eClients {
    pub deliveries: Num,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// `e2e-<rate>.run<N>.post.json`: `edm-bench post` of an end-to-end run.
#[derive(Deserialize)]
pub struct E2ePost {
    pub accepted: Num,
    pub achieved_rate: f64,
    pub http_p99_ms: f64,
    pub behind_max_ms: f64,
}

/// `e2e-<rate>.run<N>.cpu.json`: the CPU seconds each service used.
#[derive(Deserialize)]
pub struct ServiceCpu {
    #[serde(rename = "edm-relay")]
    pub relay: f64,
    #[serde(rename = "edm-stream")]
    pub stream: f64,
    #[serde(rename = "edm-stats")]
    pub stats: f64,
    /// How long they were measured.
    pub seconds: Num,
    pub stream_client_drops: Option<Num>,
}

/// `e2e-<rate>.run<N>.stats-lag.json`: `edm-bench stats-lag`.
#[derive(Deserialize)]
pub struct StatsLag {
    pub probes: Num,
    pub lost: Num,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// `startup-<service>.json`: five starts of a service.
#[derive(Deserialize)]
pub struct Startup {
    pub ready_ms: Vec<Num>,
}

/// `memory-idle.json`, `memory-peak.json`: RSS in KiB per service, in the
/// file's order.
pub struct MemoryByService(pub Vec<(String, f64)>);

impl MemoryByService {
    /// The RSS of `service`, if the file has it.
    pub fn get(&self, service: &str) -> Option<f64> {
        self.0
            .iter()
            .find(|(name, _)| name == service)
            .map(|&(_, kb)| kb)
    }
}

impl<'de> Deserialize<'de> for MemoryByService {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(InFileOrder)
    }
}

/// Reads a JSON object's entries in the order they are written.
struct InFileOrder;

impl<'de> Visitor<'de> for InFileOrder {
    type Value = MemoryByService;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of KiB per service")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries: Vec<(String, f64)> = Vec::new();
        while let Some((name, kb)) = map.next_entry::<String, f64>()? {
            // A repeated name keeps its first place and its last value.
            match entries.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 = kb,
                None => entries.push((name, kb)),
            }
        }
        Ok(MemoryByService(entries))
    }
}
