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
//! Timed waits go through the same door: [`park_timeout`] and
//! [`park_deadline`] register a timer whose waker is the goroutine's own
//! (on a thread they use `std::thread::park_timeout`), and the crate's
//! higher layers use `register_timer`/`cancel_timer` with any waker, an
//! async task's included.
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

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::runtime::g::Switch;
use crate::runtime::m::current_g_ref;
use crate::runtime::timers::{self, TimerKey};

/// Blocks the current goroutine (or, off the runtime, the current thread)
/// until its waker is woken. May return spuriously: call it in a loop.
#[inline]
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

/// As [`park`], but returns once `dur` has passed at the latest. May return
/// earlier, spuriously: call it in a loop that re-checks the condition and
/// the time.
pub fn park_timeout(dur: Duration) {
    match Instant::now().checked_add(dur) {
        Some(deadline) => park_deadline(deadline),
        None => park(),
    }
}

/// As [`park`], but returns once `deadline` has passed at the latest. May
/// return earlier, spuriously, like [`park`].
pub fn park_deadline(deadline: Instant) {
    let Some(g) = current_g_ref() else {
        let now = Instant::now();
        if deadline > now {
            thread::park_timeout(deadline - now);
        }
        return;
    };
    if g.try_consume_token() || Instant::now() >= deadline {
        return;
    }
    let key = register_timer(deadline, g.waker());
    park();
    // Frees the waker now; a timer that fired meanwhile left at most a
    // token, i.e. one spurious return from a later park.
    cancel_timer(key);
}

/// Wakes `waker` once `deadline` has passed, unless cancelled first with
/// [`cancel_timer`]. Any thread, any waker (a goroutine's, a thread's, an
/// async task's); starts the runtime if needed.
pub(crate) fn register_timer(deadline: Instant, waker: Waker) -> TimerKey {
    timers::register(deadline, waker)
}

/// Cancels a timer from [`register_timer`]: true if it had not fired, and
/// then it never will and its waker is already dropped. Any thread.
pub(crate) fn cancel_timer(key: TimerKey) -> bool {
    timers::cancel(key)
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

/// The current goroutine's waker without touching its reference count, or
/// the thread's (counted). For a wait the caller is about to do: the
/// goroutine outlives it. Only the goroutine or thread itself.
#[inline]
pub(crate) fn current_waker_for_wait() -> ManuallyDrop<Waker> {
    match current_g_ref() {
        Some(g) => g.waker_unowned(),
        // A counted waker that is never dropped would leak one reference
        // of the thread's waker per wait: hand out the thread-local's own
        // copy, bit for bit, which the thread-local keeps alive.
        None => THREAD_WAKER.with(|w| {
            // SAFETY: the copy aliases the thread-local's waker, which
            // outlives any wait on this thread; `ManuallyDrop` keeps the
            // copy from releasing the reference the original owns.
            ManuallyDrop::new(unsafe { std::ptr::read(w) })
        }),
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
