//! std-thread peer: one OS thread per "goroutine". `spawn_join` at a reduced n (the
//! registry says which), as the floor every green-thread runtime must beat; the
//! channel workloads with `crossbeam-channel` between OS threads (crossbeam's own
//! benchmarks, for the `cb_*` group).

use std::time::Instant;

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};

use super::{check_eq, sum_below, CbCap, CbKind, CbSpec, Sample, WorkloadFn};

pub fn find(workload: &str) -> Option<WorkloadFn> {
    if let Some(spec) = CbSpec::parse(workload) {
        return Some(Box::new(move |n| cb(spec, n)));
    }
    Some(super::boxed(match workload {
        "spawn_join" => spawn_join,
        "pingpong" => pingpong,
        "spsc_unbuffered" => |n| spsc(n, 0),
        "spsc_buffered" => |n| spsc(n, super::BUFFERED_CAP),
        "mpmc_4x4" => mpmc_4x4,
        "select4" => select4,
        "worker_pool" => worker_pool,
        _ => return None,
    }))
}

/// The OS threads a workload runs on (the `threads` column of the details).
pub fn threads(workload: &str, n: usize) -> usize {
    if let Some(spec) = CbSpec::parse(workload) {
        return match spec.kind {
            CbKind::Seq => 1,
            CbKind::Spsc => 2,
            CbKind::Mpsc | CbKind::SelectRx => super::CB_THREADS + 1,
            CbKind::Mpmc | CbKind::SelectBoth => 2 * super::CB_THREADS,
        };
    }
    match workload {
        "spawn_join" => n,
        "pingpong" | "spsc_unbuffered" | "spsc_buffered" => 2,
        "mpmc_4x4" => 2 * super::MPMC_SIDES,
        "select4" => super::SELECT_CHANNELS + 1,
        "worker_pool" => super::POOL_WORKERS + 2,
        _ => 1,
    }
}

fn spawn_join(n: usize) -> Result<Sample, String> {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let h = std::thread::Builder::new()
            .spawn(|| ())
            .map_err(|e| format!("spawning thread {}: {e}", handles.len()))?;
        handles.push(h);
    }
    for h in handles {
        h.join().map_err(|_| "thread panicked".to_string())?;
    }
    Ok(Sample::since(start))
}

fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<T>, String> {
    std::thread::Builder::new()
        .spawn(f)
        .map_err(|e| format!("spawning a thread: {e}"))
}

fn join<T>(h: std::thread::JoinHandle<T>) -> Result<T, String> {
    h.join().map_err(|_| "thread panicked".to_string())
}

fn join_all<T>(hs: Vec<std::thread::JoinHandle<T>>) -> Result<Vec<T>, String> {
    hs.into_iter().map(join).collect()
}

fn pingpong(n: usize) -> Result<Sample, String> {
    let (ping_tx, ping_rx) = bounded::<u64>(0);
    let (pong_tx, pong_rx) = bounded::<u64>(0);
    let echo = spawn(move || {
        for v in &ping_rx {
            if pong_tx.send(v + 1).is_err() {
                break;
            }
        }
    })?;
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
}

fn spsc(n: usize, cap: usize) -> Result<Sample, String> {
    let (tx, rx) = bounded::<u64>(cap);
    let start = Instant::now();
    let producer = spawn(move || {
        for i in 0..n as u64 {
            tx.send(i).expect("spsc: consumer gone");
        }
    })?;
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
    let (tx, rx) = bounded::<u64>(super::BUFFERED_CAP);
    let start = Instant::now();
    let producers = producers_on(&vec![tx; k], per)?;
    let consumers = (0..k)
        .map(|_| {
            let rx = rx.clone();
            spawn(move || rx.iter().sum::<u64>())
        })
        .collect::<Result<Vec<_>, _>>()?;
    drop(rx);
    join_all(producers)?;
    let sum: u64 = join_all(consumers)?.into_iter().sum();
    let sample = Sample::since(start);
    check_eq("mpmc_4x4 sum", sum, k as u64 * sum_below(per as usize))?;
    Ok(sample)
}

/// One producer thread per sender, each sending `0..per`; takes the senders (the
/// channel closes when the last producer ends).
fn producers_on(txs: &[Sender<u64>], per: u64) -> Result<Vec<std::thread::JoinHandle<()>>, String> {
    txs.iter()
        .map(|tx| {
            let tx = tx.clone();
            spawn(move || {
                for i in 0..per {
                    tx.send(i).expect("producer: receiver gone");
                }
            })
        })
        .collect()
}

/// Receives `n` values with crossbeam's `select!` over the 4 receivers.
fn select_rx_loop(rxs: &[Receiver<u64>], n: usize) -> Result<u64, String> {
    let (r0, r1, r2, r3) = (&rxs[0], &rxs[1], &rxs[2], &rxs[3]);
    let mut sum = 0;
    for _ in 0..n {
        let v = select! {
            recv(r0) -> v => v,
            recv(r1) -> v => v,
            recv(r2) -> v => v,
            recv(r3) -> v => v,
        };
        sum += v.map_err(|_| "select: a channel closed early")?;
    }
    Ok(sum)
}

