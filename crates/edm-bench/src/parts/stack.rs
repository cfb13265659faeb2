//! The stack part: every service of topology.json on ports 5910, 5911, …
//! (clear of `./edm run`'s), wired as edm-config wires them
//! ([`edm_tool::local_env`]) with the load generators' limits lifted.
//! Start-up to ready (five times per service, after one unmeasured start
//! that applies edm-stats' migrations), memory idle and at its peak,
//! end-to-end latency relay -> Socket.io client at 100, 1,000 and 10,000
//! events/s (`EDM_BENCH_E2E_RATES`) with stats-lag probes alongside, and
//! the store's and dashboard's pages under wrk.

use std::collections::BTreeMap;
use std::time::Duration;

use edm_config::topology::topology;
use edm_config::wiring::ThisMachine;
use edm_config::MapEnv;
use edm_tool::launcher::Launched;

use super::proc_stats::{cpu_ticks, peak_rss_kb, rss_kb, ticks_to_seconds};
use super::{log, relay, stream, Bench, LineClient};

/// Seconds of warm-up and of measurement in each end-to-end run.
const WARM: u32 = 3;
const SECONDS: u32 = 10;

/// Each service's port and environment in the stack.
struct Stack {
    ports: BTreeMap<String, u16>,
    env: BTreeMap<String, Vec<(String, String)>>,
}

impl Stack {
    fn new(bench: &Bench, prefix: &str, database_url: &str) -> anyhow::Result<Self> {
        let services = &topology().services;
        let ports: BTreeMap<String, u16> = services
            .iter()
            .zip(5910..)
            .map(|(s, port)| (s.name.clone(), port))
            .collect();
        let mut machine = MapEnv::default()
            .with("KAFKA_URL", format!("kafka://{}", bench.kafka_url()))
            .with("KAFKA_PREFIX", prefix)
            .with("DATABASE_URL", database_url);
        for s in services {
            machine = machine.with(&ThisMachine::port_variable(s), ports[&s.name].to_string());
        }
        let mut env = BTreeMap::new();
        for s in services {
            let mut vars: Vec<(String, String)> =
                edm_tool::local_env::service_env(&s.name, &machine)?
                    .into_iter()
                    .collect();
            match s.name.as_str() {
                "edm-relay" => {
                    vars.extend(relay::TUNING.map(|(k, v)| (k.to_owned(), v.to_owned())))
                }
                "edm-stream" => vars.extend(stream::tuning()),
                _ => {}
            }
            env.insert(s.name.clone(), vars);
        }
        Ok(Self { ports, env })
    }

    fn start(&self, bench: &Bench, service: &str) -> anyhow::Result<(Launched, Duration)> {
        bench.start(service, self.ports[service], self.env[service].clone())
    }

    /// The services, in topology.json's order.
    fn services(&self) -> impl Iterator<Item = &str> {
        topology().services.iter().map(|s| s.name.as_str())
    }

    fn url(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.ports[service])
    }
}

