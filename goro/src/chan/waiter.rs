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
//! publishes `DONE(arm)` (release) and leaves the wake-up ([`Wake`]) with
//! the channel, carried out after the unlock: a goroutine is marked runnable
//! *before* `DONE` (it cannot run until queued), any other waker is cloned
//! before it. Once `DONE` is visible the waiter may return and free the
//! `Selection` (it lives on the waiter's stack or in its future), so nothing
//! touches it afterwards.
//!
//! The waiter decides on one load of `state` ([`Selection::check`]): `DONE`
//! returns, `CLAIMED` spins for `DONE` (the claimer holds a lock for a few
//! instructions), `WAITING` parks. Its park token (`runtime::park_state`)
//! makes a wake-up that lands before the park count.
//!
//! Invariants:
//! - Only one CAS out of `WAITING` ever succeeds: at most one arm commits. A
//!   selection with a single entry and no deadline (`exclusive`) has exactly
//!   one possible claimer, which claims with a store.
//! - A slot is written only by the claimer, between `CLAIMED` and `DONE`,
//!   with the channel's lock held; it is read by the waiter only after it saw
//!   `DONE` (acquire).
//! - The `Selection` outlives every `Waiter` that points to it: the waiter
//!   removes its entries from every channel (under each lock) before the
//!   `Selection` goes away; a claimer removed the entry it claimed.
//! - `waker` changes only while no entry points to the `Selection`, or with
//!   the lock of every channel it is queued on held (async re-polls).

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
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
    /// Queued in one channel, by an owner that never aborts (a blocking
    /// `send`/`recv` without deadline): its one claimer, who popped the
    /// entry under the lock, cannot race anybody, and claims with a store.
    exclusive: bool,
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
            exclusive: false,
        }
    }

    /// A selection for the calling goroutine (or thread) to wait on, with
    /// its waker borrowed. Only the caller, which must not leave its wait
    /// before the selection is done or aborted. `exclusive`: it will queue
    /// one entry and never abort (see the field).
    #[inline]
    pub(crate) fn for_current_wait(exclusive: bool) -> Selection {
        Selection {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(crate::runtime::park::current_waker_for_wait()),
            owned: false,
            exclusive,
        }
    }

    /// Claims the selection for `arm`. Only a counterpart holding the lock of
    /// the channel where it found the waiter.
    #[inline]
    pub(crate) fn try_claim(&self, arm: usize) -> bool {
        if self.exclusive {
            // The only entry, popped by us: nobody else can claim or abort.
            // `CLAIMED` still tells a running owner to wait for `DONE`.
            self.state.store(arm << 2 | CLAIMED, Ordering::Relaxed);
            return true;
        }
        self.state
            .compare_exchange(
                WAITING,
                arm << 2 | CLAIMED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Publishes the claimed arm's outcome and returns the waiter's wake-up,
    /// which the claimer carries out once it has released the channel lock
    /// (`None`: nothing to do, the goroutine was still running and keeps a
    /// token). Only the claimer, once, after writing the slot.
    ///
    /// Once `DONE` is visible the owner may return and free the selection,
    /// so nothing may touch it afterwards. A goroutine waiter is first marked
    /// runnable (it cannot run before it is queued, so it stays alive), then
    /// `DONE` is published, then it is queued: no reference count, and the
    /// goroutine never runs before its outcome is there. Any other waker is
    /// cloned before `DONE` and woken after.
    #[inline]
    #[must_use = "the wake-up must be run once the lock is released"]
    pub(crate) fn finish(&self, arm: usize) -> Option<Wake> {
        let done = arm << 2 | DONE;
        // SAFETY: the claimer holds the channel lock and the selection is
        // alive until `DONE` is stored (module invariants).
        let direct = self.waker.with(|w| direct::target_of(unsafe { &*w }));
        if let Some(target) = direct {
            // A goroutine waiting on this selection is alive: it cannot end
            // before `DONE`, nor run before it is queued.
            let must_queue = target.wake();
            self.state.store(done, Ordering::Release);
            return must_queue.then_some(Wake::Direct(target));
        }
        // SAFETY: as above: alive until `DONE`.
        let waker = self.waker.with(|w| unsafe { (**w).clone() });
        self.state.store(done, Ordering::Release);
        Some(Wake::Waker(waker))
    }

    /// One look at the state, for a waiter between parks: `Some` once the
    /// wait is over (an arm is done, or claimed and about to be).
    ///
    /// One load decides: `CLAIMED` may turn `DONE` at any moment, and two
    /// loads could see `CLAIMED` ("not done") and then `DONE` ("not
    /// claimed"), and park after the wake-up was spent. Only the owner.
    #[inline]
    pub(crate) fn check(&self) -> Option<usize> {
        let s = self.state.load(Ordering::Acquire);
        match s & TAG {
            DONE => Some(s >> 2),
            // Woken by a claimer that has not published `DONE` yet: parking
            // now would wait for a wake-up that already happened.
            CLAIMED => Some(self.wait_claimed()),
            _ => None,
        }
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
    ///
    /// Always inlined: a parked goroutine resumes through one frame less
    /// (one line fewer to miss after a whole pass of the sieve's chain;
    /// ping-pong 0.87×, sieve 0.86–0.93× on two cores, 2026-11-25).
    #[inline(always)]
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Woken {
        loop {
            if let Some(arm) = self.check() {
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
    #[inline]
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

/// One arm of a blocked operation, queued in one channel. 24 bytes, and so
/// is an `Option` of one (the selection pointer is never null): a channel
/// keeps its first receiver and first sender inline (`chan::core`).
pub(crate) struct Waiter<T> {
    sel: NonNull<Selection>,
    arm: usize,
    /// Receive: where the value goes. Send: where the value waits.
    slot: *mut Option<T>,
}

// SAFETY: the pointers are only dereferenced under the channel lock by the
// claimer, per the protocol above; the value they carry is `T: Send`.
unsafe impl<T: Send> Send for Waiter<T> {}

impl<T> Waiter<T> {
    /// An entry for arm `arm` of `sel`, whose value travels through `slot`.
    /// Only the owner of `sel`, which must keep both alive while the entry
    /// is queued.
    pub(crate) fn new(sel: &Selection, arm: usize, slot: *mut Option<T>) -> Self {
        Waiter {
            sel: NonNull::from(sel),
            arm,
            slot,
        }
    }

    fn sel(&self) -> &Selection {
        // SAFETY: a queued waiter's selection is alive (module invariants).
        unsafe { self.sel.as_ref() }
    }

    /// Claims the waiter's selection for its arm. With the channel lock held.
    pub(crate) fn claim(&self) -> bool {
        self.sel().try_claim(self.arm)
    }

    /// Moves `value` into a claimed receiver's slot and completes it.
    /// With the channel lock held, after a successful `claim`.
    pub(crate) fn deliver(self, value: Option<T>) -> Option<Wake> {
        // SAFETY: claimed: the slot is ours to write until `finish`.
        unsafe { *self.slot = value };
        self.sel().finish(self.arm)
    }

    /// Takes the value of a claimed sender and completes it (as sent).
    /// With the channel lock held, after a successful `claim`.
    pub(crate) fn take(self) -> (T, Option<Wake>) {
        // SAFETY: claimed: the slot is ours until `finish`; a queued sender
        // always has its value in the slot.
        let v = unsafe { (*self.slot).take() }.expect("queued sender without a value");
        (v, self.sel().finish(self.arm))
    }

    /// Completes a claimed waiter without moving anything: a receiver sees
    /// "closed", a sender gets its value back (failed). With the lock held.
    pub(crate) fn fail(self) -> Option<Wake> {
        self.sel().finish(self.arm)
    }

    pub(crate) fn belongs_to(&self, sel: &Selection) -> bool {
        std::ptr::eq(self.sel.as_ptr(), sel)
    }
}

/// Waiters that `finish` marks runnable before publishing `DONE` and queues
/// after (no waker clone, no reference count): goroutines; under loom, the
/// models' stand-in goroutines, so the models run this very path.
#[cfg(not(loom))]
mod direct {
    use std::ptr::NonNull;
    use std::task::Waker;

    use crate::runtime::g::{goroutine_of, G};

    pub(crate) struct Target(NonNull<G>);

    /// The goroutine behind `waker`, if it is one. With the channel lock.
    #[inline]
    pub(super) fn target_of(waker: &Waker) -> Option<Target> {
        goroutine_of(waker).map(|g| Target(NonNull::from(g)))
    }

    impl Target {
        /// Marks the goroutine runnable; true if it was parked and must
        /// now be queued (`queue`).
        #[inline]
        pub(super) fn wake(&self) -> bool {
            // SAFETY: a waiting goroutine is alive until it is queued.
            unsafe { self.0.as_ref() }.wake()
        }

        /// Puts the goroutine on a run queue. Only once the channel lock
        /// is released.
        #[inline]
        pub(crate) fn queue(self) {
            crate::runtime::sched::ready(self.0);
        }
    }
}

#[cfg(all(loom, test))]
pub(crate) use model_g::ModelG;

#[cfg(loom)]
use model_g as direct;

/// A goroutine for the loom models: its park token, and a flag under a
/// lock and condvar that stands for its run queue (loom 0.7's
/// `thread::park`/`unpark` loses unparks, so it cannot stand in here).
#[cfg(loom)]
mod model_g {
    use std::task::{RawWaker, RawWakerVTable, Waker};

    use loom::sync::{Condvar, Mutex};

    use crate::runtime::park_state::ParkState;

    pub(crate) struct ModelG {
        pub(crate) park: ParkState,
        queued: Mutex<bool>,
        runnable: Condvar,
    }

    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);

    fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, &VTABLE)
    }

    fn noop(_: *const ()) {}

    // The models build and drive it; the library only wakes it.
    #[cfg(test)]
    impl ModelG {
        pub(crate) fn new() -> ModelG {
            ModelG {
                park: ParkState::new(),
                queued: Mutex::new(false),
                runnable: Condvar::new(),
            }
        }

        /// A waker that `finish` recognises, as it does a goroutine's. It
        /// must not outlive `self`.
        pub(crate) fn waker(&self) -> Waker {
            let raw = RawWaker::new(self as *const ModelG as *const (), &VTABLE);
            // SAFETY: the vtable ignores wakes and drops; data is only read
            // by `target_of`, while the model keeps `self` alive.
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

    pub(crate) struct Target(std::ptr::NonNull<ModelG>);

    // SAFETY: stands for a goroutine pointer, which crosses threads.
    unsafe impl Send for Target {}

    pub(crate) fn target_of(waker: &Waker) -> Option<Target> {
        if !std::ptr::eq(waker.vtable(), &VTABLE) {
            return None;
        }
        // SAFETY: only `ModelG::waker` makes wakers with this vtable, and
        // the model keeps the `ModelG` alive while its selection waits.
        Some(Target(unsafe {
            std::ptr::NonNull::new_unchecked(waker.data() as *mut ModelG)
        }))
    }

    impl Target {
        fn g(&self) -> &ModelG {
            // SAFETY: the model keeps the `ModelG` alive while it waits.
            unsafe { self.0.as_ref() }
        }

        pub(crate) fn wake(&self) -> bool {
            self.g().park.wake()
        }

        /// Puts the goroutine "on a run queue": it may run again.
        pub(crate) fn queue(self) {
            *self.g().queued.lock().unwrap() = true;
            self.g().runnable.notify_one();
        }
    }
}

/// A wake-up decided under a channel lock and carried out after it is
/// released: queueing a goroutine may wake an idle thread (a futex call), and
/// a foreign waker runs arbitrary code; neither belongs inside the lock,
/// whose hold time every other sender and receiver of the channel waits out.
///
/// A channel keeps the ones its lock holder decided (`chan::core`): a
/// goroutine's in one word in the channel's first 64 bytes, anything more
/// in a list on a colder line. Whoever unlocks takes them out first and runs
/// them after. No thread-local: a list that outlived its lock on one thread
/// could be carried off by a goroutine that migrates, and reading a
/// thread-local on every unlock cost 15 % of an unbuffered hand-off.
pub(crate) enum Wake {
    /// A goroutine marked runnable and not queued yet: it stays alive until
    /// queued.
    Direct(Direct),
    Waker(Waker),
}

/// A goroutine (under loom, a model goroutine) to put on a run queue: one
/// pointer.
pub(crate) use direct::Target as Direct;

impl Wake {
    /// Carries the wake-up out. Only once the lock under which it was decided
    /// is released.
    pub(crate) fn run(self) {
        match self {
            Wake::Direct(target) => target.queue(),
            Wake::Waker(w) => w.wake(),
        }
    }
}
