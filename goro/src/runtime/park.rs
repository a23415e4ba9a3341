//! The park/wake seam: the one door through which every higher layer blocks
//! and wakes (today channels, `select` and timers, through the wait queue of
//! `runtime::wait`), written once for all three kinds of caller.
//!
//! - On a goroutine, [`park`] switches the goroutine out and frees its thread
//!   for other goroutines; [`current_waker`] wakes it onto the waker's
//!   processor (`runnext`), so a woken partner runs next, on the same core.
//! - On a plain OS thread, [`park`] parks the thread and the waker unparks it.
//! - From async code, a primitive registers the task's own `Waker` instead of
//!   calling [`current_waker`]; nothing else changes.
//!
//! Because a waiter is just a [`Waker`], one wait queue serves all three.
//! Goroutine waiters also have a faster way in: `Direct` marks one runnable
//! and queues it without a `Waker` call, in two steps, so a primitive can
//! publish its outcome in between. This module and `g.rs`'s waker are the
//! only callers of the scheduler's `ready`.
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
#[cfg(not(loom))]
use std::sync::Arc;
#[cfg(not(loom))]
use std::task::Wake;
use std::task::Waker;
#[cfg(not(loom))]
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
        None => park_thread(),
    }
}

/// `park` off the runtime: the thread parks (under loom, the calling
/// thread's stand-in goroutine does, so the models run the real waiting
/// code).
#[cfg(not(loom))]
#[inline]
fn park_thread() {
    thread::park();
}

#[cfg(loom)]
fn park_thread() {
    model::current().park();
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
        park_thread_deadline(deadline);
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

#[cfg(not(loom))]
fn park_thread_deadline(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        thread::park_timeout(deadline - now);
    }
}

/// Under loom there is no clock to wait for: a timed park returns at once,
/// as if its timer fired (a spurious return, which every caller handles).
/// The models use deadlines already past, so the real code times out right
/// after queueing, the race a timeout opens.
#[cfg(loom)]
fn park_thread_deadline(_deadline: Instant) {
    loom::thread::yield_now();
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
        #[cfg(not(loom))]
        None => THREAD_WAKER.with(Waker::clone),
        #[cfg(loom)]
        None => model::current().waker(),
    }
}

