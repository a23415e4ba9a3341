//! tokio peer: multi-thread runtime with one worker per core. Every workload runs
//! inside a spawned task (as Go's main goroutine runs on a P), not on `block_on`'s
//! thread.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio::runtime::Runtime;
use tokio::sync::Notify;

use tokio::sync::mpsc;

use super::{check_eq, sum_below, Sample, WorkloadFn};

pub fn find(workload: &str) -> Option<WorkloadFn> {
    Some(super::boxed(match workload {
        "spawn_join" => spawn_join,
        "skynet" => skynet,
        "rss_parked" => rss_parked,
        "pingpong" => pingpong,
        "spsc_buffered" => spsc_buffered,
        "select4" => select4,
        "sieve" => sieve,
        "thread_ring" => thread_ring,
        "sleepers" => sleepers,
        _ => return None,
    }))
}

/// The runtime every workload of this process shares (built once, reused by the
/// warm-up and every measured run).
fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(super::cores())
            .enable_time()
            .build()
            .expect("building the tokio runtime")
    })
}

/// Runs `f` as a task and waits for it from outside the runtime.
fn run_task<T: Send + 'static>(
    f: impl Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    rt().block_on(async move {
        tokio::spawn(f)
            .await
            .map_err(|e| format!("task failed: {e}"))?
    })
}

fn spawn_join(n: usize) -> Result<Sample, String> {
    run_task(async move {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            handles.push(tokio::spawn(async {}));
        }
        for h in handles {
            h.await.map_err(|e| format!("task failed: {e}"))?;
        }
        Ok(Sample::since(start))
    })
}

fn skynet_node(num: u64, size: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if size <= 1 {
            return num;
        }
        let child = size / 10;
        let handles: [_; 10] =
            std::array::from_fn(|i| tokio::spawn(skynet_node(num + i as u64 * child, child)));
        let mut sum = 0;
        for h in handles {
            sum += h.await.expect("skynet child failed");
        }
        sum
    })
}

fn skynet(n: usize) -> Result<Sample, String> {
    super::skynet_check_n(n)?;
    let start = Instant::now();
    let sum = rt().block_on(async move {
        tokio::spawn(skynet_node(0, n as u64))
            .await
            .map_err(|e| format!("task failed: {e}"))
    })?;
    let sample = Sample::since(start);
    super::skynet_check_sum(n, sum)?;
    Ok(sample)
}

fn rss_parked(n: usize) -> Result<Sample, String> {
    let notify = Arc::new(Notify::new());
    let open = Arc::new(AtomicBool::new(false));
    let parked = Arc::new(AtomicUsize::new(0));
    let rt = rt(); // started before the baseline: its threads are not the workload's
    let before = crate::rss::current()?;
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    {
        let _guard = rt.enter();
        for _ in 0..n {
            let (notify, open, parked) = (notify.clone(), open.clone(), parked.clone());
            handles.push(tokio::spawn(async move {
                let mut notified = pin!(notify.notified());
                notified.as_mut().enable();
                parked.fetch_add(1, Ordering::Release);
                if !open.load(Ordering::Acquire) {
                    notified.await;
                }
            }));
        }
    }
    super::wait_for_count(&parked, n, || {
        std::thread::sleep(std::time::Duration::from_millis(1))
    })?;
    std::thread::sleep(super::SETTLE);
    let after = crate::rss::current()?;
    open.store(true, Ordering::Release);
    notify.notify_waiters();
    rt.block_on(async move {
        for h in handles {
            h.await.map_err(|e| format!("task failed: {e}"))?;
        }
        Ok::<(), String>(())
    })?;
    Ok(Sample {
        elapsed: start.elapsed(),
        rss_delta: Some(after as i64 - before as i64),
    })
}

fn joined<T>(r: Result<T, tokio::task::JoinError>) -> Result<T, String> {
    r.map_err(|e| format!("task failed: {e}"))
}

/// Capacity 1: tokio's mpsc has no unbuffered (capacity 0) channel.
fn pingpong(n: usize) -> Result<Sample, String> {
    run_task(async move {
        let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
        let echo = tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v + 1).await.is_err() {
                    break;
                }
            }
        });
        let start = Instant::now();
        for i in 0..n as u64 {
            ping_tx.send(i).await.map_err(|_| "pingpong: echo gone")?;
            let v = pong_rx.recv().await.ok_or("pingpong: pong closed")?;
            check_eq("pingpong", v, i + 1)?;
        }
        let sample = Sample::since(start);
        drop(ping_tx);
        joined(echo.await)?;
        Ok(sample)
    })
}

