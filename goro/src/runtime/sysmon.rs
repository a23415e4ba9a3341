//! Sysmon: the monitor thread (Go's `sysmon`). It owns no P and runs no
//! goroutines. Its jobs:
//!
//! - **Retake.** A P whose M has been inside one goroutine (owner word with
//!   `USER` set, `schedtick` unchanged) for longer than `retake_after` is taken
//!   from that M and handed to another, so a blocking system call or a hot
//!   loop without scheduling points never stops the other goroutines. The
//!   stuck M keeps running its goroutine without a P; at its next scheduling
//!   point it finds the P gone and queues the goroutine globally.
//! - **Waiting `runnext`.** `ready` wakes no M for a goroutine put in an
//!   empty `runnext` (its waker usually blocks next); if the waker keeps
//!   running instead, sysmon's next look starts an M that steals it, so the
//!   goroutine waits at most one sysmon period (≤ 1 ms).
//! - **Overdue timers.** While Ps are busy, a timer more than 1 ms past its
//!   deadline with no idle M sleeping for it (every M is inside a long
//!   goroutine) is run from here; its goroutine goes to the global queue.
//! - **Stack trimming.** About once a second, stacks that sat unused in the
//!   pool since the last round give their deep pages back.
//!
//! It sleeps 20 µs at first, doubling up to 1 ms while nothing needs doing
//! (Go's back-off goes to 10 ms; the `runnext` rescue wants a tighter
//! bound, and a thousand wake-ups a second of a thread that owns no P cost
//! nothing measurable), and blocks entirely while every P is idle, so an idle
//! program uses no CPU. Pending timers do not keep it awake: while every P
//! is idle, the idle M that sleeps until the next timer covers them.
//!
//! State: `seen` is local to the sysmon thread; it reads the Ps only through
//! their atomics. [`SysmonSleep`] is how it sleeps while every P is idle and
//! how a P that gets busy wakes it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::runtime::p::P;
use crate::runtime::sched::Runtime;
use crate::runtime::timers::{self, NONE, OVERDUE_NS};

const MIN_DELAY: Duration = Duration::from_micros(20);
const MAX_DELAY: Duration = Duration::from_millis(1);
const TRIM_EVERY: Duration = Duration::from_secs(1);

/// What sysmon last saw of one P.
#[derive(Clone, Copy)]
struct Seen {
    owner: u64,
    tick: u32,
    since: Instant,
}

pub(crate) fn spawn(rt: &'static Runtime) {
    thread::Builder::new()
        .name("goro-sysmon".into())
        .spawn(move || run(rt))
        .expect("goro: cannot start the sysmon thread");
}

fn run(rt: &'static Runtime) {
    let now = Instant::now();
    let mut seen = vec![
        Seen {
            owner: 0,
            tick: 0,
            since: now
        };
        rt.nprocs()
    ];
    let mut delay = MIN_DELAY;
    let mut quiet_rounds = 0u32;
    let mut last_trim = now;
    // While every P is idle, sysmon wakes once more (after TRIM_EVERY, to
    // trim the stacks the work left behind) and then sleeps until a P gets
    // busy: nothing wakes periodically in an idle program.
    let mut trimmed_while_idle = false;
    loop {
        if rt.npidle() == rt.nprocs() {
            rt.sysmon
                .wait(rt, (!trimmed_while_idle).then_some(TRIM_EVERY));
            if rt.npidle() == rt.nprocs() {
                // Twice: the second call also takes the stacks freed since
                // the last periodic trim (the pool trims what sat through
                // one call).
                rt.stacks.trim_idle();
                rt.stacks.trim_idle();
                trimmed_while_idle = true;
            } else {
                trimmed_while_idle = false;
            }
            delay = MIN_DELAY;
            quiet_rounds = 0;
        } else {
            thread::sleep(delay);
        }
        let now = Instant::now();
        if retake(rt, &mut seen, now) {
            delay = MIN_DELAY;
            quiet_rounds = 0;
        } else {
            quiet_rounds += 1;
            if quiet_rounds > 50 {
                delay = (delay * 2).min(MAX_DELAY);
            }
        }
        run_overdue_timers(rt);
        if now.duration_since(last_trim) >= TRIM_EVERY {
            rt.stacks.trim_idle();
            last_trim = now;
        }
    }
}

/// Runs timers nobody else is running (no sleeper, and overdue). Only
/// sysmon.
fn run_overdue_timers(rt: &'static Runtime) {
    let first = timers::earliest(rt);
    if first == NONE || !rt.idle.sleeper().is_null() {
        return;
    }
    let now = timers::now_nanos();
    if first.saturating_add(OVERDUE_NS) <= now {
        timers::run_all(rt, now);
    }
}

/// Takes the P of every M stuck in one goroutine for too long. Only sysmon.
fn retake(rt: &'static Runtime, seen: &mut [Seen], now: Instant) -> bool {
    let mut took = false;
    for (p, s) in rt.ps.iter().zip(seen.iter_mut()) {
        let owner = p.owner_word();
        let tick = p.schedtick();
        if !P::is_user_word(owner) || owner != s.owner || tick != s.tick {
            *s = Seen {
                owner,
                tick,
                since: now,
            };
            continue;
        }
        // The same goroutine has run since the last look while one it woke
        // waits in `runnext`, for which `ready` woke no M: start one (it
        // steals `runnext` from a P that keeps running).
        if p.runq().has_runnext() {
            rt.wake_p();
        }
        if now.duration_since(s.since) < rt.config.retake_after {
            continue;
        }
        if let Some(p) = p.retake(owner) {
            rt.hand_off_p(p);
            took = true;
        }
        s.since = now;
    }
    took
}

/// Sysmon's sleep while every P is idle, and the wake-up when one gets busy.
pub(crate) struct SysmonSleep {
    asleep: Mutex<bool>,
    cv: Condvar,
    sleeping: AtomicBool,
}

impl SysmonSleep {
    pub(crate) fn new() -> SysmonSleep {
        SysmonSleep {
            asleep: Mutex::new(false),
            cv: Condvar::new(),
            sleeping: AtomicBool::new(false),
        }
    }

    /// A P got busy: wake sysmon if it sleeps. Any thread.
    pub(crate) fn wake(&self) {
        if self.sleeping.load(Ordering::Acquire) {
            let mut asleep = self.asleep.lock();
            *asleep = false;
            self.sleeping.store(false, Ordering::Release);
            self.cv.notify_one();
        }
    }

    /// Waits while every P of `rt` stays idle, or until `max` passes
    /// (`None`: no limit). Only the sysmon thread.
    fn wait(&self, rt: &Runtime, max: Option<Duration>) {
        let mut asleep = self.asleep.lock();
        *asleep = true;
        self.sleeping.store(true, Ordering::Release);
        // Re-check after announcing the sleep: a P that got busy before the
        // flag was visible would not have woken us.
        if rt.npidle() == rt.nprocs() {
            match max {
                Some(max) => {
                    self.cv.wait_while_for(&mut asleep, |a| *a, max);
                }
                None => self.cv.wait_while(&mut asleep, |a| *a),
            }
        }
        self.sleeping.store(false, Ordering::Release);
    }
}
