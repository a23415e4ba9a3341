//! The harness: builds the Go twins, runs every (workload, runtime) cell in a process
//! of its own, and collects what each printed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};

use crate::protocol::WorkerOutput;
use crate::report::{Cell, Outcome, Report, WorkloadResult};
use crate::workloads::{Runtime, Workload, WORKLOADS};

pub struct Options {
    pub only: Option<Vec<String>>,
    pub runtimes: Option<Vec<Runtime>>,
    pub quick: bool,
    /// Also the workloads marked off by default (`Workload::default_on`).
    pub all: bool,
    pub runs: usize,
    pub rounds: usize,
    pub warmup: usize,
    pub out: PathBuf,
    pub timeout: Duration,
    pub no_go: bool,
    pub command: String,
}

/// The workspace root (this crate's parent folder).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// How the Go column is run, or why it is not.
enum GoWorker {
    Ready(PathBuf),
    Unavailable(Outcome),
}

fn find_on_path(exe: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(exe))
        .find(|p| p.is_file())
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// `go build -o target/bench-go/gobench` in `bench/go`, skipped when the binary is
/// newer than every source file there.
fn build_go(go: &Path) -> Result<PathBuf, String> {
    let root = workspace_root();
    let src = root.join("bench").join("go");
    let bin = root.join("target").join("bench-go").join("gobench");
    let newest_src = std::fs::read_dir(&src)
        .map_err(|e| format!("reading {}: {e}", src.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".go") || name == "go.mod"
        })
        .filter_map(|e| mtime(&e.path()))
        .max();
    if let (Some(built), Some(src_time)) = (mtime(&bin), newest_src) {
        if built >= src_time {
            return Ok(bin);
        }
    }
    let out = Command::new(go)
        .arg("build")
        .arg("-o")
        .arg(&bin)
        .arg(".")
        .current_dir(&src)
        .env("GOTOOLCHAIN", "local")
        .output()
        .map_err(|e| format!("running go build: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "go build failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(bin)
}

/// One process to run.
struct Job<'a> {
    workload: &'a Workload,
    runtime: Runtime,
    n: usize,
}

