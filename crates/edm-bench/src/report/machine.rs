//! The "Machine and tools" section (the machine this report is rendered
//! on, and the versions of the tools the bench used) and the line that
//! says which run recorded a section.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::figures::BenchDir;
use super::records::Machine;
use super::text;

/// How long a tool may take to say its version.
const VERSION_WITHIN: Duration = Duration::from_secs(20);

/// What a figure says when it cannot be found out.
const UNKNOWN: &str = "unknown";

/// The section, its blank line first.
pub fn section(bench: &BenchDir) -> Vec<String> {
    vec![
        String::new(),
        "## Machine and tools".into(),
        String::new(),
        format!(
            "- CPU: {}, {} cores; memory {}; {}",
            cpu_model(),
            cpu_count(),
            memory(),
            system(),
        ),
        format!(
            "- {}; {}",
            version(&["rustc", "--version"]),
            version(&["java", "-version"])
        ),
        format!(
            "- Apache Kafka {} (KRaft, one broker, acks=all); {}",
            kafka_version(bench),
            version(&["psql", "--version"])
        ),
        format!(
            "- load: {}; node {} with socket.io-client {}; the plot: matplotlib {}",
            version(&["wrk", "--version"]),
            version(&["node", "--version"]),
            socket_io_client_version(),
            matplotlib_version(bench),
        ),
    ]
}

/// "Recorded by `./edm bench <what>` started … (load average … at the start)."
pub fn recorded(bench: &BenchDir, what: &str) -> anyhow::Result<String> {
    let machine: Option<Machine> = bench.load("machine.json")?;
    let started = match machine.as_ref().and_then(|m| m.started.as_deref()) {
        Some(started) if !started.is_empty() => started.replace('T', " ").replace('Z', " UTC"),
        _ => utc_minute(std::time::SystemTime::now()),
    };
    let load = machine.map_or_else(|| UNKNOWN.to_owned(), |m| m.loadavg);
    Ok(format!(
        "Recorded by `./edm bench {what}` started {started} (load average {load} at the start)."
    ))
}

/// `at` as `2026-12-06 04:25 UTC`.
fn utc_minute(at: std::time::SystemTime) -> String {
    let seconds = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, minute_of_day) = (seconds / 86_400, seconds % 86_400 / 60);
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// `at` as `2026-12-06T04:25:09Z` (what `machine.json` records).
pub fn utc_timestamp(at: std::time::SystemTime) -> String {
    let seconds = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// The Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The repository this binary was built from.
pub fn repository() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::canonicalize(&root).unwrap_or(root)
}

/// The CPU's model name.
fn cpu_model() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = text::lines(&cpuinfo)
        .into_iter()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, name)| text::trim(name).to_owned());
    model.unwrap_or_else(processor)
}

/// The processor as `uname -p` names it (for CPUs without a model name).
fn processor() -> String {
    let named = Command::new("uname")
        .arg("-p")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|name| text::trim(&name).to_owned());
    match named {
        Some(name) if !name.is_empty() && name != UNKNOWN => name,
        _ => UNKNOWN.into(),
    }
}

/// The number of CPUs online.
fn cpu_count() -> String {
    // SAFETY: sysconf only reads a system setting.
    let count = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if count > 0 {
        count.to_string()
    } else {
        "None".into()
    }
}

/// The memory, in whole GiB.
fn memory() -> String {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = text::lines(&meminfo)
        .into_iter()
        .find(|line| line.starts_with("MemTotal"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok());
    match kib {
        Some(kib) => format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0),
        None => UNKNOWN.into(),
    }
}

/// The kernel: `Linux 6.18.44`.
fn system() -> String {
    // SAFETY: uname fills the zeroed struct it is given.
    let mut names: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut names) } != 0 {
        return String::new();
    }
    let field = |chars: &[libc::c_char]| {
        let bytes: Vec<u8> = chars
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!("{} {}", field(&names.sysname), field(&names.release))
}

