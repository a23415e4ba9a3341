//! Finding a goroutine to run (Go's `findRunnable`): due timers, the local
//! queue, the global queue, stealing from other Ps, and otherwise giving the
//! P up and sleeping (`idle.rs`).
//!
//! Order: due timers of the P and the global heap first (Go's `checkTimers`),
//! so the goroutines they wake are found below; then `runnext` and the local
//! ring, with the global queue first every 61st tick; a batch from the global
//! queue; then, if fewer than half the busy Ps already have a thief, one look
//! at the others: four stealing rounds in random order, half a victim's ring
//! at a time. A spinning M that finds nothing gives its P up at once (Go's
//! rule): a poller keeps reading the victims' queue words and steals the
//! `runnext` goroutines they were about to run.
//!
//! # Patience with a running victim
//!
//! In each round, the first victim found running a goroutine with work
//! queued gets `STEAL_PATIENCE` (10 µs) before we steal. If its goroutine is
//! still the same one after that, we take half (and in the last round its
//! `runnext`). If it scheduled meanwhile, it is working through its queue
//! itself, and we leave the queue to it when what is left is small: at most
//! `SMALL_BACKLOG`, or no more goroutines than it ran while we waited (so it
//! gets through them within another patience). A longer backlog is still
//! split, so a P that fans out many short goroutines does not run them all
//! alone. Spent at most once per round, so a look over many busy Ps spins
//! at most 4 × 10 µs. (Go's `runqgrab` pauses 3 µs, asleep, before taking a
//! running P's `runnext` only.)
//!
//! Why: what queues behind a running goroutine is mostly what it just woke
//! (senders it made room for, a ping-pong partner, children it spawned).
//! Moving those to another core costs a cache miss on every line they touch,
//! and taken one at a time they park again after a single value; left for a
//! few µs they run where they were woken, or move in batches with full
//! buffers to work on. The figures, and the variants tried, are in
//! `docs/decisions/stealing.md`.

use std::ptr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::runtime::g::GRef;
use crate::runtime::m::M;
use crate::runtime::p::{ClaimedP, P};
use crate::runtime::sched::Runtime;
use crate::runtime::timers::{self, now_nanos, NONE};

/// How long a thief gives a P that is running a goroutine before taking
/// work from its queue (module docs).
const STEAL_PATIENCE: Duration = Duration::from_micros(10);

/// A queue this short, behind a P that is scheduling, is left to that P
/// (module docs).
const SMALL_BACKLOG: usize = 8;

/// Finds a goroutine to run, with the P `p` (or none: then it gets one, or
/// sleeps until handed one); sleeps the M without its P if there is no work.
/// Returns the P the M now holds and the goroutine. Only `m`'s thread.
#[inline(always)]
pub(crate) fn find_runnable(
    rt: &'static Runtime,
    m: &'static M,
    p: Option<ClaimedP>,
) -> (ClaimedP, GRef) {
    let mut held = p;
    loop {
        let p = match held.take() {
            Some(p) => p,
            None => match acquire_or_stop(rt, m) {
                (p, Some(g)) => return (p, g),
                (p, None) => p,
            },
        };
        timers::check(rt, p.p());
        if let Some(g) = find_local_or_global(rt, &p) {
            return (p, g);
        }
        let busy = rt.nprocs() - rt.npidle();
        if m.is_spinning() || 2 * rt.idle.nmspinning.load(Ordering::Acquire) < busy {
            if !m.is_spinning() {
                m.set_spinning(true);
                rt.idle.nmspinning.fetch_add(1, Ordering::AcqRel);
            }
            if let Some(g) = steal_once(rt, m, &p) {
                return (p, g);
            }
        }
        // Nothing anywhere: give the P back (unless work showed up) and sleep.
        held = match rt.give_up_p(m, p) {
            Some(p) => Some(p),
            None => match rt.stop_m(m) {
                (p, Some(g)) => return (p, g),
                (p, None) => Some(p),
            },
        };
    }
}

/// Local queue first, the global queue every 61st tick and when the local
/// one is empty.
fn find_local_or_global(rt: &'static Runtime, p: &ClaimedP) -> Option<GRef> {
    if p.p().global_queue_turn() && !rt.global.is_empty() {
        if let Some(g) = rt.global.pop() {
            return Some(g);
        }
    }
    p.pop().or_else(|| global_batch(rt, p))
}

