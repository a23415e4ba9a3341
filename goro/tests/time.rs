//! Timers and `goro::time`: sleeps never end early, many sleepers are cheap,
//! an idle runtime with a pending timer sleeps (no CPU) yet wakes on time.
//! Tests that need their own runtime configuration run in a child process:
//! the test binary re-executes itself with `GORO_CHILD=<test name>`.

use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goro::time::{sleep, sleep_until};

mod common;
use common::{child_part, spawn_child};

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

// ---- Channel timers: after, tick, Timer, Ticker, after_func ----

use goro::chan::TryRecvError;
use goro::time::{after, after_func, tick, InvalidPeriod, Ticker, Timer};

const MS: Duration = Duration::from_millis(1);

#[test]
fn timer_sends_the_time_once_its_deadline_has_passed() {
    let t0 = Instant::now();
    let t = Timer::new(5 * MS);
    let v = t.c.recv().unwrap();
    assert!(v >= t0 + 5 * MS && t0.elapsed() >= 5 * MS);
    assert!(!t.stop(), "fired and received: nothing to stop");
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty));
    // Zero: the value is there on return.
    let t = Timer::new(Duration::ZERO);
    assert!(t.c.try_recv().is_ok());
}

#[test]
fn stop_before_firing_and_no_stale_value_after_stop() {
    let t = Timer::new(20 * MS);
    assert!(t.stop(), "pending: stopped");
    assert!(!t.stop(), "twice");
    sleep(40 * MS);
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty));
    // Fired, not received: stop withdraws the value (Go 1.23) and says so.
    let t = Timer::new(MS);
    sleep(10 * MS);
    assert!(t.stop(), "an unreceived value counts as pending");
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty));
    assert!(!t.stop());
}

#[test]
fn reset_rearms_and_discards_the_old_schedule() {
    let t = Timer::new(Duration::from_secs(3600));
    let r0 = Instant::now();
    assert!(t.reset(5 * MS), "was pending");
    let v = t.c.recv_timeout(Duration::from_secs(5)).expect("re-armed");
    assert!(v >= r0 + 5 * MS);
    // Fired and unreceived, then reset: the old value is gone.
    let t = Timer::new(MS);
    sleep(10 * MS);
    let r1 = Instant::now();
    assert!(t.reset(30 * MS), "the unreceived value counts as pending");
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty), "stale value");
    let v = t.c.recv().unwrap();
    assert!(v >= r1 + 30 * MS);
    // A stopped timer can be reset too.
    t.stop();
    assert!(!t.reset(MS));
    assert!(t.c.recv_timeout(Duration::from_secs(5)).is_ok());
}

/// Many timers firing on scheduler threads while their owners reset and
/// stop them: after `reset(d)` (called at `r0`) every value seen is from
/// the new schedule (`>= r0 + d`), and after `stop` nothing is there.
fn stop_reset_race(rounds: u32, seed: u64) -> (usize, usize, [usize; 2]) {
    let mut next = rng(seed);
    let t = Timer::new(Duration::from_micros(next() % 50));
    let (mut stale, mut seen, mut stops) = (0, 0, [0, 0]);
    for _ in 0..rounds {
        let d = Duration::from_micros(next() % 40);
        let r0 = Instant::now();
        t.reset(d);
        // Race the firing: spin about as long as the timer runs.
        let spin = Duration::from_micros(next() % 40);
        while r0.elapsed() < spin {
            std::hint::spin_loop();
        }
        // Every other round leaves a fired value for `stop`/`reset` to
        // withdraw.
        if next() % 2 == 0 {
            if let Ok(v) = t.c.try_recv() {
                seen += 1;
                if v < r0 + d {
                    stale += 1;
                }
            }
        }
        if next() % 2 == 0 {
            stops[usize::from(t.stop())] += 1;
        } else {
            // Pending, so the firing races the reset, which must withdraw
            // any value of this round.
            t.reset(Duration::from_secs(3600));
            if t.c.try_recv().is_ok() {
                stale += 1;
            }
            stops[usize::from(t.stop())] += 1;
        }
        if t.c.try_recv().is_ok() {
            stale += 1;
        }
    }
    (stale, seen, stops)
}

