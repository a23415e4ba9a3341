//! may peer: stackful coroutines (`may` crate) with one worker per core and its
//! default stack size. Each coroutine stack is its own mmap with a guard page, so
//! with many alive at once it meets `vm.max_map_count`: that failure is expected and
//! shows in its cell.
//!
//! may's `spawn` is `unsafe` (a coroutine must not hold thread-locals across a yield,
//! nor overflow its fixed stack); the closures here touch no thread-locals and use
//! a few hundred bytes of stack. The `go!` macro is may's documented way to spawn.
//!
//! may's channels (`may::sync::mpsc`) are unbounded only, so may runs the channel
//! workloads that never have more than one message in flight (`pingpong`,
//! `thread_ring`), where capacity makes no difference, and no others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Instant;

use may::go;
use may::sync::SyncFlag;

use may::sync::mpsc;

use super::{check_eq, Sample, WorkloadFn};

pub fn find(workload: &str) -> Option<WorkloadFn> {
    Some(super::boxed(match workload {
        "spawn_join" => spawn_join,
        "skynet" => skynet,
        "rss_parked" => rss_parked,
        "sleepers" => sleepers,
        "pingpong" => pingpong,
        "thread_ring" => thread_ring,
        _ => return None,
    }))
}

fn configure() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        may::config().set_workers(super::cores());
    });
}

fn join<T>(h: may::coroutine::JoinHandle<T>) -> Result<T, String> {
    h.join()
        .map_err(|e| format!("coroutine panicked: {}", panic_message(&e)))
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| e.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

fn spawn_join(n: usize) -> Result<Sample, String> {
    configure();
    let outer = go!(move || {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            handles.push(go!(|| ()));
        }
        for h in handles {
            join(h)?;
        }
        Ok(Sample::since(start))
    });
    join(outer)?
}

fn skynet_node(num: u64, size: u64) -> u64 {
    if size <= 1 {
        return num;
    }
    let child = size / 10;
    let handles: [_; 10] = std::array::from_fn(|i| {
        let num = num + i as u64 * child;
        go!(move || skynet_node(num, child))
    });
    handles
        .into_iter()
        .map(|h| join(h).expect("skynet child failed"))
        .sum()
}

fn skynet(n: usize) -> Result<Sample, String> {
    super::skynet_check_n(n)?;
    configure();
    let start = Instant::now();
    let sum = join(go!(move || skynet_node(0, n as u64)))?;
    let sample = Sample::since(start);
    super::skynet_check_sum(n, sum)?;
    Ok(sample)
}

fn rss_parked(n: usize) -> Result<Sample, String> {
    configure();
    let flag = Arc::new(SyncFlag::new());
    let parked = Arc::new(AtomicUsize::new(0));
    // start the scheduler before the baseline: its threads are not the workload's
    join(go!(|| ()))?;
    let before = crate::rss::current()?;
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let (flag, parked) = (flag.clone(), parked.clone());
        handles.push(go!(move || {
            parked.fetch_add(1, Ordering::Release);
            flag.wait();
        }));
    }
    super::wait_for_count(&parked, n, || {
        std::thread::sleep(std::time::Duration::from_millis(1))
    })?;
    std::thread::sleep(super::SETTLE);
    let after = crate::rss::current()?;
    flag.fire();
    for h in handles {
        join(h)?;
    }
    Ok(Sample {
        elapsed: start.elapsed(),
        rss_delta: Some(after as i64 - before as i64),
    })
}

fn sleepers(n: usize) -> Result<Sample, String> {
    configure();
    let outer = go!(move || {
        let start = Instant::now();
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let d = std::time::Duration::from_millis(super::sleeper_ms(i));
                go!(move || may::coroutine::sleep(d))
            })
            .collect();
        for h in handles {
            join(h)?;
        }
        Ok(Sample::since(start))
    });
    join(outer)?
}

/// Runs `body` as a coroutine and waits for it.
fn in_coroutine(
    body: impl FnOnce() -> Result<Sample, String> + Send + 'static,
) -> Result<Sample, String> {
    configure();
    join(go!(body))?
}

fn pingpong(n: usize) -> Result<Sample, String> {
    in_coroutine(move || {
        let (ping_tx, ping_rx) = mpsc::channel::<u64>();
        let (pong_tx, pong_rx) = mpsc::channel::<u64>();
        let echo = go!(move || {
            while let Ok(v) = ping_rx.recv() {
                if pong_tx.send(v + 1).is_err() {
                    break;
                }
            }
        });
        let start = Instant::now();
        for i in 0..n as u64 {
            ping_tx.send(i).map_err(|_| "pingpong: echo gone")?;
            let v = pong_rx.recv().map_err(|_| "pingpong: pong closed")?;
            check_eq("pingpong", v, i + 1)?;
        }
        let sample = Sample::since(start);
        drop(ping_tx);
        join(echo)?;
        Ok(sample)
    })
}

fn thread_ring(n: usize) -> Result<Sample, String> {
    in_coroutine(move || {
        let ring = super::RING;
        let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..ring).map(|_| mpsc::channel::<u64>()).unzip();
        let (done_tx, done_rx) = mpsc::channel::<u64>();
        let start = Instant::now();
        let handles: Vec<_> = (0..ring)
            .rev()
            .map(|i| {
                let rx = rxs.pop().expect("one receiver per coroutine");
                let next = txs[(i + 1) % ring].clone();
                let done = done_tx.clone();
                go!(move || {
                    while let Ok(token) = rx.recv() {
                        if token == 0 {
                            let _ = done.send(i as u64 + 1);
                            return;
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
        let id = done_rx
            .recv()
            .map_err(|_| "thread_ring: no coroutine saw 0")?;
        let sample = Sample::since(start);
        for h in handles {
            join(h)?;
        }
        check_eq(
            "thread_ring: finishing coroutine",
            id,
            super::ring_expected(n),
        )?;
        Ok(sample)
    })
}
