//! The P-local run queue: Go's `runq` (a lock-free ring of [`CAPACITY`] slots)
//! plus its `runnext` slot.
//!
//! # What it protects
//!
//! The queue of runnable goroutines of one P. Exactly one thread at a time,
//! the *owner* (the M holding the P), pushes and pops; any thread may *steal*
//! half of the ring ([`RunQueue::steal_into`]) or, when asked, the `runnext`
//! item. Items are raw task pointers: the queue never dereferences, owns or
//! drops them, it only hands each one out exactly once.
//!
//! # Invariants (always, at every instant)
//!
//! - `tail` is written only by the owner, with a release store after the slot
//!   it publishes; `head` only ever moves forward, by a CAS (owner pop, owner
//!   overflow, thieves). Both are free-running `u32`s; indexes are taken
//!   modulo [`CAPACITY`], a power of two.
//! - `0 <= tail - head <= CAPACITY` (wrapping): the items are the slots
//!   `[head, tail)`, and every slot in that range holds a non-null pointer.
//! - An item is in at most one place: one ring slot in `[head, tail)` or
//!   `runnext`. It leaves the ring only by the CAS on `head` that covers it,
//!   and leaves `runnext` only by a swap/CAS that replaces it, so exactly one
//!   party gets it. (`runnext` may also be swapped by the thread whose M
//!   owned the P a moment ago: [`RunQueue::offer_next`].)
//! - A slot outside `[head, tail)` may be read by a thief whose view of
//!   `head` is stale while the owner rewrites it; that thief's CAS then fails
//!   and it discards what it read. Slots are therefore `AtomicPtr`s (relaxed
//!   loads/stores, ordered by the acquire/release on `head` and `tail`): with
//!   plain cells that benign race would still be a data race, i.e. UB.
//!
//! # Rejected alternatives
//!
//! - A mutex per queue: every pop and push would take a lock that thieves
//!   contend for; the ring costs the owner one CAS per pop and none per push.
//! - A Chase-Lev deque (owner pops LIFO at the tail): Go's FIFO ring with a
//!   single `runnext` slot gives the same locality for the common ping-pong
//!   case and keeps fairness between the other runnable goroutines.
//! - An unbounded ring: the overflow path moves half of a full ring to the
//!   global queue in one batch instead, as Go's `runqputslow` does, which
//!   also balances load.

use std::ptr::{self, NonNull};

use crossbeam_utils::CachePadded;

use super::global_queue::GlobalQueue;
use crate::loom::{
    AtomicPtr, AtomicU32,
    Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst},
};

/// Slots in the ring (Go's `len(pp.runq)`); tiny under loom so that the
/// overflow path is reachable in a model.
#[cfg(not(loom))]
pub(crate) const CAPACITY: usize = 256;
/// Slots in the ring (Go's `len(pp.runq)`); tiny under loom so that the
/// overflow path is reachable in a model.
#[cfg(loom)]
pub(crate) const CAPACITY: usize = 4;

/// The most a steal or an overflow moves at once.
const HALF: u32 = (CAPACITY / 2) as u32;
const MASK: u32 = CAPACITY as u32 - 1;
const _: () = assert!(CAPACITY.is_power_of_two() && CAPACITY >= 2 && CAPACITY <= 1 << 30);

/// A P's local run queue of task pointers. `Send + Sync` without an
/// `unsafe impl`: its fields are all atomics, and the items are only
/// addresses (whoever dereferences one is responsible for its thread-safety).
pub(crate) struct RunQueue<T> {
    /// Next slot to take; advanced by CAS from any thread.
    head: CachePadded<AtomicU32>,
    /// Next slot to fill; stored by the owner only.
    tail: CachePadded<AtomicU32>,
    /// The item to run before the ring (null when empty).
    runnext: CachePadded<AtomicPtr<T>>,
    slots: [AtomicPtr<T>; CAPACITY],
}

// Compile-time check of the claim above, under both cfgs.
const _: fn() = || {
    fn send_sync<X: Send + Sync>() {}
    send_sync::<RunQueue<()>>();
};

/// Why `runnext` could not be stolen.
enum RunnextMiss {
    /// It was empty: nothing to take.
    Empty,
    /// The owner changed it under us: worth looking at the queue again.
    Raced,
}

