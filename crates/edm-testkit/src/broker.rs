//! A spare Kafka broker that one test owns, so it can stop, kill and
//! restart it without disturbing the shared broker other tests use. It is
//! started by `./edm kafka up` with its own ports and state folder; or, for
//! the deploy rehearsal, by `./edm heroku-kafka up`: shaped like a basic
//! Apache Kafka on Heroku plan (the Kafka version Heroku runs, TLS with
//! client certificates, ACLs that allow one prefix only).

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use crate::infra;

/// A single real broker on free ports, removed when dropped.
pub struct SpareBroker {
    /// `kafka` or `heroku-kafka`: the `./edm` command that runs it.
    kind: &'static str,
    state_dir: PathBuf,
    plain_port: u16,
    tls_port: u16,
    controller_port: u16,
}

/// Where [`free_port`] looks: below the kernel's ephemeral range
/// (32768-60999 on Linux), above the fixed ports of `./edm infra` (19092,
/// 15432) and below its cluster's (29090 and up).
const PORT_RANGE: std::ops::Range<u16> = 20_000..29_000;

/// A TCP port that was free a moment ago and that this process has not
/// handed out before. It is taken outside the ephemeral range: the outgoing
/// connections of a broker, Postgres or a client get ports from that range,
/// and one could take a port picked there before the test's server binds
/// it (a fresh-clone CI run saw `./edm run` fail so).
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let span = u32::from(PORT_RANGE.end - PORT_RANGE.start);
    let start = uuid::Uuid::new_v4().as_u128() as u32 % span;
    (0..span)
        .map(|i| PORT_RANGE.start + ((start + i) % span) as u16)
        .find(|port| !handed_out.contains(port) && TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .inspect(|port| handed_out.push(*port))
        .expect("a free port between 20000 and 29000")
}

impl SpareBroker {
    /// Starts a new broker and waits until it listens.
    pub async fn start() -> Self {
        Self::start_kind("kafka").await
    }

    /// Starts a broker shaped like a basic Apache Kafka on Heroku plan; see
    /// [`SpareBroker::provision`] and [`SpareBroker::heroku_env`].
    pub async fn start_heroku_shaped() -> Self {
        Self::start_kind("heroku-kafka").await
    }

    async fn start_kind(kind: &'static str) -> Self {
        let broker = Self {
            kind,
            state_dir: std::env::temp_dir()
                .join(format!("edm-spare-{}", uuid::Uuid::new_v4().simple())),
            plain_port: free_port(),
            tls_port: free_port(),
            controller_port: free_port(),
        };
        broker.edm("up").await;
        broker
    }

    /// `host:port` of its plaintext listener.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.plain_port)
    }

    /// On a Heroku-shaped broker: creates the topology's topics under
    /// `prefix` and lets the test client certificate use only names that
    /// start with it, as a basic plan does for an app's `KAFKA_PREFIX`.
    pub async fn provision(&self, prefix: &str) {
        let mut cmd = self.command("provision");
        cmd.arg(prefix);
        Self::run(cmd, "provision").await;
    }

    /// As [`SpareBroker::provision`], but without rights on transactional
    /// ids: a plan that does not grant them (Heroku documents them for
    /// dedicated plans only).
    pub async fn provision_without_transactional_ids(&self, prefix: &str) {
        let mut cmd = self.command("provision");
        cmd.args([prefix, "no-transactional-ids"]);
        Self::run(cmd, "provision").await;
    }

    /// The Kafka config vars Heroku gives an app: the TLS listener as
    /// `kafka+ssl://`, the CA and the client certificate and key as PEM
    /// text, and `KAFKA_PREFIX`.
    pub fn heroku_env(&self, prefix: &str) -> HashMap<String, String> {
        let url = format!("kafka+ssl://127.0.0.1:{}", self.tls_port);
        infra::tls_env_at(&url, prefix).0
    }

    /// Stops it gracefully (SIGTERM) and waits until it is gone.
    pub async fn stop(&self) {
        self.edm("down").await;
    }

    /// Kills it with SIGKILL, like a crashed machine.
    pub async fn kill(&self) {
        self.edm("kill").await;
    }

    /// Freezes it (SIGSTOP): its connections stay open and nothing
    /// answers, as a hung broker or a network partition looks to clients.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen broker go on (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, signal: &str) {
        let kind_dir = if self.kind == "heroku-kafka" {
            "heroku"
        } else {
            "single"
        };
        let pid_file = self.state_dir.join("kafka").join(kind_dir).join("pid");
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("the broker's pid in {}: {e}", pid_file.display()));
        let status = Command::new("kill")
            .args([&format!("-{signal}"), pid.trim()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {}", pid.trim());
    }

    /// Starts it again on the same ports with the same data.
    pub async fn restart(&self) {
        self.edm("up").await;
    }

    fn command(&self, action: &str) -> Command {
        let mut cmd = Command::new(infra::workspace_root().join("edm"));
        cmd.args([self.kind, action])
            .env("EDM_STATE_DIR", &self.state_dir)
            .env("EDM_CERTS", infra::var("EDM_TEST_CERTS_DIR"))
            .env("EDM_KAFKA_LIBS", infra::var("EDM_TEST_KAFKA_LIBS"))
            .env("EDM_KAFKA_PORT", self.plain_port.to_string())
            .env("EDM_KAFKA_TLS_PORT", self.tls_port.to_string())
            .env(
                "EDM_KAFKA_CONTROLLER_PORT",
                self.controller_port.to_string(),
            )
            .env("EDM_KAFKA_HEAP", "256m");
        if self.kind == "heroku-kafka" {
            cmd.env(
                "EDM_HEROKU_KAFKA_LIBS",
                infra::var("EDM_TEST_HEROKU_KAFKA_LIBS"),
            );
        }
        cmd
    }

    async fn edm(&self, action: &'static str) {
        Self::run(self.command(action), action).await;
    }

    async fn run(mut cmd: Command, action: &str) {
        let output = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run ./edm");
        assert!(
            output.status.success(),
            "./edm ... {action} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for SpareBroker {
    fn drop(&mut self) {
        let _ = self.command("kill").output();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}