#[test]
fn stop_and_reset_race_the_firing_without_stale_values() {
    let hs: Vec<_> = (0..8u64)
        .map(|i| goro::go(move || stop_reset_race(3000, i + 1)))
        .collect();
    // And a plain thread (the global heap).
    let th = std::thread::spawn(|| stop_reset_race(3000, 99));
    let mut all = vec![th.join().unwrap()];
    all.extend(hs.into_iter().map(|h| h.join().unwrap()));
    let stale: usize = all.iter().map(|r| r.0).sum();
    let seen: usize = all.iter().map(|r| r.1).sum();
    let stopped: usize = all.iter().map(|r| r.2[1]).sum();
    let missed: usize = all.iter().map(|r| r.2[0]).sum();
    println!("race: {seen} values received, stop true {stopped} / false {missed}, stale {stale}");
    assert_eq!(stale, 0);
    assert!(stopped > 0, "never raced a pending timer");
}

#[test]
fn after_in_select_beats_a_never_ready_channel() {
    let t0 = Instant::now();
    let quiet = goro::never::<u32>();
    let got = goro::go(move || {
        goro::select! {
            recv(quiet) -> _ => panic!("never() received"),
            recv(after(5 * MS)) -> t => t.expect("a time"),
        }
    })
    .join()
    .unwrap();
    assert!(got >= t0 + 5 * MS);
    // A Timer's channel in a select, from a plain thread.
    let t = Timer::new(2 * MS);
    let (_tx, rx) = goro::chan::<u32>(0);
    goro::select! {
        recv(rx) -> _ => panic!("nobody sends"),
        recv(t.c) -> v => assert!(v.is_some()),
    }
}

#[test]
fn tick_delivers_about_n_ticks_in_n_periods() {
    const N: u32 = 20;
    let d = 5 * MS;
    let t0 = Instant::now(); // before the ticker starts: its ticks come after t0 + d
    let rx = tick(d);
    let end = t0 + N * d;
    let mut n = 0;
    while let Ok(v) = rx.recv_deadline(end) {
        assert!(v >= t0 + d);
        n += 1;
    }
    println!("tick: {n} ticks of {d:?} in {:?}", t0.elapsed());
    assert!((N / 2..=N + 1).contains(&n), "{n} ticks");
    assert!(tick(Duration::ZERO).recv_timeout(10 * MS).is_err());
}

#[test]
fn ticker_with_a_slow_reader_drops_ticks() {
    let d = 2 * MS;
    let t = Ticker::new(d);
    let t0 = Instant::now();
    sleep(10 * d);
    let woke = Instant::now();
    // At most one tick from the sleep is buffered; any other value must be
    // a fresh tick sent after the sleep ended (the period is short, so one
    // may land while we look), never a queued stale one.
    let ticks: Vec<Instant> = t.c.try_iter().collect();
    let stale = ticks.iter().filter(|&&v| v < woke).count();
    assert!(stale <= 1, "{stale} stale ticks queued: {ticks:?}");
    // The schedule is kept: the next tick lands on a multiple of `d`.
    let v = t.c.recv().unwrap();
    let k = (v - t0).as_nanos() / d.as_nanos();
    assert!(k >= 10, "tick {k} after a sleep of 10 periods");
    t.stop();
    sleep(3 * d);
    assert_eq!(
        t.c.try_recv(),
        Err(TryRecvError::Empty),
        "a tick after stop"
    );
}

#[test]
fn ticker_reset_changes_the_period() {
    let t = Ticker::new(Duration::from_secs(3600));
    let r0 = Instant::now();
    t.reset(2 * MS);
    for _ in 0..5 {
        t.c.recv().unwrap();
    }
    let fast = r0.elapsed();
    assert!(fast >= 10 * MS && fast < Duration::from_secs(2), "{fast:?}");
    let r1 = Instant::now();
    t.reset(30 * MS);
    assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty), "stale tick");
    let v = t.c.recv().unwrap();
    assert!(v >= r1 + 30 * MS, "the old period's tick after reset");
    // A stopped ticker restarts with reset.
    t.stop();
    t.reset(MS);
    assert!(t.c.recv_timeout(Duration::from_secs(5)).is_ok());
}

#[test]
fn ticker_refuses_a_zero_period() {
    assert_eq!(Ticker::try_new(Duration::ZERO).err(), Some(InvalidPeriod));
    let r = std::panic::catch_unwind(|| Ticker::new(Duration::ZERO));
    let msg = r.err().and_then(|e| e.downcast::<String>().ok()).unwrap();
    assert!(msg.contains("non-positive interval"), "{msg}");
    let t = Ticker::new(MS);
    assert_eq!(t.try_reset(Duration::ZERO), Err(InvalidPeriod));
    assert!(
        t.c.recv_timeout(Duration::from_secs(5)).is_ok(),
        "left as it was"
    );
}

