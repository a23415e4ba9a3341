//! P: a processor, the right to run goroutines (Go's `p`).
//!
//! # What it protects
//!
//! The local run queue's owner side and the stack cache: only the M that owns
//! the P touches them, and only while it has *claimed* the P (below). Thieves
//! use only the run queue's thief side.
//!
//! # Ownership word (`owner`)
//!
//! `0` = nobody (idle, or in transit to an M); otherwise `m_id << 1 | USER`.
//! An owning M flips `USER` on while it runs goroutine code and off while it
//! runs scheduler code. The one exception is the hand-over from a parking
//! goroutine to the one in `runnext` (`m::hand_over_in_user`): the word keeps
//! `USER` across it, since that code touches only what a non-owner may.
//! Sysmon may take a P away only by CAS-ing the exact `m_id << 1 | USER`
//! word to `0`, so it never takes a P out from under scheduler code; and
//! goroutine code that needs its P (spawn, wake, stacks) first CASes `USER`
//! off again, so it notices a P taken meanwhile and falls back to the global
//! structures. M ids are never reused: no ABA.
//!
//! The timer heap (`timers`) has its own lock: timers are added and
//! cancelled from any thread, and run by the owner, by thieves and by the
//! idle sleeper (see [`timers`](crate::runtime::timers)).

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::runtime::g::G;
use crate::runtime::queue::Local;
use crate::runtime::timers::TimerHeap;
use crate::stack::StackCache;

pub(crate) const USER: u64 = 1;

pub(crate) struct P {
    /// This P's position in the runtime's array (names its timer heap).
    pub(crate) index: usize,
    pub(crate) owner: AtomicU64,
    pub(crate) runq: Local<G>,
    /// Goroutines started on this P; read by sysmon to spot a stuck M.
    pub(crate) schedtick: AtomicU32,
    stack_cache: UnsafeCell<StackCache>,
    /// Goroutine ids handed out in batches, as Go's `goidcache`: one shared
    /// counter bump per `GOID_BATCH` spawns. Owner only.
    goid_next: Cell<u64>,
    goid_end: Cell<u64>,
    /// Goroutines started and ended here; written by the owner only, summed
    /// by `num_goroutine`, so spawn and exit touch no shared cache line.
    pub(crate) spawned: AtomicU64,
    pub(crate) exited: AtomicU64,
    /// Timers added by goroutines running here (Go keeps them per P too).
    pub(crate) timers: TimerHeap,
}

/// How many goroutine ids a P takes from the shared counter at once.
pub(crate) const GOID_BATCH: u64 = 16;

// SAFETY: the queue is built for concurrent thieves; `stack_cache` and the
// goid cache are only touched by the claimed owner (see the module docs),
// never concurrently.
unsafe impl Sync for P {}
// SAFETY: as above; a P holds no thread-bound data.
unsafe impl Send for P {}

impl P {
    pub(crate) fn new(index: usize) -> P {
        P {
            index,
            owner: AtomicU64::new(0),
            runq: Local::new(),
            schedtick: AtomicU32::new(0),
            stack_cache: UnsafeCell::new(StackCache::new()),
            goid_next: Cell::new(0),
            goid_end: Cell::new(0),
            spawned: AtomicU64::new(0),
            exited: AtomicU64::new(0),
            timers: TimerHeap::new(),
        }
    }

    /// A fresh goroutine id. Only the claimed owner.
    pub(crate) fn next_goid(&self, shared: &AtomicU64) -> u64 {
        if self.goid_next.get() == self.goid_end.get() {
            let start = shared.fetch_add(GOID_BATCH, Ordering::Relaxed);
            self.goid_next.set(start);
            self.goid_end.set(start + GOID_BATCH);
        }
        let id = self.goid_next.get();
        self.goid_next.set(id + 1);
        id
    }

    /// Counts one more goroutine started (or ended) here. Only the owner.
    pub(crate) fn count(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Release);
    }

    /// Only the owning M, with the P claimed (scheduler phase or inside
    /// `m::with_p`).
    pub(crate) fn stack_cache<R>(&self, f: impl FnOnce(&mut StackCache) -> R) -> R {
        // SAFETY: the claimed owner is the only thread that reaches the cache,
        // and `f` cannot re-enter it (it gets no access to the P).
        f(unsafe { &mut *self.stack_cache.get() })
    }

    /// Only the owning M (also in user mode, in a hand-over, when sysmon
    /// may just have taken the P: a tick lost to a race with the new owner
    /// only delays sysmon's verdict): counts one more goroutine run.
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
        self.schedtick.load(Ordering::Relaxed) % 61 == 0
    }

    /// The owning M marks the start of goroutine code.
    #[inline]
    pub(crate) fn enter_user(&self, m_id: u64) {
        self.owner.store(m_id << 1 | USER, Ordering::Release);
    }

    /// The owning M takes the P back from goroutine code; false if sysmon
    /// (or `blocking`) took it meanwhile.
    #[inline]
    pub(crate) fn claim(&self, m_id: u64) -> bool {
        self.owner
            .compare_exchange(
                m_id << 1 | USER,
                m_id << 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Sysmon (or the M itself, in `blocking`) takes the P from an M that is
    /// running goroutine code. True if it now belongs to the caller.
    pub(crate) fn retake(&self, word: u64) -> bool {
        word & USER != 0
            && self
                .owner
                .compare_exchange(word, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Any thread: the racy owner word, for sysmon.
    pub(crate) fn owner_word(&self) -> u64 {
        self.owner.load(Ordering::Acquire)
    }

    /// An M becomes the owner (scheduler phase). Only the M that was handed
    /// the P, or took it from the idle list.
    pub(crate) fn acquire(&self, m_id: u64) {
        self.owner.store(m_id << 1, Ordering::Release);
    }

    /// The owner gives the P up (to the idle list or another M).
    pub(crate) fn release(&self) {
        self.owner.store(0, Ordering::Release);
    }
}
