//! Timers and `goro::time`: sleeps never end early, many sleepers are cheap,
//! an idle runtime with a pending timer sleeps (no CPU) yet wakes on time.
//! Tests that need their own runtime configuration run in a child process:
//! the test binary re-executes itself with `GORO_CHILD=<test name>`.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goro::time::{sleep, sleep_until};

fn child_part(name: &str, child: impl FnOnce()) -> bool {
    if std::env::var("GORO_CHILD").as_deref() == Ok(name) {
        child();
        std::process::exit(0);
    }
    false
}

fn spawn_child(name: &str, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
        "--include-ignored",
    ])
    .env("GORO_CHILD", name)
    .env("RUST_BACKTRACE", "0")
    .env_remove("GOMAXPROCS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn check_child(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout
        .lines()
        .filter_map(|l| l.find("CHILD").map(|i| &l[i..]))
    {
        println!("{line}");
    }
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small xorshift, so tests need no dependency.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

fn process_cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[test]
fn sleep_never_returns_early() {
    let early = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..300u64)
        .map(|i| {
            let early = early.clone();
            goro::go(move || {
                let mut next = rng(i + 1);
                for _ in 0..5 {
                    let d = Duration::from_micros(next() % 5001);
                    let t0 = Instant::now();
                    sleep(d);
                    if t0.elapsed() < d {
                        early.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(early.load(Ordering::Relaxed), 0);
}

#[test]
fn sleep_until_and_zero_sleep() {
    goro::go(|| {
        let t0 = Instant::now();
        sleep(Duration::ZERO);
        sleep_until(t0); // in the past: returns at once
        let deadline = Instant::now() + Duration::from_millis(3);
        sleep_until(deadline);
        assert!(Instant::now() >= deadline);
    })
    .join()
    .unwrap();
    // And from a plain thread.
    let deadline = Instant::now() + Duration::from_millis(3);
    sleep_until(deadline);
    assert!(Instant::now() >= deadline);
}

#[test]
fn ten_thousand_sleepers_on_two_cores() {
    if child_part("ten_thousand_sleepers_on_two_cores", || {
        let t0 = Instant::now();
        let hs: Vec<_> = (0..10_000u64)
            .map(|i| {
                goro::go(move || {
                    let d = Duration::from_micros(1000 + (i * 7919) % 9001);
                    let t = Instant::now();
                    sleep(d);
                    assert!(t.elapsed() >= d);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let took = t0.elapsed();
        println!("CHILD-OK 10k sleepers (1-10 ms) took {took:?}");
        assert!(took < Duration::from_millis(500), "took {took:?}");
    }) {
        return;
    }
    check_child(&spawn_child(
        "ten_thousand_sleepers_on_two_cores",
        &[("GOMAXPROCS", "2")],
    ));
}

#[test]
fn park_timeout_on_a_thread_and_a_goroutine() {
    // A plain thread: times out.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(5) {
        goro::park::park_timeout(Duration::from_millis(5));
    }
    // A goroutine: times out, then is woken early by its waker.
    goro::go(|| {
        let t0 = Instant::now();
        goro::park::park_timeout(Duration::from_millis(5));
        // A spurious return is allowed, but not a hang: loop to the deadline.
        while t0.elapsed() < Duration::from_millis(5) {
            goro::park::park_deadline(t0 + Duration::from_millis(5));
        }
        let woken = Arc::new(AtomicBool::new(false));
        let waker = goro::park::current_waker();
        let w = woken.clone();
        let t1 = Instant::now();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(2));
            w.store(true, Ordering::Release);
            waker.wake();
        });
        while !woken.load(Ordering::Acquire) {
            goro::park::park_timeout(Duration::from_secs(10));
        }
        assert!(t1.elapsed() < Duration::from_secs(5), "the waker ended it");
    })
    .join()
    .unwrap();
}

#[test]
fn timer_fires_while_every_m_is_idle() {
    if child_part("timer_fires_while_every_m_is_idle", || {
        // Let the Ms that started spinning settle into their idle sleep.
        goro::go(|| ()).join().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let mut lates = Vec::new();
        for _ in 0..5 {
            let late = goro::go(|| {
                let d = Duration::from_millis(50);
                let t0 = Instant::now();
                sleep(d);
                t0.elapsed() - d
            })
            .join()
            .unwrap();
            lates.push(late);
        }
        println!("CHILD-OK 50 ms sleeps on an idle runtime: late by {lates:?}");
        lates.sort();
        assert!(lates[2] < Duration::from_millis(10), "{lates:?}");
    }) {
        return;
    }
    check_child(&spawn_child("timer_fires_while_every_m_is_idle", &[]));
}

#[test]
fn sleeping_goroutine_uses_no_cpu() {
    if child_part("sleeping_goroutine_uses_no_cpu", || {
        let hs: Vec<_> = (0..1000).map(|i| goro::go(move || i)).collect();
        for h in hs {
            h.join().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100)); // let spinning Ms settle
        let cpu0 = process_cpu_time();
        let t0 = Instant::now();
        goro::go(|| sleep(Duration::from_secs(1))).join().unwrap();
        let wall = t0.elapsed();
        let cpu = process_cpu_time() - cpu0;
        let share = cpu.as_secs_f64() / wall.as_secs_f64();
        println!(
            "CHILD-OK cpu while one goroutine sleeps {wall:?}: {cpu:?} ({:.3}%)",
            share * 100.0
        );
        assert!(wall >= Duration::from_secs(1));
        assert!(share < 0.01, "used {:.2}% CPU", share * 100.0);
    }) {
        return;
    }
    check_child(&spawn_child("sleeping_goroutine_uses_no_cpu", &[]));
}

#[test]
fn gomaxprocs_one_with_sleepers() {
    if child_part("gomaxprocs_one_with_sleepers", || {
        assert_eq!(goro::runtime::gomaxprocs(), 1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..20u64)
            .rev()
            .map(|i| {
                let order = order.clone();
                goro::go(move || {
                    let (d, t0) = (Duration::from_millis(2 * i + 1), Instant::now());
                    sleep(d);
                    assert!(t0.elapsed() >= d);
                    order.lock().unwrap().push(i);
                })
            })
            .collect();
        // A busy goroutine that yields must not keep the sleepers from waking.
        let spin = goro::go(|| {
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_millis(60) {
                goro::yield_now();
            }
        });
        for h in hs {
            h.join().unwrap();
        }
        spin.join().unwrap();
        // Wake order mostly follows the deadlines, but timers that fire in
        // one batch (the thread was descheduled) reach the run queue's
        // `runnext` one after the other, so the last of them runs first, as
        // in Go. Each goroutine checks that it did not wake early.
        let order = order.lock().unwrap().clone();
        println!("CHILD-OK wake order {order:?}");
        assert_eq!(order.len(), 20);
    }) {
        return;
    }
    check_child(&spawn_child(
        "gomaxprocs_one_with_sleepers",
        &[("GOMAXPROCS", "1")],
    ));
}

#[test]
fn sleeps_on_a_hot_runtime_wake_on_time() {
    // Every P busy with goroutines that never block: timers still fire (at
    // scheduling points, by thieves, or by sysmon).
    let stop = Arc::new(AtomicBool::new(false));
    let hot: Vec<_> = (0..goro::runtime::gomaxprocs() * 2)
        .map(|_| {
            let stop = stop.clone();
            goro::go(move || {
                while !stop.load(Ordering::Relaxed) {
                    goro::yield_now();
                }
            })
        })
        .collect();
    let late = goro::go(|| {
        let t0 = Instant::now();
        sleep(Duration::from_millis(20));
        t0.elapsed()
    })
    .join()
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    for h in hot {
        h.join().unwrap();
    }
    println!("20 ms sleep among busy goroutines took {late:?}");
    assert!(late >= Duration::from_millis(20));
    assert!(late < Duration::from_millis(500), "{late:?}");
}
