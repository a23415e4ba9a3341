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
    /// Part of the default run (no `--only`); `false` keeps a slow workload for
    /// `--only NAME` or `--all`. Every workload is on today.
    pub default_on: bool,
    /// How each peer runs it (shown in report.md): which channel, which threads.
    pub peers_note: &'static str,
    /// For a total-time figure: what one of the n items is, to show the time per
    /// item in the details (`sleepers`: "goroutine").
    pub per_item: Option<&'static str>,
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

/// crossbeam-channel's benchmark message count (its `MESSAGES` is 5,000,000; reduced
/// here, the same for every runtime, so the 22 `cb_*` cells stay short).
pub const CB_MESSAGES: usize = 1_000_000;
/// crossbeam-channel's benchmark `THREADS`.
pub const CB_THREADS: usize = 4;

/// One of crossbeam-channel's benchmarks (`crossbeam-channel/benchmarks/`): `n` is
/// `MESSAGES`, ns per message.
macro_rules! cb {
    ($name:literal, $what:literal) => {
        cb!($name, $what, full(Runtime::StdThread))
    };
    // Unbuffered: crossbeam-channel between OS threads costs tens of µs per message
    // on a small machine, so its n is cut (the ns/message figure stays comparable).
    ($name:literal, $what:literal, reduced) => {
        cb!($name, $what, reduced(Runtime::StdThread, 40_000, 400))
    };
    ($name:literal, $what:literal, $std:expr) => {
        Workload {
            name: $name,
            what: $what,
            unit: Unit::NsPerOp,
            n: CB_MESSAGES,
            quick_n: 4_000,
            fresh_process: false,
            default_on: true,
            peers_note: "std-thread: crossbeam-channel on OS threads (crossbeam's own benchmark code); \
                         goro and Go have no unbounded channel: `unbounded` is bounded(n) for them \
                         (as crossbeam's Go twin does), crossbeam-channel's unbounded() for std-thread",
            per_item: None,
            peers: &[
                full(Runtime::Goro),
                full(Runtime::Go),
                $std,
            ],
        }
    };
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "spawn_join",
        what: "spawn n goroutines that return at once, then join them all (Go: sync.WaitGroup)",
        unit: Unit::NsPerOp,
        n: 1_000_000,
        quick_n: 1_000,
        fresh_process: false,
        default_on: true,
        peers_note: "tokio: spawn + await each handle; may: go! + join; std-thread: thread::spawn + join at a reduced n",
        per_item: None,
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
        default_on: true,
        peers_note: "Go: the canonical channel version; tokio: spawn + await; may: go! + join",
        per_item: None,
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
        default_on: true,
        peers_note: "Go: <-ch on one channel; tokio: Notify; may: SyncFlag",
        per_item: None,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::Tokio),
            full(Runtime::May),
        ],
    },
    Workload {
        name: "pingpong",
        what: "two goroutines, two unbuffered channels: n round trips (a value there and back)",
        unit: Unit::NsPerOp,
        n: 1_000_000,
        quick_n: 2_000,
        fresh_process: false,
        default_on: true,
        peers_note: "tokio: two tasks, two mpsc channels of capacity 1 (tokio has no unbuffered channel); \
                     may: two coroutines, may::sync::mpsc (unbounded: one value in flight at most); \
                     std-thread: two OS threads, crossbeam-channel bounded(0)",
        per_item: None,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::Tokio),
            full(Runtime::May),
            reduced(Runtime::StdThread, 20_000, 200),
        ],
    },
    Workload {
        name: "spsc_unbuffered",
        what: "one producer sends n values on an unbuffered channel, one consumer receives them (sum checked)",
        unit: Unit::NsPerOp,
        n: 1_000_000,
        quick_n: 2_000,
        fresh_process: false,
        default_on: true,
        peers_note: "std-thread: two OS threads, crossbeam-channel bounded(0); tokio: none (no unbuffered channel)",
        per_item: None,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            reduced(Runtime::StdThread, 40_000, 400),
        ],
    },
    Workload {
        name: "spsc_buffered",
        what: "one producer sends n values on a channel of capacity 1024, one consumer receives them (sum checked)",
        unit: Unit::NsPerOp,
        n: 5_000_000,
        quick_n: 5_000,
        fresh_process: false,
        default_on: true,
        peers_note: "tokio: two tasks, mpsc::channel(1024); std-thread: two OS threads, crossbeam-channel bounded(1024)",
        per_item: None,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::Tokio),
            full(Runtime::StdThread),
        ],
    },
    Workload {
        name: "mpmc_4x4",
        what: "4 producers, 4 consumers, one channel of capacity 1024, n messages in all (sum checked)",
        unit: Unit::NsPerOp,
        n: 4_000_000,
        quick_n: 4_000,
        fresh_process: false,
        default_on: true,
        peers_note: "std-thread: 8 OS threads, crossbeam-channel bounded(1024); tokio: none (its channels are not MPMC)",
        per_item: None,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::StdThread),
        ],
    },
    Workload {
        name: "select4",
        what: "4 producers, each on its own channel of capacity 16; one consumer selects over the 4 until n values arrived",
        unit: Unit::NsPerOp,
        n: 2_000_000,
        quick_n: 4_000,
        fresh_process: false,
        default_on: true,
        peers_note: "tokio: 5 tasks, mpsc::channel(16) each, tokio::select! (random order, as Go); \
                     std-thread: 5 OS threads, crossbeam-channel bounded(16), crossbeam's select!",
        per_item: None,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::Tokio),
            full(Runtime::StdThread),
        ],
    },
    Workload {
        name: "sieve",
        what: "the concurrent prime sieve (Go's test/chan/sieve1.go): a generator plus one filter goroutine \
               per prime on unbuffered channels, to the n-th prime (n = 5000: 48611, checked)",
        unit: Unit::TotalMs,
        n: 5_000,
        quick_n: 100,
        fresh_process: false,
        default_on: true,
        peers_note: "tokio: one task per filter, mpsc::channel(1) (tokio has no unbuffered channel). \
                     The generator stops at the expected prime and closes, so the chain shuts down \
                     (exactly n primes must arrive, the last one the expected)",
        per_item: None,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::Tokio),
        ],
    },
    Workload {
        name: "thread_ring",
        what: "thread-ring (benchmarks game): 503 goroutines in a ring of unbuffered channels pass a token n hops \
               (the finishing goroutine's id checked)",
        unit: Unit::TotalMs,
        n: 10_000_000,
        quick_n: 10_000,
        fresh_process: false,
        default_on: true,
        peers_note: "tokio: 503 tasks, mpsc::channel(1) (tokio has no unbuffered channel); \
                     may: 503 coroutines, may::sync::mpsc (unbounded; one token in flight at most)",
        per_item: None,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::Tokio),
            full(Runtime::May),
        ],
    },
    Workload {
        name: "worker_pool",
        what: "8 workers read jobs from one channel (capacity 128) and write x*x mod 1000003 to another; \
               a feeder sends n jobs, main sums the n results (sum checked)",
        unit: Unit::NsPerOp,
        n: 2_000_000,
        quick_n: 4_000,
        fresh_process: false,
        default_on: true,
        peers_note: "std-thread: 8 worker threads + a feeder thread, crossbeam-channel bounded(128); \
                     tokio: none (its channels are not MPMC)",
        per_item: None,
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::StdThread),
        ],
    },
    Workload {
        name: "timers",
        what: "n timers (deadline 1 h) created, then all stopped; time per timer (create + stop)",
        unit: Unit::NsPerOp,
        n: 1_000_000,
        quick_n: 1_000,
        fresh_process: false,
        default_on: true,
        peers_note: "Go: time.NewTimer + Stop; goro: goro::time::Timer::new + stop",
        per_item: None,
        peers: &[full(Runtime::Goro), full(Runtime::Go)],
    },
    Workload {
        name: "sleep_lateness",
        what: "n sequential 1 ms sleeps in one goroutine on an otherwise idle runtime; \
               the figure is the run's median lateness per sleep (the p99 is in the details' max)",
        unit: Unit::NsPerOp,
        n: 500,
        quick_n: 5,
        fresh_process: false,
        default_on: true,
        peers_note: "Go: time.Sleep(1ms); goro: goro::time::sleep(1ms); figure = median of \
                     (actual - 1 ms) over the n sleeps of a run",
        per_item: None,
        peers: &[full(Runtime::Goro), full(Runtime::Go)],
    },
    Workload {
        name: "sleepers",
        what: "n goroutines each sleep a pseudo-random 1–10 ms (fixed seed), then all are joined",
        unit: Unit::TotalMs,
        n: 100_000,
        quick_n: 1_000,
        fresh_process: false,
        default_on: true,
        peers_note: "Go: time.Sleep + sync.WaitGroup; goro: goro::time::sleep + join; \
                     tokio: tokio::time::sleep + await handles; may: may::coroutine::sleep + join \
                     (may fails near 65k live coroutines: vm.max_map_count)",
        per_item: Some("goroutine"),
        peers: &[
            full(Runtime::Goro),
            full(Runtime::Go),
            full(Runtime::Tokio),
            full(Runtime::May),
        ],
    },
    cb!("cb_seq_boundedN", "crossbeam-channel bench seq: one goroutine sends n values, then receives them; capacity n"),
    cb!("cb_seq_unbounded", "crossbeam-channel bench seq: one goroutine sends n values, then receives them; unbounded (goro, Go: capacity n)"),
    cb!("cb_spsc_bounded0", "crossbeam-channel bench spsc: 1 producer, 1 consumer; unbuffered", reduced),
    cb!("cb_spsc_bounded1", "crossbeam-channel bench spsc: 1 producer, 1 consumer; capacity 1"),
    cb!("cb_spsc_boundedN", "crossbeam-channel bench spsc: 1 producer, 1 consumer; capacity n"),
    cb!("cb_spsc_unbounded", "crossbeam-channel bench spsc: 1 producer, 1 consumer; unbounded (goro, Go: capacity n)"),
    cb!("cb_mpsc_bounded0", "crossbeam-channel bench mpsc: 4 producers (n/4 each), 1 consumer; unbuffered", reduced),
    cb!("cb_mpsc_bounded1", "crossbeam-channel bench mpsc: 4 producers (n/4 each), 1 consumer; capacity 1"),
    cb!("cb_mpsc_boundedN", "crossbeam-channel bench mpsc: 4 producers (n/4 each), 1 consumer; capacity n"),
    cb!("cb_mpsc_unbounded", "crossbeam-channel bench mpsc: 4 producers (n/4 each), 1 consumer; unbounded (goro, Go: capacity n)"),
    cb!("cb_mpmc_bounded0", "crossbeam-channel bench mpmc: 4 producers, 4 consumers (n/4 each); unbuffered", reduced),
    cb!("cb_mpmc_bounded1", "crossbeam-channel bench mpmc: 4 producers, 4 consumers (n/4 each); capacity 1"),
    cb!("cb_mpmc_boundedN", "crossbeam-channel bench mpmc: 4 producers, 4 consumers (n/4 each); capacity n"),
    cb!("cb_mpmc_unbounded", "crossbeam-channel bench mpmc: 4 producers, 4 consumers (n/4 each); unbounded (goro, Go: capacity n)"),
    cb!("cb_select_rx_bounded0", "crossbeam-channel bench select_rx: 4 producers on 4 channels, 1 consumer selects over the 4; unbuffered", reduced),
    cb!("cb_select_rx_bounded1", "crossbeam-channel bench select_rx: 4 producers on 4 channels, 1 consumer selects over the 4; capacity 1"),
    cb!("cb_select_rx_boundedN", "crossbeam-channel bench select_rx: 4 producers on 4 channels, 1 consumer selects over the 4; capacity n"),
    cb!("cb_select_rx_unbounded", "crossbeam-channel bench select_rx: 4 producers on 4 channels, 1 consumer selects over the 4; unbounded (goro, Go: capacity n)"),
    cb!("cb_select_both_bounded0", "crossbeam-channel bench select_both: 4 producers select a send over 4 channels, 4 consumers select a receive over them; unbuffered", reduced),
    cb!("cb_select_both_bounded1", "crossbeam-channel bench select_both: 4 producers select a send over 4 channels, 4 consumers select a receive over them; capacity 1"),
    cb!("cb_select_both_boundedN", "crossbeam-channel bench select_both: 4 producers select a send over 4 channels, 4 consumers select a receive over them; capacity n"),
    cb!("cb_select_both_unbounded", "crossbeam-channel bench select_both: 4 producers select a send over 4 channels, 4 consumers select a receive over them; unbounded (goro, Go: capacity n)"),
];

pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// What `--only NAME` runs: the workload of that name, else every workload whose
/// name starts with `NAME_` (`cb` is the whole `cb_*` group, `spsc` both spsc ones).
pub fn select(name: &str) -> Vec<&'static Workload> {
    if let Some(w) = find(name) {
        return vec![w];
    }
    let prefix = format!("{name}_");
    WORKLOADS
        .iter()
        .filter(|w| w.name.starts_with(&prefix))
        .collect()
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

/// One run of a workload at size `n`.
pub type WorkloadFn = Box<dyn Fn(usize) -> Result<Sample, String> + Send + Sync>;

/// A plain `fn` workload as a [`WorkloadFn`].
pub fn boxed(f: fn(usize) -> Result<Sample, String>) -> WorkloadFn {
    Box::new(f)
}

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

/// `sum(0..m)`.
pub fn sum_below(m: usize) -> u64 {
    let m = m as u64;
    m * m.saturating_sub(1) / 2
}

/// An error unless `got == want`.
pub fn check_eq(what: &str, got: u64, want: u64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got}, want {want}"))
    }
}

/// Producers that split `n` values evenly need `n` to be a multiple of their count.
pub fn check_multiple(what: &str, n: usize, k: usize) -> Result<(), String> {
    if n % k == 0 && n > 0 {
        Ok(())
    } else {
        Err(format!(
            "{what} needs n to be a positive multiple of {k}, got {n}"
        ))
    }
}

