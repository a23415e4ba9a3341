//! Results: the terminal table, `report.json`, `report.md` and `report.svg`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::harness::Options;
use crate::machine::Machine;
use crate::protocol::WorkerOutput;
use crate::workloads::{Runtime, Unit, Workload};

/// What became of one (workload, runtime) cell.
#[derive(Clone, Debug)]
pub enum Outcome {
    Ok(WorkerOutput),
    Failed(String),
    Skipped(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub runtime: &'static str,
    /// `ok`, `error` or `skipped`.
    pub status: &'static str,
    pub n: usize,
    /// Run at a smaller n than the workload's (std-thread).
    pub reduced_n: bool,
    pub unit: &'static str,
    /// The median of `samples`: the cell's figure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub figure: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The figure of each measured run, in `unit`.
    pub samples: Vec<f64>,
    /// Median wall time of one run, in ms (secondary for RSS workloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_run_ms: Option<f64>,
    pub samples_ns: Vec<u64>,
    pub rss_delta_bytes: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rss_kib: Option<u64>,
    /// The error, or why the cell was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip)]
    pub rt: Option<Runtime>,
    #[serde(skip)]
    unit_kind: Option<Unit>,
}

fn stats(xs: &[f64]) -> (Option<f64>, Option<f64>, Option<f64>) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let k = v.len();
    if k == 0 {
        return (None, None, None);
    }
    let med = if k % 2 == 1 {
        v[k / 2]
    } else {
        (v[k / 2 - 1] + v[k / 2]) / 2.0
    };
    (Some(med), v.first().copied(), v.last().copied())
}

impl Cell {
    pub fn new(w: &Workload, rt: Runtime, n: usize, outcome: Outcome) -> Cell {
        let mut cell = Cell {
            runtime: rt.name(),
            status: "ok",
            n,
            reduced_n: n != w.n && w.peer(rt).is_some_and(|p| p.n.is_some()),
            unit: w.unit.label(),
            figure: None,
            min: None,
            max: None,
            samples: Vec::new(),
            median_run_ms: None,
            samples_ns: Vec::new(),
            rss_delta_bytes: Vec::new(),
            threads: None,
            max_rss_kib: None,
            message: None,
            rt: Some(rt),
            unit_kind: Some(w.unit),
        };
        match outcome {
            Outcome::Failed(e) => {
                cell.status = "error";
                cell.message = Some(e);
            }
            Outcome::Skipped(why) => {
                cell.status = "skipped";
                cell.message = Some(why);
            }
            Outcome::Ok(out) => {
                let per = n.max(1) as f64;
                cell.samples = match w.unit {
                    Unit::NsPerOp => out.samples_ns.iter().map(|&t| t as f64 / per).collect(),
                    Unit::TotalMs => out.samples_ns.iter().map(|&t| t as f64 / 1e6).collect(),
                    Unit::BytesPerOp => out
                        .rss_delta_bytes
                        .iter()
                        .map(|&b| b as f64 / per)
                        .collect(),
                };
                (cell.figure, cell.min, cell.max) = stats(&cell.samples);
                let ms: Vec<f64> = out.samples_ns.iter().map(|&t| t as f64 / 1e6).collect();
                cell.median_run_ms = stats(&ms).0;
                cell.threads = (out.threads > 0).then_some(out.threads);
                cell.max_rss_kib = out.max_rss_kib;
                cell.samples_ns = out.samples_ns;
                cell.rss_delta_bytes = out.rss_delta_bytes;
                if cell.figure.is_none() {
                    cell.status = "error";
                    cell.message = Some("the worker reported no samples".into());
                }
            }
        }
        cell
    }

    fn unit_kind(&self) -> Unit {
        self.unit_kind.unwrap_or(Unit::NsPerOp)
    }

    /// The figure as the table shows it, with the reduced n where there is one.
    pub fn figure_text(&self) -> Option<String> {
        let v = self.figure?;
        let mut s = format_value(self.unit_kind(), v);
        if self.reduced_n {
            let _ = write!(s, " (n={})", short_count(self.n));
        }
        Some(s)
    }