impl<T> RunQueue<T> {
    /// Any thread. An empty queue.
    pub(crate) fn new() -> Self {
        Self {
            head: CachePadded::new(AtomicU32::new(0)),
            tail: CachePadded::new(AtomicU32::new(0)),
            runnext: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
            slots: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// Owner only. Queues `item`. With `next` it goes to `runnext` and the
    /// previous `runnext` item, if any, moves to the tail of the ring (Go's
    /// `runqput(next=true)`); otherwise `item` goes to the tail. A full ring
    /// moves half of itself plus the item to `inject` in one batch.
    ///
    /// # Safety
    ///
    /// The caller must be the queue's owner: no other thread may be inside
    /// `push`, `push_batch`, `pop`, or a `steal_into` with this queue as `dst`.
    pub(crate) unsafe fn push(&self, item: NonNull<T>, next: bool, inject: &GlobalQueue<T>) {
        let item = if next {
            // Release publishes `item` to a thief that takes it (Acquire
            // CAS). Only owners store items here, so the Acquire half is
            // not needed; it is free on an RMW.
            match NonNull::new(self.runnext.swap(item.as_ptr(), AcqRel)) {
                None => return,
                Some(kicked) => kicked,
            }
        } else {
            item
        };
        self.push_back(item, inject);
    }

    /// Puts `item` in `runnext` and returns what was there, for the caller
    /// to queue elsewhere. Any thread: `runnext` only ever changes by
    /// swap or CAS, so whoever gets an item out of it owns that item. Used by
    /// `ready` without claiming the P; `SeqCst`, so that a caller that then
    /// finds the P taken away (sysmon) and the taker that then looks at the
    /// queue cannot both miss the item.
    pub(crate) fn offer_next(&self, item: NonNull<T>) -> Option<NonNull<T>> {
        NonNull::new(self.runnext.swap(item.as_ptr(), SeqCst))
    }

    /// Owner only (see [`RunQueue::push`]). Pops `runnext` first, then the head
    /// of the ring.
    ///
    /// # Safety
    ///
    /// As for [`RunQueue::push`].
    pub(crate) unsafe fn pop(&self) -> Option<NonNull<T>> {
        self.pop_next().or_else(|| self.pop_ring())
    }

    /// Takes `runnext` if it holds an item. Any thread: whoever swaps an
    /// item out owns it, so this is safe for a thread that is no longer
    /// (or never was) the owner, and then it is just a steal.
    #[inline]
    pub(crate) fn pop_next(&self) -> Option<NonNull<T>> {
        // Load first: an empty `runnext` is the common case, and a swap would
        // take its cache line away from the thieves for nothing.
        if self.runnext.load(Relaxed).is_null() {
            return None;
        }
        // A thief may have taken it since: then we get null.
        NonNull::new(self.runnext.swap(ptr::null_mut(), Acquire))
    }

    /// Any thread (a thief). Moves half of this queue's ring into `dst` and
    /// returns one of the moved items to run now (Go's `runqsteal`). With an
    /// empty ring and `steal_runnext`, takes `runnext` instead. `None` if
    /// nothing was taken.
    ///
    /// The caller decides whether taking `runnext` is wise: Go leaves it to a
    /// P that is about to run it (it gives a running victim `STEAL_PATIENCE`).
    ///
    /// # Safety
    ///
    /// The caller must own `dst` (as for [`RunQueue::push`]), `dst` must be
    /// empty (more precisely, have room for `CAPACITY / 2` items) and must
    /// not be `self`.
    pub(crate) unsafe fn steal_into(
        &self,
        dst: &RunQueue<T>,
        steal_runnext: bool,
    ) -> Option<NonNull<T>> {
        debug_assert!(!ptr::eq(self, dst), "a P cannot steal from itself");
        debug_assert!(
            dst.ring_len() <= CAPACITY - HALF as usize,
            "steal target too full"
        );
        let dst_tail = dst.tail.load(Relaxed); // only we write it
        loop {
            let n = self.grab_into(dst, dst_tail);
            if n > 0 {
                return Some(dst.publish_stolen(dst_tail, n));
            }
            if !steal_runnext {
                return None;
            }
            match self.take_runnext() {
                Ok(item) => return Some(item),
                Err(RunnextMiss::Empty) => return None,
                Err(RunnextMiss::Raced) => continue,
            }
        }
    }

    /// Any thread. A racy snapshot of the number of items (ring + runnext).
    pub(crate) fn len(&self) -> usize {
        self.ring_len() + usize::from(!self.runnext.load(Relaxed).is_null())
    }

    /// Any thread. A racy snapshot: true if neither the ring nor `runnext`
    /// held an item when looked at.
    pub(crate) fn is_empty(&self) -> bool {
        self.runnext.load(Relaxed).is_null() && self.ring_len() == 0
    }

    /// Any thread. A racy snapshot: true if `runnext` held an item.
    pub(crate) fn has_runnext(&self) -> bool {
        !self.runnext.load(Relaxed).is_null()
    }

    /// Owner only (see [`RunQueue::push`]). Appends `items` to the ring in order
    /// with one release of `tail`; what does not fit goes to `inject` in one
    /// batch (Go's `runqputbatch`). Used by [`GlobalQueue::pop_batch_into`].
    ///
    /// # Safety
    ///
    /// As for [`RunQueue::push`].
    pub(crate) unsafe fn push_batch(&self, items: &[NonNull<T>], inject: &GlobalQueue<T>) {
        // Acquire: thieves' reads of the slots we are about to reuse are done.
        let head = self.head.load(Acquire);
        let tail = self.tail.load(Relaxed);
        let room = CAPACITY - tail.wrapping_sub(head) as usize;
        let (fit, rest) = items.split_at(items.len().min(room));
        for (i, item) in (0u32..).zip(fit) {
            self.slot(tail.wrapping_add(i))
                .store(item.as_ptr(), Relaxed);
        }
        self.tail
            .store(tail.wrapping_add(fit.len() as u32), Release);
        if !rest.is_empty() {
            inject.push_batch(rest.iter().copied());
        }
    }

    /// Owner only. Appends `item` to the ring, overflowing into `inject`
    /// when it is full (Go's `runqput` after the `runnext` part).
    fn push_back(&self, item: NonNull<T>, inject: &GlobalQueue<T>) {
        loop {
            // Acquire: a thief's relaxed read of the slot we may overwrite
            // happens before its CAS on `head`, which this load observes.
            let head = self.head.load(Acquire);
            let tail = self.tail.load(Relaxed);
            if tail.wrapping_sub(head) < CAPACITY as u32 {
                self.slot(tail).store(item.as_ptr(), Relaxed);
                self.tail.store(tail.wrapping_add(1), Release);
                return;
            }
            if self.overflow(item, head, inject) {
                return;
            }
            // A thief moved `head`: there is room now; retry.
        }
    }

    /// Owner only, with a full ring starting at `head`. Moves the older half
    /// plus `item` to `inject` (Go's `runqputslow`). False if a thief moved
    /// `head` first; nothing was moved then.
    fn overflow(&self, item: NonNull<T>, head: u32, inject: &GlobalQueue<T>) -> bool {
        let mut batch = [NonNull::dangling(); HALF as usize];
        for (i, b) in (0u32..).zip(batch.iter_mut()) {
            *b = Self::occupied(self.slot(head.wrapping_add(i)).load(Relaxed));
        }
        // Claim the half; on failure the copies above are discarded.
        if self
            .head
            .compare_exchange(head, head.wrapping_add(HALF), AcqRel, Relaxed)
            .is_err()
        {
            return false;
        }
        inject.push_batch(batch.into_iter().chain(std::iter::once(item)));
        true
    }

    /// Owner only. Takes the item at `head` (Go's `runqget` after `runnext`).
    fn pop_ring(&self) -> Option<NonNull<T>> {
        let mut head = self.head.load(Acquire);
        loop {
            let tail = self.tail.load(Relaxed);
            if head == tail {
                return None;
            }
            let item = self.slot(head).load(Relaxed);
            match self
                .head
                .compare_exchange(head, head.wrapping_add(1), AcqRel, Acquire)
            {
                Ok(_) => return Some(Self::occupied(item)),
                Err(now) => head = now, // a thief took it; try the next
            }
        }
    }

    /// Any thread, with `dst` owned by the caller. Copies half of this ring
    /// into `dst`'s slots from `dst_tail` on (unpublished) and claims them
    /// with a CAS on `head` (Go's `runqgrab`, ring part). Returns how many.
    fn grab_into(&self, dst: &RunQueue<T>, dst_tail: u32) -> u32 {
        loop {
            // Acquire both: the head CAS that produced `head` (and the tail
            // store) happened after `tail` reached at least `head`.
            let head = self.head.load(Acquire);
            let tail = self.tail.load(Acquire);
            let len = tail.wrapping_sub(head);
            let n = len - len / 2;
            if n == 0 {
                return 0;
            }
            if n > HALF {
                continue; // `head` was stale by more than a ring: re-read
            }
            for i in 0..n {
                let item = self.slot(head.wrapping_add(i)).load(Relaxed);
                dst.slot(dst_tail.wrapping_add(i)).store(item, Relaxed);
            }
            // Release: our slot reads above happen before the owner reuses
            // them (it acquires `head` before writing a slot).
            if self
                .head
                .compare_exchange(head, head.wrapping_add(n), AcqRel, Relaxed)
                .is_ok()
            {
                return n;
            }
        }
    }

    /// Owner of `self` (the thief, as `dst`). Publishes `n >= 1` items
    /// written from `tail` on, except the last, which is returned to run.
    fn publish_stolen(&self, tail: u32, n: u32) -> NonNull<T> {
        let last = tail.wrapping_add(n - 1);
        let item = Self::occupied(self.slot(last).load(Relaxed));
        if n > 1 {
            self.tail.store(last, Release);
        }
        item
    }

    /// Any thread. Takes `runnext` if it holds an item.
    fn take_runnext(&self) -> Result<NonNull<T>, RunnextMiss> {
        let next = self.runnext.load(Acquire);
        let item = NonNull::new(next).ok_or(RunnextMiss::Empty)?;
        // Acquire pairs with the owner's release swap that stored `item`.
        self.runnext
            .compare_exchange(next, ptr::null_mut(), Acquire, Relaxed)
            .map(|_| item)
            .map_err(|_| RunnextMiss::Raced)
    }

    /// Any thread. Items in the ring, clamped to `CAPACITY` (a racy view).
    pub(crate) fn ring_len(&self) -> usize {
        let head = self.head.load(Acquire);
        let tail = self.tail.load(Acquire);
        (tail.wrapping_sub(head) as usize).min(CAPACITY)
    }

    fn slot(&self, index: u32) -> &AtomicPtr<T> {
        &self.slots[(index & MASK) as usize]
    }

    /// A pointer read from a slot that was in `[head, tail)`: never null.
    fn occupied(item: *mut T) -> NonNull<T> {
        NonNull::new(item).expect("run queue: empty slot inside [head, tail)")
    }
}

impl<T> Default for RunQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for RunQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunQueue")
            .field("len", &self.len())
            .finish()
    }
}

