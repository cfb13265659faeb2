//! What Linux says about a process and the machine (`/proc`): resident
//! memory, CPU time, and how busy every core was between two instants
//! (which tells a slow day from a slow service).

use serde::Serialize;

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `VmHWM`), or 0.
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resident memory now, kB.
pub fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS")
}

/// Peak resident memory, kB.
pub fn peak_rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM")
}

/// Clock ticks a second (`CLK_TCK`).
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system setting.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// CPU time the process used so far (user and system), in ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // "pid (comm) state ...": fields 14 and 15 (utime, stime), counted
    // after the command name, which may hold spaces.
    let after = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or_default();
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)
}

/// CPU time so far of every process named `command` (its `comm`, as
/// `postgres` names the server and each session), in ticks. A process that
/// ended in between takes its ticks with it: compare sums over spans in
/// which the sessions stay (a pool's connections).
pub fn cpu_ticks_of_all(command: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == command)
        })
        .map(cpu_ticks)
        .sum()
}

/// Ticks as seconds, to the hundredth.
pub fn ticks_to_seconds(ticks: u64) -> f64 {
    (ticks as f64 / ticks_per_second() * 100.0).round() / 100.0
}

/// The machine's CPU time so far (ticks of all cores).
#[derive(Debug, Clone, Copy)]
pub struct MachineTicks {
    busy: u64,
    steal: u64,
    total: u64,
}

impl MachineTicks {
    /// Now, from `/proc/stat`.
    pub fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<u64> = stat
            .lines()
            .find(|l| l.starts_with("cpu "))
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let at = |i: usize| cpu.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal: busy is all but
        // idle and I/O wait.
        Self {
            busy: at(0) + at(1) + at(2) + at(5) + at(6) + at(7),
            steal: at(7),
            total: (0..8).map(at).sum(),
        }
    }

    /// How busy the whole machine was since `self` (all processes; one
    /// core is 100 %) and how much the hypervisor took.
    pub fn share_since(self) -> MachineShare {
        let now = Self::now();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let total = now.total.saturating_sub(self.total).max(1) as f64;
        MachineShare {
            machine_busy_percent: (100.0 * cores * now.busy.saturating_sub(self.busy) as f64
                / total)
                .round(),
            steal_percent: (1000.0 * cores * now.steal.saturating_sub(self.steal) as f64 / total)
                .round()
                / 10.0,
        }
    }
}

/// How busy the machine was during a measurement.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MachineShare {
    /// All processes' CPU, one core = 100.
    pub machine_busy_percent: f64,
    /// Time the hypervisor gave to other guests, same scale.
    pub steal_percent: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let me = std::process::id();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(rss_kb(me) > 0);
        assert!(peak_rss_kb(me) >= rss_kb(me));
        assert!(cpu_ticks(me) > 0);
        let share = MachineTicks::now().share_since();
        assert!(share.machine_busy_percent >= 0.0);
    }
}
