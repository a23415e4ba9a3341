//! The runtime core: goroutines, joins, panics, the scheduler's promises.
//! Tests that need their own runtime configuration (GOMAXPROCS, panic
//! policy, a crash) run in a child process: the test binary re-executes
//! itself with `GORO_CHILD=<test name>`.

use std::cell::Cell;
use std::collections::HashSet;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};

use goro::runtime;

mod common;
use common::{child_part, spawn_child};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the test `name`'s child part with `envs` and asserts that it exited
/// successfully after printing `CHILD-OK`.
fn child_passes(name: &str, envs: &[(&str, &str)]) {
    let out = spawn_child(name, envs);
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{so}\n{}", stderr(&out));
    assert!(so.contains("CHILD-OK"), "{so}");
}

/// A one-shot gate built on the park seam, as higher layers will be.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl Gate {
    fn wait(&self) {
        let mut registered = false;
        while !self.open.load(Ordering::Acquire) {
            if !registered {
                self.waiters
                    .lock()
                    .unwrap()
                    .push(goro::park::current_waker());
                registered = true;
                continue;
            }
            goro::park::park();
        }
    }

    fn open(&self) {
        self.open.store(true, Ordering::Release);
        for w in self.waiters.lock().unwrap().drain(..) {
            w.wake();
        }
    }
}

#[test]
fn join_returns_value() {
    let h = goro::go(|| 40 + 2);
    assert_eq!(h.join().unwrap(), 42);
}

#[test]
fn join_returns_panic_payload() {
    let h = goro::go(|| -> u32 { panic!("boom {}", 7) });
    let err = h.join().unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or(err.downcast_ref::<&str>().copied());
    assert_eq!(
        msg,
        Some("boom 7"),
        "payload type id {:?}",
        (*err).type_id()
    );
}

/// Join packets come in size classes (64, 128, 256 bytes) and from the
/// global allocator beyond them or when over-aligned: every kind carries its
/// result intact, and a result nobody takes is dropped exactly once.
#[test]
fn results_of_every_size_and_alignment_arrive_and_drop_once() {
    #[derive(Clone, Copy, PartialEq, Debug)]
    #[repr(align(128))]
    struct OverAligned(u64);

    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted([u64; 24]);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }

    for round in 0..200u64 {
        assert_eq!(goro::go(move || round as u8).join().unwrap(), round as u8);
        let mid = goro::go(move || [round; 20]).join().unwrap();
        assert_eq!(mid, [round; 20]);
        let big = goro::go(move || vec![round; 512]).join().unwrap();
        assert_eq!(big, vec![round; 512]);
        let huge = goro::go(move || [round as u8; 4096]).join().unwrap();
        assert!(huge.iter().all(|&b| b == round as u8));
        let h = goro::go(move || OverAligned(round));
        assert_eq!(h.join().unwrap(), OverAligned(round));
    }

    // Joined, detached before the end, detached after it.
    let joined: Vec<_> = (0..100).map(|_| goro::go(|| Counted([7; 24]))).collect();
    for h in joined {
        assert_eq!(h.join().unwrap().0[23], 7);
    }
    for _ in 0..100 {
        drop(goro::go(|| Counted([1; 24])));
    }
    let late: Vec<_> = (0..100).map(|_| goro::go(|| Counted([2; 24]))).collect();
    while !late.iter().all(|h| h.is_finished()) {
        std::thread::yield_now();
    }
    drop(late);
    let deadline = Instant::now() + Duration::from_secs(10);
    while DROPS.load(Ordering::SeqCst) < 300 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(DROPS.load(Ordering::SeqCst), 300);
}

