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

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Waker;
use std::time::Instant;

const WAITING: usize = 0;
const ABORTED: usize = 1;
const CLAIMED: usize = 2;
const DONE: usize = 3;
const TAG: usize = 3;

#[doc(hidden)]
pub struct Selection {
    state: AtomicUsize,
    waker: UnsafeCell<Waker>,
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
    pub(crate) fn new(waker: Waker) -> Selection {
        Selection {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(waker),
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
    /// claimer, once, after writing the slot; `self` may be freed as soon as
    /// the store lands, so the waker is cloned first.
    pub(crate) fn finish(&self, arm: usize) {
        // SAFETY: the claimer holds the channel lock (module invariants).
        let waker = unsafe { (*self.waker.get()).clone() };
        self.state.store(arm << 2 | DONE, Ordering::Release);
        waker.wake();
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
        loop {
            if let Some(arm) = self.done_arm() {
                return arm;
            }
            std::hint::spin_loop();
        }
    }

    /// Blocks (goroutine, or thread) until an arm commits or `deadline`
    /// passes. Only the owner of the selection.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Woken {
        loop {
            if let Some(arm) = self.done_arm() {
                return Woken::Arm(arm);
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
        // SAFETY: by the contract, no claimer reads the waker meanwhile.
        let slot = unsafe { &mut *self.waker.get() };
        if !slot.will_wake(waker) {
            *slot = waker.clone();
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
