//! A goroutine giving its processor away: around a call that may block its
//! thread ([`blocking`], Go's `entersyscall`/`exitsyscall`), to the back of
//! the global queue ([`yield_now`], Go's `Gosched`), and after sysmon took
//! its P (`yield_if_p_lost`).

use crate::runtime::g::Switch;
use crate::runtime::m::{current_g, current_m};
use crate::runtime::sched::rt;

/// Yields the processor: the goroutine goes to the back of the global queue
/// (Go's `Gosched`). Off the runtime it yields the OS thread.
pub fn yield_now() {
    match current_g() {
        // SAFETY: we are this goroutine, on its own stack.
        Some(g) => unsafe { g.as_ref().switch_out(Switch::Yield) },
        None => std::thread::yield_now(),
    }
}

/// A goroutine running without a P (sysmon took it) switches out, to be
/// resumed on a P. Only the goroutine itself, at a point where switching is
/// expected (spawning). No-op off the runtime or with a P.
pub(crate) fn yield_if_p_lost() {
    let Some(m) = current_m() else { return };
    if m.p().is_some() || m.locked.get() > 0 {
        return;
    }
    if let Some(g) = m.curg.get() {
        // SAFETY: we are this goroutine, on its own stack.
        unsafe { g.as_ref().switch_out(Switch::NoP) };
    }
}

/// Runs `f`, which may block its OS thread (a blocking system call, a long
/// computation, a C library), after handing this goroutine's processor to
/// another thread, so the other goroutines keep running meanwhile. Returns
/// `f`'s value; off the runtime it simply calls `f`.
///
/// Without `blocking`, sysmon does the same hand-off after the goroutine has
/// held its processor for about 10 ms without a scheduling point; `blocking`
/// does it at once.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let Some(m) = current_m().filter(|m| m.curg.get().is_some()) else {
        return f();
    };
    if let Some(user) = m.take_user_p() {
        if let Some(p) = user.retake() {
            rt().hand_off_p(p);
        }
    }
    struct Reacquire;
    impl Drop for Reacquire {
        fn drop(&mut self) {
            reacquire_p();
        }
    }
    let _reacquire = Reacquire;
    f()
}

/// After `blocking`: get a P back, or queue the goroutine and let this M
/// sleep. Only the goroutine itself.
fn reacquire_p() {
    let m = current_m().expect("blocking ended off the runtime");
    if m.p().is_some() {
        return;
    }
    if let Some(p) = rt().try_get_idle_p() {
        let p = m.run_on(p);
        m.enter_user(p);
        return;
    }
    let g = current_g().expect("blocking ended outside its goroutine");
    // SAFETY: we are this goroutine, on its own stack.
    unsafe { g.as_ref().switch_out(Switch::NoP) };
}