/// The capacity of `mpmc_4x4`'s and `spsc_buffered`'s channel.
pub const BUFFERED_CAP: usize = 1024;
/// `mpmc_4x4`: producers and consumers.
pub const MPMC_SIDES: usize = 4;
/// `select4`: the channels selected over, and their capacity.
pub const SELECT_CHANNELS: usize = 4;
pub const SELECT_CAP: usize = 16;
/// `thread_ring`: goroutines in the ring.
pub const RING: usize = 503;
/// `worker_pool`: workers, and the capacity of the jobs and results channels.
pub const POOL_WORKERS: usize = 8;
pub const POOL_CAP: usize = 128;

/// `worker_pool`'s job.
#[inline]
pub fn pool_job(x: u64) -> u64 {
    x * x % 1_000_003
}

/// `worker_pool`'s expected sum over jobs `0..n`.
pub fn pool_expected(n: usize) -> u64 {
    (0..n as u64).map(pool_job).sum()
}

/// The `n`-th prime (1-based), by trial division: `sieve`'s expected answer and the
/// generator's last number.
pub fn nth_prime(n: usize) -> u64 {
    let mut found = 0;
    let mut k = 1u64;
    while found < n {
        k += 1;
        if (2..).take_while(|d| d * d <= k).all(|d| k % d != 0) {
            found += 1;
        }
    }
    k
}