/// Fake task pointers for the queues' tests and models: ids as addresses
/// without provenance, never dereferenced.
#[cfg(test)]
pub(crate) mod test_items {
    use std::ptr::NonNull;

    /// The item with id `i`.
    pub(crate) fn item(i: usize) -> NonNull<u8> {
        NonNull::new(std::ptr::null_mut::<u8>().wrapping_add(i + 1)).unwrap()
    }

    /// The id of `p`, made by [`item`].
    pub(crate) fn id(p: NonNull<u8>) -> usize {
        p.as_ptr() as usize - 1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::Relaxed};

    use super::*;

    use super::test_items::{id, item};

    /// Owner-side drain of `q`, in pop order.
    fn drain(q: &RunQueue<u8>) -> Vec<usize> {
        // SAFETY: the test thread owns `q`.
        std::iter::from_fn(|| unsafe { q.pop() }).map(id).collect()
    }

    fn drain_inject(inject: &GlobalQueue<u8>) -> Vec<usize> {
        std::iter::from_fn(|| inject.pop()).map(id).collect()
    }

    /// Pushes `ids` to the tail of `q`, owned by the test thread.
    fn fill(q: &RunQueue<u8>, inject: &GlobalQueue<u8>, ids: std::ops::Range<usize>) {
        for i in ids {
            // SAFETY: the test thread owns `q`.
            unsafe { q.push(item(i), false, inject) };
        }
    }

