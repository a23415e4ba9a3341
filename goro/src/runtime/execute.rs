//! Running a goroutine and settling it when it stops (Go's `execute` and
//! the end of `park_m`/`goexit0`), including the switch from a parking
//! goroutine straight to the one in `runnext`.
//!
//! # The successor switch in user mode
//!
//! When a goroutine parks and the one it most likely woke waits in its P's
//! `runnext`, the M runs that one at once, with the P's owner word still in
//! user mode: no claim's CAS and no round of the scheduling loop per channel
//! hand-off. Safe without the claim because in user mode sysmon may take the
//! P at any moment anyway, and this path touches only what a P's non-owner
//! may (`runnext` by swap, like a thief; the tick counter, a racy statistic).
//! If sysmon takes the P after the ownership look, the goroutine we run is
//! simply one that runs while its M loses the P, which user mode allows for
//! every goroutine; its next scheduling point finds the P gone. Everything
//! that needs the P as owner (the ring, the stack cache, timers that queue
//! what they wake) is left to the scheduler, and so are the global queue's
//! turn every 61st tick, due timers and a locked M.

use std::ptr;
use std::sync::atomic::Ordering;

use crate::runtime::g::{GRef, Switch, G};
use crate::runtime::locked::stop_locked_m;
use crate::runtime::m::M;
use crate::runtime::p::{ClaimedP, UserP};
use crate::runtime::sched::{free_stack_on, Runtime};
use crate::runtime::timers;

/// What an M does after running goroutines.
pub(crate) enum Next {
    /// Look for work (with the P, if it still has one).
    Schedule(Option<ClaimedP>),
    /// Run this goroutine next, on this P.
    Run(ClaimedP, GRef),
    /// The locked goroutine ended: the thread goes with it.
    ExitThread(Option<ClaimedP>),
}

/// How the last goroutine run in user mode stopped.
enum Stopped {
    /// It returned.
    Exited(GRef),
    /// It parked; `woken`: a wake came before its park was made real, so it
    /// must run again.
    Parked { g: GRef, woken: bool },
    /// It yielded, or ran on without a P (`Switch::NoP`): to the global
    /// queue.
    Requeue(GRef),
    /// The parked goroutine's successor is locked to another thread: it
    /// must go through the scheduler.
    LockedSuccessor(GRef),
}

/// Runs `g` on `p` until it parks, yields or ends, and settles it; when it
/// parks and another goroutine waits in `runnext`, runs that one straight
/// away (module docs). Only `m`'s thread.
#[inline(always)]
pub(crate) fn execute(rt: &'static Runtime, m: &'static M, p: ClaimedP, g: GRef) -> Next {
    let mut p = p;
    let mut g = g;
    loop {
        m.enter_user(p);
        let stopped = run_in_user_mode(rt, m, g);
        let p_back = m.claim_back();
        match stopped {
            Stopped::Exited(g) => {
                let exit_thread = goexit(rt, m, p_back.as_ref(), g);
                return match exit_thread {
                    true => Next::ExitThread(p_back),
                    false => Next::Schedule(p_back),
                };
            }
            Stopped::Parked {
                g: again,
                woken: true,
            } => match p_back {
                // A wake came between park and now: run it again.
                Some(back) => {
                    p = back;
                    g = again;
                    continue;
                }
                None => requeue(rt, again),
            },
            Stopped::Parked { woken: false, .. } => {}
            Stopped::Requeue(g) => requeue(rt, g),
            Stopped::LockedSuccessor(next) => match p_back {
                Some(back) => return Next::Run(back, next),
                None => requeue(rt, next),
            },
        }
        if m.locked.get() > 0 {
            return stop_locked_m(rt, m, p_back);
        }
        return Next::Schedule(p_back);
    }
}

/// To the back of the global queue, and someone is told.
fn requeue(rt: &'static Runtime, g: GRef) {
    rt.global.push(g);
    rt.wake_p();
}

/// Runs `g`, and its successors while each parks with one in `runnext`,
/// all in user mode. Only `m`'s thread, with its P just put in user mode.
#[inline(always)]
fn run_in_user_mode(rt: &'static Runtime, m: &'static M, g: GRef) -> Stopped {
    let mut g = g;
    loop {
        // SAFETY: the G is alive: it holds its own reference until it ends.
        let gr = unsafe { g.as_ref() };
        if let Some(p) = m.p() {
            p.tick();
            gr.note_running_on(p.index);
        }
        m.curg.set(Some(g));
        // SAFETY: this M took `g` from a run queue (or switched it out just
        // now) and `curg` is set: it is the only thread resuming it.
        let why = unsafe { gr.resume() };
        m.curg.set(None);
        let woken = match why {
            None => return Stopped::Exited(g),
            Some(Switch::Yield) | Some(Switch::NoP) => return Stopped::Requeue(g),
            Some(Switch::Park) => !gr.finish_park(),
        };
        match successor_in_user_mode(rt, m, woken.then_some(g)) {
            Successor::Run(next) => g = next,
            Successor::Locked(next) => return Stopped::LockedSuccessor(next),
            Successor::None => return Stopped::Parked { g, woken },
        }
    }
}

/// What [`successor_in_user_mode`] found.
enum Successor {
    /// Run this goroutine now, with the P still in user mode.
    Run(GRef),
    /// This goroutine was taken, but is locked to another thread.
    Locked(GRef),
    /// Nothing to switch to: the usual path.
    None,
}

/// A goroutine just parked (its park is settled): if the one it most likely
/// woke waits in `runnext` (or `again`, the parked goroutine itself, was
/// woken meanwhile), it is next, without leaving user mode (module docs).
/// Only `m`'s thread, after a park, with the owner word not yet claimed back.
fn successor_in_user_mode(rt: &'static Runtime, m: &'static M, again: Option<GRef>) -> Successor {
    let Some(p) = m.p() else {
        return Successor::None;
    };
    if m.locked.get() > 0
        || !UserP::of(p, m.id).looks_owned()
        || p.global_queue_turn()
        || timers::due(rt, p)
    {
        return Successor::None;
    }
    if let Some(g) = again {
        return Successor::Run(g);
    }
    let Some(next) = p.runq().pop_next() else {
        return Successor::None;
    };
    // SAFETY: a G taken from a run queue is alive (it holds its own ref).
    let locked_to = unsafe { next.as_ref() }.locked_m.load(Ordering::Acquire);
    if locked_to.is_null() || ptr::eq(locked_to, m) {
        Successor::Run(next)
    } else {
        Successor::Locked(next)
    }
}

/// A goroutine returned: account for it and drop its own reference. True if
/// it was locked to this thread, which then ends. Only `m`'s thread, in
/// scheduler code (`p`: the P it holds claimed, if any).
fn goexit(rt: &'static Runtime, m: &'static M, p: Option<&ClaimedP>, g: GRef) -> bool {
    // SAFETY: the G is alive until the `release_ref` below.
    let gr = unsafe { g.as_ref() };
    gr.mark_done();
    match p {
        Some(p) => p.count_exited(),
        None => {
            rt.exited_off_p.fetch_add(1, Ordering::AcqRel);
        }
    }
    // Go's rule: a goroutine that exits while locked takes its thread with
    // it, since it may have changed the thread's state.
    let exit_thread = m.locked.replace(0) > 0;
    gr.locked_m.store(ptr::null_mut(), Ordering::Release);
    // SAFETY: this is the goroutine's own reference, given up exactly once.
    unsafe { G::release_ref_with(g, |stack| free_stack_on(p, stack)) };
    exit_thread
}
