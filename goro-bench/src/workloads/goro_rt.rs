//! goro peer. The runtime is configured once per process with one P per core, and
//! every workload runs on the main goroutine (`goro::run`), as Go's `main` does.
//!
//! There are no channels yet, so goroutines that must wait use [`Gate`], built from
//! the runtime's park/wake seam.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Sample, WorkloadFn};

pub fn find(workload: &str) -> Option<WorkloadFn> {
    Some(match workload {
        "spawn_join" => spawn_join,
        "skynet" => skynet,
        "rss_parked" => rss_parked,
        _ => return None,
    })
}

/// Configures the global runtime (before its first use) and runs `body` as the main
/// goroutine.
pub fn run_main<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    goro::runtime::Builder::new()
        .gomaxprocs(super::cores())
        .start()
        .map_err(|e| format!("starting the goro runtime: {e:?}"))?;
    Ok(goro::run(body))
}

/// A one-shot gate: goroutines `wait` until someone `open`s it.
#[derive(Default)]
pub struct Gate {
    open: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl Gate {
    pub fn wait(&self) {
        loop {
            if self.open.load(Ordering::Acquire) {
                return;
            }
            self.waiters.lock().push(goro::park::current_waker());
            if self.open.load(Ordering::Acquire) {
                return;
            }
            goro::park::park();
        }
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::Release);
        let waiters = std::mem::take(&mut *self.waiters.lock());
        for w in waiters {
            w.wake();
        }
    }
}

fn join<T>(h: goro::JoinHandle<T>) -> Result<T, String> {
    h.join().map_err(|_| "goroutine panicked".to_string())
}

fn spawn_join(n: usize) -> Result<Sample, String> {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        handles.push(goro::go(|| ()));
    }
    for h in handles {
        join(h)?;
    }
    Ok(Sample::since(start))
}

fn skynet_node(num: u64, size: u64) -> u64 {
    if size <= 1 {
        return num;
    }
    let child = size / 10;
    let handles: [_; 10] = std::array::from_fn(|i| {
        let num = num + i as u64 * child;
        goro::go(move || skynet_node(num, child))
    });
    handles
        .into_iter()
        .map(|h| join(h).expect("skynet child failed"))
        .sum()
}

fn skynet(n: usize) -> Result<Sample, String> {
    super::skynet_check_n(n)?;
    let start = Instant::now();
    let sum = join(goro::go(move || skynet_node(0, n as u64)))?;
    let sample = Sample::since(start);
    super::skynet_check_sum(n, sum)?;
    Ok(sample)
}

fn rss_parked(n: usize) -> Result<Sample, String> {
    let gate = Arc::new(Gate::default());
    let parked = Arc::new(AtomicUsize::new(0));
    let before = crate::rss::current()?;
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let (gate, parked) = (gate.clone(), parked.clone());
        handles.push(goro::go(move || {
            parked.fetch_add(1, Ordering::Release);
            gate.wait();
        }));
    }
    super::wait_for_count(&parked, n, goro::yield_now)?;
    // Let the last ones reach park(); yielding (not sleeping) keeps this P serving them.
    let settle = Instant::now();
    while settle.elapsed() < super::SETTLE {
        goro::yield_now();
        std::thread::sleep(Duration::from_millis(1));
    }
    let after = crate::rss::current()?;
    gate.open();
    for h in handles {
        join(h)?;
    }
    Ok(Sample {
        elapsed: start.elapsed(),
        rss_delta: Some(after as i64 - before as i64),
    })
}
