//! [`Launch`]: the one way EDM starts a service binary: with exactly the
//! environment it is given (nothing inherited but `PATH`), its output to a
//! log file, and [`Launched::wait_ready`] polling `GET /ready` on its
//! `PORT` until it answers 200, or failing with the log's last lines when
//! the process exits or the time is up. `./edm run` and the bench use it
//! through `edm-tool start`; the reliability suite and the tests that run
//! real binaries use it as a library.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A service binary about to be started.
#[derive(Debug, Clone)]
pub struct Launch {
    binary: PathBuf,
    env: BTreeMap<String, String>,
    log: PathBuf,
    own_process_group: bool,
}

/// Why a service did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// The process could not be started.
    #[error("starting {binary}: {source}")]
    Start {
        /// The binary.
        binary: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The environment names no `PORT`.
    #[error("{0} has no PORT in its environment")]
    NoPort(String),
    /// Something already listens on the port: its `/ready` would answer
    /// for the new process.
    #[error("port {port} (for {name}) is taken: something already listens on it")]
    PortTaken {
        /// The service.
        name: String,
        /// Its port.
        port: u16,
    },
    /// The process exited during start-up.
    #[error("{name} exited during start-up ({status}); the last lines of its log:\n{log}")]
    Exited {
        /// The service.
        name: String,
        /// How it exited.
        status: ExitStatus,
        /// The end of its log.
        log: String,
    },
    /// `/ready` did not answer 200 in time.
    #[error("{name} was not ready within {within:?}; the last lines of its log:\n{log}")]
    TimedOut {
        /// The service.
        name: String,
        /// The limit.
        within: Duration,
        /// The end of its log.
        log: String,
    },
}

impl Launch {
    /// `binary`, with no environment yet, logging to `log`.
    pub fn new(binary: impl Into<PathBuf>, log: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            env: BTreeMap::new(),
            log: log.into(),
            own_process_group: false,
        }
    }

    /// Sets one variable.
    pub fn env(mut self, variable: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(variable.into(), value.into());
        self
    }

    /// Sets every variable of `vars` (later ones win).
    pub fn envs<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (k, v) in vars {
            self.env.insert(k.into(), v.into());
        }
        self
    }

    /// Runs it in a process group of its own: a Ctrl-C at the terminal
    /// reaches whoever started it, not the service (`./edm run` stops its
    /// services itself).
    pub fn own_process_group(mut self) -> Self {
        self.own_process_group = true;
        self
    }

    /// Starts the process.
    pub fn start(self) -> Result<Launched, NotReady> {
        let name = self
            .binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let port = self
            .env
            .get("PORT")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| NotReady::NoPort(name.clone()))?;
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Err(NotReady::PortTaken { name, port });
        }
        let start_error = |source| NotReady::Start {
            binary: self.binary.display().to_string(),
            source,
        };
        let log = std::fs::File::create(&self.log).map_err(start_error)?;
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(start_error)?)
            .stderr(log);
        if self.own_process_group {
            command.process_group(0);
        }
        let child = command.spawn().map_err(start_error)?;
        Ok(Launched {
            child: Some(child),
            name,
            port,
            log: self.log,
        })
    }
}

/// A started service process; killed when dropped.
#[derive(Debug)]
pub struct Launched {
    child: Option<Child>,
    name: String,
    port: u16,
    log: PathBuf,
}

impl Launched {
    /// Polls `GET /ready` until it answers 200; how long that took.
    pub fn wait_ready(&mut self, within: Duration) -> Result<Duration, NotReady> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return Err(NotReady::Exited {
                    name: self.name.clone(),
                    status,
                    log: self.log_tail(20),
                });
            }
            if self.get("/ready").0 == 200 {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= within {
                return Err(NotReady::TimedOut {
                    name: self.name.clone(),
                    within,
                    log: self.log_tail(20),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The service's name (its binary's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its HTTP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// How it exited, if it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits up to `within` for it to exit by itself; how it exited.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Sends a signal by name (`TERM`, `STOP`, `CONT`, …).
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// SIGTERM, as Heroku sends before replacing a dyno, then waits until
    /// it has exited.
    pub fn stop(&mut self) {
        self.signal("TERM");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        self.signal("CONT");
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Lets it run on after this handle is gone; its process id.
    pub fn detach(mut self) -> Option<u32> {
        self.child.take().map(|c| c.id())
    }

    /// `GET path` on it: status and body ((0, "") when nothing answers).
    pub fn get(&self, path: &str) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return (0, String::new());
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return (0, String::new());
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// The value of the `/metrics` line that starts with `series` (a name,
    /// with its labels if it has any); 0 when there is none.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics");
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> PathBuf {
        std::env::temp_dir().join(format!("edm-launch-test-{}.log", std::process::id()))
    }

    #[test]
    fn a_process_that_exits_is_reported_with_its_log() {
        let mut launched = Launch::new("/bin/sh", log())
            .env("PORT", "1")
            .start()
            .unwrap();
        let error = launched.wait_ready(Duration::from_secs(5)).unwrap_err();
        assert!(matches!(error, NotReady::Exited { .. }), "{error}");
    }

    #[test]
    fn a_taken_port_is_refused() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        assert!(matches!(
            Launch::new("/bin/true", log()).env("PORT", port).start(),
            Err(NotReady::PortTaken { .. })
        ));
    }

    #[test]
    fn a_missing_port_or_binary_is_refused() {
        assert!(matches!(
            Launch::new("/bin/true", log()).start(),
            Err(NotReady::NoPort(_))
        ));
        assert!(matches!(
            Launch::new("/nonexistent/edm", log())
                .env("PORT", "1")
                .start(),
            Err(NotReady::Start { .. })
        ));
    }
}
