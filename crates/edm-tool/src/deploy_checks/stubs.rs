//! Running the deployment's shell files for real against stub executables
//! (service binaries, the Heroku CLI) that append each call to a log: the
//! command runs with only the environment given, and the outcome is its
//! exit code, the stubs' calls and its output.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A stub executable: logs `NAME ARGS` to `$STUB_LOG`, exits `$STUB_EXIT`
/// (0 by default).
pub const LOGGING_STUB: &str = r#"#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
exit "${STUB_EXIT:-0}"
"#;

/// How long a command may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What a command did.
#[derive(Debug)]
pub struct Outcome {
    /// Its exit code; -1 when a signal ended it or it timed out.
    pub code: i32,
    /// The stubs' calls, one `NAME ARGS` each, in order.
    pub calls: Vec<String>,
    /// What it wrote to stdout.
    pub stdout: String,
    /// What it wrote to stderr.
    pub stderr: String,
}

impl Outcome {
    /// stdout then stderr, trimmed.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr).trim().to_owned()
    }
}

/// Writes an executable script.
pub fn write_executable(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(text.as_bytes())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// `$PATH` of this process, or the usual one.
pub fn path_var() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned())
}

/// Runs `argv` in `cwd` (this process's when `None`) with only `env` and
/// `STUB_LOG=<work>/calls.log` set; its output goes to files in `work`.
/// A command that cannot be started has exit code -1 and says why on
/// stderr.
pub fn run(argv: &[&str], cwd: Option<&Path>, env: &[(&str, &str)], work: &Path) -> Outcome {
    run_logged(argv, cwd, env, work).unwrap_or_else(|e| Outcome {
        code: -1,
        calls: Vec::new(),
        stdout: String::new(),
        stderr: format!("could not run {}: {e}", argv.join(" ")),
    })
}

fn run_logged(
    argv: &[&str],
    cwd: Option<&Path>,
    env: &[(&str, &str)],
    work: &Path,
) -> std::io::Result<Outcome> {
    let log = work.join("calls.log");
    let (stdout_path, stderr_path) = (work.join("stdout.txt"), work.join("stderr.txt"));
    if log.exists() {
        std::fs::remove_file(&log)?;
    }
    let mut command = Command::new(argv[0]);
    command
        .args(&argv[1..])
        .env_clear()
        .env("STUB_LOG", &log)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn()?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            child.kill()?;
            child.wait()?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let mut stderr = read(&stderr_path);
    if status.is_none() {
        stderr.push_str(&format!("\n(timed out after {} s)", TIMEOUT.as_secs()));
    }
    Ok(Outcome {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        calls: read(&log)
            .lines()
            .map(|line| line.trim().to_owned())
            .collect(),
        stdout: read(&stdout_path),
        stderr,
    })
}
