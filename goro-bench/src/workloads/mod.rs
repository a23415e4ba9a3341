//! The workload registry and the per-runtime implementations.
//!
//! # Adding a workload
//!
//! 1. Add an entry to [`WORKLOADS`] (name, what it measures, unit, sizes, peers).
//! 2. Add a `fn` to each Rust runtime module that has it (`goro_rt`, `tokio_rt`,
//!    `may_rt`, `thread_rt`) and one line to that module's `find` match.
//! 3. Add a `case` to `bench/go/main.go`'s `workloads` map.
//!
//! Nothing else changes: the harness, the worker, the table and the reports are
//! driven by this registry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[cfg(feature = "goro")]
pub mod goro_rt;
pub mod may_rt;
pub mod thread_rt;
pub mod tokio_rt;

/// How a workload's figure is expressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Median wall time of one run divided by `n`.
    NsPerOp,
    /// Median wall time of one run, in milliseconds.
    TotalMs,
    /// Median RSS growth of one run divided by `n` (time is reported too, secondarily).
    BytesPerOp,
}

impl Unit {
    pub fn label(self) -> &'static str {
        match self {
            Unit::NsPerOp => "ns/op",
            Unit::TotalMs => "ms",
            Unit::BytesPerOp => "bytes/goroutine",
        }
    }
}

/// The runtimes that can appear in the table, in column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    Goro,
    Go,
    Tokio,
    May,
    StdThread,
}

impl Runtime {
    pub const ALL: [Runtime; 5] = [
        Runtime::Goro,
        Runtime::Go,
        Runtime::Tokio,
        Runtime::May,
        Runtime::StdThread,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Runtime::Goro => "goro",
            Runtime::Go => "go",
            Runtime::Tokio => "tokio",
            Runtime::May => "may",
            Runtime::StdThread => "std-thread",
        }
    }

    /// The column heading.
    pub fn title(self) -> &'static str {
        match self {
            Runtime::Go => "Go",
            other => other.name(),
        }
    }

    pub fn parse(s: &str) -> Option<Runtime> {
        Runtime::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// A runtime that has a workload, and the size it runs it at when that is not the
/// workload's own (a thread per "goroutine" cannot do a million).
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub runtime: Runtime,
    pub n: Option<usize>,
    pub quick_n: Option<usize>,
}

const fn full(runtime: Runtime) -> Peer {
    Peer {
        runtime,
        n: None,
        quick_n: None,
    }
}

const fn reduced(runtime: Runtime, n: usize, quick_n: usize) -> Peer {
    Peer {
        runtime,
        n: Some(n),
        quick_n: Some(quick_n),
    }
}

#[derive(Debug)]
pub struct Workload {
    pub name: &'static str,
    /// One line: what is measured.
    pub what: &'static str,
    pub unit: Unit,
    pub n: usize,
    /// The size `--quick` uses (the CI smoke test).
    pub quick_n: usize,
    /// Run every measured sample in a process of its own, with no warm-up: for figures
    /// that a warm runtime would hide (freed stacks and goroutine structs are pooled,
    /// so a second run in the same process grows RSS by almost nothing).
    pub fresh_process: bool,
    pub peers: &'static [Peer],
}

impl Workload {
    pub fn peer(&self, runtime: Runtime) -> Option<&Peer> {
        self.peers.iter().find(|p| p.runtime == runtime)
    }

    pub fn n_for(&self, peer: &Peer, quick: bool) -> usize {
        if quick {
            peer.quick_n.unwrap_or(self.quick_n)
        } else {
            peer.n.unwrap_or(self.n)
        }
    }
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "spawn_join",
        what: "spawn n goroutines that return at once, then join them all (Go: sync.WaitGroup)",
        unit: Unit::NsPerOp,
        n: 1_000_000,
        quick_n: 1_000,
        fresh_process: false,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::Tokio),
            full(Runtime::May),
            reduced(Runtime::StdThread, 10_000, 100),
        ],
    },
    Workload {
        name: "skynet",
        what: "skynet: n leaves in a 10-ary tree, each node sums its 10 children (sum checked)",
        unit: Unit::TotalMs,
        n: 1_000_000,
        quick_n: 1_000,
        fresh_process: false,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::Tokio),
            full(Runtime::May),
        ],
    },
    Workload {
        name: "rss_parked",
        what: "RSS growth per goroutine with n goroutines parked at once, then released and joined",
        unit: Unit::BytesPerOp,
        n: 1_000_000,
        quick_n: 1_000,
        fresh_process: true,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::Tokio),
            full(Runtime::May),
        ],
    },
];

pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// One measured run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub elapsed: Duration,
    /// RSS after minus RSS before, for the workloads that measure it.
    pub rss_delta: Option<i64>,
}

impl Sample {
    pub fn since(start: Instant) -> Sample {
        Sample {
            elapsed: start.elapsed(),
            rss_delta: None,
        }
    }
}

pub type WorkloadFn = fn(usize) -> Result<Sample, String>;

/// Runs `warmup` unrecorded runs, then `runs` recorded ones.
pub fn measure(
    warmup: usize,
    runs: usize,
    mut one: impl FnMut() -> Result<Sample, String>,
) -> Result<Vec<Sample>, String> {
    for _ in 0..warmup {
        one()?;
    }
    (0..runs).map(|_| one()).collect()
}

/// The skynet sum for `n` leaves numbered `0..n`.
pub fn skynet_expected(n: usize) -> u64 {
    let n = n as u64;
    n * n.saturating_sub(1) / 2
}

/// skynet needs a power of ten (a 10-ary tree).
pub fn skynet_check_n(n: usize) -> Result<(), String> {
    let mut m = n;
    while m > 1 && m % 10 == 0 {
        m /= 10;
    }
    if m == 1 {
        Ok(())
    } else {
        Err(format!("skynet needs n to be a power of ten, got {n}"))
    }
}

pub fn skynet_check_sum(n: usize, sum: u64) -> Result<(), String> {
    let want = skynet_expected(n);
    if sum == want {
        Ok(())
    } else {
        Err(format!("skynet: wrong sum {sum}, want {want}"))
    }
}

/// The number of cores this process may use: the thread count given to every runtime.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Waits until `counter` reaches `n`, calling `pause` between looks; gives up with an
/// error once the counter has not moved for [`STALL`] (a runtime that failed to start
/// some goroutines must fail its cell, not hang it).
pub fn wait_for_count(
    counter: &AtomicUsize,
    n: usize,
    mut pause: impl FnMut(),
) -> Result<(), String> {
    let (mut last, mut since) = (usize::MAX, Instant::now());
    loop {
        let now = counter.load(Ordering::Acquire);
        if now >= n {
            return Ok(());
        }
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > STALL {
            return Err(format!(
                "stalled: only {now} of {n} goroutines reached the wait after {} s",
                STALL.as_secs()
            ));
        }
        pause();
    }
}

/// See [`wait_for_count`].
pub const STALL: Duration = Duration::from_secs(20);

/// How long to let the last parked goroutines settle after the counter says all are
/// there (the counter is bumped just before each one blocks).
pub const SETTLE: Duration = Duration::from_millis(100);
