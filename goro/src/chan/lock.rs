//! The channel lock: a test-and-test-and-set spin lock whose waiters back off
//! and then yield the CPU, and whose unlock is a plain release store.
//!
//! # Why not `parking_lot::RawMutex`
//!
//! A channel's critical section is tens of nanoseconds, and no user code runs
//! in it (wake-ups run after the unlock). `parking_lot`'s unlock is a
//! compare-and-swap (it must see parked waiters), and its waiters sleep on a
//! futex, which then needs a wake-up syscall. Here nobody sleeps: unlock is a
//! store, one atomic read-modify-write less per lock use, and a waiter backs
//! off and then yields until the holder, if it was descheduled, has run.
//! Figures: `docs/decisions/channel-lock.md`.
//!
//! # Invariant
//!
//! `locked` is true exactly while one thread holds the lock; only that thread
//! stores false.
//!
//! # Under loom
//!
//! The channel models use `ModelLock`, a blocking lock of loom's own, in
//! its place: loom cannot bound a spin loop among three or more threads (a
//! waiter's yield may hand the model to another waiter, forever). The spin
//! lock itself is model-checked on its own (`loom_spin_lock_excludes`).

use crate::loom::{AtomicBool, Ordering};

/// The lock every channel takes.
#[cfg(not(loom))]
pub(crate) type ChanLock = SpinLock;
/// The lock every channel takes (a blocking stand-in under loom, see the
/// module docs).
#[cfg(loom)]
pub(crate) type ChanLock = ModelLock;

pub(crate) struct SpinLock {
    locked: AtomicBool,
}

#[cfg_attr(loom, allow(dead_code))] // the models use it in `loom_tests` only
impl SpinLock {
    pub(crate) fn new() -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
        }
    }

    /// Takes the lock. Any thread; not re-entrant.
    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                back_off(&mut spins);
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The caller holds it.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

/// One wait for a held lock: exponential back-off (up to ~1000 pauses in
/// all), then a yield of the thread, since the holder is likely descheduled.
#[cfg(not(loom))]
#[inline]
fn back_off(spins: &mut u32) {
    if *spins < 10 {
        for _ in 0..(1u32 << *spins) {
            std::hint::spin_loop();
        }
        *spins += 1;
    } else {
        std::thread::yield_now();
    }
}

/// Under loom, a model yield per look: the model runs the holder.
#[cfg(loom)]
fn back_off(_spins: &mut u32) {
    loom::thread::yield_now();
}

/// The channels' lock in the loom models: the same `lock`/`unlock`, built on
/// loom's mutex and condvar, so a waiter blocks instead of spinning.
#[cfg(loom)]
pub(crate) struct ModelLock {
    locked: loom::sync::Mutex<bool>,
    freed: loom::sync::Condvar,
}

#[cfg(loom)]
impl ModelLock {
    pub(crate) fn new() -> Self {
        ModelLock {
            locked: loom::sync::Mutex::new(false),
            freed: loom::sync::Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) {
        let mut locked = self.locked.lock().unwrap();
        while *locked {
            locked = self.freed.wait(locked).unwrap();
        }
        *locked = true;
    }

    /// # Safety
    /// The caller holds it.
    pub(crate) unsafe fn unlock(&self) {
        *self.locked.lock().unwrap() = false;
        self.freed.notify_one();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    use super::SpinLock;

    /// Two threads add under the spin lock: no lost update, and loom checks
    /// that every access to the cell is ordered by the lock (a race fails).
    #[test]
    fn loom_spin_lock_excludes() {
        loom::model(|| {
            let shared = Arc::new((SpinLock::new(), UnsafeCell::new(0u32)));
            let add = |s: &(SpinLock, UnsafeCell<u32>)| {
                s.0.lock();
                // SAFETY: the lock is held.
                s.1.with_mut(|p| unsafe { *p += 1 });
                // SAFETY: locked just above.
                unsafe { s.0.unlock() };
            };
            let other = shared.clone();
            let h = thread::spawn(move || add(&other));
            add(&shared);
            h.join().unwrap();
            shared.0.lock();
            // SAFETY: the lock is held.
            assert_eq!(shared.1.with(|p| unsafe { *p }), 2);
            // SAFETY: locked just above.
            unsafe { shared.0.unlock() };
        });
    }
}
