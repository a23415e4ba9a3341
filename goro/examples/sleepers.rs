//! Timer costs, printed (not asserted): many sleeping goroutines, and the
//! wake-up lateness of a short sleep on an idle runtime, next to a plain
//! thread's `std::thread::sleep`.
//!
//! `cargo run --release --example sleepers [goroutines]`

use std::time::{Duration, Instant};

fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    format!(
        "median {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        v[v.len() - 1]
    )
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let gmp = goro::runtime::gomaxprocs();

    // 1. n goroutines, each sleeping a random 1-10 ms.
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let hs: Vec<_> = (0..n)
        .map(|i| {
            goro::go(move || {
                let mut x = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                x ^= x >> 29;
                goro::time::sleep(Duration::from_micros(1000 + x % 9001));
            })
        })
        .collect();
    let spawned = t0.elapsed();
    for h in hs {
        h.join().unwrap();
    }
    let (wall, cpu) = (t0.elapsed(), cpu_time() - cpu0);
    println!(
        "{n} goroutines sleeping 1-10 ms (GOMAXPROCS={gmp}): wall {wall:?} (spawned in \
         {spawned:?}), cpu {cpu:?} = {:.0} ns cpu per goroutine",
        cpu.as_nanos() as f64 / n as f64
    );

    // 2. Lateness of a 1 ms sleep on an otherwise idle runtime.
    std::thread::sleep(Duration::from_millis(100));
    let lates = goro::go(|| {
        (0..1000)
            .map(|_| {
                let t = Instant::now();
                goro::time::sleep(Duration::from_millis(1));
                t.elapsed() - Duration::from_millis(1)
            })
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    println!("goroutine 1 ms sleep, late by: {}", percentiles(lates));
    let lates: Vec<_> = (0..1000)
        .map(|_| {
            let t = Instant::now();
            std::thread::sleep(Duration::from_millis(1));
            t.elapsed() - Duration::from_millis(1)
        })
        .collect();
    println!("std::thread::sleep 1 ms, late by: {}", percentiles(lates));
}