/// A batch from the global queue into `p`'s, returning one to run now.
fn global_batch(rt: &'static Runtime, p: &ClaimedP) -> Option<GRef> {
    if rt.global.is_empty() {
        return None;
    }
    p.take_global_batch(&rt.global, rt.nprocs())
}

/// One look for work anywhere: four stealing rounds over the other Ps, then
/// the global queue. Only a spinning M.
fn steal_once(rt: &'static Runtime, m: &'static M, p: &ClaimedP) -> Option<GRef> {
    steal_work(rt, m, p).or_else(|| global_batch(rt, p))
}

/// Four rounds over the other Ps in random order, stealing half of a queue
/// (with patience for a running victim, module docs); the last round may
/// take a `runnext` too, and runs the victims' due timers (their goroutines
/// land on our queue).
fn steal_work(rt: &'static Runtime, m: &'static M, p: &ClaimedP) -> Option<GRef> {
    let n = rt.nprocs();
    for round in 0..4 {
        let last_round = round == 3;
        let start = m.rand() as usize % n;
        let mut now = NONE;
        let mut waited = false;
        for i in 0..n {
            let victim = &rt.ps[(start + i) % n];
            let is_self = ptr::eq(victim, p.p());
            if last_round && !is_self && victim.timers.earliest() != NONE {
                if now == NONE {
                    now = now_nanos();
                }
                if victim.timers.earliest() <= now && victim.timers.run(now) > 0 {
                    if let Some(g) = p.pop() {
                        return Some(g);
                    }
                }
            }
            if is_self || victim.runq().is_empty() {
                continue;
            }
            if !last_round && victim.runq().ring_len() == 0 {
                // Only a `runnext`, which only the last round may take:
                // nothing to steal, nor to spend the patience on, yet.
                continue;
            }
            // A running victim's `runnext` is taken only after our patience
            // showed it stuck: otherwise it is most likely the partner its
            // goroutine is about to switch to (a ping-pong stays on one P).
            let running = P::is_user_word(victim.owner_word());
            let mut take_next = last_round && !running;
            if running && !waited {
                waited = true;
                match watch(victim) {
                    Watched::Stuck => take_next = last_round,
                    Watched::Coping => continue,
                    Watched::Backlogged => {}
                }
            }
            if let Some(g) = p.steal_from(victim, take_next) {
                return Some(g);
            }
        }
    }
    None
}

/// What a victim did while a thief watched it for `STEAL_PATIENCE`.
enum Watched {
    /// Still in the same goroutine: take half, and its `runnext` if allowed.
    Stuck,
    /// Scheduling, with what is left small, or cleared at the pace it just
    /// showed within another patience: leave its queue to it.
    Coping,
    /// Scheduling, but with a longer backlog: take half (not `runnext`).
    Backlogged,
}

/// Spins `STEAL_PATIENCE` watching `victim` (module docs). Any thief.
fn watch(victim: &P) -> Watched {
    let tick = victim.schedtick();
    spin_for(STEAL_PATIENCE);
    let ran = victim.schedtick().wrapping_sub(tick);
    if ran == 0 {
        Watched::Stuck
    } else if victim.runq().ring_len() <= SMALL_BACKLOG.max(ran as usize) {
        Watched::Coping
    } else {
        Watched::Backlogged
    }
}

fn spin_for(d: Duration) {
    let until = Instant::now() + d;
    // Reading the clock costs more than a pause: look every 32 pauses.
    while Instant::now() < until {
        for _ in 0..32 {
            std::hint::spin_loop();
        }
    }
}

/// A spinning M found work: stop spinning, and if it was the last spinner,
/// wake another so remaining work is found (Go's `resetspinning`). Only
/// `m`'s thread.
pub(crate) fn reset_spinning(rt: &'static Runtime, m: &'static M) {
    m.stop_spinning();
    if rt.idle.nmspinning.fetch_sub(1, Ordering::AcqRel) == 1 {
        rt.wake_p();
    }
}

/// Gets an idle P for an M that has none, or sleeps until handed one.
/// Only `m`'s thread.
fn acquire_or_stop(rt: &'static Runtime, m: &'static M) -> (ClaimedP, Option<GRef>) {
    match rt.try_get_idle_p() {
        Some(p) => (m.run_on(p), None),
        None => rt.stop_m(m),
    }
}
