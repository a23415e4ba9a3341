//! P: a processor, the right to run goroutines (Go's `p`), and the tokens
//! that say who holds it.
//!
//! # What it protects
//!
//! The owner's side of the local run queue, the stack cache, the goroutine
//! id cache and the spawn/exit counters: only the thread that holds the P
//! *claimed* touches them, and the types say so. Those operations are
//! methods of [`ClaimedP`], and a `ClaimedP` exists only where the P is
//! claimed. Thieves, sysmon and wakers use `&P`: the run queue's thief side,
//! `runnext` (by swap), the timer heap (its own lock), the racy counters.
//!
//! # The tokens
//!
//! At every moment each P is held in exactly one way:
//!
//! - [`IdleP`]: by nobody who runs on it. The idle list holds these, and so
//!   do an M's hand-off slot and sysmon (or `blocking`) between taking a P and
//!   handing it off. `Send`: handing it over hands the P over.
//! - [`ClaimedP`]: by an M in scheduler code (owner word `m_id << 1`). Not
//!   `Send`; the M's scheduling loop holds it by value and lends it by
//!   reference. Goroutine code gets one only inside `m::with_p`, which claims
//!   the P first.
//! - In user mode (word `m_id << 1 | USER`) while goroutine code runs: no
//!   token. The M remembers which P ([`UserP`], a plain record, not proof),
//!   and sysmon may take the P at any moment by CASing that exact word to `0`
//!   ([`P::retake`]), so it never takes one out from under scheduler code.
//!   [`UserP::claim`] gets a `ClaimedP` back if the word is still ours. M ids
//!   are never reused: no ABA.
//!
//! Every transition consumes one token and makes the next: `IdleP::claim_for`
//! (word `m_id << 1`), `ClaimedP::enter_user` (`| USER`), `UserP::claim`
//! (CAS back), `ClaimedP::release` and `P::retake`/`UserP::retake` (`0`). The
//! one exception is the successor switch from a parking goroutine to the one in
//! `runnext` (`execute.rs`), which keeps `USER` across the switch, since it
//! touches only what a non-owner may.
//!
//! The timer heap (`timers`) has its own lock: timers are added and
//! cancelled from any thread, and run by the owner, by thieves and by the
//! idle sleeper (see [`timers`](crate::runtime::timers)).

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64 as StdAtomicU64};

use crate::loom::{AtomicU64, Ordering};
use crate::runtime::g::G;
use crate::runtime::global_queue::GlobalQueue;
use crate::runtime::queue::RunQueue;
use crate::runtime::timers::TimerHeap;
use crate::stack::StackCache;

const USER: u64 = 1;

pub(crate) struct P {
    /// This P's position in the runtime's array (names its timer heap).
    pub(crate) index: usize,
    owner: AtomicU64,
    runq: RunQueue<G>,
    /// Goroutines started on this P; read by sysmon to spot a stuck M.
    schedtick: AtomicU32,
    stack_cache: UnsafeCell<StackCache>,
    /// Goroutine ids handed out in batches, as Go's `goidcache`: one shared
    /// counter bump per `GOID_BATCH` spawns.
    goid_next: Cell<u64>,
    goid_end: Cell<u64>,
    /// Goroutines started and ended here; written by the owner only, summed
    /// by `num_goroutine`, so spawn and exit touch no shared cache line.
    spawned: StdAtomicU64,
    exited: StdAtomicU64,
    /// Timers added by goroutines running here (Go keeps them per P too).
    pub(crate) timers: TimerHeap,
}

/// How many goroutine ids a P takes from the shared counter at once.
const GOID_BATCH: u64 = 16;

// SAFETY: the run queue is built for concurrent thieves; `stack_cache`, the
// goid cache and the counters' writes are reached only through a
// `ClaimedP`, which exists on one thread at a time (module docs).
unsafe impl Sync for P {}
// SAFETY: as above; a P holds no thread-bound data.
unsafe impl Send for P {}

impl P {
    pub(crate) fn new(index: usize) -> P {
        P {
            index,
            owner: AtomicU64::new(0),
            runq: RunQueue::new(),
            schedtick: AtomicU32::new(0),
            stack_cache: UnsafeCell::new(StackCache::new()),
            goid_next: Cell::new(0),
            goid_end: Cell::new(0),
            spawned: StdAtomicU64::new(0),
            exited: StdAtomicU64::new(0),
            timers: TimerHeap::new(),
        }
    }

    /// The run queue, for anyone: its thief side and `runnext` are safe from
    /// any thread; its owner side is `ClaimedP`'s (and `unsafe` here).
    #[inline]
    pub(crate) fn runq(&self) -> &RunQueue<G> {
        &self.runq
    }

    /// Goroutines run here so far (wrapping); racy. Any thread.
    #[inline]
    pub(crate) fn schedtick(&self) -> u32 {
        self.schedtick.load(Ordering::Relaxed)
    }

