//! The pieces a fault run starts and breaks: a three-broker Kafka cluster
//! (via `./edm cluster`, on its own ports and folder) and service processes
//! (the workspace's debug binaries), each restartable with the same
//! configuration.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use edm_testkit::infra;
use edm_tool::launcher::{Launch, Launched};

/// A port below Linux's ephemeral range (32768 and up) that is free on
/// every address: the attack suite opens tens of thousands of connections,
/// whose local ports would otherwise collide with a service's port.
fn free_port() -> u16 {
    loop {
        let random = u16::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..2].try_into().unwrap());
        let port = 20_000 + random % 12_000;
        if TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

/// Three port bases b, b+20, b+40 such that b+1..=b+3 (plaintext), the
/// same above b+20 (TLS) and b+40 (controllers) are all free.
fn free_block() -> [u16; 3] {
    loop {
        let random = u16::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..2].try_into().unwrap());
        let base = 30_000 + random % 30_000;
        let ports = (0..3).flat_map(|i| (1..=3).map(move |n| base + 20 * i + n));
        if ports
            .clone()
            .all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        {
            return [base, base + 20, base + 40];
        }
    }
}

/// Three brokers, replication factor 3, `min.insync.replicas=2`.
pub struct Cluster {
    state_dir: PathBuf,
    bases: [u16; 3],
}

impl Cluster {
    /// Starts the cluster and waits until its brokers listen.
    pub fn start() -> Self {
        let cluster = Self {
            state_dir: std::env::temp_dir()
                .join(format!("edm-faults-{}", uuid::Uuid::new_v4().simple())),
            bases: free_block(),
        };
        cluster.edm(&["up"]);
        cluster
    }

    /// `host:port,…` of the plaintext listeners.
    pub fn bootstrap(&self) -> String {
        (1..=3)
            .map(|n| format!("127.0.0.1:{}", self.bases[0] + n))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// SIGKILLs broker `n` (1–3).
    pub fn kill(&self, n: u8) {
        self.edm(&["kill", &n.to_string()]);
    }

    /// Starts broker `n` again.
    pub fn start_broker(&self, n: u8) {
        self.edm(&["start", &n.to_string()]);
    }

    fn edm(&self, args: &[&str]) {
        let status = Command::new(infra::workspace_root().join("edm"))
            .arg("cluster")
            .args(args)
            .env("EDM_STATE_DIR", &self.state_dir)
            .env("EDM_CERTS", infra::var("EDM_TEST_CERTS_DIR"))
            .env("EDM_KAFKA_LIBS", infra::var("EDM_TEST_KAFKA_LIBS"))
            .env("EDM_CLUSTER_PORT_BASE", self.bases[0].to_string())
            .env("EDM_CLUSTER_TLS_PORT_BASE", self.bases[1].to_string())
            .env(
                "EDM_CLUSTER_CONTROLLER_PORT_BASE",
                self.bases[2].to_string(),
            )
            .env("EDM_KAFKA_HEAP", "256m")
            .status()
            .expect("./edm runs");
        assert!(status.success(), "./edm cluster {args:?} failed");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in 1..=3u8 {
            let pid = self.state_dir.join(format!("kafka/cluster/broker-{n}/pid"));
            if let Ok(pid) = std::fs::read_to_string(pid) {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// Where the workspace's debug binaries are (next to this test's `deps`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join(name)
}

/// Builds the service binaries this harness runs, in the profile (debug
/// or release) the harness itself was built in, as `cargo test
/// --workspace` builds them: the same command, so that under `./edm test`
/// (which has just run it) nothing is compiled again. A narrower `cargo
/// build -p …` unifies dependency features differently and rebuilt every
/// service, 18 s of each CI run.
pub fn build_services() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let release = binary("").components().any(|c| c.as_os_str() == "release");
    let mut args = vec!["test", "--workspace", "--no-run"];
    if release {
        args.push("--release");
    }
    let status = Command::new(cargo)
        .args(&args)
        .current_dir(infra::workspace_root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the services failed");
}

/// A service process with a fixed port and environment, restartable with
/// the same configuration; started by the one launcher
/// ([`edm_tool::launcher`]).
pub struct Service {
    /// Binary name, e.g. `edm-relay`.
    pub name: &'static str,
    /// Its HTTP port.
    pub port: u16,
    env: HashMap<String, String>,
    launched: Option<Launched>,
}

impl Service {
    /// A service on a free port with `env` (PORT is added).
    pub fn new(name: &'static str, env: HashMap<String, String>) -> Self {
        Self {
            name,
            port: free_port(),
            env,
            launched: None,
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the process's log goes.
    pub fn log_path(&self) -> PathBuf {
        std::env::temp_dir().join(format!("edm-reliability-{}-{}.log", self.name, self.port))
    }

    fn launch(&mut self) -> &mut Launched {
        let launched = Launch::new(binary(self.name), self.log_path())
            .env("RUST_LOG", "warn")
            .envs(self.env.clone())
            .env("PORT", self.port.to_string())
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        self.launched.insert(launched)
    }

    /// Starts it and waits up to `within` for it to exit on its own (a
    /// service that must refuse to run); its exit status, or `None` if it
    /// is still running then.
    pub async fn run_until_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let launched = self.launch();
        let status = tokio::task::block_in_place(|| launched.wait_exit(within));
        if status.is_some() {
            self.launched = None;
        }
        status
    }

    /// Starts it and waits until `/ready` answers 200 (at most `within`).
    pub async fn start(&mut self, within: Duration) -> Duration {
        let launched = self.launch();
        tokio::task::block_in_place(|| launched.wait_ready(within))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.launched.as_ref().and_then(Launched::pid)
    }

    /// The most memory the running process has held so far (its peak
    /// resident set, `VmHWM`), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }

    /// SIGTERM, as Heroku sends before replacing a dyno, and waits until
    /// the process has exited.
    pub fn stop(&mut self) {
        if let Some(mut launched) = self.launched.take() {
            launched.stop();
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut launched) = self.launched.take() {
            launched.kill();
        }
    }
}