#[test]
fn run_returns_main_value_and_nested_goroutines_join() {
    let v = goro::run(|| {
        let hs: Vec<_> = (0..1000u64).map(|i| goro::go(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(v, 999 * 1000 / 2);
}

#[test]
fn run_resumes_main_panic() {
    let r = std::panic::catch_unwind(|| goro::run(|| panic!("main failed")));
    assert!(r.is_err());
}

#[test]
fn skynet_small() {
    fn skynet(num: u64, size: u64) -> u64 {
        if size == 1 {
            return num;
        }
        let step = size / 10;
        let kids: Vec<_> = (0..10)
            .map(|i| goro::go(move || skynet(num + i * step, step)))
            .collect();
        kids.into_iter().map(|h| h.join().unwrap()).sum()
    }
    assert_eq!(goro::run(|| skynet(0, 10_000)), 49_995_000);
}

#[test]
fn goroutine_ids_are_unique_and_absent_on_threads() {
    assert_eq!(runtime::goroutine_id(), None);
    let hs: Vec<_> = (0..100)
        .map(|_| goro::go(|| runtime::goroutine_id().unwrap()))
        .collect();
    let ids: HashSet<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(ids.len(), 100);
}

#[test]
fn join_handle_id_matches_goroutine_id() {
    let h = goro::go(|| runtime::goroutine_id().unwrap());
    let id = h.id();
    assert_eq!(h.join().unwrap(), id);
}

#[test]
fn num_goroutine_counts_parked_goroutines() {
    let gate = Arc::new(Gate::default());
    let started = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..50)
        .map(|_| {
            let (g, s) = (gate.clone(), started.clone());
            goro::go(move || {
                s.fetch_add(1, Ordering::SeqCst);
                g.wait();
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < 50 {
        std::thread::yield_now();
    }
    assert!(runtime::num_goroutine() >= 50);
    gate.open();
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn park_and_wake_from_a_plain_thread() {
    let gate = Arc::new(Gate::default());
    let g2 = gate.clone();
    let h = goro::go(move || {
        g2.wait();
        "woken"
    });
    std::thread::sleep(Duration::from_millis(20));
    assert!(!h.is_finished());
    gate.open();
    assert_eq!(h.join().unwrap(), "woken");
}

#[test]
fn wake_before_park_is_not_lost() {
    let h = goro::go(|| {
        goro::park::current_waker().wake();
        goro::park::park(); // consumes the token: returns at once
        true
    });
    assert!(h.join().unwrap());
}

#[test]
fn a_plain_thread_parks_through_the_same_seam() {
    let waker = goro::park::current_waker();
    let t = std::thread::current();
    let h = goro::go(move || {
        std::thread::sleep(Duration::from_millis(10));
        waker.wake();
    });
    goro::park::park();
    h.join().unwrap();
    drop(t);
}

#[test]
fn yield_now_lets_others_run() {
    let counter = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let c = counter.clone();
            goro::go(move || {
                for _ in 0..1000 {
                    c.fetch_add(1, Ordering::Relaxed);
                    goro::yield_now();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::Relaxed), 8000);
}

#[test]
fn join_handle_is_a_future() {
    struct ThreadWake(std::thread::Thread);
    impl std::task::Wake for ThreadWake {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut h = goro::go(|| {
        std::thread::sleep(Duration::from_millis(5));
        "async"
    });
    let waker = Waker::from(Arc::new(ThreadWake(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let v = loop {
        match std::pin::Pin::new(&mut h).poll(&mut cx) {
            std::task::Poll::Ready(v) => break v,
            std::task::Poll::Pending => std::thread::park(),
        }
    };
    assert_eq!(v.unwrap(), "async");
    use std::future::Future;
}

#[test]
fn goroutine_locals_follow_the_goroutine() {
    goro::goroutine_local!(static N: Cell<u64> = Cell::new(0));
    let hs: Vec<_> = (0..64u64)
        .map(|i| {
            goro::go(move || {
                N.with(|n| n.set(i));
                for _ in 0..20 {
                    goro::yield_now();
                    assert_eq!(N.with(Cell::get), i);
                }
                N.with(Cell::get)
            })
        })
        .collect();
    for (i, h) in hs.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), i as u64);
    }
    // On a plain thread the thread is its own goroutine.
    N.with(|n| n.set(99));
    assert_eq!(N.with(Cell::get), 99);
}

#[test]
fn goroutine_locals_are_dropped_when_the_goroutine_ends() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Tracked;
    impl Drop for Tracked {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    goro::goroutine_local!(static T: Tracked = Tracked);
    let before = DROPS.load(Ordering::SeqCst);
    goro::go(|| T.with(|_| ())).join().unwrap();
    assert_eq!(DROPS.load(Ordering::SeqCst), before + 1);
}

#[test]
fn lock_os_thread_pins_the_goroutine() {
    let h = goro::go(|| {
        runtime::lock_os_thread();
        let me = std::thread::current().id();
        for _ in 0..200 {
            goro::yield_now();
            assert_eq!(std::thread::current().id(), me);
        }
        // Parking and being woken also comes back to the same thread.
        for _ in 0..50 {
            let w = goro::park::current_waker();
            goro::go(move || w.wake());
            goro::park::park();
            assert_eq!(std::thread::current().id(), me);
        }
        runtime::unlock_os_thread();
        true
    });
    // Other goroutines keep running meanwhile.
    let others: Vec<_> = (0..100).map(|i| goro::go(move || i)).collect();
    assert_eq!(
        others.into_iter().map(|h| h.join().unwrap()).sum::<i32>(),
        4950
    );
    assert!(h.join().unwrap());
}

#[test]
fn blocking_hands_off_and_returns_the_value() {
    let h = goro::go(|| {
        goro::blocking(|| {
            std::thread::sleep(Duration::from_millis(20));
            7
        })
    });
    let quick: Vec<_> = (0..100).map(|i| goro::go(move || i * 2)).collect();
    assert_eq!(
        quick.into_iter().map(|h| h.join().unwrap()).sum::<i32>(),
        9900
    );
    assert_eq!(h.join().unwrap(), 7);
    assert_eq!(goro::blocking(|| "off runtime"), "off runtime");
}

#[test]
fn builder_rejects_bad_arguments_and_a_second_start() {
    let e = runtime::Builder::new().gomaxprocs(0).start().unwrap_err();
    assert!(e.to_string().contains("gomaxprocs"), "{e}");
    let e = runtime::Builder::new().stack_size(1).start().unwrap_err();
    assert!(matches!(e, runtime::BuildError::Stack(_)), "{e}");
    let e = runtime::Builder::new()
        .max_threads(1)
        .gomaxprocs(2)
        .start()
        .unwrap_err();
    assert!(e.to_string().contains("max_threads"), "{e}");
    goro::go(|| ()).join().unwrap(); // the runtime is running now
    let e = runtime::Builder::new().start().unwrap_err();
    assert!(matches!(e, runtime::BuildError::AlreadyStarted));
}

// ---- child-process tests -------------------------------------------------

#[test]
fn gomaxprocs_env_is_respected() {
    if child_part("gomaxprocs_env_is_respected", || {
        // GOMAXPROCS bounds the goroutines that run at once, except that
        // sysmon may hand the P of a thread stuck for `retake_after` to
        // another thread (the stuck one finishes its step without a P). On a
        // 2-core machine running 3 Ps, the OS itself can stall a thread that
        // long, so switch retakes off to check the bound alone.
        runtime::Builder::new()
            .retake_after(Duration::from_secs(3600))
            .start()
            .unwrap();
        assert_eq!(runtime::gomaxprocs(), 3);
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..16)
            .map(|_| {
                let (a, p) = (active.clone(), peak.clone());
                goro::go(move || {
                    for _ in 0..100 {
                        let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                        p.fetch_max(now, Ordering::SeqCst);
                        let until = Instant::now() + Duration::from_micros(50);
                        while Instant::now() < until {}
                        a.fetch_sub(1, Ordering::SeqCst);
                        goro::yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            (1..=3).contains(&peak),
            "peak parallelism {peak} with GOMAXPROCS=3"
        );
        println!("CHILD-OK peak={peak}");
    }) {
        return;
    }
    child_passes("gomaxprocs_env_is_respected", &[("GOMAXPROCS", "3")]);
}

#[test]
fn a_thread_blocking_goroutine_does_not_stop_others() {
    // With one P, one goroutine blocks its OS thread for a second without
    // telling the runtime; sysmon must hand the P to another thread so the
    // other goroutine finishes 100 yields within 100 ms.
    if child_part("a_thread_blocking_goroutine_does_not_stop_others", || {
        assert_eq!(runtime::gomaxprocs(), 1);
        let sleeper = goro::go(|| std::thread::sleep(Duration::from_secs(1)));
        let yielder = goro::go(|| {
            std::thread::sleep(Duration::from_millis(1)); // let the sleeper start
            let t0 = Instant::now();
            for _ in 0..100 {
                goro::yield_now();
            }
            t0.elapsed()
        });
        let t0 = Instant::now();
        let took = yielder.join().unwrap();
        let wall = t0.elapsed();
        println!("CHILD-OK yields={took:?} wall={wall:?}");
        assert!(
            wall < Duration::from_millis(100),
            "100 yields took {wall:?} beside a blocked thread"
        );
        sleeper.join().unwrap();
    }) {
        return;
    }
    child_passes(
        "a_thread_blocking_goroutine_does_not_stop_others",
        &[("GOMAXPROCS", "1")],
    );
}

#[test]
fn a_hot_loop_does_not_stop_others() {
    if child_part("a_hot_loop_does_not_stop_others", || {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spinner = goro::go(move || {
            while !s.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        std::thread::sleep(Duration::from_millis(5));
        let t0 = Instant::now();
        let v = goro::go(|| (0..100).map(|_| goro::yield_now()).count())
            .join()
            .unwrap();
        let wall = t0.elapsed();
        stop.store(true, Ordering::Relaxed);
        spinner.join().unwrap();
        assert_eq!(v, 100);
        assert!(wall < Duration::from_millis(500), "took {wall:?}");
        println!("CHILD-OK wall={wall:?}");
    }) {
        return;
    }
    let out = spawn_child("a_hot_loop_does_not_stop_others", &[("GOMAXPROCS", "1")]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// One ping-pong pair over unbuffered channels: `rounds` round trips, the
/// sum of what came back. `lock` pins the echoing side to its thread.
fn ping_pong_pair(rounds: u64, lock: bool) -> goro::JoinHandle<u64> {
    let (to_echo, echo_rx) = goro::chan::<u64>(0);
    let (back_tx, back) = goro::chan::<u64>(0);
    goro::go(move || {
        if lock {
            goro::runtime::lock_os_thread();
        }
        for v in &echo_rx {
            back_tx.send(v + 1).unwrap();
        }
    });
    goro::go(move || {
        let mut sum = 0;
        for i in 0..rounds {
            to_echo.send(i).unwrap();
            sum += back.recv().unwrap();
        }
        sum
    })
}

#[test]
fn hand_overs_survive_sysmon_timers_and_locked_threads() {
    // A parking goroutine hands its M straight to the one in `runnext`
    // without claiming the P back from user mode. With one P, run pairs
    // that hand over all the time beside a goroutine that blocks its thread
    // past sysmon's retake threshold again and again (so the P is taken
    // mid-hand-over at some point), one whose echo side is locked to its
    // thread (the hand-over must send it through the scheduler), and one
    // that sleeps on timers (due timers end a run of hand-overs).
    if child_part(
        "hand_overs_survive_sysmon_timers_and_locked_threads",
        || {
            assert_eq!(runtime::gomaxprocs(), 1);
            const ROUNDS: u64 = 20_000;
            let expect = ROUNDS * (ROUNDS + 1) / 2;
            // The blocker parks right after each blocking stretch, so its M
            // reaches the hand-over with the P already taken.
            let (to_ack, ack_rx) = goro::chan::<u32>(0);
            let (ack_tx, acks) = goro::chan::<u32>(0);
            goro::go(move || {
                for v in &ack_rx {
                    ack_tx.send(v).unwrap();
                }
            });
            let blocker = goro::go(move || {
                for i in 0..15 {
                    std::thread::sleep(Duration::from_millis(12));
                    to_ack.send(i).unwrap();
                    assert_eq!(acks.recv(), Some(i));
                }
            });
            let sleeper = goro::go(|| {
                for _ in 0..50 {
                    goro::time::sleep(Duration::from_micros(500));
                }
            });
            let pairs = [
                ping_pong_pair(ROUNDS, false),
                ping_pong_pair(ROUNDS, false),
                ping_pong_pair(ROUNDS, true),
            ];
            for (i, pair) in pairs.into_iter().enumerate() {
                assert_eq!(pair.join().unwrap(), expect, "pair {i}");
            }
            blocker.join().unwrap();
            sleeper.join().unwrap();
            println!("CHILD-OK");
        },
    ) {
        return;
    }
    child_passes(
        "hand_overs_survive_sysmon_timers_and_locked_threads",
        &[("GOMAXPROCS", "1")],
    );
}

#[test]
fn idle_runtime_uses_no_cpu() {
    if child_part("idle_runtime_uses_no_cpu", || {
        let hs: Vec<_> = (0..1000).map(|i| goro::go(move || i)).collect();
        for h in hs {
            h.join().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100)); // let spinning Ms settle
        let cpu0 = process_cpu_time();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(1000));
        let cpu = process_cpu_time() - cpu0;
        let share = cpu.as_secs_f64() / t0.elapsed().as_secs_f64();
        println!("CHILD-OK idle cpu {cpu:?} ({:.3}%)", share * 100.0);
        assert!(share < 0.01, "idle runtime used {:.2}% CPU", share * 100.0);
    }) {
        return;
    }
    let out = spawn_child("idle_runtime_uses_no_cpu", &[]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
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
fn stack_overflow_is_reported_not_corrupting() {
    if child_part("stack_overflow_is_reported_not_corrupting", || {
        fn recurse(n: u64) -> u64 {
            let buf = std::hint::black_box([n; 64]);
            if n == u64::MAX {
                return 0;
            }
            recurse(n + 1) + buf[3]
        }
        let h = goro::go(|| recurse(0));
        let _ = h.join();
        unreachable!("the stack overflow must end the process");
    }) {
        return;
    }
    let out = spawn_child("stack_overflow_is_reported_not_corrupting", &[]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains(": stack overflow (stack size 256 KiB)"),
        "stderr: {err}"
    );
    assert!(err.contains("goroutine "), "stderr: {err}");
}

#[test]
fn detached_panic_ends_the_program_like_go() {
    if child_part("detached_panic_ends_the_program_like_go", || {
        drop(goro::go(|| panic!("nobody listens")));
        std::thread::sleep(Duration::from_secs(5));
        println!("CHILD-SURVIVED");
    }) {
        return;
    }
    let out = spawn_child("detached_panic_ends_the_program_like_go", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("panicked and was not joined: nobody listens"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("CHILD-SURVIVED"));
}

#[test]
fn detached_panic_with_log_policy_keeps_running() {
    if child_part("detached_panic_with_log_policy_keeps_running", || {
        runtime::Builder::new()
            .panic_policy(runtime::PanicPolicy::Log)
            .start()
            .unwrap();
        drop(goro::go(|| panic!("logged only")));
        // A handle dropped after its goroutine panicked reports it too.
        let h = goro::go(|| panic!("dropped late"));
        while !h.is_finished() {
            std::thread::yield_now();
        }
        drop(h);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(goro::go(|| 5).join().unwrap(), 5);
        println!("CHILD-OK");
    }) {
        return;
    }
    let out = spawn_child("detached_panic_with_log_policy_keeps_running", &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("not joined: logged only"), "{err}");
    assert!(err.contains("not joined: dropped late"), "{err}");
}

/// One million goroutines parked at once. Slow in debug builds: run with
/// `cargo test --release -p goro --test runtime -- --ignored million`.
#[test]
#[ignore]
fn million_goroutines_parked_at_once() {
    if child_part("million_goroutines_parked_at_once", million_child) {
        return;
    }
    let out = spawn_child("million_goroutines_parked_at_once", &[]);
    let so = String::from_utf8_lossy(&out.stdout);
    println!("{so}");
    assert!(out.status.success(), "{so}\n{}", stderr(&out));
}

fn million_child() {
    const N: usize = 1_000_000;
    let gate = Arc::new(Gate::default());
    let parked = Arc::new(AtomicUsize::new(0));
    // Warm the runtime up so its own start-up memory is not counted.
    goro::go(|| ()).join().unwrap();
    let rss0 = rss_bytes();
    let t0 = Instant::now();
    let hs: Vec<_> = (0..N)
        .map(|_| {
            let (g, p) = (gate.clone(), parked.clone());
            goro::go(move || {
                p.fetch_add(1, Ordering::Relaxed);
                g.wait();
            })
        })
        .collect();
    while parked.load(Ordering::Relaxed) < N {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let spawned = t0.elapsed();
    assert!(runtime::num_goroutine() >= N);
    let rss1 = rss_bytes();
    let maps = std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count();
    let per = (rss1 - rss0) as f64 / N as f64;
    println!(
        "{N} goroutines parked in {spawned:?}; RSS per parked goroutine {per:.0} bytes \
         (handles, gate and control blocks included); {maps} memory maps"
    );
    gate.open();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(parked.load(Ordering::Relaxed), N);
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn thread_limit_ends_the_program_with_a_clear_error() {
    if child_part("thread_limit_ends_the_program_with_a_clear_error", || {
        runtime::Builder::new()
            .gomaxprocs(1)
            .max_threads(4)
            .start()
            .unwrap();
        // Each goroutine blocks its thread inside `blocking`, so the
        // scheduler needs a new thread per goroutine to keep the P busy.
        let hs: Vec<_> = (0..16)
            .map(|_| goro::go(|| goro::blocking(|| std::thread::sleep(Duration::from_secs(2)))))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        println!("CHILD-SURVIVED");
    }) {
        return;
    }
    let out = spawn_child("thread_limit_ends_the_program_with_a_clear_error", &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("exceeds the 4-thread limit"), "{err}");
}

#[test]
fn a_goroutine_woken_by_one_that_keeps_running_still_runs() {
    let name = "a_goroutine_woken_by_one_that_keeps_running_still_runs";
    if child_part(name, || {
        // `ready` wakes no M for a goroutine put in an empty `runnext`; if
        // the waker then computes instead of blocking, sysmon must start an
        // M that steals it. Retakes are off, so only that rescue can help.
        runtime::Builder::new()
            .retake_after(Duration::from_secs(3600))
            .start()
            .unwrap();
        let ran = goro::run(|| {
            let (tx, rx) = goro::chan::<u32>(0);
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            let b = goro::go(move || {
                rx.recv().unwrap();
                f.store(true, Ordering::Release);
            });
            // b parks in recv; then the M that ran the timer goes back to
            // sleep.
            goro::time::sleep(Duration::from_millis(20));
            let settle = Instant::now() + Duration::from_millis(5);
            while Instant::now() < settle {
                std::hint::spin_loop();
            }
            tx.send(1).unwrap();
            let give_up = Instant::now() + Duration::from_secs(10);
            while !flag.load(Ordering::Acquire) && Instant::now() < give_up {
                std::hint::spin_loop();
            }
            let ran = flag.load(Ordering::Acquire);
            b.join().unwrap();
            ran
        });
        assert!(ran, "the woken goroutine waited for its waker to stop");
        println!("CHILD-OK");
    }) {
        return;
    }
    let out = spawn_child(name, &[("GOMAXPROCS", "2")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("CHILD-OK"));
}
