//! The park/wake seam: the one door through which every higher layer
//! (channels, timers, sync, net) blocks and wakes, written once for all three
//! kinds of caller.
//!
//! - On a goroutine, [`park`] switches the goroutine out and frees its thread
//!   for other goroutines; [`current_waker`] wakes it onto the waker's
//!   processor (`runnext`), so a woken partner runs next, on the same core.
//! - On a plain OS thread, [`park`] parks the thread and the waker unparks it.
//! - From async code, a primitive registers the task's own `Waker` instead of
//!   calling [`current_waker`]; nothing else changes.
//!
//! Because a waiter is just a [`Waker`], one wait queue serves all three.
//!
//! Semantics are those of `std::thread::park`: a wake that arrives before the
//! park is remembered (one token), so wake-ups are never lost, and `park`
//! may return without a fresh wake-up. Block in a loop that re-checks the
//! condition:
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::{Arc, Mutex};
//!
//! let ready = Arc::new(AtomicBool::new(false));
//! let waiter = Arc::new(Mutex::new(None::<std::task::Waker>));
//! let (r, w) = (ready.clone(), waiter.clone());
//! let h = goro::go(move || {
//!     *w.lock().unwrap() = Some(goro::park::current_waker());
//!     while !r.load(Ordering::Acquire) {
//!         goro::park::park();
//!     }
//! });
//! loop {
//!     if let Some(wk) = waiter.lock().unwrap().take() {
//!         ready.store(true, Ordering::Release);
//!         wk.wake();
//!         break;
//!     }
//!     std::thread::yield_now();
//! }
//! h.join().unwrap();
//! ```

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::thread::{self, Thread};

use crate::runtime::g::Switch;
use crate::runtime::m::current_g_ref;

/// Blocks the current goroutine (or, off the runtime, the current thread)
/// until its waker is woken. May return spuriously: call it in a loop.
pub fn park() {
    match current_g_ref() {
        Some(g) => {
            if !g.try_consume_token() {
                // SAFETY: `g` is the goroutine running this code.
                unsafe { g.switch_out(Switch::Park) };
            }
        }
        None => thread::park(),
    }
}

/// A [`Waker`] that wakes the current goroutine (or, off the runtime, the
/// current thread) out of [`park`]. Cheap to clone; it may outlive the
/// goroutine, and then waking it does nothing.
pub fn current_waker() -> Waker {
    match current_g_ref() {
        Some(g) => g.waker(),
        None => THREAD_WAKER.with(Waker::clone),
    }
}

/// True when the caller runs on a goroutine (not a plain thread).
pub fn on_goroutine() -> bool {
    crate::runtime::m::is_goroutine()
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static THREAD_WAKER: Waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
}
