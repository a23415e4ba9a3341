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

use super::{Sample, WorkloadFn};

pub fn find(workload: &str) -> Option<WorkloadFn> {
    Some(match workload {
        "spawn_join" => spawn_join,
        "skynet" => skynet,
        "rss_parked" => rss_parked,
        _ => return None,
    })
}

/// The runtime every workload of this process shares (built once, reused by the
/// warm-up and every measured run).
fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(super::cores())
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