    /// Counts one more goroutine run. The M running on this P, also in user
    /// mode during a successor switch, when sysmon may just have taken the P: a tick
    /// lost to a race with the new owner only delays sysmon's verdict.
    #[inline]
    pub(crate) fn tick(&self) -> u32 {
        let t = self.schedtick.load(Ordering::Relaxed).wrapping_add(1);
        self.schedtick.store(t, Ordering::Relaxed);
        t
    }

    /// True on the ticks when the scheduler looks at the global queue
    /// before the local one (every 61st, as Go), so a goroutine there cannot
    /// starve behind two that keep waking each other. Any thread (racy).
    #[inline]
    pub(crate) fn global_queue_turn(&self) -> bool {
        self.schedtick() % 61 == 0
    }

    /// The racy owner word (`0`, `m_id << 1`, or `m_id << 1 | USER`), for
    /// sysmon and the successor switch. Any thread.
    #[inline]
    pub(crate) fn owner_word(&self) -> u64 {
        self.owner.load(Ordering::Acquire)
    }

    /// The owner word while M `m_id` runs goroutine code on a P.
    #[inline]
    pub(crate) fn user_word(m_id: u64) -> u64 {
        m_id << 1 | USER
    }

    /// True if the word says some M runs goroutine code on this P.
    #[inline]
    pub(crate) fn is_user_word(word: u64) -> bool {
        word & USER != 0
    }

    /// Goroutines started and ended here, for `num_goroutine`. Any thread.
    pub(crate) fn spawned_and_exited(&self) -> (u64, u64) {
        (
            self.spawned.load(Ordering::Acquire),
            self.exited.load(Ordering::Acquire),
        )
    }

    /// Sysmon takes the P from an M that has run goroutine code under the
    /// owner word `word` for too long: the P is the caller's if the word is
    /// still that. Any thread.
    pub(crate) fn retake(&'static self, word: u64) -> Option<IdleP> {
        (Self::is_user_word(word)
            && self
                .owner
                .compare_exchange(word, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok())
        .then_some(IdleP(self))
    }
}

/// A P that no M runs on, held by whoever holds this value (module docs).
#[must_use = "dropping an IdleP loses the P"]
pub(crate) struct IdleP(&'static P);

impl IdleP {
    /// The token of a P nobody holds yet.
    ///
    /// # Safety
    /// No other token of `p` exists, and no M runs on it: only the
    /// runtime's start, once per P.
    pub(crate) unsafe fn new(p: &'static P) -> IdleP {
        IdleP(p)
    }

    pub(crate) fn p(&self) -> &'static P {
        self.0
    }

    /// M `m_id` starts running on the P, in scheduler code. Only that M's
    /// thread.
    pub(crate) fn claim_for(self, m_id: u64) -> ClaimedP {
        self.0.owner.store(m_id << 1, Ordering::Release);
        ClaimedP {
            p: self.0,
            _thread: PhantomData,
        }
    }

    /// The token as a pointer, for a slot that hands it to another thread
    /// (`idle::NextP`).
    pub(crate) fn into_raw(self) -> NonNull<P> {
        NonNull::from(self.0)
    }

    /// The token back from [`IdleP::into_raw`].
    ///
    /// # Safety
    /// `raw` came from `into_raw`, and is turned back exactly once.
    pub(crate) unsafe fn from_raw(raw: NonNull<P>) -> IdleP {
        // SAFETY: by the contract, a pointer to a runtime's P ('static: the
        // runtime is never freed), and its token was given up for this.
        IdleP(unsafe { raw.as_ref() })
    }
}

/// A P its M holds claimed, in scheduler code (module docs): the owner's
/// operations. Not `Send`: it stays with the thread that claimed it.
#[must_use = "dropping a ClaimedP loses the P"]
pub(crate) struct ClaimedP {
    p: &'static P,
    _thread: PhantomData<*const ()>,
}

impl ClaimedP {
    /// A second `ClaimedP` for a P the calling thread's scheduler holds
    /// claimed: for code the scheduler calls that does not receive its token
    /// (a waker run by a timer, a stack freed by a dropped waker). It offers
    /// the owner's operations only; it cannot release the P or enter user
    /// mode.
    ///
    /// # Safety
    /// The calling thread's scheduling loop holds `p`'s `ClaimedP` and is
    /// suspended in a call below this one, so it cannot give the token up
    /// while the lent one lives; the lent one does not outlive that call.
    pub(crate) unsafe fn lend(p: &'static P) -> LentP {
        LentP(ClaimedP {
            p,
            _thread: PhantomData,
        })
    }

    #[inline]
    pub(crate) fn p(&self) -> &'static P {
        self.p
    }

    /// Gives the P up (to the idle list or another M).
    pub(crate) fn release(self) -> IdleP {
        self.p.owner.store(0, Ordering::Release);
        IdleP(self.p)
    }

    /// M `m_id`, which holds the P, starts goroutine code on it (user
    /// mode): from here on sysmon may take it.
    #[inline]
    pub(crate) fn enter_user(self, m_id: u64) -> UserP {
        self.p.owner.store(P::user_word(m_id), Ordering::Release);
        UserP { p: self.p, m_id }
    }

