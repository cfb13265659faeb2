//! What the attack suite (`tests/reliability/attacks.rs`) uses and measures: sockets
//! from chosen loopback addresses (any 127.x.y.z works, so each attacker
//! and the well-behaved client are different clients to the service), the
//! well-behaved client's latencies, and the table of results.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpSocket, TcpStream};

/// The well-behaved client's address; attackers use others.
pub const WELL_BEHAVED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// `count` attacker addresses 127.`block`.0.1, 127.`block`.0.2, …
pub fn attacker_addresses(block: u8, count: usize) -> Vec<Ipv4Addr> {
    (0..count)
        .map(|i| Ipv4Addr::new(127, block, (i / 250) as u8, (i % 250 + 1) as u8))
        .collect()
}

/// A TCP connection to `to` from the loopback address `from`.
pub async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

/// An HTTP client whose connections come from `from`.
pub fn http_client_from(from: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(from))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// What the well-behaved client saw while an attack ran.
#[derive(Debug, Default, Clone)]
pub struct WellBehavedRecord {
    /// How long each successful request took.
    pub latencies: Vec<Duration>,
    /// Requests that failed, with why (the first few).
    pub failures: Vec<String>,
    /// How many requests failed.
    pub failed: usize,
}

impl WellBehavedRecord {
    /// Records one request.
    pub fn record(&mut self, result: Result<Duration, String>) {
        match result {
            Ok(latency) => self.latencies.push(latency),
            Err(why) => {
                self.failed += 1;
                if self.failures.len() < 5 {
                    self.failures.push(why);
                }
            }
        }
    }

    /// Requests made.
    pub fn requests(&self) -> usize {
        self.latencies.len() + self.failed
    }

    /// The 99th percentile of the successful requests' latencies.
    pub fn p99(&self) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        sorted[(sorted.len() * 99).div_ceil(100) - 1]
    }
}

/// Runs `request` every `interval` until `stop` is set; each call says how
/// it went (`Err` with why when it failed). Returns the record.
pub async fn keep_requesting<F, Fut>(
    interval: Duration,
    stop: Arc<AtomicBool>,
    mut request: F,
) -> WellBehavedRecord
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut record = WellBehavedRecord::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let started = Instant::now();
        record.record(request().await.map(|()| started.elapsed()));
    }
    record
}

/// One attack's result.
#[derive(Debug, Clone)]
pub struct AttackResult {
    /// The service attacked.
    pub service: &'static str,
    /// What the attackers did.
    pub attack: String,
    /// What the service did about it, as measured.
    pub effect: String,
    /// The well-behaved client meanwhile.
    pub well_behaved: WellBehavedRecord,
    /// The service's peak resident memory over the attack, MiB.
    pub peak_rss_mib: f64,
}

/// The memory bound every service must stay under during any attack.
pub const PEAK_RSS_BOUND_MIB: f64 = 256.0;

impl AttackResult {
    /// Whether the well-behaved client was always served and memory
    /// stayed under [`PEAK_RSS_BOUND_MIB`].
    pub fn held(&self) -> bool {
        self.well_behaved.failed == 0
            && self.well_behaved.requests() > 0
            && self.peak_rss_mib < PEAK_RSS_BOUND_MIB
    }
}

/// The results as a Markdown table.
pub fn markdown_table(results: &[AttackResult]) -> String {
    let mut table = String::from(
        "| service | attack | what the service did | well-behaved client: ok / requests | its p99 | peak RSS |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in results {
        table.push_str(&format!(
            "| {} | {} | {} | {} / {} | {:.0} ms | {:.0} MiB |\n",
            r.service,
            r.attack,
            r.effect,
            r.well_behaved.latencies.len(),
            r.well_behaved.requests(),
            r.well_behaved.p99().as_secs_f64() * 1000.0,
            r.peak_rss_mib,
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_value_under_which_99_percent_fall() {
        let mut record = WellBehavedRecord::default();
        for ms in 1..=200 {
            record.record(Ok(Duration::from_millis(ms)));
        }
        record.record(Err("refused".into()));
        assert_eq!(record.p99(), Duration::from_millis(198));
        assert_eq!(record.requests(), 201);
        assert_eq!(record.failed, 1);
    }

    #[test]
    fn attacker_addresses_are_distinct_and_never_the_well_behaved_one() {
        let addresses = attacker_addresses(3, 600);
        let distinct: std::collections::HashSet<_> = addresses.iter().collect();
        assert_eq!(distinct.len(), 600);
        assert!(!addresses.contains(&WELL_BEHAVED));
    }
}