pub fn run(opts: &Options) -> Result<Report, String> {
    let workloads: Vec<&Workload> = match &opts.only {
        None => WORKLOADS
            .iter()
            .filter(|w| opts.all || w.default_on)
            .collect(),
        Some(names) => {
            let mut picked: Vec<&Workload> = Vec::new();
            for n in names {
                let matched = crate::workloads::select(n);
                if matched.is_empty() {
                    let known: Vec<_> = WORKLOADS.iter().map(|w| w.name).collect();
                    return Err(format!(
                        "unknown workload {n:?} (a name, or a prefix before `_` such as `cb`); known: {}",
                        known.join(", ")
                    ));
                }
                for w in matched {
                    if !picked.iter().any(|p| p.name == w.name) {
                        picked.push(w);
                    }
                }
            }
            picked
        }
    };
    let wanted = |r: Runtime| opts.runtimes.as_ref().is_none_or(|rs| rs.contains(&r));

    let go_path = find_on_path("go");
    let go = if opts.no_go {
        GoWorker::Unavailable(Outcome::Skipped("skipped (--no-go)".into()))
    } else if !wanted(Runtime::Go) {
        GoWorker::Unavailable(Outcome::Skipped("not run".into()))
    } else {
        match &go_path {
            None => GoWorker::Unavailable(Outcome::Skipped("skipped (no go on PATH)".into())),
            Some(go) => {
                eprintln!("building the Go twins (bench/go) ...");
                match build_go(go) {
                    Ok(bin) => GoWorker::Ready(bin),
                    Err(e) => GoWorker::Unavailable(Outcome::Failed(e)),
                }
            }
        }
    };
    let mut machine = crate::machine::probe(go_path.as_deref());

    // Every process to run, in table order.
    let mut jobs = Vec::new();
    for w in &workloads {
        for rt in Runtime::ALL {
            if let Some(peer) = w.peer(rt) {
                jobs.push(Job {
                    workload: w,
                    runtime: rt,
                    n: w.n_for(peer, opts.quick),
                });
            }
        }
    }
    let processes = |j: &Job| -> u64 {
        if j.workload.fresh_process {
            opts.runs as u64
        } else {
            1
        }
    };
    let bar = ProgressBar::new(jobs.iter().map(processes).sum::<u64>() * opts.rounds as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));

    // One outcome per job, merged over the rounds (each round runs every job once,
    // so a burst of load from elsewhere lands on every runtime alike).
    let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
    for round in 1..=opts.rounds {
        machine
            .cross_core_rtt_ns
            .extend(crate::machine::cross_core_round_trip_ns());
        for (job, merged) in jobs.iter().zip(&mut outcomes) {
            let mut label = format!(
                "{} / {} (n={})",
                job.workload.name,
                job.runtime.title(),
                job.n
            );
            if opts.rounds > 1 {
                label.push_str(&format!(" round {round}/{}", opts.rounds));
            }
            bar.set_message(label.clone());
            if matches!(merged, Some(Outcome::Failed(_) | Outcome::Skipped(_))) {
                bar.inc(processes(job));
                continue;
            }
            let outcome = if !wanted(job.runtime) {
                bar.inc(processes(job));
                Outcome::Skipped("not run".into())
            } else if job.runtime == Runtime::Goro && !cfg!(feature = "goro") {
                bar.inc(processes(job));
                Outcome::Skipped("not built".into())
            } else {
                match (&go, job.runtime) {
                    (GoWorker::Unavailable(why), Runtime::Go) => {
                        bar.inc(processes(job));
                        why.clone()
                    }
                    _ => run_cell(opts, job, &go, &bar),
                }
            };
            let shown = Cell::new(job.workload, job.runtime, job.n, outcome.clone());
            let line = format!("{label}: {}", shown.short());
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
            *merged = Some(match (merged.take(), outcome) {
                (Some(Outcome::Ok(mut a)), Outcome::Ok(b)) => {
                    merge_into(&mut a, b);
                    Outcome::Ok(a)
                }
                (_, o) => o,
            });
        }
    }
    let mut results: Vec<WorkloadResult> = workloads
        .iter()
        .map(|w| WorkloadResult::new(w, opts.quick))
        .collect();
    for (job, outcome) in jobs.iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|| Outcome::Failed("not run".into()));
        let slot = results
            .iter_mut()
            .find(|r| r.workload == job.workload.name)
            .expect("a result row per workload");
        slot.cells
            .push(Cell::new(job.workload, job.runtime, job.n, outcome));
    }
    bar.finish_and_clear();
    machine
        .cross_core_rtt_ns
        .extend(crate::machine::cross_core_round_trip_ns());
    for r in &mut results {
        r.compute_ratio();
    }
    Ok(Report::new(machine, opts, results))
}

/// Adds `b`'s samples to `a`'s.
fn merge_into(a: &mut WorkerOutput, b: WorkerOutput) {
    a.samples_ns.extend(b.samples_ns);
    a.rss_delta_bytes.extend(b.rss_delta_bytes);
    a.runs += b.runs;
    a.max_rss_kib = a.max_rss_kib.max(b.max_rss_kib);
}

/// Runs one cell: one process, or `runs` fresh ones for a `fresh_process` workload.
fn run_cell(opts: &Options, job: &Job, go: &GoWorker, bar: &ProgressBar) -> Outcome {
    let (procs, warmup, runs) = if job.workload.fresh_process {
        (opts.runs, 0, 1)
    } else {
        (1, opts.warmup, opts.runs)
    };
    let mut merged: Option<WorkerOutput> = None;
    for _ in 0..procs {
        let cmd = match worker_command(job, go, warmup, runs) {
            Ok(cmd) => cmd,
            Err(e) => return Outcome::Failed(e),
        };
        let result = run_process(cmd, opts.timeout).map_err(|e| tidy_error(&e));
        bar.inc(1);
        match result {
            Err(e) => return Outcome::Failed(e),
            Ok(out) => match &mut merged {
                None => merged = Some(out),
                Some(m) => merge_into(m, out),
            },
        }
    }
    match merged {
        Some(m) => Outcome::Ok(m),
        None => Outcome::Failed("no runs".into()),
    }
}