    /// Owner side: pushes id `i` to `runnext`.
    fn push_next(q: &RunQueue<u8>, inject: &GlobalQueue<u8>, i: usize) {
        // SAFETY: the tests call this from the thread that owns `q`.
        unsafe { q.push(item(i), true, inject) };
    }

    /// One steal from `victim` into `thief`; the id of the item to run.
    fn steal(victim: &RunQueue<u8>, thief: &RunQueue<u8>, steal_runnext: bool) -> Option<usize> {
        // SAFETY: the tests call this from the thread that owns `thief`,
        // with `thief` empty.
        unsafe { victim.steal_into(thief, steal_runnext) }.map(id)
    }

    #[test]
    fn fifo_order() {
        let (q, inject) = (RunQueue::new(), GlobalQueue::new());
        assert!(q.is_empty());
        fill(&q, &inject, 0..CAPACITY);
        assert_eq!(q.len(), CAPACITY);
        assert_eq!(drain(&q), (0..CAPACITY).collect::<Vec<_>>());
        assert!(q.is_empty() && inject.is_empty());
        // Again, across the wrap-around of the indexes.
        fill(&q, &inject, 0..CAPACITY / 2 + 3);
        assert_eq!(drain(&q), (0..CAPACITY / 2 + 3).collect::<Vec<_>>());
    }

