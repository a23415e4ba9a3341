//! The global run queue: Go's `sched.runq`.
//!
//! # What it protects
//!
//! A FIFO of runnable task pointers that belong to no P: goroutines made
//! runnable off a P, the overflow of full local queues, goroutines handed
//! back by an M that lost its P. Any thread pushes and pops. Items are raw
//! pointers that the queue never dereferences, owns or drops.
//!
//! # Invariants
//!
//! - The `VecDeque` is only touched under the mutex.
//! - `len` equals the deque's length whenever the mutex is free: it is stored
//!   (under the lock) after every change. Readers outside the lock get a
//!   racy but never torn snapshot, which is all the scheduler's "is there
//!   global work?" checks need; they take the lock before trusting it.
//! - `len` is accessed `SeqCst`, so the scheduler can build Dekker-style
//!   handshakes on it ("push, then look for an idle M" against "go idle,
//!   then look at the queue") without a fence of its own.
//!
//! # Rejected alternatives
//!
//! - An intrusive list through the goroutine (Go's `schedlink`): no
//!   allocation, but the queue would have to know `T`'s layout; a `VecDeque`
//!   allocates only while it grows past its high-water mark.
//! - A lock-free MPMC queue: the global queue is touched rarely (every 61st
//!   tick, on overflow, when the local queue is empty) and in batches, so a
//!   short critical section is cheaper than per-item CASes and keeps FIFO
//!   batches trivial.

use std::collections::VecDeque;
use std::ptr::NonNull;

use super::queue::{RunQueue, CAPACITY};
use crate::loom::{AtomicUsize, Mutex, Ordering::SeqCst};

/// The global run queue of task pointers.
pub(crate) struct GlobalQueue<T> {
    queue: Mutex<VecDeque<NonNull<T>>>,
    /// The deque's length, readable without the lock.
    len: AtomicUsize,
}

// SAFETY: the queue stores addresses and never dereferences them; the deque
// is only reached through the mutex and `len` is atomic. Moving an item to
// another thread is only a hazard where it is dereferenced, which is `unsafe`
// and the dereferencer's obligation (`NonNull` is `!Send` only as a lint).
unsafe impl<T> Send for GlobalQueue<T> {}
// SAFETY: as for `Send`: every `&self` method goes through the mutex or the
// atomic.
unsafe impl<T> Sync for GlobalQueue<T> {}

impl<T> GlobalQueue<T> {
    /// Any thread. An empty queue.
    pub(crate) fn new() -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// Any thread. Appends `item`.
    pub(crate) fn push(&self, item: NonNull<T>) {
        let mut queue = self.queue.lock();
        queue.push_back(item);
        self.len.store(queue.len(), SeqCst);
    }

    /// Any thread. Appends `items` in order, under one lock.
    pub(crate) fn push_batch(&self, items: impl Iterator<Item = NonNull<T>>) {
        let mut queue = self.queue.lock();
        queue.extend(items);
        self.len.store(queue.len(), SeqCst);
    }

    /// Any thread. Takes the oldest item.
    pub(crate) fn pop(&self) -> Option<NonNull<T>> {
        if self.is_empty() {
            return None; // the common case, without touching the lock
        }
        let mut queue = self.queue.lock();
        let item = queue.pop_front();
        self.len.store(queue.len(), SeqCst);
        item
    }

    /// Owner of `local` only. Go's `globrunqget`: takes up to
    /// `min(len / nprocs + 1, max, CAPACITY / 2)` of the oldest items, returns
    /// the first to run now and appends the rest, in order, to `local`.
    /// `nprocs` is the number of Ps sharing the queue (0 counts as 1); `max`
    /// caps the batch (`usize::MAX` for no cap; 0 takes nothing).
    ///
    /// # Safety
    ///
    /// The caller must be the owner of `local`, as for [`RunQueue::push`].
    pub(crate) unsafe fn pop_batch_into(
        &self,
        local: &RunQueue<T>,
        nprocs: usize,
        max: usize,
    ) -> Option<NonNull<T>> {
        if self.is_empty() {
            return None;
        }
        let mut batch = [NonNull::dangling(); CAPACITY / 2];
        let (first, rest) = self.take(nprocs, max, &mut batch)?;
        // Outside the lock: `local` may overflow into `self`.
        // SAFETY: the caller owns `local`.
        unsafe { local.push_batch(&batch[..rest], self) };
        Some(first)
    }

