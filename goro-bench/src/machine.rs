//! What the figures were measured on.

use serde::Serialize;
use std::process::Command;

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    /// Cores this process may use (`available_parallelism`).
    pub cores: usize,
    /// Logical CPUs listed in /proc/cpuinfo.
    pub cpus_online: usize,
    pub kernel: String,
    pub os: String,
    pub date_utc: String,
    pub rustc: String,
    pub go: String,
    pub load_avg_start: String,
    pub mem_total: String,
    /// Cross-core round trips (ns), one per probe: at the start of each round
    /// and at the end. See [`cross_core_round_trip_ns`].
    pub cross_core_rtt_ns: Vec<u32>,
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| first_line(&String::from_utf8_lossy(&out.stdout)))
}

pub fn probe(go: Option<&std::path::Path>) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        cpu: field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        cores: crate::workloads::cores(),
        cpus_online: cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count(),
        kernel: first_line(
            &std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default(),
        ),
        os,
        date_utc: now_utc(),
        rustc: command_line("rustc", &["-V"]).unwrap_or_else(|| "unknown".into()),
        go: go
            .and_then(|g| command_line(&g.to_string_lossy(), &["version"]))
            .unwrap_or_else(|| "no go on PATH".into()),
        load_avg_start: load_avg(),
        cross_core_rtt_ns: Vec::new(),
        mem_total: meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kib| format!("{:.1} GiB", kib / (1024.0 * 1024.0)))
            .unwrap_or_default(),
    }
}

/// How long a cache line takes to go from one core to another and back: two
/// threads pass a counter back and forth; after a warm-up (the second thread
/// may start on the first one's core until the kernel moves it), the median
/// of 5 bursts of 20 000 round trips. `None` with fewer than 2 cores.
///
/// Why the report shows it: on a VM the host may move the vCPUs, and how far
/// apart they land decides how much every hand-off between cores costs. On
/// the 2-core development VM this figure flips between ~80 ns and ~340 ns
/// every few minutes, and every cell that moves goroutines between cores
/// moves with it (goro and Go alike, by different amounts).
pub fn cross_core_round_trip_ns() -> Option<u32> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    const WARMUP: u64 = 100_000;
    const TRIPS: u64 = 20_000;
    const BURSTS: u64 = 5;
    if crate::workloads::cores() < 2 {
        return None;
    }
    let total = WARMUP + BURSTS * TRIPS;
    // The counter is even when it is the prober's turn, odd for the echo.
    // No `spin_loop()` in the waits: a pause costs more than the transfer
    // being measured.
    let turn = Arc::new(AtomicU64::new(0));
    let echo = {
        let turn = Arc::clone(&turn);
        std::thread::spawn(move || {
            for i in 0..total {
                while turn.load(Ordering::Acquire) != 2 * i + 1 {}
                turn.store(2 * i + 2, Ordering::Release);
            }
        })
    };
    let trip = |i: u64| {
        turn.store(2 * i + 1, Ordering::Release);
        while turn.load(Ordering::Acquire) != 2 * i + 2 {}
    };
    (0..WARMUP).for_each(trip);
    let mut bursts: Vec<u32> = (0..BURSTS)
        .map(|b| {
            let start = Instant::now();
            let from = WARMUP + b * TRIPS;
            (from..from + TRIPS).for_each(trip);
            (start.elapsed().as_nanos() / u128::from(TRIPS)) as u32
        })
        .collect();
    echo.join().ok()?;
    bursts.sort_unstable();
    Some(bursts[bursts.len() / 2])
}

/// The 1-, 5- and 15-minute load averages: how noisy the machine was.
pub fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM:SS UTC`, from the system clock (civil-from-days).
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