    #[test]
    fn runnext_kicks_previous_to_tail() {
        let (q, inject) = (RunQueue::new(), GlobalQueue::new());
        push_next(&q, &inject, 0);
        assert_eq!(q.len(), 1);
        push_next(&q, &inject, 1); // 0 moves to the ring
        fill(&q, &inject, 2..3);
        assert_eq!(q.len(), 3);
        assert_eq!(drain(&q), [1, 0, 2]);
    }

    #[test]
    fn overflow_moves_half_plus_one_to_inject() {
        let (q, inject) = (RunQueue::new(), GlobalQueue::new());
        fill(&q, &inject, 0..CAPACITY + 1);
        let mut spilled: Vec<_> = (0..CAPACITY / 2).collect();
        spilled.push(CAPACITY);
        assert_eq!(inject.len(), CAPACITY / 2 + 1);
        assert_eq!(drain_inject(&inject), spilled);
        assert_eq!(drain(&q), (CAPACITY / 2..CAPACITY).collect::<Vec<_>>());
    }

    #[test]
    fn overflow_with_runnext_spills_the_kicked_item() {
        let (q, inject) = (RunQueue::new(), GlobalQueue::new());
        push_next(&q, &inject, 1000);
        fill(&q, &inject, 0..CAPACITY);
        push_next(&q, &inject, 1001); // kicks 1000 into a full ring
        assert_eq!(inject.len(), CAPACITY / 2 + 1);
        assert_eq!(drain_inject(&inject).last(), Some(&1000));
        assert_eq!(drain(&q)[0], 1001);
    }

    #[test]
    fn steal_takes_half_and_returns_the_last() {
        let (victim, thief, inject) = (RunQueue::new(), RunQueue::new(), GlobalQueue::new());
        fill(&victim, &inject, 0..11);
        // 6 of 11 taken: 0..=4 queued, 5 to run.
        assert_eq!(steal(&victim, &thief, false), Some(5));
        assert_eq!(drain(&thief), [0, 1, 2, 3, 4]);
        assert_eq!(drain(&victim), (6..11).collect::<Vec<_>>());
        assert_eq!(steal(&victim, &thief, true), None);
    }

    #[test]
    fn steal_one_item() {
        let (victim, thief, inject) = (RunQueue::new(), RunQueue::new(), GlobalQueue::new());
        fill(&victim, &inject, 0..1);
        assert_eq!(steal(&victim, &thief, false), Some(0));
        assert!(thief.is_empty() && victim.is_empty());
    }

    #[test]
    fn steal_runnext_only_when_asked_and_ring_empty() {
        let (victim, thief, inject) = (RunQueue::new(), RunQueue::new(), GlobalQueue::new());
        push_next(&victim, &inject, 7);
        assert_eq!(steal(&victim, &thief, false), None);
        assert_eq!(victim.len(), 1);
        assert_eq!(steal(&victim, &thief, true), Some(7));
        assert!(victim.is_empty() && thief.is_empty());

        // With a non-empty ring, only the ring is stolen.
        push_next(&victim, &inject, 8);
        fill(&victim, &inject, 0..2);
        assert_eq!(steal(&victim, &thief, true), Some(0));
        assert_eq!(drain(&victim), [8, 1]);
    }