    /// Any thread. A racy snapshot of the number of items, without the lock.
    pub(crate) fn len(&self) -> usize {
        self.len.load(SeqCst)
    }

    /// Any thread. A racy snapshot, without the lock.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Any thread. Under the lock, pops the batch [`Self::pop_batch_into`]
    /// describes: the first item, and how many more were written to `rest`.
    fn take(
        &self,
        nprocs: usize,
        max: usize,
        rest: &mut [NonNull<T>; CAPACITY / 2],
    ) -> Option<(NonNull<T>, usize)> {
        let mut queue = self.queue.lock();
        let len = queue.len();
        let n = (len / nprocs.max(1) + 1)
            .min(max)
            .min(CAPACITY / 2)
            .min(len);
        if n == 0 {
            return None;
        }
        let first = {
            let mut drained = queue.drain(..n);
            let first = drained.next()?;
            for (slot, item) in rest.iter_mut().zip(drained) {
                *slot = item;
            }
            first
        };
        self.len.store(queue.len(), SeqCst);
        Some((first, n - 1))
    }
}

impl<T> Default for GlobalQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for GlobalQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalQueue")
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    use crate::runtime::queue::test_items::{id, item};

    fn filled(n: usize) -> GlobalQueue<u8> {
        let inject = GlobalQueue::new();
        inject.push_batch((0..n).map(item));
        inject
    }

    /// `pop_batch_into` on a fresh local queue: (returned id, ids queued).
    fn batch(inject: &GlobalQueue<u8>, nprocs: usize, max: usize) -> Option<(usize, Vec<usize>)> {
        let local = RunQueue::new();
        // SAFETY: the test thread owns `local`.
        let first = unsafe { inject.pop_batch_into(&local, nprocs, max) }?;
        // SAFETY: as above.
        let rest = std::iter::from_fn(|| unsafe { local.pop() })
            .map(id)
            .collect();
        Some((id(first), rest))
    }

    #[test]
    fn fifo_and_len() {
        let inject = GlobalQueue::new();
        assert!(inject.is_empty() && inject.pop().is_none());
        inject.push(item(0));
        inject.push_batch((1..4).map(item));
        inject.push(item(4));
        assert_eq!(inject.len(), 5);
        let popped: Vec<_> = std::iter::from_fn(|| inject.pop()).map(id).collect();
        assert_eq!(popped, [0, 1, 2, 3, 4]);
        assert!(inject.is_empty());
    }

    #[test]
    fn pop_batch_takes_a_fair_share() {
        let inject = filled(100);
        // 100 / 4 + 1 = 26: one to run, 25 queued, in order.
        let (first, rest) = batch(&inject, 4, usize::MAX).unwrap();
        assert_eq!(first, 0);
        assert_eq!(rest, (1..26).collect::<Vec<_>>());
        assert_eq!(inject.len(), 74);
    }

    #[test]
    fn pop_batch_limits() {
        let inject = filled(1000);
        assert_eq!(
            batch(&inject, 1, usize::MAX).unwrap().1.len(),
            CAPACITY / 2 - 1
        );
        assert_eq!(batch(&inject, 1, 3).unwrap().1.len(), 2);
        assert_eq!(batch(&inject, 0, 1).unwrap().1.len(), 0); // nprocs 0 counts as 1
        assert!(batch(&inject, 1, 0).is_none());
        let small = filled(2);
        assert_eq!(batch(&small, 1, usize::MAX), Some((0, vec![1]))); // all of it
        assert!(small.is_empty() && batch(&small, 1, usize::MAX).is_none());
    }

    #[test]
    fn pop_batch_into_full_local_spills_back() {
        let (inject, local) = (filled(1000), RunQueue::new());
        for i in 1000..1000 + CAPACITY - 3 {
            // SAFETY: the test thread owns `local`.
            unsafe { local.push(item(i), false, &inject) };
        }
        // SAFETY: as above.
        let first = unsafe { inject.pop_batch_into(&local, 1, 10) };
        assert_eq!(first.map(id), Some(0));
        assert_eq!(local.len(), CAPACITY); // 1..=3 fit
        assert_eq!(inject.len(), 1000 - 10 + 6); // 4..=9 went back
    }
}