#[test]
fn after_func_runs_once_and_not_at_all_when_stopped_first() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let t = after_func(2 * MS, move || {
        assert!(goro::park::on_goroutine(), "f runs on its own goroutine");
        r.fetch_add(1, Ordering::SeqCst);
    });
    sleep(30 * MS);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(!t.stop(), "already ran");
    // Reset runs it again.
    assert!(!t.reset(MS));
    sleep(30 * MS);
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    let stopped = Arc::new(AtomicUsize::new(0));
    let s = stopped.clone();
    let t = after_func(5 * MS, move || {
        s.fetch_add(1, Ordering::SeqCst);
    });
    assert!(t.stop());
    sleep(20 * MS);
    assert_eq!(stopped.load(Ordering::SeqCst), 0);
    drop(t);
    assert_eq!(Arc::strong_count(&stopped), 1, "the function is freed");

    // Dropping the timer does not cancel the function (as in Go), and it
    // is freed once it has run.
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    drop(after_func(MS, move || {
        d.fetch_add(1, Ordering::SeqCst);
    }));
    let t0 = Instant::now();
    while Arc::strong_count(&dropped) > 1 {
        assert!(t0.elapsed() < Duration::from_secs(5), "never ran or leaked");
        sleep(MS);
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[test]
fn timers_work_from_a_plain_thread() {
    std::thread::spawn(|| {
        assert!(!goro::park::on_goroutine());
        let t0 = Instant::now();
        assert!(after(3 * MS).recv().unwrap() >= t0 + 3 * MS);
        let t = Timer::new(Duration::from_secs(3600));
        assert!(t.reset(MS));
        t.c.recv().unwrap();
        let tk = Ticker::new(MS);
        for _ in 0..3 {
            tk.c.recv().unwrap();
        }
        tk.stop();
        let rx = tick(MS);
        rx.recv().unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn after_value_then_closed_and_dropped_receivers_stop_a_tick() {
    let rx = after(MS);
    assert!(rx.recv().is_some());
    assert_eq!(rx.recv(), None, "after delivers once, then reports closed");
    // A dropped `tick` receiver: the ticker stops at its next tick (no
    // observable leak; this only must not crash or spin).
    drop(tick(MS));
    drop(after(MS));
    sleep(5 * MS);
}

/// Prints the cost of 1,000,000 concurrent timers created and stopped (in
/// creation order, the heap's worst case: each stop removes its minimum),
/// twice (the first round also pays for fresh memory), and of one timer
/// made and stopped at a time: `cargo test --release -p goro --test time
/// measure_ -- --ignored --nocapture`. Go's twin: `time.NewTimer(time.Hour)`
/// and `Stop`, the same shape.
#[test]
#[ignore]
fn measure_million_timers() {
    const N: u32 = 1_000_000;
    let report = |place: &str| {
        let ns = |d: Duration| d.as_nanos() as f64 / f64::from(N);
        for round in 1..=2 {
            let t0 = Instant::now();
            let timers: Vec<Timer> = (0..N)
                .map(|_| Timer::new(Duration::from_secs(3600)))
                .collect();
            let made = t0.elapsed();
            let t1 = Instant::now();
            let stopped = timers.iter().filter(|t| t.stop()).count();
            let stop = t1.elapsed();
            let t2 = Instant::now();
            drop(timers);
            let freed = t2.elapsed();
            assert_eq!(stopped, N as usize);
            println!(
                "goro {place}, round {round}: 1M concurrent timers: Timer::new {:.0} ns/op, \
                 stop {:.0} ns/op, new+stop {:.0} ns/op (drop {:.0} ns/op)",
                ns(made),
                ns(stop),
                ns(made + stop),
                ns(freed)
            );
        }
        let t0 = Instant::now();
        for _ in 0..N {
            Timer::new(Duration::from_secs(3600)).stop();
        }
        println!(
            "goro {place}: Timer::new+stop one at a time {:.0} ns/op",
            ns(t0.elapsed())
        );
    };
    goro::run(move || report("goroutine"));
    report("plain thread");
}