/// The current goroutine's waker without touching its reference count, or
/// the thread's (counted). For a wait the caller is about to do: the
/// goroutine outlives it. Only the goroutine or thread itself.
#[inline]
pub(crate) fn current_waker_for_wait() -> ManuallyDrop<Waker> {
    match current_g_ref() {
        Some(g) => g.waker_unowned(),
        #[cfg(loom)]
        None => ManuallyDrop::new(model::current().waker()),
        // A counted waker that is never dropped would leak one reference
        // of the thread's waker per wait: hand out the thread-local's own
        // copy, bit for bit, which the thread-local keeps alive.
        #[cfg(not(loom))]
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

#[cfg(not(loom))]
struct ThreadWaker(Thread);

#[cfg(not(loom))]
impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(not(loom))]
thread_local! {
    static THREAD_WAKER: Waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
}

pub(crate) use direct::Direct;

/// The seam's fast wake, for waiters that are goroutines: no `Waker` call,
/// no reference count, and two steps, so that a primitive can publish its
/// outcome between marking the goroutine runnable and queueing it (it
/// cannot run before it is queued, so it stays alive meanwhile; see
/// `runtime::wait::Waiter::finish`). Under loom the goroutines are the
/// models' stand-ins, so the models run this very path.
#[cfg(not(loom))]
mod direct {
    use std::ptr::NonNull;
    use std::task::Waker;

    use crate::runtime::g::{goroutine_of, G};

    /// A goroutine to mark runnable and then queue: one pointer.
    pub(crate) struct Direct(NonNull<G>);

    impl Direct {
        /// The goroutine behind `waker`, if it is a goroutine's. Any thread,
        /// while the waker's goroutine is alive (it is: it waits).
        #[inline]
        pub(crate) fn of(waker: &Waker) -> Option<Direct> {
            goroutine_of(waker).map(|g| Direct(NonNull::from(g)))
        }

        /// Marks the goroutine runnable: true if it was parked and must now
        /// be queued with [`Direct::queue`]; false if it was still running
        /// (it keeps a token and will not park). Any thread, once per wait.
        #[inline]
        pub(crate) fn mark_runnable(&self) -> bool {
            // SAFETY: a waiting goroutine is alive until it is queued.
            unsafe { self.0.as_ref() }.wake()
        }

        /// Puts the goroutine on a run queue (Go's `goready`). Only after
        /// `mark_runnable` returned true, and only once the lock under which
        /// the wake-up was decided is released.
        #[inline]
        pub(crate) fn queue(self) {
            crate::runtime::sched::ready(self.0);
        }
    }
}

#[cfg(loom)]
use model as direct;

/// Under loom every model thread is a stand-in goroutine ([`ModelG`]): its
/// park token is the real one (`runtime::park_state`), and a flag under a
/// lock and condvar stands for its run queue (loom 0.7's
/// `thread::park`/`unpark` loses unparks, so it cannot stand in here). The
/// seam's `park` and wakers use it, so the real primitives block and wake in
/// the models exactly as goroutines do.
#[cfg(loom)]
mod model {
    use std::task::{RawWaker, RawWakerVTable, Waker};

    use loom::sync::{Condvar, Mutex};

    use crate::runtime::park_state::ParkState;

    pub(crate) struct ModelG {
        pub(crate) park: ParkState,
        queued: Mutex<bool>,
        runnable: Condvar,
    }

    loom::thread_local! {
        static CURRENT: ModelG = ModelG::new();
    }

    /// The calling model thread's goroutine. Its wakers must not outlive
    /// the thread (a model's waits end before its threads do).
    pub(crate) fn current() -> &'static ModelG {
        // SAFETY: the value lives until the thread ends, and wakers and
        // references made from it are only used during waits of that
        // thread (see above).
        CURRENT.with(|g| unsafe { &*(g as *const ModelG) })
    }

    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, noop);

    fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, &VTABLE)
    }

    /// A `Waker::wake` that does not go through `Direct` (a waker clone
    /// kept elsewhere): the same two steps at once.
    fn wake(data: *const ()) {
        let target = Direct(std::ptr::NonNull::new(data as *mut ModelG).expect("null"));
        if target.mark_runnable() {
            target.queue();
        }
    }

    fn noop(_: *const ()) {}

    impl ModelG {
        pub(crate) fn new() -> ModelG {
            ModelG {
                park: ParkState::new(),
                queued: Mutex::new(false),
                runnable: Condvar::new(),
            }
        }

        /// A waker that `Direct::of` recognises, as it does a goroutine's.
        /// It must not outlive `self`.
        pub(crate) fn waker(&self) -> Waker {
            let raw = RawWaker::new(self as *const ModelG as *const (), &VTABLE);
            // SAFETY: clones and wakes only reach `self` while the model
            // keeps it alive; drops do nothing.
            unsafe { Waker::from_raw(raw) }
        }

        /// `park()` on a goroutine: consume a token, or switch out and let
        /// the "M" make the park real, then sleep until queued. Only the
        /// model goroutine's own thread.
        pub(crate) fn park(&self) {
            if self.park.try_consume_token() || !self.park.finish_park() {
                return;
            }
            let mut queued = self.queued.lock().unwrap();
            while !*queued {
                queued = self.runnable.wait(queued).unwrap();
            }
            *queued = false;
        }
    }

    /// A model goroutine to mark runnable and then queue.
    pub(crate) struct Direct(std::ptr::NonNull<ModelG>);

    // SAFETY: stands for a goroutine pointer, which crosses threads.
    unsafe impl Send for Direct {}

    impl Direct {
        pub(crate) fn of(waker: &Waker) -> Option<Direct> {
            if !std::ptr::eq(waker.vtable(), &VTABLE) {
                return None;
            }
            // SAFETY: only `ModelG::waker` makes wakers with this vtable, and
            // the model keeps the `ModelG` alive while its waiter waits.
            Some(Direct(unsafe {
                std::ptr::NonNull::new_unchecked(waker.data() as *mut ModelG)
            }))
        }

        fn g(&self) -> &ModelG {
            // SAFETY: the model keeps the `ModelG` alive while it waits.
            unsafe { self.0.as_ref() }
        }

        pub(crate) fn mark_runnable(&self) -> bool {
            self.g().park.wake()
        }

        /// Puts the goroutine "on a run queue": it may run again.
        pub(crate) fn queue(self) {
            *self.g().queued.lock().unwrap() = true;
            self.g().runnable.notify_one();
        }
    }
}
