//! goro peer. The runtime is configured once per process with one P per core, and
//! every workload runs on the main goroutine (`goro::run`), as Go's `main` does.
//!
//! `rss_parked` waits on a [`Gate`] built from the runtime's park/wake seam; the
//! channel workloads use `goro::chan` and `goro::select!`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{check_eq, sum_below, CbKind, CbSpec, Sample, WorkloadFn};

pub fn find(workload: &str) -> Option<WorkloadFn> {
    if let Some(spec) = CbSpec::parse(workload) {
        return Some(Box::new(move |n| cb(spec, n)));
    }
    Some(super::boxed(match workload {
        "spawn_join" => spawn_join,
        "skynet" => skynet,
        "rss_parked" => rss_parked,
        "pingpong" => pingpong,
        "spsc_unbuffered" => |n| spsc(n, 0),
        "spsc_buffered" => |n| spsc(n, super::BUFFERED_CAP),
        "mpmc_4x4" => mpmc_4x4,
        "select4" => select4,
        "sieve" => sieve,
        "thread_ring" => thread_ring,
        "worker_pool" => worker_pool,
        "sleepers" => sleepers,
        "timers" => timers,
        "sleep_lateness" => sleep_lateness,
        _ => return None,
    }))
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

fn join_all<T>(handles: Vec<goro::JoinHandle<T>>) -> Result<Vec<T>, String> {
    handles.into_iter().map(join).collect()
}

fn pingpong(n: usize) -> Result<Sample, String> {
    let (ping_tx, ping_rx) = goro::chan::<u64>(0);
    let (pong_tx, pong_rx) = goro::chan::<u64>(0);
    let echo = goro::go(move || {
        for v in &ping_rx {
            if pong_tx.send(v + 1).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    for i in 0..n as u64 {
        ping_tx.send(i).map_err(|_| "pingpong: echo gone")?;
        let v = pong_rx.recv().ok_or("pingpong: pong closed")?;
        check_eq("pingpong", v, i + 1)?;
    }
    let sample = Sample::since(start);
    drop(ping_tx);
    join(echo)?;
    Ok(sample)
}

fn spsc(n: usize, cap: usize) -> Result<Sample, String> {
    let (tx, rx) = goro::chan::<u64>(cap);
    let start = Instant::now();
    let producer = goro::go(move || {
        for i in 0..n as u64 {
            tx.send(i).expect("spsc: consumer gone");
        }
    });
    let sum: u64 = rx.iter().sum();
    join(producer)?;
    let sample = Sample::since(start);
    check_eq("spsc sum", sum, sum_below(n))?;
    Ok(sample)
}

fn mpmc_4x4(n: usize) -> Result<Sample, String> {
    let k = super::MPMC_SIDES;
    super::check_multiple("mpmc_4x4", n, k)?;
    let per = (n / k) as u64;
    let (tx, rx) = goro::chan::<u64>(super::BUFFERED_CAP);
    let start = Instant::now();
    let producers: Vec<_> = (0..k)
        .map(|_| {
            let tx = tx.clone();
            goro::go(move || {
                for i in 0..per {
                    tx.send(i).expect("mpmc: consumers gone");
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..k)
        .map(|_| {
            let rx = rx.clone();
            goro::go(move || rx.iter().sum::<u64>())
        })
        .collect();
    drop(rx);
    join_all(producers)?;
    let sum: u64 = join_all(consumers)?.into_iter().sum();
    let sample = Sample::since(start);
    check_eq("mpmc_4x4 sum", sum, k as u64 * sum_below(per as usize))?;
    Ok(sample)
}

/// `k` producers, each sending `0..per` on its own channel; the senders stay open
/// (the caller keeps `txs`) so a finished producer's channel never reads as closed.
fn producers_on(txs: &[goro::Sender<u64>], per: u64) -> Vec<goro::JoinHandle<()>> {
    txs.iter()
        .map(|tx| {
            let tx = tx.clone();
            goro::go(move || {
                for i in 0..per {
                    tx.send(i).expect("producer: receiver gone");
                }
            })
        })
        .collect()
}

fn select4(n: usize) -> Result<Sample, String> {
    super::check_multiple("select4", n, super::SELECT_CHANNELS)?;
    let per = (n / super::SELECT_CHANNELS) as u64;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..super::SELECT_CHANNELS)
        .map(|_| goro::chan::<u64>(super::SELECT_CAP))
        .unzip();
    let start = Instant::now();
    let producers = producers_on(&txs, per);
    let sum = select_rx_loop(&rxs, n)?;
    join_all(producers)?;
    let sample = Sample::since(start);
    check_eq("select4 sum", sum, 4 * sum_below(per as usize))?;
    Ok(sample)
}

/// Receives `n` values by selecting over the 4 receivers; returns their sum.
fn select_rx_loop(rxs: &[goro::Receiver<u64>], n: usize) -> Result<u64, String> {
    let (r0, r1, r2, r3) = (&rxs[0], &rxs[1], &rxs[2], &rxs[3]);
    let mut sum = 0;
    for _ in 0..n {
        let v = goro::select! {
            recv(r0) -> v => v,
            recv(r1) -> v => v,
            recv(r2) -> v => v,
            recv(r3) -> v => v,
        };
        sum += v.ok_or("select: a channel closed early")?;
    }
    Ok(sum)
}

fn sieve(n: usize) -> Result<Sample, String> {
    let last = super::nth_prime(n);
    let start = Instant::now();
    let (tx, mut rx) = goro::chan::<u64>(0);
    let mut handles = Vec::with_capacity(n + 1);
    handles.push(goro::go(move || {
        for i in 2..=last {
            if tx.send(i).is_err() {
                return;
            }
        }
    }));
    let mut prime = 0;
    for i in 0..n {
        prime = rx
            .recv()
            .ok_or_else(|| format!("sieve: chain closed after {i} primes"))?;
        if i + 1 < n {
            let (out_tx, out_rx) = goro::chan::<u64>(0);
            let input = std::mem::replace(&mut rx, out_rx);
            handles.push(goro::go(move || {
                for v in &input {
                    if v % prime != 0 && out_tx.send(v).is_err() {
                        return;
                    }
                }
            }));
        }
    }
    if let Some(extra) = rx.recv() {
        return Err(format!("sieve: {extra} arrived after the {n}th prime"));
    }
    let sample = Sample::since(start);
    join_all(handles)?;
    check_eq("sieve: n-th prime", prime, last)?;
    Ok(sample)
}

fn thread_ring(n: usize) -> Result<Sample, String> {
    let ring = super::RING;
    let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..ring).map(|_| goro::chan::<u64>(0)).unzip();
    let (done_tx, done_rx) = goro::chan::<u64>(1);
    let start = Instant::now();
    let handles: Vec<_> = (0..ring)
        .rev()
        .map(|i| {
            let rx = rxs.pop().expect("one receiver per goroutine");
            let next = txs[(i + 1) % ring].clone();
            let done = done_tx.clone();
            goro::go(move || {
                for token in &rx {
                    if token == 0 {
                        let _ = done.send(i as u64 + 1);
                        return; // drops `next`: the ring closes behind us
                    }
                    if next.send(token - 1).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    let first = txs[0].clone();
    drop(txs);
    drop(done_tx);
    first.send(n as u64).map_err(|_| "thread_ring: ring gone")?;
    drop(first);
    let id = done_rx.recv().ok_or("thread_ring: no goroutine saw 0")?;
    let sample = Sample::since(start);
    join_all(handles)?;
    check_eq(
        "thread_ring: finishing goroutine",
        id,
        super::ring_expected(n),
    )?;
    Ok(sample)
}

fn worker_pool(n: usize) -> Result<Sample, String> {
    let want = super::pool_expected(n);
    let (job_tx, job_rx) = goro::chan::<u64>(super::POOL_CAP);
    let (res_tx, res_rx) = goro::chan::<u64>(super::POOL_CAP);
    let start = Instant::now();
    let mut handles: Vec<_> = (0..super::POOL_WORKERS)
        .map(|_| {
            let (jobs, results) = (job_rx.clone(), res_tx.clone());
            goro::go(move || {
                for x in &jobs {
                    results
                        .send(super::pool_job(x))
                        .expect("worker_pool: main gone");
                }
            })
        })
        .collect();
    drop((job_rx, res_tx));
    handles.push(goro::go(move || {
        for x in 0..n as u64 {
            job_tx.send(x).expect("worker_pool: workers gone");
        }
    }));
    let mut sum = 0;
    for _ in 0..n {
        sum += res_rx.recv().ok_or("worker_pool: results closed early")?;
    }
    join_all(handles)?;
    let sample = Sample::since(start);
    check_eq("worker_pool sum", sum, want)?;
    Ok(sample)
}

fn sleepers(n: usize) -> Result<Sample, String> {
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let d = Duration::from_millis(super::sleeper_ms(i));
            goro::go(move || goro::time::sleep(d))
        })
        .collect();
    join_all(handles)?;
    Ok(Sample::since(start))
}

fn timers(n: usize) -> Result<Sample, String> {
    let start = Instant::now();
    let ts: Vec<_> = (0..n)
        .map(|_| goro::time::Timer::new(Duration::from_secs(3600)))
        .collect();
    let stopped = ts.iter().filter(|t| t.stop()).count();
    let sample = Sample::since(start);
    check_eq("timers stopped", stopped as u64, n as u64)?;
    drop(ts);
    Ok(sample)
}

/// Reports the run's median lateness as the per-op figure: elapsed = median × n.
fn sleep_lateness(n: usize) -> Result<Sample, String> {
    let mut late: Vec<Duration> = (0..n)
        .map(|_| {
            let t0 = Instant::now();
            goro::time::sleep(Duration::from_millis(1));
            t0.elapsed().saturating_sub(Duration::from_millis(1))
        })
        .collect();
    late.sort_unstable();
    Ok(Sample {
        elapsed: late[n / 2] * n as u32,
        rss_delta: None,
    })
}

fn cb(spec: CbSpec, n: usize) -> Result<Sample, String> {
    spec.check_n(n)?;
    let t = super::CB_THREADS;
    let per = (n / t) as u64;
    let cap = spec.bounded_cap(n);
    let start = Instant::now();
    let sum = match spec.kind {
        CbKind::Seq => {
            let (tx, rx) = goro::chan::<u64>(cap);
            for i in 0..n as u64 {
                tx.send(i).map_err(|_| "seq: send failed")?;
            }
            let mut sum = 0;
            for _ in 0..n {
                sum += rx.recv().ok_or("seq: closed")?;
            }
            sum
        }
        CbKind::Spsc => {
            let (tx, rx) = goro::chan::<u64>(cap);
            let h = goro::go(move || {
                for i in 0..n as u64 {
                    tx.send(i).expect("spsc: receiver gone");
                }
            });
            let mut sum = 0;
            for _ in 0..n {
                sum += rx.recv().ok_or("spsc: closed")?;
            }
            join(h)?;
            sum
        }
        CbKind::Mpsc | CbKind::Mpmc => {
            let (tx, rx) = goro::chan::<u64>(cap);
            let hs = producers_on(&vec![tx; t], per);
            let sum = if spec.kind == CbKind::Mpsc {
                let mut sum = 0;
                for _ in 0..n {
                    sum += rx.recv().ok_or("mpsc: closed")?;
                }
                sum
            } else {
                let consumers: Vec<_> = (0..t)
                    .map(|_| {
                        let rx = rx.clone();
                        goro::go(move || {
                            (0..per)
                                .map(|_| rx.recv().expect("mpmc: closed"))
                                .sum::<u64>()
                        })
                    })
                    .collect();
                join_all(consumers)?.into_iter().sum()
            };
            join_all(hs)?;
            sum
        }
        CbKind::SelectRx => {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..t).map(|_| goro::chan::<u64>(cap)).unzip();
            let producers = producers_on(&txs, per);
            let sum = select_rx_loop(&rxs, n)?;
            join_all(producers)?;
            sum
        }
        CbKind::SelectBoth => {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..t).map(|_| goro::chan::<u64>(cap)).unzip();
            let (txs, rxs) = (Arc::new(txs), Arc::new(rxs));
            let producers: Vec<_> = (0..t)
                .map(|_| {
                    let txs = txs.clone();
                    goro::go(move || {
                        let (t0, t1, t2, t3) = (&txs[0], &txs[1], &txs[2], &txs[3]);
                        for i in 0..per {
                            goro::select! {
                                send(t0, i) -> r => r.expect("select_both: closed"),
                                send(t1, i) -> r => r.expect("select_both: closed"),
                                send(t2, i) -> r => r.expect("select_both: closed"),
                                send(t3, i) -> r => r.expect("select_both: closed"),
                            }
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..t)
                .map(|_| {
                    let rxs = rxs.clone();
                    goro::go(move || select_rx_loop(&rxs, per as usize))
                })
                .collect();
            join_all(producers)?;
            join_all(consumers)?
                .into_iter()
                .collect::<Result<Vec<u64>, String>>()?
                .into_iter()
                .sum()
        }
    };
    let sample = Sample::since(start);
    check_eq("cb sum", sum, spec.expected_sum(n))?;
    Ok(sample)
}
