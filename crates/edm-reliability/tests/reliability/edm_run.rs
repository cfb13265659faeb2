//! `./edm run` as a user runs it, then Ctrl-C: the terminal sends SIGINT to
//! the command's whole process group, and nothing the command started may
//! outlive it: not the services, not the Kafka broker, not PostgreSQL.
//!
//! The test process becomes a child subreaper (Linux `PR_SET_CHILD_SUBREAPER`),
//! so every process `./edm run` started, even one that daemonized or left
//! its session, is re-parented to the test when its parent exits instead of
//! disappearing under init: after the run, any child of the test that is
//! still alive was left behind. The run has its own state folder and ports
//! (its own broker and Postgres) and uses debug builds (`EDM_RUN_PROFILE=dev`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use edm_testkit::broker::free_port;
use edm_testkit::infra;

/// The services and the variables that move their ports (topology.json).
const SERVICE_PORTS: [&str; 6] = [
    "EDM_RELAY_PORT",
    "EDM_STREAM_PORT",
    "EDM_STATS_PORT",
    "EDM_TRENDING_PORT",
    "EDM_UI_PORT",
    "EDM_DASHBOARD_PORT",
];

/// Live (not zombie) processes whose parent is this process, with their
/// command lines.
fn live_children() -> Vec<(u32, String)> {
    let me = std::process::id();
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(after_comm) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        if fields.len() < 2 || fields[0] == "Z" || fields[1].parse() != Ok(me) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
            .unwrap_or_default();
        children.push((pid, cmdline));
    }
    children
}

/// A process's state and signal masks (`/proc/PID/status`), and what it
/// waits in (`wchan`): what a run that ignored Ctrl-C was doing.
fn process_state(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let wanted = [
        "State:", "SigPnd:", "ShdPnd:", "SigBlk:", "SigIgn:", "SigCgt:",
    ];
    let mut state: Vec<String> = status
        .lines()
        .filter(|line| wanted.iter().any(|w| line.starts_with(w)))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    state.push(format!("wchan: {wchan}"));
    state.join(", ")
}

fn reap_zombies() {
    // SAFETY: waitpid with WNOHANG on any child only collects exit statuses.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn ctrl_c_stops_everything_edm_run_started() {
    let _serial = crate::SERIAL.blocking_lock();
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only changes who adopts
    // this process's orphaned descendants.
    let set = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(set, 0, "could not become a child subreaper");

    let state = std::env::temp_dir().join(format!("edm-run-test-{}", std::process::id()));
    let mut env: HashMap<&str, String> = HashMap::from([
        ("EDM_STATE_DIR", state.display().to_string()),
        ("EDM_CERTS", infra::var("EDM_TEST_CERTS_DIR")),
        ("EDM_KAFKA_LIBS", infra::var("EDM_TEST_KAFKA_LIBS")),
        ("EDM_KAFKA_HEAP", "256m".to_string()),
        ("EDM_RUN_PROFILE", "dev".to_string()),
    ]);
    let mut ports = Vec::new();
    for variable in [
        "EDM_KAFKA_PORT",
        "EDM_KAFKA_TLS_PORT",
        "EDM_KAFKA_CONTROLLER_PORT",
        "EDM_PG_PORT",
    ]
    .into_iter()
    .chain(SERVICE_PORTS)
    {
        let port = free_port();
        ports.push((variable, port));
        env.insert(variable, port.to_string());
    }
    let port_of = |variable: &str| ports.iter().find(|(v, _)| *v == variable).unwrap().1;

    let mut command = Command::new(infra::workspace_root().join("edm"));
    command
        .arg("run")
        .envs(&env)
        .env_remove("KAFKA_PREFIX")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, as a shell gives a foreground job.
        .process_group(0);
    // SAFETY: between fork and exec this only restores the default action
    // of SIGINT and SIGQUIT and unblocks every signal (async-signal-safe
    // calls), as a terminal's shell does for a foreground job: a test
    // harness started from a script's background job inherits them ignored,
    // and bash cannot trap a signal ignored at its start.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut run = command.spawn().expect("./edm run starts");
    let group = run.id() as i32;
    let (lines, received) = mpsc::channel();
    let stderr = run.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });

    let mut output = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !output.iter().any(|l: &String| l.contains("EDM is running")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => output.push(line),
            Err(_) => {
                // SAFETY: signals our own child's process group.
                unsafe { libc::kill(-group, libc::SIGINT) };
                panic!(
                    "./edm run did not say it was running:\n{}",
                    output.join("\n")
                );
            }
        }
    }
    for variable in SERVICE_PORTS {
        assert_eq!(
            http_status(port_of(variable), "/ready"),
            Some(200),
            "{variable}'s service is ready while ./edm run runs"
        );
    }

    // Ctrl-C: SIGINT to the foreground process group.
    // SAFETY: signals our own child's process group.
    assert_eq!(unsafe { libc::kill(-group, libc::SIGINT) }, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = run.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let state_of_run = process_state(run.id());
            let children = live_children();
            output.extend(received.try_iter());
            // SAFETY: kills our own child's process group and what it left.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            for (pid, _) in &children {
                // SAFETY: as above.
                unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
            }
            let _ = Command::new(infra::workspace_root().join("edm"))
                .args(["postgres", "wipe"])
                .envs(&env)
                .output();
            panic!(
                "./edm run did not end within 120 s of Ctrl-C\n\
                 its state then: {state_of_run}\n\
                 the test's live children then: {children:?}\n\
                 what it said:\n{}",
                output.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    reader.join().unwrap();
    output.extend(received.try_iter());
    let said = output.join("\n");

    std::thread::sleep(Duration::from_secs(1));
    reap_zombies();
    let left = live_children();
    for (pid, _) in &left {
        // SAFETY: kills a process this test's run left behind.
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    let open: Vec<_> = ports.iter().filter(|(_, port)| listening(*port)).collect();
    let _ = Command::new(infra::workspace_root().join("edm"))
        .args(["postgres", "wipe"])
        .envs(&env)
        .output();
    let _ = std::fs::remove_dir_all(Path::new(&state));

    assert!(
        status.success(),
        "./edm run ended with {status} after Ctrl-C:\n{said}"
    );
    assert_eq!(left, Vec::new(), "processes outlived ./edm run:\n{said}");
    assert_eq!(
        open,
        Vec::<&(&str, u16)>::new(),
        "ports still open after ./edm run"
    );
    assert!(
        output.iter().any(|line| line.ends_with("stopped")),
        "./edm run says it stopped:\n{said}"
    );
}