    /// One owner pushes (overflowing into `inject`) and pops 1M items while
    /// three thieves steal from it and drain `inject`: each item is seen once.
    #[test]
    // Under Miri the thieves keep up and the ring never overflows (and a
    // million items take hours): the single-threaded tests cover the paths,
    // loom the races.
    #[cfg_attr(miri, ignore)]
    fn stress_owner_vs_three_thieves() {
        const N: usize = 1_000_000;
        let (victim, inject) = (RunQueue::new(), GlobalQueue::new());
        let seen: Vec<AtomicU8> = (0..N).map(|_| AtomicU8::new(0)).collect();
        let (total, pushing_done) = (AtomicUsize::new(0), AtomicBool::new(false));
        let record = |p: NonNull<u8>| {
            assert_eq!(seen[id(p)].fetch_add(1, Relaxed), 0, "item {} twice", id(p));
            total.fetch_add(1, Relaxed);
        };
        let overflows = std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| thief_loop(&victim, &inject, &total, N, record));
            }
            let overflows = owner_loop(&victim, &inject, N, record);
            pushing_done.store(true, Relaxed);
            while total.load(Relaxed) < N {
                // SAFETY: this thread owns `victim`.
                match unsafe { victim.pop() }.or_else(|| inject.pop()) {
                    Some(p) => record(p),
                    None => std::hint::spin_loop(),
                }
            }
            overflows
        });
        assert!(pushing_done.load(Relaxed));
        assert!(seen.iter().all(|c| c.load(Relaxed) == 1));
        assert!(overflows > 0, "the overflow path was not exercised");
    }

    /// Pushes ids `0..n` in bursts, popping some; returns how many pushes
    /// overflowed into `inject`.
    fn owner_loop(
        q: &RunQueue<u8>,
        inject: &GlobalQueue<u8>,
        n: usize,
        record: impl Fn(NonNull<u8>),
    ) -> usize {
        let mut overflows = 0;
        for i in 0..n {
            let before = inject.len();
            // SAFETY: this thread owns `q`.
            unsafe { q.push(item(i), i % 7 == 0, inject) };
            overflows += usize::from(inject.len() > before);
            if i % 1000 >= 700 {
                // SAFETY: as above.
                if let Some(p) = unsafe { q.pop() } {
                    record(p);
                }
            }
        }
        overflows
    }

    fn thief_loop(
        victim: &RunQueue<u8>,
        inject: &GlobalQueue<u8>,
        total: &AtomicUsize,
        n: usize,
        record: impl Fn(NonNull<u8>),
    ) {
        let own = RunQueue::new();
        let mut round = 0usize;
        while total.load(Relaxed) < n {
            round += 1;
            let got = if round % 4 == 0 {
                // SAFETY: this thread owns `own` (emptied after each round).
                unsafe { inject.pop_batch_into(&own, 4, usize::MAX) }
            } else {
                // SAFETY: this thread owns `own`, which is empty.
                unsafe { victim.steal_into(&own, true) }
            };
            let Some(first) = got.or_else(|| inject.pop()) else {
                std::hint::spin_loop();
                continue;
            };
            record(first);
            // SAFETY: as above.
            while let Some(p) = unsafe { own.pop() } {
                record(p);
            }
        }
    }
}

/// Model checks: each item comes out exactly once, under every interleaving
/// (within loom's preemption bound) of the owner and its thieves.
#[cfg(all(test, loom))]
mod loom_tests {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    type Q = Arc<RunQueue<u8>>;

    use super::test_items::{id, item};

    /// Owner side of `q`: pushes `ids`, to `runnext` if `next`.
    fn push(q: &RunQueue<u8>, inject: &GlobalQueue<u8>, ids: std::ops::Range<usize>, next: bool) {
        for i in ids {
            // SAFETY: the calling thread owns `q`.
            unsafe { q.push(item(i), next, inject) };
        }
    }

    /// Owner side of `q`: pops everything, and everything in `inject`.
    fn drain(q: &RunQueue<u8>, inject: &GlobalQueue<u8>, got: &mut Vec<usize>) {
        // SAFETY: the calling thread owns `q`.
        got.extend(std::iter::from_fn(|| unsafe { q.pop() }).map(id));
        got.extend(std::iter::from_fn(|| inject.pop()).map(id));
    }

