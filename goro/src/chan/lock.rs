//! The channel lock: a test-and-test-and-set spin lock whose waiters back off
//! and then yield the CPU, and whose unlock is a plain release store.
//!
//! # Why not `parking_lot::RawMutex`
//!
//! A channel's critical section is tens of nanoseconds, and no user code runs
//! in it (wake-ups run after the unlock). `parking_lot`'s unlock is a
//! compare-and-swap (it must see parked waiters), and its waiters call
//! `sched_yield` a few times and then sleep on a futex, which then needs a
//! wake-up syscall. Here nobody sleeps: unlock is a store, one atomic
//! read-modify-write less per lock use, and a waiter backs off (up to ~1000
//! pauses in all) and then yields until the holder, if it was descheduled,
//! has run. Measured 2026-11-24 on 2 cores: mpmc_4x4 24 → 17 ns/op,
//! worker_pool 65 → 52, buffered SPSC 15 → 13, and 16 OS threads plus 8
//! goroutines on one channel 1.55 s → 0.62 s (system time 2.5 s → 0.95 s).
//! A futex-based lock that spins and then sleeps (no yields) was 2.4× slower
//! on mpmc_4x4 than `parking_lot`.
//!
//! # Invariant
//!
//! `locked` is true exactly while one thread holds the lock; only that thread
//! stores false.

use crate::loom::{AtomicBool, Ordering};

pub(crate) struct ChanLock {
    locked: AtomicBool,
}

impl ChanLock {
    pub(crate) fn new() -> Self {
        ChanLock {
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
                if spins < 10 {
                    for _ in 0..(1u32 << spins) {
                        crate::loom::spin_loop();
                    }
                    spins += 1;
                } else {
                    // The holder is likely descheduled: let it run.
                    crate::loom::yield_now();
                }
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

#[cfg(all(test, loom))]
mod loom_tests {
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    use super::ChanLock;

    /// Two threads add under the lock: no lost update, and loom checks that
    /// every access to the cell is ordered by the lock (a race fails).
    #[test]
    fn loom_chan_lock_excludes() {
        loom::model(|| {
            let shared = Arc::new((ChanLock::new(), UnsafeCell::new(0u32)));
            let add = |s: &(ChanLock, UnsafeCell<u32>)| {
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
