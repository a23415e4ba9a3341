//! The std/loom facade: every lock-free part of the runtime takes its atomics
//! and locks from here, so `RUSTFLAGS="--cfg loom"` swaps them for loom's
//! model-checked versions without touching the code that uses them.
//!
//! Invariant: each item has the same name and the same call signature under
//! both cfgs, so no user needs a `#[cfg(loom)]` of its own. In particular
//! [`Mutex::lock`] returns the guard directly under both (loom's returns a
//! `LockResult`, std's poisons; the runtime never panics while holding one of
//! these locks, so there is no poison to report).
//!
//! Only the modules that are model-checked go through this facade (the run
//! queues, a goroutine's park token, the wait queue and its commit protocol,
//! the channels and their lock, the join packet); the rest of the runtime
//! uses std directly. Under loom the seam (`runtime::park`) makes every model
//! thread a stand-in goroutine, so the real channel and wait-queue code
//! blocks and wakes in the models.
//!
//! Rejected: re-exporting `std::sync::Mutex` (poisoning would force an
//! `unwrap` at every call site, and it is slower than `parking_lot`'s).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

/// `Arc` for what the models share between threads and free: loom's own
/// tracks the release/acquire of the last drop (std's fences are invisible
/// to it, so a channel freed by one model thread would race the others'
/// last accesses).
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

/// The guard [`Mutex::lock`] returns.
#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
/// The guard [`Mutex::lock`] returns.
#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

#[cfg(not(loom))]
type RawMutex<T> = parking_lot::Mutex<T>;
#[cfg(loom)]
type RawMutex<T> = loom::sync::Mutex<T>;

/// A mutex whose `lock()` has one signature under both cfgs: `parking_lot`'s
/// normally, loom's under `cfg(loom)`. Any thread may use it.
#[derive(Default, Debug)]
pub(crate) struct Mutex<T>(RawMutex<T>);

impl<T> Mutex<T> {
    /// Any thread. `const` only without loom (loom's mutex registers itself
    /// with the running model, so it cannot be built at compile time).
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Self(parking_lot::const_mutex(value))
    }

    /// Any thread.
    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    /// Any thread. Blocks until the lock is free.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        {
            self.0.lock()
        }
        #[cfg(loom)]
        {
            // A poisoned lock means a panic elsewhere already failed the model.
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }
}

/// Signals a busy-wait loop: `std::hint::spin_loop` normally; under loom a
/// yield, so that a model can run the thread being waited for.
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::hint::spin_loop();
}

/// Interior mutability with loom's closure API under both cfgs: `with` for
/// a shared access, `with_mut` for an exclusive one. Without loom it is
/// `std::cell::UnsafeCell` and the closures compile to plain pointer
/// accesses; under loom every access is checked against the happens-before
/// order (a data race fails the model).
#[cfg(not(loom))]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Any thread.
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` on a pointer for reading. Whether the read is sound is the
    /// caller's to argue, as with `std::cell::UnsafeCell::get`.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` on a pointer for writing; as [`UnsafeCell::with`].
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    /// The value, taken out of the cell.
    #[inline(always)]
    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// How an M sleeps and is woken: its OS thread's park token normally; under
/// loom a model token (a flag under a lock and condvar), so the idle
/// protocol's models can see who was woken. Semantics of
/// `std::thread::park`: an unpark before the park is remembered (one token),
/// and a park may return spuriously.
pub(crate) struct Parker {
    #[cfg(not(loom))]
    thread: std::sync::OnceLock<std::thread::Thread>,
    #[cfg(loom)]
    token: loom::sync::Mutex<bool>,
    #[cfg(loom)]
    unparked: loom::sync::Condvar,
}

impl Parker {
    /// Not bound to a thread yet. Any thread.
    pub(crate) fn new() -> Parker {
        Parker {
            #[cfg(not(loom))]
            thread: std::sync::OnceLock::new(),
            #[cfg(loom)]
            token: loom::sync::Mutex::new(false),
            #[cfg(loom)]
            unparked: loom::sync::Condvar::new(),
        }
    }

    /// Binds the parker to the calling thread. Only its thread, once,
    /// before anyone unparks it (an unpark before that does nothing).
    pub(crate) fn bind(&self) {
        #[cfg(not(loom))]
        let _ = self.thread.set(std::thread::current());
    }

    /// Sleeps until unparked (or spuriously). Only the bound thread.
    pub(crate) fn park(&self) {
        #[cfg(not(loom))]
        std::thread::park();
        #[cfg(loom)]
        {
            let mut token = self.token.lock().unwrap();
            while !*token {
                token = self.unparked.wait(token).unwrap();
            }
            *token = false;
        }
    }

    /// As [`Parker::park`], for at most `d`. Under loom there is no clock:
    /// it returns at once, as a spurious wake-up would.
    pub(crate) fn park_timeout(&self, d: std::time::Duration) {
        #[cfg(not(loom))]
        std::thread::park_timeout(d);
        #[cfg(loom)]
        {
            let _ = d;
            loom::thread::yield_now();
        }
    }

    /// Wakes the bound thread, or leaves it a token. Any thread.
    pub(crate) fn unpark(&self) {
        #[cfg(not(loom))]
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
        #[cfg(loom)]
        {
            *self.token.lock().unwrap() = true;
            self.unparked.notify_one();
        }
    }

    /// Under loom, takes the token if one was left: what a model checks to
    /// see that a thread was woken.
    #[cfg(all(loom, test))]
    pub(crate) fn take_token(&self) -> bool {
        std::mem::take(&mut *self.token.lock().unwrap())
    }
}