/// The first line a tool prints (on stdout, else on stderr) when run as
/// `command`, or "unknown".
fn version(command: &[&str]) -> String {
    first_output_line(command).unwrap_or_else(|| UNKNOWN.into())
}

fn first_output_line(command: &[&str]) -> Option<String> {
    let (program, args) = command.split_first()?;
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    if !exited_within(&mut child, VERSION_WITHIN) {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let stdout = String::from_utf8(stdout.join().ok()?).ok()?;
    let stderr = String::from_utf8(stderr.join().ok()?).ok()?;
    let output = if stdout.is_empty() { stderr } else { stdout };
    text::lines(text::trim(&output))
        .first()
        .map(|line| (*line).to_owned())
}

/// All that `pipe` gives until it closes, read on a thread of its own.
fn read_in_background(
    pipe: Option<impl Read + Send + 'static>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Whether `child` exits within `within`.
fn exited_within(child: &mut Child, within: Duration) -> bool {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if started.elapsed() < within => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => return false,
        }
    }
}

/// The Kafka version of the broker `./edm` installed beside the bench
/// folder (`.edm/kafka/libs/kafka-clients-<version>.jar`).
fn kafka_version(bench: &BenchDir) -> String {
    let libs = BenchDir::new(bench.parent().join("kafka").join("libs"));
    let jars = libs.sorted_matching("kafka-clients-*.jar");
    jars.first()
        .and_then(|jar| jar.file_stem())
        .map(|stem| stem.to_string_lossy())
        .map(|stem| {
            stem.strip_prefix("kafka-clients-")
                .unwrap_or(&stem)
                .to_owned()
        })
        .unwrap_or_else(|| UNKNOWN.into())
}

/// The version of socket.io-client that the official-client tests and the
/// bench use (their package-lock.json).
fn socket_io_client_version() -> String {
    let lock = repository().join("crates/edm-stream/tests/client/package-lock.json");
    let lock: Option<serde_json::Value> = std::fs::read_to_string(lock)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let version = lock.as_ref().and_then(|lock| {
        lock.get("packages")?
            .get("node_modules/socket.io-client")?
            .get("version")
    });
    match version {
        Some(serde_json::Value::String(version)) => version.clone(),
        Some(serde_json::Value::Null) => "None".into(),
        Some(other) => other.to_string(),
        None => UNKNOWN.into(),
    }
}

/// The version of matplotlib in the bench's venv (`.edm/bench-venv`).
fn matplotlib_version(bench: &BenchDir) -> String {
    let python = bench.parent().join("bench-venv").join("bin").join("python");
    let python = python.to_string_lossy().into_owned();
    version(&[
        python.as_str(),
        "-c",
        "import matplotlib; print(matplotlib.__version__)",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_timestamps_are_calendar_dates_to_the_second() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_531_109);
        assert_eq!(utc_timestamp(at), "2026-12-06T04:25:09Z");
    }

    #[test]
    fn utc_minutes_are_calendar_dates() {
        let at = |s: u64| std::time::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(utc_minute(at(0)), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(at(1_796_531_109)), "2026-12-06 04:25 UTC");
        assert_eq!(utc_minute(at(951_825_600)), "2000-02-29 12:00 UTC");
        assert_eq!(utc_minute(at(4_107_542_399)), "2100-02-28 23:59 UTC");
    }

    #[test]
    fn the_recorded_line_names_the_run() {
        let dir = std::env::temp_dir().join(format!("edm-bench-recorded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("machine.json"),
            r#"{"loadavg":"2.04 3.44 2.85","started":"2026-12-06T04:25:09Z"}"#,
        )
        .unwrap();
        let line = recorded(&BenchDir::new(&dir), "stack").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            line,
            "Recorded by `./edm bench stack` started 2026-12-06 04:25:09 UTC \
             (load average 2.04 3.44 2.85 at the start)."
        );
    }
}
