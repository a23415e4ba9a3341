//! The waiting side of a channel operation: a [`Selection`] shared by every
//! arm of one blocked `send`/`recv`/`select`, and the [`Waiter`] entries it
//! leaves in the channels' queues (Go's `sudog`s).
//!
//! # The commit protocol ("exactly one arm commits")
//!
//! `state` goes `WAITING → CLAIMED(arm) → DONE(arm)`, or `WAITING → ABORTED`
//! (the waiter timed out or its future was dropped). A counterpart that finds
//! a waiter in a channel queue (holding that channel's lock) must win the CAS
//! `WAITING → CLAIMED(arm)` before touching the waiter's slot; if it loses,
//! another arm of the same select already committed (or the waiter gave up),
//! and it drops the entry and looks at the next one. After moving the value it
//! clones the waker, publishes `DONE(arm)` (release), and wakes the clone: once
//! `DONE` is visible the waiter may return and free the `Selection` (it lives
//! on the waiter's stack or in its future), so nothing touches it afterwards.
//!
//! Invariants:
//! - Only one CAS out of `WAITING` ever succeeds: at most one arm commits.
//! - A slot is written only by the claimer, between `CLAIMED` and `DONE`,
//!   with the channel's lock held; it is read by the waiter only after it saw
//!   `DONE` (acquire).
//! - The `Selection` outlives every `Waiter` that points to it: the waiter
//!   removes its entries from every channel (under each lock) before the
//!   `Selection` goes away; a claimer removed the entry it claimed.
//! - `waker` changes only while no entry points to the `Selection`, or with
//!   the lock of every channel it is queued on held (async re-polls).

use std::mem::ManuallyDrop;
use std::task::Waker;
use std::time::Instant;

// Through the facade, so that `RUSTFLAGS="--cfg loom"` model-checks the
// protocol (`chan::loom_tests`).
use crate::loom::{AtomicUsize, Ordering, UnsafeCell};

const WAITING: usize = 0;
const ABORTED: usize = 1;
const CLAIMED: usize = 2;
const DONE: usize = 3;
const TAG: usize = 3;

#[doc(hidden)]
pub struct Selection {
    state: AtomicUsize,
    /// Dropped with the selection only if `owned`; a waiting goroutine's
    /// own waker is borrowed (uncounted), since the goroutine outlives its
    /// wait.
    waker: UnsafeCell<ManuallyDrop<Waker>>,
    owned: bool,
}

// SAFETY: `waker` is read by claimers only under the lock of a channel the
// selection is queued on, and written only when no claimer can read it (see
// the module invariants); `state` is atomic.
unsafe impl Sync for Selection {}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    Arm(usize),
    TimedOut,
}

impl Selection {
    /// A selection woken through `waker` (an async task's).
    pub(crate) fn new(waker: Waker) -> Selection {
        Selection {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(ManuallyDrop::new(waker)),
            owned: true,
        }
    }

    /// A selection for the calling goroutine (or thread) to wait on, with
    /// its waker borrowed. Only the caller, which must not leave its wait
    /// before the selection is done or aborted.
    pub(crate) fn for_current_wait() -> Selection {
        Selection {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(crate::runtime::park::current_waker_for_wait()),
            owned: false,
        }
    }