    /// Queues `g` here: in `runnext` with `next` (the previous one moves to
    /// the ring), else at the back of the ring; a full ring spills half to
    /// `global`.
    #[inline]
    pub(crate) fn push(&self, g: NonNull<G>, next: bool, global: &GlobalQueue<G>) {
        // SAFETY: a `ClaimedP` is proof of ownership (module docs).
        unsafe { self.p.runq.push(g, next, global) };
    }

    /// The next goroutine of the local queue: `runnext`, then the ring.
    #[inline]
    pub(crate) fn pop(&self) -> Option<NonNull<G>> {
        // SAFETY: as in `push`.
        unsafe { self.p.runq.pop() }
    }

    /// Steals half of `victim`'s ring into this P's (and, if it is empty and
    /// `take_next`, its `runnext`); returns one to run now.
    pub(crate) fn steal_from(&self, victim: &P, take_next: bool) -> Option<NonNull<G>> {
        // SAFETY: as in `push`; `steal_into` wants our queue empty enough,
        // which it is when we look for work (we found none locally).
        unsafe { victim.runq.steal_into(&self.p.runq, take_next) }
    }

    /// A batch from the global queue into this P's (Go's `globrunqget`),
    /// returning one to run now; `nprocs` sizes the batch.
    pub(crate) fn take_global_batch(
        &self,
        global: &GlobalQueue<G>,
        nprocs: usize,
    ) -> Option<NonNull<G>> {
        // SAFETY: as in `push`.
        unsafe { global.pop_batch_into(&self.p.runq, nprocs, usize::MAX) }
    }

    /// The P's cache of free stacks. `f` must not reach the cache again (it
    /// gets no `ClaimedP`).
    #[inline]
    pub(crate) fn stack_cache<R>(&self, f: impl FnOnce(&mut StackCache) -> R) -> R {
        // SAFETY: only the holder of a claim reaches the cache, one thread
        // at a time, and `f` cannot re-enter it.
        f(unsafe { &mut *self.p.stack_cache.get() })
    }

    /// A fresh goroutine id (batches from `shared`, as Go's `goidcache`).
    #[inline]
    pub(crate) fn next_goid(&self, shared: &StdAtomicU64) -> u64 {
        let p = self.p;
        if p.goid_next.get() == p.goid_end.get() {
            let start = shared.fetch_add(GOID_BATCH, Ordering::Relaxed);
            p.goid_next.set(start);
            p.goid_end.set(start + GOID_BATCH);
        }
        let id = p.goid_next.get();
        p.goid_next.set(id + 1);
        id
    }

    /// Counts one more goroutine started here.
    #[inline]
    pub(crate) fn count_spawned(&self) {
        bump(&self.p.spawned);
    }

    /// Counts one more goroutine ended here.
    #[inline]
    pub(crate) fn count_exited(&self) {
        bump(&self.p.exited);
    }
}

/// Only the owner writes the counter: a load and a store will do.
fn bump(counter: &StdAtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Release);
}

/// A lent `ClaimedP` (see [`ClaimedP::lend`]): the owner's operations, by
/// reference only.
pub(crate) struct LentP(ClaimedP);

impl std::ops::Deref for LentP {
    type Target = ClaimedP;
    fn deref(&self) -> &ClaimedP {
        &self.0
    }
}

/// Which P an M runs goroutine code on (module docs). Proof of nothing:
/// sysmon may have taken it since.
#[derive(Clone, Copy)]
pub(crate) struct UserP {
    p: &'static P,
    m_id: u64,
}

impl UserP {
    /// The record for M `m_id` in user mode on `p`.
    pub(crate) fn of(p: &'static P, m_id: u64) -> UserP {
        UserP { p, m_id }
    }

    /// The owner word while this M runs goroutine code on the P.
    #[inline]
    pub(crate) fn word(&self) -> u64 {
        P::user_word(self.m_id)
    }

    /// Takes the P back from user mode: `None` if sysmon (or `blocking`)
    /// took it meanwhile. Only the M's thread.
    #[inline]
    pub(crate) fn claim(self) -> Option<ClaimedP> {
        self.p
            .owner
            .compare_exchange(
                self.word(),
                self.m_id << 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
            .then_some(ClaimedP {
                p: self.p,
                _thread: PhantomData,
            })
    }

    /// True if the P is still this M's at the instant of the `SeqCst` load
    /// (see `RunQueue::offer_next`). Only the M's thread.
    #[inline]
    pub(crate) fn still_owned(&self) -> bool {
        self.p.owner.load(Ordering::SeqCst) == self.word()
    }

    /// As [`UserP::still_owned`], with a plain acquire load: for the
    /// successor switch, where a stale answer only sends a park the long
    /// way, or runs the successor while the P goes, as user mode allows.
    #[inline]
    pub(crate) fn looks_owned(&self) -> bool {
        self.p.owner_word() == self.word()
    }

    /// The M gives its P away from goroutine code (`blocking`), unless
    /// sysmon already took it. Only the M's thread.
    pub(crate) fn retake(self) -> Option<IdleP> {
        self.p.retake(self.word())
    }
}