    /// One line for the progress log.
    pub fn short(&self) -> String {
        match (self.figure_text(), &self.message) {
            (Some(f), _) => {
                let (lo, hi) = (self.min.unwrap_or(0.0), self.max.unwrap_or(0.0));
                let u = self.unit_kind();
                format!(
                    "{f}  [min {} max {}]",
                    format_value(u, lo),
                    format_value(u, hi)
                )
            }
            (None, Some(m)) if self.status == "error" => format!("ERROR: {m}"),
            (None, Some(m)) => m.clone(),
            (None, None) => "?".into(),
        }
    }
}

pub fn format_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::NsPerOp if v.abs() < 100.0 => format!("{v:.1} ns"),
        Unit::NsPerOp => format!("{} ns", thousands(v)),
        Unit::TotalMs if v.abs() < 10.0 => format!("{v:.2} ms"),
        Unit::TotalMs if v.abs() < 100.0 => format!("{v:.1} ms"),
        Unit::TotalMs => format!("{} ms", thousands(v)),
        Unit::BytesPerOp => format!("{} B", thousands(v)),
    }
}

fn thousands(v: f64) -> String {
    let neg = v < 0.0;
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

fn short_count(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct WorkloadResult {
    pub workload: &'static str,
    pub what: &'static str,
    pub unit: &'static str,
    pub n: usize,
    pub fresh_process_per_run: bool,
    /// How each peer runs it.
    pub peers: &'static str,
    pub cells: Vec<Cell>,
    /// goro's figure over Go's (lower is better for goro).
    pub goro_over_go: Option<f64>,
    #[serde(skip)]
    unit_kind: Option<Unit>,
    #[serde(skip)]
    per_item: Option<&'static str>,
}

impl WorkloadResult {
    pub fn new(w: &'static Workload, quick: bool) -> WorkloadResult {
        WorkloadResult {
            workload: w.name,
            what: w.what,
            unit: w.unit.label(),
            n: if quick { w.quick_n } else { w.n },
            fresh_process_per_run: w.fresh_process,
            peers: w.peers_note,
            cells: Vec::new(),
            goro_over_go: None,
            unit_kind: Some(w.unit),
            per_item: w.per_item,
        }
    }

    pub fn cell(&self, rt: Runtime) -> Option<&Cell> {
        self.cells.iter().find(|c| c.rt == Some(rt))
    }

    /// `rt`'s figure over Go's, where both ran at the same n.
    pub fn ratio_to_go(&self, rt: Runtime) -> Option<f64> {
        let (a, g) = (self.cell(rt)?, self.cell(Runtime::Go)?);
        if a.n != g.n {
            return None;
        }
        let (a, g) = (a.figure?, g.figure?);
        (g > 0.0).then(|| a / g)
    }

    pub fn compute_ratio(&mut self) {
        self.goro_over_go = self.ratio_to_go(Runtime::Goro);
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub command: String,
    pub machine: Machine,
    pub load_avg_end: String,
    pub quick: bool,
    pub warmup: usize,
    pub runs: usize,
    pub rounds: usize,
    pub method: String,
    pub goro_built: bool,
    pub results: Vec<WorkloadResult>,
}

impl Report {
    pub fn new(machine: Machine, opts: &Options, results: Vec<WorkloadResult>) -> Report {
        let method = format!(
            "Each (workload, runtime) cell runs in a process of its own (a crash or an \
             out-of-memory shows in its cell and the run goes on). A cell does {} warm-up \
             run(s), then {} measured runs, and the whole table is run {} time(s) in turn \
             (--rounds), pooling each cell's samples; the figure is the median of the pool, \
             min and max are shown beside it. Workloads marked fresh-process (rss_parked) instead run {} separate \
             processes of one run each, with no warm-up, since a warm runtime pools freed \
             stacks. RSS is resident pages from /proc/self/statm times the page size, read \
             once all n goroutines are counted as blocked plus {} ms to settle. Every \
             runtime gets one OS thread per core ({}): GOMAXPROCS (Go's default), goro \
             gomaxprocs, tokio worker_threads, may workers. The machine is shared: see the \
             load averages.",
            opts.warmup,
            opts.runs,
            opts.rounds,
            opts.runs,
            crate::workloads::SETTLE.as_millis(),
            crate::workloads::cores(),
        );
        Report {
            tool: concat!("goro-bench ", env!("CARGO_PKG_VERSION")),
            command: opts.command.clone(),
            machine,
            load_avg_end: crate::machine::load_avg(),
            quick: opts.quick,
            warmup: opts.warmup,
            runs: opts.runs,
            rounds: opts.rounds,
            method,
            goro_built: cfg!(feature = "goro"),
            results,
        }
    }
}

const HEADERS: [&str; 8] = [
    "workload",
    "unit",
    "goro",
    "Go",
    "goro/Go",
    "tokio",
    "may",
    "std-thread",
];
const COLUMNS: [Runtime; 5] = [
    Runtime::Goro,
    Runtime::Go,
    Runtime::Tokio,
    Runtime::May,
    Runtime::StdThread,
];

/// The table's rows as text, with errors replaced by footnote marks.
fn table_rows(report: &Report, notes: &mut Vec<String>, skip_width: usize) -> Vec<Vec<String>> {
    report
        .results
        .iter()
        .map(|r| {
            let mut row = vec![r.workload.to_string(), r.unit.to_string()];
            for rt in COLUMNS {
                let text = match r.cell(rt) {
                    None => "—".to_string(),
                    Some(c) => match (c.figure_text(), c.status, &c.message) {
                        (Some(f), _, _) => f,
                        (None, "error", Some(m)) => {
                            notes.push(format!("{} / {}: {m}", r.workload, rt.title()));
                            format!("error [{}]", notes.len())
                        }
                        (None, _, Some(m)) if m.chars().count() <= skip_width => m.clone(),
                        (None, _, Some(m)) => {
                            notes.push(format!("{} / {}: {m}", r.workload, rt.title()));
                            format!("skipped [{}]", notes.len())
                        }
                        (None, _, None) => "?".into(),
                    },
                };
                row.push(text);
                if rt == Runtime::Go {
                    row.push(
                        r.goro_over_go
                            .map_or_else(|| "—".to_string(), |x| format!("{x:.2}×")),
                    );
                }
            }
            row
        })
        .collect()
}

fn machine_lines(report: &Report) -> Vec<String> {
    let m = &report.machine;
    vec![
        format!(
            "machine: {} — {} cores usable ({} online), {} RAM",
            m.cpu, m.cores, m.cpus_online, m.mem_total
        ),
        format!("kernel:  {} ({})", m.kernel, m.os),
        format!("date:    {}", m.date_utc),
        format!("rustc:   {}", m.rustc),
        format!("go:      {}", m.go),
        format!(
            "load:    {} at start, {} at end (1/5/15 min)",
            m.load_avg_start, report.load_avg_end
        ),
        format!("cores:   {}", cross_core_line(&m.cross_core_rtt_ns)),
        format!("command: {}", report.command),
    ]
}

/// The cross-core probes, in order: one per round, then one at the end.
fn cross_core_line(rtts: &[u32]) -> String {
    if rtts.is_empty() {
        return "cross-core round trip not measured (one core)".into();
    }
    let list: Vec<String> = rtts.iter().map(|ns| format!("{ns} ns")).collect();
    format!(
        "cross-core round trip {} (start of each round, then end); on a VM it moves \
         with the host's placement of the vCPUs, and so do the cells that hand \
         goroutines between cores",
        list.join(", ")
    )
}

pub fn terminal(report: &Report) -> String {
    let mut notes = Vec::new();
    let rows = table_rows(report, &mut notes, 30);
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = w - c.chars().count();
                if i < 2 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = String::new();
    let headers: Vec<String> = HEADERS.iter().map(|s| s.to_string()).collect();
    let _ = writeln!(out, "{}", line(&headers));
    let _ = writeln!(
        out,
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    );
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    if !notes.is_empty() {
        out.push('\n');
        for (i, n) in notes.iter().enumerate() {
            let _ = writeln!(out, "[{}] {n}", i + 1);
        }
    }
    out.push('\n');
    for l in machine_lines(report) {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(
        out,
        "figures: median of {} runs × {} round(s) ({} warm-up per process); lower is better; \
         goro/Go < 1 means goro wins",
        report.runs, report.rounds, report.warmup
    );
    if !report.goro_built {
        let _ = writeln!(out, "goro:    {}", crate::GORO_OFF);
    }
    out
}

pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# goro benchmark report\n");
    let mut notes = Vec::new();
    let rows = table_rows(report, &mut notes, 40);
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADERS.len()));
    for row in &rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(out, "{}. {}", i + 1, n.replace('|', "\\|"));
    }
    let _ = writeln!(
        out,
        "\nLower is better. goro/Go below 1 means goro is ahead. `—`: the runtime has no \
         such workload. The std-thread column is OS threads: `spawn_join` spawns one per \
         goroutine (at a reduced n); the channel workloads (pingpong, spsc_*, mpmc_4x4, \
         select4, worker_pool, cb_*) use crossbeam-channel between OS threads. tokio uses \
         tasks and `tokio::sync::mpsc` (capacity 1 where the workload is unbuffered). Each \
         workload's details below say how every peer ran it.\n"
    );
    let _ = writeln!(out, "## Machine and command\n");
    for l in machine_lines(report) {
        let _ = writeln!(out, "- {l}");
    }
    let _ = writeln!(out, "\n## How it was measured\n\n{}\n", report.method);
    if !report.goro_built {
        let _ = writeln!(out, "{}\n", crate::GORO_OFF);
    }
    let _ = writeln!(out, "## Details\n");
    for r in &report.results {
        let u = r.unit_kind.unwrap_or(Unit::NsPerOp);
        let _ = writeln!(out, "### {} (n = {})\n\n{}\n", r.workload, r.n, r.what);
        if !r.peers.is_empty() {
            let _ = writeln!(out, "Peers: {}\n", r.peers);
        }
        let _ = writeln!(
            out,
            "| runtime | n | threads | median | min | max | runs | time/run (median) | peak RSS |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
        for c in &r.cells {
            let v = |x: Option<f64>| x.map_or_else(|| "—".into(), |x| format_value(u, x));
            let status = match (&c.figure, &c.message) {
                (Some(_), _) => v(c.figure),
                (None, Some(m)) => format!("{}: {}", c.status, m.replace('|', "\\|")),
                (None, None) => c.status.to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.rt.map_or(c.runtime, Runtime::title),
                c.n,
                c.threads.map_or_else(|| "—".into(), |t| t.to_string()),
                status,
                v(c.min),
                v(c.max),
                c.samples.len(),
                c.median_run_ms
                    .map_or_else(|| "—".into(), |ms| format!("{ms:.1} ms")),
                c.max_rss_kib
                    .map_or_else(|| "—".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            );
        }
        out.push('\n');
        if let Some(item) = r.per_item {
            for c in &r.cells {
                if let (Some(ms), true) = (c.figure, c.n > 0) {
                    let _ = writeln!(
                        out,
                        "- {}: {:.2} µs per {item} (median run ÷ n, sleep included)",
                        c.rt.map_or(c.runtime, Runtime::title),
                        ms * 1e3 / c.n as f64,
                    );
                }
            }
            out.push('\n');
        }
    }
    out
}

/// Writes report.json, report.md and (where there is a ratio to draw) report.svg.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    for (name, text) in [("report.json", json), ("report.md", markdown(report))] {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("writing {}: {e}", p.display()))?;
        written.push(p);
    }
    let svg = dir.join("report.svg");
    if crate::chart::draw(report, &svg)? {
        written.push(svg);
    }
    Ok(written)
}
