//! Official Socket.io clients speaking edm-stream's resume protocol, in a
//! node process (`crates/edm-stream/tests/client/resume.mjs`, which loads
//! the dashboard's `edm-stream-client.js`), driven over stdin.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

use crate::infra::workspace_root;

/// What one client received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Event ids in arrival order.
    pub ids: Vec<String>,
    /// Its `stream` messages, in order.
    pub statuses: Vec<Value>,
    /// Its `counts` messages: position and record text, in order.
    pub counts: Vec<(String, String)>,
    /// Its `sample` messages: position and record text, in order.
    pub samples: Vec<(String, String)>,
    /// How many times it connected (the first time included).
    pub connects: u64,
    /// Its connections' story: "<Unix time in ms> connect",
    /// "… disconnect <reason>", "… connect_error <message>", in order.
    pub lifecycle: Vec<String>,
}

/// Clients in a node process.
pub struct ResumingClients {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl ResumingClients {
    /// Connects `count` clients to `url` and waits until all are in
    /// (blocking: call it from `spawn_blocking` in async tests).
    pub fn connect(url: &str, count: usize) -> Self {
        let script = workspace_root().join("crates/edm-stream/tests/client/resume.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env(
                "EDM_CLIENT_SPEC",
                json!({"url": url, "clients": count}).to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (./edm setup installs the client)");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the clients' output");
        assert_eq!(line.trim(), "READY", "clients did not connect");
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends a command: `DROP i` closes client i's connection, `BACK i`
    /// reconnects it.
    pub fn command(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("the clients read commands");
        self.stdin.flush().expect("the clients read commands");
    }

    /// Stops the clients and says what each received.
    pub fn stop(mut self) -> Vec<Received> {
        self.command("STOP");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the clients' result");
        let _ = self.child.wait();
        let v: Value = serde_json::from_str(&line).expect("client result JSON");
        v["clients"]
            .as_array()
            .expect("a list of clients")
            .iter()
            .map(|c| Received {
                ids: c["ids"]
                    .as_array()
                    .expect("ids")
                    .iter()
                    .map(|id| id.as_str().expect("an id").to_owned())
                    .collect(),
                statuses: c["statuses"].as_array().expect("statuses").clone(),
                counts: records(&c["counts"]),
                samples: records(&c["samples"]),
                connects: c["connects"].as_u64().expect("connects"),
                lifecycle: c["lifecycle"]
                    .as_array()
                    .expect("lifecycle")
                    .iter()
                    .map(|line| line.as_str().expect("a line").to_owned())
                    .collect(),
            })
            .collect()
    }
}

/// `[[position, text]…]` as pairs.
fn records(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .expect("a list of records")
        .iter()
        .map(|pair| {
            let text = |i: usize| pair[i].as_str().expect("position and text").to_owned();
            (text(0), text(1))
        })
        .collect()
}

impl Drop for ResumingClients {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