fn spsc_buffered(n: usize) -> Result<Sample, String> {
    run_task(async move {
        let (tx, mut rx) = mpsc::channel::<u64>(super::BUFFERED_CAP);
        let start = Instant::now();
        let producer = tokio::spawn(async move {
            for i in 0..n as u64 {
                tx.send(i).await.expect("spsc: consumer gone");
            }
        });
        let mut sum = 0;
        while let Some(v) = rx.recv().await {
            sum += v;
        }
        joined(producer.await)?;
        let sample = Sample::since(start);
        check_eq("spsc sum", sum, sum_below(n))?;
        Ok(sample)
    })
}

fn select4(n: usize) -> Result<Sample, String> {
    super::check_multiple("select4", n, super::SELECT_CHANNELS)?;
    run_task(async move {
        let per = (n / super::SELECT_CHANNELS) as u64;
        let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..super::SELECT_CHANNELS)
            .map(|_| mpsc::channel::<u64>(super::SELECT_CAP))
            .unzip();
        let start = Instant::now();
        let producers: Vec<_> = txs
            .iter()
            .map(|tx| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..per {
                        tx.send(i).await.expect("producer: receiver gone");
                    }
                })
            })
            .collect();
        let [r0, r1, r2, r3] = &mut rxs[..] else {
            return Err("select4: want 4 channels".into());
        };
        let mut sum = 0;
        for _ in 0..n {
            let v = tokio::select! {
                v = r0.recv() => v,
                v = r1.recv() => v,
                v = r2.recv() => v,
                v = r3.recv() => v,
            };
            sum += v.ok_or("select: a channel closed early")?;
        }
        for p in producers {
            joined(p.await)?;
        }
        let sample = Sample::since(start);
        check_eq("select4 sum", sum, 4 * sum_below(per as usize))?;
        Ok(sample)
    })
}

fn sieve(n: usize) -> Result<Sample, String> {
    let last = super::nth_prime(n);
    run_task(async move {
        let start = Instant::now();
        let (tx, mut rx) = mpsc::channel::<u64>(1);
        let mut handles = Vec::with_capacity(n + 1);
        handles.push(tokio::spawn(async move {
            for i in 2..=last {
                if tx.send(i).await.is_err() {
                    return;
                }
            }
        }));
        let mut prime = 0;
        for i in 0..n {
            prime = rx
                .recv()
                .await
                .ok_or_else(|| format!("sieve: chain closed after {i} primes"))?;
            if i + 1 < n {
                let (out_tx, out_rx) = mpsc::channel::<u64>(1);
                let mut input = std::mem::replace(&mut rx, out_rx);
                handles.push(tokio::spawn(async move {
                    while let Some(v) = input.recv().await {
                        if v % prime != 0 && out_tx.send(v).await.is_err() {
                            return;
                        }
                    }
                }));
            }
        }
        if let Some(extra) = rx.recv().await {
            return Err(format!("sieve: {extra} arrived after the {n}th prime"));
        }
        let sample = Sample::since(start);
        for h in handles {
            joined(h.await)?;
        }
        check_eq("sieve: n-th prime", prime, last)?;
        Ok(sample)
    })
}

fn thread_ring(n: usize) -> Result<Sample, String> {
    run_task(async move {
        let ring = super::RING;
        let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..ring).map(|_| mpsc::channel::<u64>(1)).unzip();
        let (done_tx, mut done_rx) = mpsc::channel::<u64>(1);
        let start = Instant::now();
        let handles: Vec<_> = (0..ring)
            .rev()
            .map(|i| {
                let mut rx = rxs.pop().expect("one receiver per task");
                let next = txs[(i + 1) % ring].clone();
                let done = done_tx.clone();
                tokio::spawn(async move {
                    while let Some(token) = rx.recv().await {
                        if token == 0 {
                            let _ = done.send(i as u64 + 1).await;
                            return;
                        }
                        if next.send(token - 1).await.is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        let first = txs[0].clone();
        drop(txs);
        drop(done_tx);
        first
            .send(n as u64)
            .await
            .map_err(|_| "thread_ring: ring gone")?;
        drop(first);
        let id = done_rx.recv().await.ok_or("thread_ring: no task saw 0")?;
        let sample = Sample::since(start);
        for h in handles {
            joined(h.await)?;
        }
        check_eq("thread_ring: finishing task", id, super::ring_expected(n))?;
        Ok(sample)
    })
}

fn sleepers(n: usize) -> Result<Sample, String> {
    run_task(async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let d = std::time::Duration::from_millis(super::sleeper_ms(i));
                tokio::spawn(tokio::time::sleep(d))
            })
            .collect();
        for h in handles {
            joined(h.await)?;
        }
        Ok(Sample::since(start))
    })
}
