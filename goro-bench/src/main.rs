//! `goro-bench`: goro side by side with Go, tokio, may and std threads.
//!
//! ```text
//! cargo run --release -p goro-bench -- [--only a,b] [--quick] [--runs N] [--out DIR]
//! ```
//!
//! Every (workload, runtime) cell runs in a process of its own: this binary
//! re-executes itself as `goro-bench worker ...`, and runs the Go twins
//! (`bench/go`, built into `target/bench-go/gobench`) with the same parameters.

mod chart;
mod harness;
mod machine;
mod protocol;
mod report;
mod rss;
mod worker;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use workloads::Runtime;

/// What the goro column says when this binary was built without the `goro` feature.
pub const GORO_OFF: &str =
    "goro not built in (this binary was built with --no-default-features; the goro feature is the goro column)";

const USAGE: &str = "\
goro-bench: goro side by side with Go, tokio, may and std threads

USAGE:
    goro-bench [OPTIONS]

OPTIONS:
    --only NAME,...       run only these workloads; a prefix before `_` picks a group
                          (`--only cb`: crossbeam-channel's benchmark set)
    --all                 also the workloads marked off by default (none today)
    --runtimes NAME,...   run only these columns (goro, go, tokio, may, std-thread)
    --quick               tiny sizes (the CI smoke test)
    --runs N              measured runs per cell [default: 5]
    --rounds K            run the whole table K times, interleaved, and pool the samples
                          (spreads bursts of outside load over every column) [default: 1]
    --warmup N            warm-up runs per cell [default: 1]
    --out DIR             where report.{json,md,svg} go [default: <workspace>/target/bench-report]
    --timeout SECS        per worker process [default: 120, 60 with --quick]
    --no-go               leave Go out even if `go` is on PATH
    --list                list the workloads and exit
    -h, --help            this text
";

fn value<'a>(it: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<&'a String, String> {
    it.next().ok_or_else(|| format!("{flag} needs a value"))
}

fn number(it: &mut std::slice::Iter<'_, String>, flag: &str) -> Result<usize, String> {
    let v = value(it, flag)?;
    v.parse().map_err(|_| format!("{flag}: not a number: {v}"))
}

fn parse_runtime(s: &str) -> Result<Runtime, String> {
    Runtime::parse(s).ok_or_else(|| format!("unknown runtime {s:?}"))
}

fn worker_main(args: &[String]) -> Result<i32, String> {
    let (mut runtime, mut workload, mut n, mut warmup, mut runs) = (None, None, None, 1, 5);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runtime" => runtime = Some(parse_runtime(value(&mut it, a)?)?),
            "--workload" => workload = Some(value(&mut it, a)?.clone()),
            "--n" => n = Some(number(&mut it, a)?),
            "--warmup" => warmup = number(&mut it, a)?,
            "--runs" => runs = number(&mut it, a)?,
            other => return Err(format!("worker: unknown argument {other:?}")),
        }
    }
    let workload = workload.ok_or("worker: --workload is required")?;
    let n = match n {
        Some(n) => n,
        None => workloads::find(&workload).map_or(1_000, |w| w.n),
    };
    Ok(worker::main(worker::WorkerArgs {
        runtime: runtime.ok_or("worker: --runtime is required")?,
        workload,
        n,
        warmup,
        runs,
    }))
}

fn harness_main(args: &[String]) -> Result<i32, String> {
    let mut opts = harness::Options {
        only: None,
        runtimes: None,
        quick: false,
        all: false,
        runs: 5,
        rounds: 1,
        warmup: 1,
        out: harness::workspace_root()
            .join("target")
            .join("bench-report"),
        timeout: Duration::ZERO,
        no_go: false,
        command: std::iter::once("goro-bench".to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" "),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--only" => {
                opts.only = Some(value(&mut it, a)?.split(',').map(str::to_string).collect())
            }
            "--runtimes" => {
                opts.runtimes = Some(
                    value(&mut it, a)?
                        .split(',')
                        .map(parse_runtime)
                        .collect::<Result<_, _>>()?,
                )
            }
            "--quick" => opts.quick = true,
            "--all" => opts.all = true,
            "--runs" => opts.runs = number(&mut it, a)?.max(1),
            "--rounds" => opts.rounds = number(&mut it, a)?.max(1),
            "--warmup" => opts.warmup = number(&mut it, a)?,
            "--out" => opts.out = PathBuf::from(value(&mut it, a)?),
            "--timeout" => opts.timeout = Duration::from_secs(number(&mut it, a)? as u64),
            "--no-go" => opts.no_go = true,
            "--list" => {
                for w in workloads::WORKLOADS {
                    println!(
                        "{:<26} {:<16} n={:<9} {}{}",
                        w.name,
                        w.unit.label(),
                        w.n,
                        if w.default_on {
                            ""
                        } else {
                            "[not in the default run] "
                        },
                        w.what
                    );
                }
                return Ok(0);
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    if opts.timeout.is_zero() {
        opts.timeout = Duration::from_secs(if opts.quick { 60 } else { 120 });
    }
    if !cfg!(feature = "goro") {
        eprintln!("note: {GORO_OFF}");
    }
    let report = harness::run(&opts)?;
    println!("\n{}", report::terminal(&report));
    let written = report::write_all(&report, &opts.out)?;
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("worker") => worker_main(&args[1..]),
        _ => harness_main(&args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("goro-bench: {e}");
            std::process::exit(2);
        }
    }
}