pub fn run(bench: &Bench) -> anyhow::Result<()> {
    let prefix = bench.prefix()?;
    let db = bench.database(&format!("bench_stack_{}", std::process::id()))?;
    let stack = Stack::new(bench, &prefix, &db.url())?;

    log("stack: start-up to ready (broker and Postgres up)");
    for service in stack.services() {
        let mut ready_ms = Vec::new();
        for run in 0..6 {
            let (mut launched, took) = stack.start(bench, service)?;
            if run > 0 {
                ready_ms.push(took.as_millis() as u64);
            }
            launched.stop();
        }
        log(format!("start-up of {service}: {ready_ms:?} ms"));
        bench.write(
            &format!("startup-{service}.json"),
            &serde_json::json!({ "service": service, "ready_ms": ready_ms }),
        )?;
    }

    log("stack: all services, idle");
    let mut running = BTreeMap::new();
    for service in stack.services() {
        running.insert(service.to_owned(), stack.start(bench, service)?.0);
    }
    std::thread::sleep(Duration::from_secs(10));
    let memory = |of: fn(u32) -> u64| -> BTreeMap<&String, u64> {
        running
            .iter()
            .map(|(name, l)| (name, l.pid().map_or(0, of)))
            .collect()
    };
    bench.write("memory-idle.json", &memory(rss_kb))?;

    let rates = std::env::var("EDM_BENCH_E2E_RATES").unwrap_or_else(|_| "100 1000 10000".into());
    for rate in rates.split_whitespace() {
        for run in 1..=3 {
            end_to_end(bench, &stack, &running, rate, run)?;
        }
    }

    log("stack: store and dashboard pages under wrk");
    bench.wrk_runs(
        "ui-page",
        &format!("{}/", stack.url("edm-ui")),
        "bench/get.lua",
    )?;
    bench.wrk_runs(
        "dashboard-page",
        &format!("{}/", stack.url("edm-dashboard")),
        "bench/get.lua",
    )?;
    bench.write("memory-peak.json", &memory(peak_rss_kb))?;
    for launched in running.values_mut() {
        launched.stop();
    }
    Ok(())
}

/// One client on edm-stream, the relay posted to at `rate` events/s
/// ([`WARM`] s of warm-up, [`SECONDS`] measured), stats-lag probes
/// alongside; the CPU each service used meanwhile.
fn end_to_end(
    bench: &Bench,
    stack: &Stack,
    running: &BTreeMap<String, Launched>,
    rate: &str,
    run: u32,
) -> anyhow::Result<()> {
    let out = format!("e2e-{rate}.run{run}");
    let mut client = bench.node_fanout();
    client.args([
        &stack.url("edm-stream"),
        "1",
        &(WARM + SECONDS + 4).to_string(),
        "--histogram",
    ]);
    let client = LineClient::start(client)?;
    let measured = ["edm-relay", "edm-stream", "edm-stats"];
    let pid = |name: &str| running[name].pid().unwrap_or_default();
    let cpu0: Vec<u64> = measured.iter().map(|n| cpu_ticks(pid(n))).collect();
    let drops = || running["edm-stream"].metric("edm_stream_client_drops_total") as u64;
    let drops0 = drops();
    let (relay_url, stats_url) = (stack.url("edm-relay"), stack.url("edm-stats"));
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let prober = scope.spawn(|| -> anyhow::Result<()> {
            std::thread::sleep(Duration::from_secs(WARM.into()));
            let probes = (SECONDS * 2 - 2).to_string();
            let lag = bench.tool(
                &["stats-lag", &relay_url, &stats_url, &probes, "500"],
                super::NO_ENV,
            )?;
            bench.write_text(&format!("{out}.stats-lag.json"), &lag)
        });
        let args = [
            "post",
            &relay_url,
            rate,
            &SECONDS.to_string(),
            &WARM.to_string(),
        ];
        let posted = bench.tool(&args, super::NO_ENV)?;
        bench.write_text(&format!("{out}.post.json"), &posted)?;
        prober
            .join()
            .map_err(|_| anyhow::anyhow!("the stats-lag prober panicked"))?
    })?;
    let mut cpu = serde_json::Map::new();
    for (name, before) in measured.iter().zip(cpu0) {
        cpu.insert(
            (*name).into(),
            ticks_to_seconds(cpu_ticks(pid(name)) - before).into(),
        );
    }
    cpu.insert("stream_client_drops".into(), (drops() - drops0).into());
    cpu.insert("seconds".into(), (WARM + SECONDS).into());
    bench.write(&format!("{out}.cpu.json"), &cpu)?;
    let line = client.finish()?;
    bench.write_text(&format!("{out}.clients.json"), &line)?;
    let figures: serde_json::Value = serde_json::from_str(&line)?;
    log(format!(
        "e2e at {rate}/s, run {run}: p50 {} ms, p99 {} ms, max {} ms, {} deliveries",
        figures["p50_ms"], figures["p99_ms"], figures["max_ms"], figures["deliveries"]
    ));
    Ok(())
}