    /// A thief with its own (empty) queue: one steal, then drains its queue.
    fn spawn_thief(victim: &Q, steal_runnext: bool) -> thread::JoinHandle<Vec<usize>> {
        let victim = victim.clone();
        thread::spawn(move || {
            let own = RunQueue::new();
            // SAFETY: this thread owns `own`, which is empty.
            let first = unsafe { victim.steal_into(&own, steal_runnext) };
            let mut got: Vec<_> = first.into_iter().map(id).collect();
            // SAFETY: as above.
            got.extend(std::iter::from_fn(|| unsafe { own.pop() }).map(id));
            got
        })
    }

    fn assert_each_once(mut got: Vec<usize>, n: usize) {
        got.sort_unstable();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
    }

    /// (a) Owner pushes and pops while one thief steals.
    #[test]
    fn loom_push_pop_vs_steal() {
        loom::model(|| {
            let (q, inject) = (Arc::new(RunQueue::new()), GlobalQueue::new());
            push(&q, &inject, 0..2, false);
            let thief = spawn_thief(&q, false);
            push(&q, &inject, 2..3, false);
            // SAFETY: this thread owns `q`.
            let mut got: Vec<_> = unsafe { q.pop() }.into_iter().map(id).collect();
            got.extend(thief.join().unwrap());
            drain(&q, &inject, &mut got);
            assert_each_once(got, 3);
        });
    }

    /// (b) Owner overflows a full ring into `inject` while a thief steals.
    #[test]
    fn loom_overflow_vs_steal() {
        loom::model(|| {
            let (q, inject) = (Arc::new(RunQueue::new()), GlobalQueue::new());
            push(&q, &inject, 0..CAPACITY, false);
            let thief = spawn_thief(&q, false);
            push(&q, &inject, CAPACITY..CAPACITY + 2, false);
            let mut got = thief.join().unwrap();
            drain(&q, &inject, &mut got);
            assert_each_once(got, CAPACITY + 2);
        });
    }

    /// (c) Two thieves against an owner that pushes (overflowing when they
    /// are late) and pops.
    #[test]
    fn loom_two_thieves_vs_owner() {
        loom::model(|| {
            let (q, inject) = (Arc::new(RunQueue::new()), GlobalQueue::new());
            push(&q, &inject, 0..3, false);
            let thieves = [spawn_thief(&q, false), spawn_thief(&q, false)];
            push(&q, &inject, 3..5, false); // may overflow
                                            // SAFETY: this thread owns `q`.
            let mut got: Vec<_> = unsafe { q.pop() }.into_iter().map(id).collect();
            for thief in thieves {
                got.extend(thief.join().unwrap());
            }
            drain(&q, &inject, &mut got);
            assert_each_once(got, 5);
        });
    }

    /// (d) A thief takes `runnext` while the owner pops it and replaces it.
    #[test]
    fn loom_runnext_steal_vs_pop() {
        loom::model(|| {
            let (q, inject) = (Arc::new(RunQueue::new()), GlobalQueue::new());
            push(&q, &inject, 0..1, true);
            let thief = spawn_thief(&q, true);
            // SAFETY: this thread owns `q`.
            let mut got: Vec<_> = unsafe { q.pop() }.into_iter().map(id).collect();
            push(&q, &inject, 1..3, true); // 2 kicks 1 into the ring
            got.extend(thief.join().unwrap());
            drain(&q, &inject, &mut got);
            assert_each_once(got, 3);
        });
    }

    /// The global queue's batch refill racing a thief of the same local queue.
    #[test]
    fn loom_pop_batch_into_vs_steal() {
        loom::model(|| {
            let (q, inject) = (Arc::new(RunQueue::new()), GlobalQueue::new());
            inject.push_batch((0..3).map(item));
            let thief = spawn_thief(&q, true);
            // SAFETY: this thread owns `q`.
            let first = unsafe { inject.pop_batch_into(&q, 1, usize::MAX) };
            let mut got: Vec<_> = first.into_iter().map(id).collect();
            got.extend(thief.join().unwrap());
            drain(&q, &inject, &mut got);
            assert_each_once(got, 3);
        });
    }
}
