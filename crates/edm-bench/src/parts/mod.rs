//! `edm-bench run <relay|stats|stream|trending|stack|scale|all> <out-dir>`: the
//! parts of `./edm bench`, run against this machine's broker and Postgres
//! (`./edm bench` starts them and builds the release binaries first). Each
//! part starts the services it measures with the one launcher
//! ([`edm_tool::launcher`]), drives them with the load generators of this
//! binary (run as processes of their own, so that their CPU is not the
//! services'), `wrk` and the Socket.io client in `bench/fanout.mjs`, and
//! writes its figures as JSON files in `<out-dir>`, which
//! `edm-bench report` renders into docs/benchmarks.md.
//!
//! Reads `EDM_ROOT`, `EDM_KAFKA_PORT`, `EDM_PG_PORT`, `EDM_PG_USER` and
//! `EDM_PG_PASSWORD`, as `./edm` sets them.

mod proc_stats;
mod relay;
mod scale;
mod stack;
mod stats;
mod stream;
mod trending;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use edm_tool::launcher::{Launch, Launched};
use serde::Serialize;

/// No variables to add (for [`Bench::tool`]).
pub const NO_ENV: [(&str, &str); 0] = [];

/// How long a service may take to answer `/ready`.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// `edm-bench run`: see the module documentation.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let (Some(part), Some(out)) = (args.get(2), args.get(3)) else {
        bail!(crate::USAGE);
    };
    if ![
        "relay", "stats", "stream", "trending", "stack", "scale", "all",
    ]
    .contains(&part.as_str())
    {
        bail!("no bench part {part}: {}", crate::USAGE);
    }
    let bench = Bench::from_env(PathBuf::from(out))?;
    bench.write(
        "machine.json",
        &serde_json::json!({
            "loadavg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
                .split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            "started": crate::report::machine::utc_timestamp(std::time::SystemTime::now()),
        }),
    )?;
    match part.as_str() {
        "relay" => relay::run(&bench),
        "stats" => stats::run(&bench),
        "stream" => stream::run(&bench),
        "trending" => trending::run(&bench),
        "stack" => stack::run(&bench),
        "scale" => scale::run(&bench),
        "all" => {
            relay::run(&bench)?;
            stats::run(&bench)?;
            stream::run(&bench)?;
            trending::run(&bench)?;
            stack::run(&bench)?;
            scale::run(&bench)
        }
        _ => unreachable!("the part was checked above"),
    }
}

/// Says what the bench is doing, as `./edm` does.
pub fn log(message: impl std::fmt::Display) {
    eprintln!("edm: {message}");
}

/// Seconds since `since`, to the millisecond.
pub fn seconds_since(since: std::time::Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}

/// Where the bench runs: its binaries, its output and the infrastructure.
pub struct Bench {
    /// The release binaries (this one's folder).
    bin: PathBuf,
    /// Where the JSON figures go.
    out: PathBuf,
    /// The repository (scripts, `./edm`).
    root: PathBuf,
    /// The broker's plaintext port.
    kafka_port: String,
    /// Postgres: port, user, password.
    pg: (String, String, String),
}

impl Bench {
    fn from_env(out: PathBuf) -> anyhow::Result<Self> {
        let var = |name: &str| {
            std::env::var(name).with_context(|| format!("{name} is not set: run ./edm bench"))
        };
        let bin = std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .context("the bench binary's folder")?;
        std::fs::create_dir_all(&out)?;
        Ok(Self {
            bin,
            out,
            root: PathBuf::from(var("EDM_ROOT")?),
            kafka_port: var("EDM_KAFKA_PORT")?,
            pg: (
                var("EDM_PG_PORT")?,
                var("EDM_PG_USER")?,
                var("EDM_PG_PASSWORD")?,
            ),
        })
    }

