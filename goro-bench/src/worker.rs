//! `goro-bench worker`: runs one workload on one Rust runtime, in this process, and
//! prints one JSON line ([`WorkerOutput`]).

use crate::protocol::WorkerOutput;
use crate::workloads::{self, Runtime, Sample, WorkloadFn};

pub struct WorkerArgs {
    pub runtime: Runtime,
    pub workload: String,
    pub n: usize,
    pub warmup: usize,
    pub runs: usize,
}

/// Returns the process exit code.
pub fn main(args: WorkerArgs) -> i32 {
    let mut out = WorkerOutput {
        workload: args.workload.clone(),
        runtime: args.runtime.name().to_string(),
        n: args.n,
        warmup: args.warmup,
        runs: args.runs,
        ..WorkerOutput::default()
    };
    install_panic_hook(&out);
    let result = run(&args, &mut out);
    out.max_rss_kib = crate::rss::peak_kib();
    let code = match result {
        Ok(samples) => {
            out.samples_ns = samples
                .iter()
                .map(|s| s.elapsed.as_nanos() as u64)
                .collect();
            out.median_ns = crate::protocol::median(&out.samples_ns).unwrap_or(0.0) as u64;
            out.rss_delta_bytes = samples.iter().filter_map(|s| s.rss_delta).collect();
            0
        }
        Err(e) => {
            out.error = Some(e);
            1
        }
    };
    println!(
        "{}",
        serde_json::to_string(&out).expect("serializing the worker output")
    );
    code
}

fn run(args: &WorkerArgs, out: &mut WorkerOutput) -> Result<Vec<Sample>, String> {
    let (n, warmup, runs) = (args.n, args.warmup, args.runs);
    let unsupported = || {
        format!(
            "{} has no workload {:?}",
            args.runtime.name(),
            args.workload
        )
    };
    let measure = move |f: WorkloadFn| workloads::measure(warmup, runs, || f(n));
    match args.runtime {
        Runtime::Go => Err("the Go worker is bench/go, not this binary".into()),
        Runtime::Tokio => {
            out.threads = workloads::cores();
            measure(workloads::tokio_rt::find(&args.workload).ok_or_else(unsupported)?)
        }
        Runtime::May => {
            out.threads = workloads::cores();
            measure(workloads::may_rt::find(&args.workload).ok_or_else(unsupported)?)
        }
        Runtime::StdThread => {
            out.threads = workloads::thread_rt::threads(&args.workload, n);
            measure(workloads::thread_rt::find(&args.workload).ok_or_else(unsupported)?)
        }
        #[cfg(feature = "goro")]
        Runtime::Goro => {
            let f = workloads::goro_rt::find(&args.workload).ok_or_else(unsupported)?;
            let (result, procs) =
                workloads::goro_rt::run_main(move || (measure(f), goro::runtime::gomaxprocs()))?;
            out.threads = procs;
            result
        }
        #[cfg(not(feature = "goro"))]
        Runtime::Goro => Err(crate::GORO_OFF.into()),
    }
}

/// Any panic in a worker is the cell's error: print it as the JSON line and exit at
/// once. The hook allocates nothing: a runtime that ran out of memory maps (may's
/// "failed to alloc sys stack") leaves malloc failing too, and the default hook's
/// backtrace then aborts or hangs the process instead of reporting.
fn install_panic_hook(template: &WorkerOutput) {
    use std::io::Write as _;

    let mut prefix = serde_json::to_string(&WorkerOutput {
        error: Some(String::new()),
        ..template.clone()
    })
    .expect("serializing the worker output");
    // `...,"error":""}` -> `...,"error":"` : the message and `"}` are appended.
    prefix.truncate(prefix.len() - 2);
    let buf = parking_lot::Mutex::new(String::with_capacity(prefix.len() + 8192));
    // Creates stdout's buffer now, while allocation works.
    let _ = std::io::stdout().flush();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg: &str = match payload.downcast_ref::<&str>() {
            Some(s) => s,
            None => payload
                .downcast_ref::<String>()
                .map_or("non-string panic payload", String::as_str),
        };
        let thread = std::thread::current();
        let mut text = buf.lock();
        text.clear();
        text.push_str(&prefix);
        let limit = text.capacity() - 16;
        let mut push_escaped = |s: &str| {
            for c in s.chars() {
                if text.len() + 8 > limit {
                    break;
                }
                match c {
                    '"' => text.push_str("\\\""),
                    '\\' => text.push_str("\\\\"),
                    c if (c as u32) < 0x20 => text.push(' '),
                    c => text.push(c),
                }
            }
        };
        push_escaped("panicked in thread ");
        push_escaped(thread.name().unwrap_or("<unnamed>"));
        if let Some(l) = info.location() {
            push_escaped(" at ");
            push_escaped(l.file());
            let mut num = [0u8; 24];
            let mut cursor = std::io::Cursor::new(&mut num[..]);
            let _ = write!(cursor, ":{}", l.line());
            let used = cursor.position() as usize;
            push_escaped(std::str::from_utf8(&num[..used]).unwrap_or(""));
        }
        push_escaped(": ");
        push_escaped(msg);
        text.push_str("\"}\n");
        let _ = std::io::stderr().write_all(text.as_bytes());
        let _ = std::io::stdout().write_all(text.as_bytes());
        let _ = std::io::stdout().flush();
        std::process::exit(101);
    }));
}
