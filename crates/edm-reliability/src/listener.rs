//! The official Socket.io client (`listen.mjs`, socket.io-client from npm)
//! connected to edm-stream in a child process, reconnecting when the
//! service restarts, with the arrival time of every event id it printed,
//! the positions it arrived at, and how often.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edm_testkit::infra::workspace_root;

/// A connected official client.
pub struct Listener {
    child: Child,
    arrivals: Arc<Mutex<HashMap<String, Arrival>>>,
}

/// When an event id first arrived, how many times in all, and at which
/// positions (`edm-ui-click/0/1234`).
#[derive(Debug, Clone)]
struct Arrival {
    first: Instant,
    times: u64,
    positions: HashSet<String>,
}

impl Listener {
    /// Connects to the stream at `url` and waits (at most 20 s) until the
    /// client says it is connected.
    pub fn connect(url: &str) -> Self {
        let script = workspace_root().join("crates/edm-reliability/listen.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg(url)
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let arrivals = Arc::new(Mutex::new(HashMap::new()));
        let (connected, on_connect) = std::sync::mpsc::channel();
        let seen = arrivals.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if line == "CONNECTED" {
                    let _ = connected.send(());
                } else {
                    let (id, position) = line.split_once(' ').unwrap_or((&line, ""));
                    let mut seen = seen.lock().unwrap();
                    let arrival = seen.entry(id.to_owned()).or_insert_with(|| Arrival {
                        first: Instant::now(),
                        times: 0,
                        positions: HashSet::new(),
                    });
                    arrival.times += 1;
                    arrival.positions.insert(position.to_owned());
                }
            }
        });
        on_connect
            .recv_timeout(Duration::from_secs(20))
            .expect("the Socket.io client connected");
        Self { child, arrivals }
    }

    /// When the event with `event_id` first arrived, if it did.
    pub fn arrived(&self, event_id: &str) -> Option<Instant> {
        self.arrivals
            .lock()
            .unwrap()
            .get(event_id)
            .map(|arrival| arrival.first)
    }

    /// Every event id received so far.
    pub fn event_ids(&self) -> Vec<String> {
        self.arrivals.lock().unwrap().keys().cloned().collect()
    }

    /// Arrivals of an event id after its first one, all ids together: the
    /// same event received again, from the same record or another one.
    pub fn repeats(&self) -> u64 {
        self.arrivals
            .lock()
            .unwrap()
            .values()
            .map(|arrival| arrival.times - 1)
            .sum()
    }

    /// Arrivals of a record (a position) after its first one: what the
    /// stream sent twice, where an id at two positions is a record Kafka
    /// holds twice (a retried write).
    pub fn repeated_records(&self) -> u64 {
        self.arrivals
            .lock()
            .unwrap()
            .values()
            .map(|arrival| arrival.times - arrival.positions.len() as u64)
            .sum()
    }

    /// Disconnects the client (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
