//! Goroutines wired to one OS thread (Go's `LockOSThread`): while locked, a
//! goroutine runs only on its M and no other goroutine runs there; when it
//! parks, its M gives the P away and sleeps until the goroutine is runnable
//! again and handed back with a P (Go's `stoplockedm`/`startlockedm`).
//!
//! State: `M::locked` (the nesting depth, the M's own thread only) and
//! `G::locked_m` (the M it is wired to, or null; read by whichever M takes
//! the goroutine from a run queue).

use std::ptr;
use std::sync::atomic::Ordering;

use crate::runtime::execute::Next;
use crate::runtime::g::GRef;
use crate::runtime::m::{current_m, M};
use crate::runtime::p::ClaimedP;
use crate::runtime::sched::Runtime;

/// Wires the calling goroutine to its current OS thread: until the matching
/// [`unlock_os_thread`], it runs only on this thread and no other goroutine
/// runs here (Go's `runtime.LockOSThread`). Calls nest. If the goroutine
/// returns while locked, the thread ends with it. Off the runtime it does
/// nothing: a plain thread is already its own.
pub fn lock_os_thread() {
    let Some(m) = current_m() else { return };
    let Some(g) = m.curg.get() else { return };
    m.locked.set(m.locked.get() + 1);
    // SAFETY: `g` is the running goroutine: alive.
    unsafe { g.as_ref() }
        .locked_m
        .store(m as *const M as *mut M, Ordering::Release);
}

/// Undoes one [`lock_os_thread`]; the last one lets the goroutine move again.
pub fn unlock_os_thread() {
    let Some(m) = current_m() else { return };
    let Some(g) = m.curg.get() else { return };
    let depth = m.locked.get().saturating_sub(1);
    m.locked.set(depth);
    if depth == 0 {
        // SAFETY: `g` is the running goroutine: alive.
        unsafe { g.as_ref() }
            .locked_m
            .store(ptr::null_mut(), Ordering::Release);
    }
}

/// The locked goroutine of `m` switched out: give the P away and sleep until
/// the goroutine is runnable and handed back with a P. Only `m`'s thread.
pub(crate) fn stop_locked_m(rt: &'static Runtime, m: &'static M, p: Option<ClaimedP>) -> Next {
    if let Some(p) = p {
        rt.hand_off_p(m.stop_running_on(p));
    }
    match rt.sleep_until_handed(m) {
        (p, Some(g)) => Next::Run(p, g),
        (p, None) => Next::Schedule(Some(p)),
    }
}

/// `g` is locked to another M: hand it our P and `g`, and sleep. Only `m`'s
/// thread (Go's `startlockedm`).
pub(crate) fn start_locked_m(
    rt: &'static Runtime,
    m: &'static M,
    to: *mut M,
    p: ClaimedP,
    g: GRef,
) -> Next {
    let p = m.stop_running_on(p);
    if m.stop_spinning() {
        rt.idle.nmspinning.fetch_sub(1, Ordering::AcqRel);
    }
    // SAFETY: Ms are leaked; a G's `locked_m` always names a live M.
    unsafe { &*to }.wake_with(p, Some(g), false);
    match rt.stop_m(m) {
        (p, Some(g)) => Next::Run(p, g),
        (p, None) => Next::Schedule(Some(p)),
    }
}

/// The locked goroutine ended: its thread ends too, after giving its P on.
/// Only `m`'s thread.
pub(crate) fn exit_locked_thread(rt: &'static Runtime, m: &'static M, p: Option<ClaimedP>) {
    if let Some(p) = p {
        rt.hand_off_p(m.stop_running_on(p));
    }
    rt.nthreads.fetch_sub(1, Ordering::AcqRel);
}