    /// `KAFKA_URL` of the local broker.
    pub fn kafka_url(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    /// `DATABASE_URL` of database `db`.
    pub fn database_url(&self, db: &str) -> String {
        let (port, user, password) = &self.pg;
        format!("postgres://{user}:{password}@127.0.0.1:{port}/{db}")
    }

    /// The broker settings every process of a run shares: `KAFKA_URL` and
    /// `KAFKA_PREFIX`.
    pub fn kafka_env(&self, prefix: &str) -> Vec<(String, String)> {
        vec![
            ("KAFKA_URL".into(), self.kafka_url()),
            ("KAFKA_PREFIX".into(), prefix.into()),
        ]
    }

    /// A fresh `KAFKA_PREFIX` with the topics of topology.json (`./edm topics`).
    pub fn prefix(&self) -> anyhow::Result<String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let prefix = format!("bench-{:08}.", nanos % 100_000_000);
        let status = Command::new(self.root.join("edm"))
            .args(["topics", &prefix])
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("./edm topics {prefix} failed");
        }
        Ok(prefix)
    }

    /// A new, empty database, dropped when the value is.
    pub fn database(&self, name: &str) -> anyhow::Result<Database<'_>> {
        self.psql(&format!("CREATE DATABASE {name}"))?;
        Ok(Database {
            bench: self,
            name: name.to_owned(),
        })
    }

    fn psql(&self, sql: &str) -> anyhow::Result<()> {
        self.psql_value(sql).map(drop)
    }

    /// The first column of `sql`'s answer, as psql prints it unaligned.
    pub fn psql_value(&self, sql: &str) -> anyhow::Result<String> {
        let (port, user, password) = &self.pg;
        let output = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                port,
                "-U",
                user,
                "-d",
                "postgres",
                "-qtAc",
                sql,
            ])
            .env("PGPASSWORD", password)
            .stderr(Stdio::null())
            .output()
            .context("running psql")?;
        if !output.status.success() {
            bail!("psql: {sql} failed");
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Starts release binary `service` on `port` with `env` (and
    /// `RUST_LOG=warn`), logging to `<out>/<service>-<port>.log`, and waits until
    /// it is ready; how long that took.
    pub fn start<K: Into<String>, V: Into<String>>(
        &self,
        service: &str,
        port: u16,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> anyhow::Result<(Launched, Duration)> {
        let started = std::time::Instant::now();
        let mut launched = Launch::new(
            self.bin.join(service),
            self.out.join(format!("{service}-{port}.log")),
        )
        .env("RUST_LOG", "warn")
        .envs(env)
        .env("PORT", port.to_string())
        .start()?;
        launched.wait_ready(READY_WITHIN)?;
        Ok((launched, started.elapsed()))
    }

    /// Runs a load generator of this binary (`edm-bench <args>`) with `env`
    /// to its end; its output (one JSON line).
    pub fn tool<K: AsRef<std::ffi::OsStr>, V: AsRef<std::ffi::OsStr>>(
        &self,
        args: &[&str],
        env: impl IntoIterator<Item = (K, V)>,
    ) -> anyhow::Result<String> {
        let output = self
            .tool_command(args)
            .envs(env)
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("edm-bench {}", args.join(" ")))?;
        if !output.status.success() {
            bail!("edm-bench {} failed ({})", args.join(" "), output.status);
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// `edm-bench <args>`, not started yet.
    pub fn tool_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.bin.join("edm-bench"));
        command.args(args);
        command
    }

    /// Writes `value` as `<out>/<file>`.
    pub fn write(&self, file: &str, value: &impl Serialize) -> anyhow::Result<()> {
        self.write_text(file, &serde_json::to_string(value)?)
    }

    /// Writes `text` (and a newline) as `<out>/<file>`.
    pub fn write_text(&self, file: &str, text: &str) -> anyhow::Result<()> {
        let path = self.out.join(file);
        std::fs::write(&path, format!("{text}\n"))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Removes `<out>` files whose names start with `start` and end with `end`.
    pub fn remove(&self, start: &str, end: &str) {
        for entry in std::fs::read_dir(&self.out).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(start) && name.ends_with(end) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// `wrk` against `url` with `script`: a 5 s warm-up, then three 15 s
    /// runs at 64 connections, each run's `BENCH` line (the script's JSON)
    /// kept as `<name>.run<N>.json`.
    pub fn wrk_runs(&self, name: &str, url: &str, script: &str) -> anyhow::Result<()> {
        self.wrk(url, script, "5s")?;
        for run in 1..=3 {
            self.wrk_run(&format!("{name}.run{run}.json"), url, script)?;
        }
        Ok(())
    }

    /// `wrk` against `url` with `script`: a 5 s warm-up, then one 15 s run,
    /// kept as `<name>.json`; returns it and how much `counter` grew during
    /// that run.
    pub fn wrk_timed(
        &self,
        name: &str,
        url: &str,
        script: &str,
        counter: impl Fn() -> u64,
    ) -> anyhow::Result<(crate::report::WrkRun, u64)> {
        self.wrk(url, script, "5s")?;
        let before = counter();
        let line = self.wrk_run(&format!("{name}.json"), url, script)?;
        let grew = counter().saturating_sub(before);
        Ok((serde_json::from_str(&line)?, grew))
    }

    /// One 15 s `wrk` run; its `BENCH` line, also written as `<out>/<file>`.
    fn wrk_run(&self, file: &str, url: &str, script: &str) -> anyhow::Result<String> {
        let output = self.wrk(url, script, "15s")?;
        let line = output
            .lines()
            .find_map(|l| l.strip_prefix("BENCH "))
            .with_context(|| format!("wrk printed no BENCH line for {file}"))?
            .to_owned();
        self.write_text(file, &line)?;
        Ok(line)
    }

    fn wrk(&self, url: &str, script: &str, duration: &str) -> anyhow::Result<String> {
        let output = Command::new("wrk")
            .args([
                "-t2",
                "-c64",
                &format!("-d{duration}"),
                "--latency",
                "-s",
                script,
                url,
            ])
            .current_dir(&self.root)
            .output()
            .context("running wrk")?;
        if !output.status.success() {
            bail!(
                "wrk {url} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `node bench/fanout.mjs` (the official Socket.io client), not started.
    pub fn node_fanout(&self) -> Command {
        let mut command = Command::new("node");
        command.arg(self.root.join("bench/fanout.mjs"));
        command
    }
}

/// A database made for one part; dropped with it.
pub struct Database<'a> {
    bench: &'a Bench,
    name: String,
}

impl Database<'_> {
    /// Its `DATABASE_URL`.
    pub fn url(&self) -> String {
        self.bench.database_url(&self.name)
    }

    /// Its sessions waiting for a lock now.
    pub fn sessions_waiting_on_locks(&self) -> u64 {
        self.bench
            .psql_value(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND wait_event_type = 'Lock'",
                self.name
            ))
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Database<'_> {
    fn drop(&mut self) {
        if let Err(e) = self
            .bench
            .psql(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
        {
            log(format!("could not drop database {}: {e}", self.name));
        }
    }
}

/// A client process that prints a line when ready and one JSON line of
/// results at its end (`edm-bench fanout`, `bench/fanout.mjs`).
pub struct LineClient {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl LineClient {
    /// Starts `command` and waits for its first line (READY).
    pub fn start(mut command: Command) -> anyhow::Result<Self> {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .context("starting a client")?;
        let stdout = child.stdout.take().context("the client's output")?;
        let mut client = Self {
            child,
            lines: std::io::BufReader::new(stdout).lines(),
        };
        client.next_line().context("the client never said READY")?;
        Ok(client)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its next line.
    pub fn next_line(&mut self) -> anyhow::Result<String> {
        Ok(self.lines.next().context("the client ended early")??)
    }

    /// Its results line, then waits for it to exit.
    pub fn finish(mut self) -> anyhow::Result<String> {
        let line = self.next_line()?;
        let _ = self.child.wait();
        Ok(line)
    }
}

/// Polls `check` every `every` until it says true; fails after `within`
/// (`what` names what was awaited).
pub fn until(
    what: &str,
    every: Duration,
    within: Duration,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    while !check() {
        if started.elapsed() > within {
            bail!("{what}: not within {within:?}");
        }
        std::thread::sleep(every);
    }
    Ok(())
}