    /// Claims the selection for `arm`. Only a counterpart holding the lock of
    /// the channel where it found the waiter.
    pub(crate) fn try_claim(&self, arm: usize) -> bool {
        self.state
            .compare_exchange(
                WAITING,
                arm << 2 | CLAIMED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Publishes the claimed arm's outcome and wakes the waiter. Only the
    /// claimer, once, after writing the slot.
    ///
    /// Once `DONE` is visible the owner may return and free the selection,
    /// so nothing may touch it afterwards. A goroutine waiter is first marked
    /// runnable (it cannot run before it is queued, so it stays alive), then
    /// `DONE` is published, then it is queued: no reference count, and the
    /// goroutine never runs before its outcome is there. Any other waker is
    /// cloned before `DONE` and woken after.
    pub(crate) fn finish(&self, arm: usize) {
        let done = arm << 2 | DONE;
        #[cfg(not(loom))]
        {
            let g = self.waker.with(|w| {
                // SAFETY: the claimer holds the channel lock and the
                // selection is alive until `DONE` is stored (module
                // invariants).
                let w: &Waker = unsafe { &*w };
                crate::runtime::g::goroutine_of(w).map(std::ptr::NonNull::from)
            });
            if let Some(g) = g {
                // SAFETY: a goroutine waiting on this selection is alive: it
                // cannot end before `DONE`, nor run before it is queued.
                let must_queue = unsafe { g.as_ref() }.wake();
                self.state.store(done, Ordering::Release);
                if must_queue {
                    deferred::push(deferred::Wake::Goroutine(g));
                }
                return;
            }
        }
        // SAFETY: as above: alive until `DONE`.
        let waker = self.waker.with(|w| unsafe { (**w).clone() });
        self.state.store(done, Ordering::Release);
        #[cfg(not(loom))]
        deferred::push(deferred::Wake::Waker(waker));
        #[cfg(loom)]
        waker.wake();
    }

    /// True while an arm is claimed but not yet done. Any thread.
    fn is_claimed(&self) -> bool {
        self.state.load(Ordering::Acquire) & TAG == CLAIMED
    }

    /// The committed arm, if one has finished. Any thread.
    pub(crate) fn done_arm(&self) -> Option<usize> {
        let s = self.state.load(Ordering::Acquire);
        (s & TAG == DONE).then_some(s >> 2)
    }

    /// Gives up waiting. False if an arm was claimed first: the caller must
    /// then wait for it to finish ([`Selection::wait_claimed`]).
    pub(crate) fn abort(&self) -> bool {
        self.state
            .compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// After a lost `abort`: the claimer is mid-transfer, holding a channel
    /// lock for a few instructions; wait for its `DONE`.
    pub(crate) fn wait_claimed(&self) -> usize {
        let mut spins = 0u32;
        loop {
            if let Some(arm) = self.done_arm() {
                return arm;
            }
            spins += 1;
            Self::pause(spins);
        }
    }

    /// The claimer may have been preempted by the OS between its wake and
    /// its `DONE`: after a short spin, let others run.
    #[cfg(not(loom))]
    fn pause(spins: u32) {
        if spins > 100 {
            crate::yield_now();
        } else {
            crate::loom::spin_loop();
        }
    }

    #[cfg(loom)]
    fn pause(_spins: u32) {
        crate::loom::spin_loop();
    }

    /// Blocks (goroutine, or thread) until an arm commits or `deadline`
    /// passes. Only the owner of the selection.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Woken {
        loop {
            if let Some(arm) = self.done_arm() {
                return Woken::Arm(arm);
            }
            if self.is_claimed() {
                // Woken by a claimer that has not published `DONE` yet:
                // parking now would wait for a wake that already happened.
                return Woken::Arm(self.wait_claimed());
            }
            match deadline {
                None => crate::park::park(),
                Some(d) if Instant::now() < d => crate::park::park_deadline(d),
                Some(_) if self.abort() => return Woken::TimedOut,
                Some(_) => return Woken::Arm(self.wait_claimed()),
            }
        }
    }

    /// Replaces the waker. Only the owner, with every lock of the channels it
    /// is queued on held (or while it is queued nowhere).
    pub(crate) unsafe fn set_waker(&self, waker: &Waker) {
        self.waker.with_mut(|slot| {
            // SAFETY: by the contract, no claimer reads the waker meanwhile.
            let slot = unsafe { &mut *slot };
            if !slot.will_wake(waker) {
                debug_assert!(self.owned, "set_waker on a borrowed waker");
                // SAFETY: owned (async selections are), so ours to drop.
                unsafe { ManuallyDrop::drop(slot) };
                *slot = ManuallyDrop::new(waker.clone());
            }
        });
    }
}

impl Drop for Selection {
    fn drop(&mut self) {
        if self.owned {
            self.waker.with_mut(|w| {
                // SAFETY: owned, dropped once, here, with no claimer left
                // (module invariants).
                unsafe { ManuallyDrop::drop(&mut *w) }
            });
        }
    }
}

/// One arm of a blocked operation, queued in one channel.
pub(crate) struct Waiter<T> {
    pub(crate) sel: *const Selection,
    pub(crate) arm: usize,
    /// Receive: where the value goes. Send: where the value waits.
    pub(crate) slot: *mut Option<T>,
}

// SAFETY: the pointers are only dereferenced under the channel lock by the
// claimer, per the protocol above; the value they carry is `T: Send`.
unsafe impl<T: Send> Send for Waiter<T> {}

impl<T> Waiter<T> {
    /// Claims the waiter's selection for its arm. With the channel lock held.
    pub(crate) fn claim(&self) -> bool {
        // SAFETY: a queued waiter's selection is alive (module invariants).
        unsafe { (*self.sel).try_claim(self.arm) }
    }

    /// Moves `value` into a claimed receiver's slot and completes it.
    /// With the channel lock held, after a successful `claim`.
    pub(crate) fn deliver(self, value: Option<T>) {
        // SAFETY: claimed: the slot is ours to write until `finish`.
        unsafe {
            *self.slot = value;
            (*self.sel).finish(self.arm);
        }
    }

    /// Takes the value of a claimed sender and completes it (as sent).
    /// With the channel lock held, after a successful `claim`.
    pub(crate) fn take(self) -> T {
        // SAFETY: claimed: the slot is ours until `finish`; a queued sender
        // always has its value in the slot.
        let v = unsafe { (*self.slot).take() }.expect("queued sender without a value");
        // SAFETY: as above.
        unsafe { (*self.sel).finish(self.arm) };
        v
    }

    /// Completes a claimed waiter without moving anything: a receiver sees
    /// "closed", a sender gets its value back (failed). With the lock held.
    pub(crate) fn fail(self) {
        // SAFETY: claimed; the slot is left as it is.
        unsafe { (*self.sel).finish(self.arm) };
    }

    pub(crate) fn belongs_to(&self, sel: &Selection) -> bool {
        std::ptr::eq(self.sel, sel)
    }
}

/// Wake-ups decided under a channel lock and carried out after it is
/// released (`Chan` flushes them on every unlock): queueing a goroutine may
/// wake an idle thread (a futex call), and a foreign waker runs arbitrary
/// code; neither belongs inside the lock, whose hold time every other
/// sender and receiver of the channel waits out.
///
/// Invariant: the list is only filled while this thread holds a channel
/// lock, and emptied before that thread can switch goroutines (locks are
/// never held across a switch), so it never carries wake-ups across a
/// migration.
#[cfg(not(loom))]
pub(crate) mod deferred {
    use std::cell::RefCell;
    use std::ptr::NonNull;
    use std::task::Waker;

    use crate::runtime::g::G;

    pub(crate) enum Wake {
        /// Marked runnable, not queued yet: alive until queued.
        Goroutine(NonNull<G>),
        Waker(Waker),
    }

    thread_local! {
        static PENDING: RefCell<Vec<Wake>> = const { RefCell::new(Vec::new()) };
    }

    /// Only a thread holding a channel lock.
    pub(crate) fn push(w: Wake) {
        PENDING.with(|p| p.borrow_mut().push(w));
    }

    /// Carries out the wake-ups this thread deferred. Only after releasing a
    /// channel lock.
    pub(crate) fn flush() {
        loop {
            let Some(w) = PENDING.with(|p| p.borrow_mut().pop()) else {
                return;
            };
            match w {
                Wake::Goroutine(g) => crate::runtime::sched::ready(g),
                Wake::Waker(w) => w.wake(),
            }
        }
    }
}

/// Under loom, `finish` wakes at once (the models count wakes, not locks).
#[cfg(loom)]
pub(crate) mod deferred {
    pub(crate) fn flush() {}
}