fn select4(n: usize) -> Result<Sample, String> {
    super::check_multiple("select4", n, super::SELECT_CHANNELS)?;
    let per = (n / super::SELECT_CHANNELS) as u64;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..super::SELECT_CHANNELS)
        .map(|_| bounded::<u64>(super::SELECT_CAP))
        .unzip();
    let start = Instant::now();
    let producers = producers_on(&txs, per)?;
    let sum = select_rx_loop(&rxs, n)?;
    join_all(producers)?;
    let sample = Sample::since(start);
    check_eq("select4 sum", sum, 4 * sum_below(per as usize))?;
    Ok(sample)
}

fn worker_pool(n: usize) -> Result<Sample, String> {
    let want = super::pool_expected(n);
    let (job_tx, job_rx) = bounded::<u64>(super::POOL_CAP);
    let (res_tx, res_rx) = bounded::<u64>(super::POOL_CAP);
    let start = Instant::now();
    let mut handles = (0..super::POOL_WORKERS)
        .map(|_| {
            let (jobs, results) = (job_rx.clone(), res_tx.clone());
            spawn(move || {
                for x in &jobs {
                    results
                        .send(super::pool_job(x))
                        .expect("worker_pool: main gone");
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    drop((job_rx, res_tx));
    handles.push(spawn(move || {
        for x in 0..n as u64 {
            job_tx.send(x).expect("worker_pool: workers gone");
        }
    })?);
    let mut sum = 0;
    for _ in 0..n {
        sum += res_rx
            .recv()
            .map_err(|_| "worker_pool: results closed early")?;
    }
    join_all(handles)?;
    let sample = Sample::since(start);
    check_eq("worker_pool sum", sum, want)?;
    Ok(sample)
}

fn cb_chan(spec: CbSpec, n: usize) -> (Sender<u64>, Receiver<u64>) {
    match spec.cap {
        CbCap::Unbounded => unbounded(),
        _ => bounded(spec.bounded_cap(n)),
    }
}

/// crossbeam-channel's `benchmarks/crossbeam-channel.rs`, with a sum check.
fn cb(spec: CbSpec, n: usize) -> Result<Sample, String> {
    spec.check_n(n)?;
    let t = super::CB_THREADS;
    let per = (n / t) as u64;
    let start = Instant::now();
    let sum = match spec.kind {
        CbKind::Seq => {
            let (tx, rx) = cb_chan(spec, n);
            for i in 0..n as u64 {
                tx.send(i).map_err(|_| "seq: send failed")?;
            }
            let mut sum = 0;
            for _ in 0..n {
                sum += rx.recv().map_err(|_| "seq: closed")?;
            }
            sum
        }
        CbKind::Spsc => {
            let (tx, rx) = cb_chan(spec, n);
            let h = spawn(move || {
                for i in 0..n as u64 {
                    tx.send(i).expect("spsc: receiver gone");
                }
            })?;
            let mut sum = 0;
            for _ in 0..n {
                sum += rx.recv().map_err(|_| "spsc: closed")?;
            }
            join(h)?;
            sum
        }
        CbKind::Mpsc | CbKind::Mpmc => {
            let (tx, rx) = cb_chan(spec, n);
            let producers = producers_on(&vec![tx; t], per)?;
            let sum = if spec.kind == CbKind::Mpsc {
                let mut sum = 0;
                for _ in 0..n {
                    sum += rx.recv().map_err(|_| "mpsc: closed")?;
                }
                sum
            } else {
                let consumers = (0..t)
                    .map(|_| {
                        let rx = rx.clone();
                        spawn(move || {
                            (0..per)
                                .map(|_| rx.recv().expect("mpmc: closed"))
                                .sum::<u64>()
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                join_all(consumers)?.into_iter().sum()
            };
            join_all(producers)?;
            sum
        }
        CbKind::SelectRx => {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..t).map(|_| cb_chan(spec, n)).unzip();
            let producers = producers_on(&txs, per)?;
            let sum = select_rx_loop(&rxs, n)?;
            join_all(producers)?;
            sum
        }
        CbKind::SelectBoth => {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..t).map(|_| cb_chan(spec, n)).unzip();
            let producers = (0..t)
                .map(|_| {
                    let txs = txs.clone();
                    spawn(move || {
                        let (t0, t1, t2, t3) = (&txs[0], &txs[1], &txs[2], &txs[3]);
                        for i in 0..per {
                            select! {
                                send(t0, i) -> r => r.expect("select_both: closed"),
                                send(t1, i) -> r => r.expect("select_both: closed"),
                                send(t2, i) -> r => r.expect("select_both: closed"),
                                send(t3, i) -> r => r.expect("select_both: closed"),
                            }
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let consumers = (0..t)
                .map(|_| {
                    let rxs = rxs.clone();
                    spawn(move || select_rx_loop(&rxs, per as usize))
                })
                .collect::<Result<Vec<_>, _>>()?;
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