fn worker_command(job: &Job, go: &GoWorker, warmup: usize, runs: usize) -> Result<Command, String> {
    let (n, warmup, runs) = (job.n.to_string(), warmup.to_string(), runs.to_string());
    let cmd = match (job.runtime, go) {
        (Runtime::Go, GoWorker::Ready(bin)) => {
            let mut cmd = Command::new(bin);
            cmd.args(["-workload", job.workload.name, "-n", &n])
                .args(["-runs", &runs, "-warmup", &warmup]);
            cmd
        }
        (Runtime::Go, GoWorker::Unavailable(_)) => return Err("Go unavailable".into()),
        (rt, _) => {
            let mut cmd = Command::new(own_binary()?);
            cmd.args(["worker", "--runtime", rt.name()])
                .args(["--workload", job.workload.name, "--n", &n])
                .args(["--runs", &runs, "--warmup", &warmup]);
            cmd
        }
    };
    Ok(cmd)
}

/// The harness's own binary, for its workers. On Linux `/proc/self/exe`: the
/// file this process runs even if a rebuild replaced it on disk meanwhile, so
/// every cell of a run measures the same code (a rebuild during a run once
/// spoiled one). Elsewhere, its path.
fn own_binary() -> Result<std::path::PathBuf, String> {
    if cfg!(target_os = "linux") {
        return Ok("/proc/self/exe".into());
    }
    std::env::current_exe().map_err(|e| format!("finding goro-bench itself: {e}"))
}

/// Runs a worker to completion (or `timeout`), and returns its JSON line, or why there
/// is none: its error, its panic, the signal that killed it.
fn run_process(mut cmd: Command, timeout: Duration) -> Result<WorkerOutput, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning the worker: {e}"))?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the worker: {e}")),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(format!("timed out after {} s", timeout.as_secs()));
    };
    let parsed = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .map(serde_json::from_str::<WorkerOutput>);
    match parsed {
        Some(Ok(out)) => match &out.error {
            Some(e) => Err(e.clone()),
            None if status.success() => Ok(out),
            None => Err(describe_failure(status, &stderr)),
        },
        Some(Err(e)) if status.success() => Err(format!("unreadable worker output: {e}")),
        _ => Err(describe_failure(status, &stderr)),
    }
}

fn describe_failure(status: ExitStatus, stderr: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => {
            let name = match sig {
                4 => "SIGILL",
                6 => "SIGABRT",
                7 => "SIGBUS",
                9 => "SIGKILL (out of memory?)",
                11 => "SIGSEGV",
                15 => "SIGTERM",
                _ => "signal",
            };
            format!("killed by {name} ({sig})")
        }
        _ => "failed".to_string(),
    };
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // The first line that says what went wrong (a Rust panic's message is the line
    // after "panicked at"), else the last line.
    let key = lines.iter().position(|l| {
        l.contains("panicked at")
            || l.starts_with("panic:")
            || l.starts_with("fatal error:")
            || l.starts_with("runtime:")
            || l.to_ascii_lowercase().contains("error")
    });
    let what = match key {
        Some(i) if lines[i].contains("panicked at") => lines[i..lines.len().min(i + 2)].join(" "),
        Some(i) => lines[i].to_string(),
        None => lines.last().map(|s| s.to_string()).unwrap_or_default(),
    };
    let mut msg = if what.is_empty() {
        how
    } else {
        format!("{how}: {what}")
    };
    if msg.len() > 400 {
        let mut cut = 400;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push('…');
    }
    msg
}

/// Shortens cargo-registry paths in an error and says what an ENOMEM from a stack
/// allocation usually is.
fn tidy_error(e: &str) -> String {
    let mut out = e.to_string();
    while let Some(at) = out.find("/registry/src/") {
        let start = out[..at].rfind([' ', '(']).map_or(0, |i| i + 1);
        let index_dir = at + "/registry/src/".len();
        let end = out[index_dir..]
            .find('/')
            .map_or(out.len(), |i| index_dir + i + 1);
        out.replace_range(start..end, "");
    }
    if out.contains("Cannot allocate memory") || out.contains("OutOfMemory") {
        if let Ok(max) = std::fs::read_to_string("/proc/sys/vm/max_map_count") {
            out.push_str(&format!(
                " [ENOMEM from mmap: with one mapping per stack this is the vm.max_map_count \
                 limit ({}), not RAM]",
                max.trim()
            ));
        }
    }
    out
}