/// `thread_ring`: the 1-based id of the goroutine that receives the token at 0, when
/// goroutine 1 gets it at `n`.
pub fn ring_expected(n: usize) -> u64 {
    (n % RING) as u64 + 1
}

/// `sleepers`: goroutine `i`'s sleep, 1–10 ms from a fixed-seed LCG (the Go twin
/// computes the same).
pub fn sleeper_ms(i: usize) -> u64 {
    let x = (i as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (x >> 33) % 10 + 1
}

/// The shape of one of crossbeam-channel's benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CbKind {
    Seq,
    Spsc,
    Mpsc,
    Mpmc,
    SelectRx,
    SelectBoth,
}

/// The channel of one of crossbeam-channel's benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CbCap {
    Bounded0,
    Bounded1,
    /// Capacity `n`: never full.
    BoundedN,
    /// crossbeam's `unbounded()`; capacity `n` for goro and Go, which have none.
    Unbounded,
}

/// A `cb_<kind>_<cap>` workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CbSpec {
    pub kind: CbKind,
    pub cap: CbCap,
}

impl CbSpec {
    pub fn parse(name: &str) -> Option<CbSpec> {
        let rest = name.strip_prefix("cb_")?;
        let (kind, cap) = rest.rsplit_once('_')?;
        let kind = match kind {
            "seq" => CbKind::Seq,
            "spsc" => CbKind::Spsc,
            "mpsc" => CbKind::Mpsc,
            "mpmc" => CbKind::Mpmc,
            "select_rx" => CbKind::SelectRx,
            "select_both" => CbKind::SelectBoth,
            _ => return None,
        };
        let cap = match cap {
            "bounded0" => CbCap::Bounded0,
            "bounded1" => CbCap::Bounded1,
            "boundedN" => CbCap::BoundedN,
            "unbounded" => CbCap::Unbounded,
            _ => return None,
        };
        find(name)?;
        Some(CbSpec { kind, cap })
    }

    /// The capacity for a runtime with bounded channels only (goro, Go).
    pub fn bounded_cap(self, n: usize) -> usize {
        match self.cap {
            CbCap::Bounded0 => 0,
            CbCap::Bounded1 => 1,
            CbCap::BoundedN | CbCap::Unbounded => n,
        }
    }

    /// What every message sent sums to (each sender sends `0..n/senders`).
    pub fn expected_sum(self, n: usize) -> u64 {
        match self.kind {
            CbKind::Seq | CbKind::Spsc => sum_below(n),
            _ => CB_THREADS as u64 * sum_below(n / CB_THREADS),
        }
    }

    pub fn check_n(self, n: usize) -> Result<(), String> {
        match self.kind {
            CbKind::Seq | CbKind::Spsc => Ok(()),
            _ => check_multiple("cb", n, CB_THREADS),
        }
    }
}
