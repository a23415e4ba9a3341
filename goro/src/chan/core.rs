//! The channel itself (Go's `hchan`): a FIFO buffer of `cap` values, the
//! queues of blocked receivers and senders, and the closed flags, all behind
//! one lock.
//!
//! # Invariants (with the lock held)
//!
//! - `buf.len() <= cap`; for `cap == 0` the buffer stays empty and every
//!   value goes straight from a sender's slot to a receiver's slot (Go's
//!   `sendDirect`), except one put back by a dropped receive future, which
//!   sets `SPILLED` until the receive that empties the buffer again.
//!   Without `BUFFERED` or `SPILLED` the buffer is empty and never looked at.
//! - Each wait queue is its first entry, inline, then the rest in order: the
//!   rest is non-empty only if the first entry is there, and exactly when its
//!   `*_MORE` bit is set, so an empty or one-entry queue is never looked at
//!   past the first 64 bytes. Likewise `more_wakes` says the cold list of
//!   wake-ups holds some; the first goroutine wake-up sits in `pending`.
//! - The lock-free mirrors agree with the state whenever the lock is free:
//!   `flags` has `CLOSED`/`NO_RECEIVERS` as `state` has them, and
//!   `RECV_WAITING`/`SEND_WAITING` exactly when that queue's first entry is
//!   there; `len` is `buf.len()`. They are written where the state changes
//!   (an unlock recomputes nothing), and read without the lock as hints only.
//! - If the receive queue holds a live waiter, the buffer is empty; if the
//!   send queue holds a live waiter, the buffer is full. (Entries whose
//!   selection already committed elsewhere may linger until their owner
//!   removes them; every scan skips them after a failed claim.)
//! - `CLOSED` never goes away. Once set, no waiter is ever queued:
//!   receivers drain the buffer and then see "closed"; senders fail at once
//!   and get their value back.
//! - `NO_RECEIVERS` means every `Receiver` was dropped: sends fail, with
//!   the value given back.
//!
//! # Why one lock
//!
//! Go's channels take one lock per operation, and `select` locks every
//! channel it involves (in address order) to decide atomically. A lock-free
//! ring (crossbeam's `array` flavor) is faster for buffered throughput under
//! contention, but makes the "exactly one arm commits" rule of `select` a
//! multi-word protocol; that trade is left for when the benchmarks ask for it.
//! The lock itself is a spin-then-yield lock with a store for unlock
//! (`chan::lock`), since nothing is ever done under it but moving a value and
//! a few queue entries.
//!
//! # Layout: 64 bytes for a hand-off
//!
//! An unbuffered hand-off touches only the first 64 bytes of the channel:
//! the lock, the flags, the state bits, the pending goroutine wake-up, and
//! the first receiver and first sender (24 bytes each). A buffered operation
//! adds the next 64 (`cap`, `len`, the buffer's header, the counts); the
//! rest of the queues and extra wake-ups live in a box made on first need.
//! In the sieve, each hop meets two channels last touched a whole pass of
//! the chain earlier, on lines long evicted: with `VecDeque` queues and the
//! wake-up list inside the channel (208 bytes), a receive missed three lines
//! of the channel plus one of the queue's heap buffer.
//!
//! Measured 2026-11-25 against the layout before (one `VecDeque` per queue,
//! the wake-up list in the channel, the mirrors recomputed at every
//! unlock): per sieve hop on one core, cachegrind counts 449 instructions
//! instead of 573 and 6.9 L1 read misses instead of 12.2 (with
//! `Selection::wait` inlined too); a ping-pong round trip ~850 instructions
//! instead of 1,091. Wall time on two cores, A/B in alternation: sieve
//! 0.79×, ping-pong 0.90×, unbuffered SPSC 0.9×, buffered SPSC 0.83×, MPMC
//! 0.74×, select4 0.94×, thread ring 0.82×, worker pool 0.99×; timers (a
//! channel each) 0.79×.
//!
//! Not aligned to a cache line: `Arc` gets its memory from `malloc`, and
//! `#[repr(align(64))]` sends it to `memalign`, whose splitting cost a
//! million timers (a channel each) 1.7× in `malloc_consolidate`, while the
//! one-line alignment gained nothing measurable on the sieve (0.99× on two
//! cores without it, 0.93× on one: smaller channels, fewer misses).
//!
//! What the buffered path taught (it was 1.35× slower in a first version
//! with the same layout): recomputing the mirrors at every unlock, and the
//! waiter-matching loops inlined into every operation, cost more than the
//! lines saved. The mirrors are now written where the state changes, and
//! the matching lives out of line (`hand_to_receiver`, `take_from_sender`),
//! so an operation that finds nobody waiting runs a short path.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering};

use smallvec::SmallVec;

/// `flags`, the lock-free mirror (and `state` for the first and last).
const CLOSED: u8 = 1;
/// A receiver waits: a send would complete.
const RECV_WAITING: u8 = 2;
/// A sender waits: a receive would complete.
const SEND_WAITING: u8 = 4;
/// Every receiver is gone: sends fail at once.
const NO_RECEIVERS: u8 = 8;

/// `state` bits (with the lock held). `CLOSED` and `NO_RECEIVERS` as above.
const BUFFERED: u8 = 16;
/// An unbuffered channel's buffer holds a value put back (`put_back`).
const SPILLED: u8 = 32;
const RECV_MORE: u8 = 64;
const SEND_MORE: u8 = 128;

use crate::chan::lock::ChanLock;

use crate::chan::waiter::{Direct, Selection, Waiter, Wake};

#[doc(hidden)]
#[repr(C)]
pub struct Chan<T> {
    // The first 64 bytes: all an unbuffered hand-off touches (module docs).
    lock: ChanLock,
    /// `CLOSED`, `NO_RECEIVERS`, `RECV_WAITING`, `SEND_WAITING`: a mirror
    /// of the state for lock-free hints (`select`'s fast path, `is_closed`),
    /// never trusted alone. Written under the lock where the state changes,
    /// so an unlock has nothing to recompute.
    flags: AtomicU8,
    /// `CLOSED`, `NO_RECEIVERS`, `BUFFERED`, `SPILLED`, `*_MORE`.
    state: UnsafeCell<u8>,
    /// Set when the crowd's `wakes` list holds wake-ups.
    more_wakes: UnsafeCell<bool>,
    /// The first goroutine wake-up decided under the lock.
    pending: UnsafeCell<Option<Direct>>,
    recv_first: UnsafeCell<Option<Waiter<T>>>,
    send_first: UnsafeCell<Option<Waiter<T>>>,
    // The next 64 bytes start with what a buffered operation adds.
    cap: usize,
    /// Mirror of `buf.len()`, for `len()` and the hints without the lock;
    /// written under the lock wherever the buffer changes.
    len: AtomicUsize,
    cold: UnsafeCell<Cold<T>>,
    /// Live `Sender`s and `Receiver`s (`u32`: the channel stays 128 bytes).
    pub(crate) senders: AtomicU32,
    pub(crate) receivers: AtomicU32,
}

/// What a hand-off between one sender and one receiver never touches.
/// `#[repr(C)]`: the buffer first, in the second 64 bytes with `cap` and
/// `len`.
#[repr(C)]
struct Cold<T> {
    buf: VecDeque<T>,
    /// Made the first time a queue holds two entries or a lock hold
    /// decides a second wake-up: most channels never need it (a timer's,
    /// say), and it keeps the channel at 128 bytes.
    crowd: Option<Box<Crowd<T>>>,
}

/// The rest of the wait queues, and the wake-ups beyond `pending`.
struct Crowd<T> {
    recv_rest: VecDeque<Waiter<T>>,
    send_rest: VecDeque<Waiter<T>>,
    /// A second goroutine (`close`, or a receive that also moved a sender
    /// into the buffer), and foreign wakers.
    wakes: Vec<Wake>,
}

impl<T> Crowd<T> {
    fn new() -> Box<Self> {
        Box::new(Crowd {
            recv_rest: VecDeque::new(),
            send_rest: VecDeque::new(),
            wakes: Vec::new(),
        })
    }
}

// SAFETY: the cells are only touched with `lock` held; values cross threads,
// hence `T: Send`.
unsafe impl<T: Send> Sync for Chan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Chan<T> {}

/// The channel's state, for the holder of its lock (made by
/// [`Chan::inner_locked`] and [`Chan::locked`]). One pointer: the fields
/// are reached through it, each through `&mut self`, so no two references
/// into one cell are ever alive together.
pub(crate) struct Inner<'a, T> {
    chan: &'a Chan<T>,
}

/// Which wait queue.
#[derive(Clone, Copy)]
enum Side {
    Recv,
    Send,
}

/// Why a send could not complete now.
pub(crate) enum SendFail {
    Full,
    Closed,
}

/// Why a receive could not complete now.
pub(crate) enum RecvFail {
    Empty,
    Closed,
}

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Chan<T> {
        Chan {
            lock: ChanLock::new(),
            flags: AtomicU8::new(0),
            state: UnsafeCell::new(if cap > 0 { BUFFERED } else { 0 }),
            more_wakes: UnsafeCell::new(false),
            pending: UnsafeCell::new(None),
            recv_first: UnsafeCell::new(None),
            send_first: UnsafeCell::new(None),
            cold: UnsafeCell::new(Cold {
                buf: VecDeque::with_capacity(cap.min(1024)),
                crowd: None,
            }),
            cap,
            len: AtomicUsize::new(0),
            senders: AtomicU32::new(1),
            receivers: AtomicU32::new(1),
        }
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.flags.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Lock-free hint: a receive would likely complete now.
    pub(crate) fn recv_looks_ready(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & (SEND_WAITING | CLOSED) != 0 || self.len() > 0
    }

    /// Lock-free hint: a send would likely complete (or fail) now.
    pub(crate) fn send_looks_ready(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & (RECV_WAITING | CLOSED | NO_RECEIVERS) != 0
            || self.len() < self.cap
    }

    /// The channel's address: the order in which `select` locks channels.
    pub(crate) fn id(&self) -> usize {
        self as *const Self as *const () as usize
    }

    /// Runs `f` with the lock held.
    pub(crate) fn locked<R>(&self, f: impl FnOnce(&mut Inner<'_, T>) -> R) -> R {
        self.lock.lock();
        // SAFETY: the lock is held; the view is gone before the unlock.
        let r = f(&mut unsafe { self.inner_locked() });
        // SAFETY: locked above, by this thread.
        unsafe { self.raw_unlock() };
        r
    }

    /// Takes the lock for `select`, which holds several at once.
    pub(crate) fn raw_lock(&self) {
        self.lock.lock();
    }

    /// Releases a lock taken by [`Chan::raw_lock`], then carries out the
    /// wake-ups decided under it.
    ///
    /// # Safety
    /// The caller holds the lock, taken by `raw_lock` on this thread, and no
    /// view from `inner_locked` is alive.
    #[inline]
    pub(crate) unsafe fn raw_unlock(&self) {
        // SAFETY: the lock is held (contract): the cells are ours.
        let (first, more) = unsafe {
            let pending = &mut *self.pending.get();
            // Look before taking: `take` would write the empty slot too.
            let first = if pending.is_some() {
                pending.take()
            } else {
                None
            };
            (first, *self.more_wakes.get())
        };
        if more {
            // SAFETY: by the contract.
            unsafe { self.unlock_with_more_wakes() };
        } else {
            // SAFETY: by the contract.
            unsafe { self.lock.unlock() };
        }
        if let Some(g) = first {
            g.queue();
        }
    }

    /// `raw_unlock` when the cold list holds wake-ups too (a thread's or an
    /// async task's waker, `close`, two goroutines woken under one lock):
    /// unlocks and runs them. The list keeps its capacity in the channel;
    /// the usual one or two wake-ups travel out on the stack, so a channel
    /// that keeps waking a thread allocates nothing per wake-up.
    ///
    /// # Safety
    /// As for `raw_unlock`.
    #[cold]
    #[inline(never)]
    unsafe fn unlock_with_more_wakes(&self) {
        // SAFETY: the lock is held (contract).
        let rest: SmallVec<[Wake; 2]> = unsafe {
            *self.more_wakes.get() = false;
            let crowd = (*self.cold.get()).crowd.as_mut();
            crowd
                .expect("more_wakes without a crowd")
                .wakes
                .drain(..)
                .collect()
        };
        // SAFETY: by the contract.
        unsafe { self.lock.unlock() };
        rest.into_iter().for_each(Wake::run);
    }

    /// The state, for a caller holding the lock through `raw_lock`.
    ///
    /// # Safety
    /// The caller holds the lock and keeps no other view of the state.
    pub(crate) unsafe fn inner_locked(&self) -> Inner<'_, T> {
        Inner { chan: self }
    }
}

impl<T> Inner<'_, T> {
    // Field access. SAFETY (every block below): an `Inner` exists only while
    // its thread holds the channel lock, so nobody else touches the cells;
    // each accessor borrows `self` mutably for as long as its reference
    // lives, so no two references into one cell are alive together.

    fn state(&self) -> u8 {
        // SAFETY: see above.
        unsafe { *self.chan.state.get() }
    }

    fn set_state(&mut self, bits: u8) {
        // SAFETY: see above.
        unsafe { *self.chan.state.get() |= bits };
    }

    fn clear_state(&mut self, bits: u8) {
        // SAFETY: see above.
        unsafe { *self.chan.state.get() &= !bits };
    }

    fn cold(&mut self) -> &mut Cold<T> {
        // SAFETY: see above.
        unsafe { &mut *self.chan.cold.get() }
    }

    fn first(&mut self, side: Side) -> &mut Option<Waiter<T>> {
        let cell = match side {
            Side::Recv => &self.chan.recv_first,
            Side::Send => &self.chan.send_first,
        };
        // SAFETY: see above.
        unsafe { &mut *cell.get() }
    }

    /// The overflow of the queues and wake-ups, made on first use.
    fn crowd(&mut self) -> &mut Crowd<T> {
        self.cold().crowd.get_or_insert_with(Crowd::new)
    }

    fn rest(&mut self, side: Side) -> &mut VecDeque<Waiter<T>> {
        let crowd = self.crowd();
        match side {
            Side::Recv => &mut crowd.recv_rest,
            Side::Send => &mut crowd.send_rest,
        }
    }

    /// The `state` bit that says `side`'s queue has more than its first.
    fn more(side: Side) -> u8 {
        match side {
            Side::Recv => RECV_MORE,
            Side::Send => SEND_MORE,
        }
    }

    /// The `flags` bit that says someone waits on `side`.
    fn waiting(side: Side) -> u8 {
        match side {
            Side::Recv => RECV_WAITING,
            Side::Send => SEND_WAITING,
        }
    }

    // The lock-free mirrors, kept where the state changes. Only the lock
    // holder writes them, so a load and a store will do.

    fn mirror_set(&self, bits: u8) {
        let flags = &self.chan.flags;
        flags.store(flags.load(Ordering::Relaxed) | bits, Ordering::Release);
    }

    fn mirror_clear(&self, bits: u8) {
        let flags = &self.chan.flags;
        flags.store(flags.load(Ordering::Relaxed) & !bits, Ordering::Release);
    }

    /// After any change to the buffer.
    fn mirror_len(&mut self) {
        let n = self.cold().buf.len();
        self.chan.len.store(n, Ordering::Relaxed);
    }

    // The wait queues: the first entry inline, then the rest (module
    // invariants).

    #[inline]
    fn push_waiter(&mut self, side: Side, w: Waiter<T>) {
        if self.first(side).is_none() {
            *self.first(side) = Some(w);
            self.mirror_set(Self::waiting(side));
        } else {
            self.push_more(side, w);
        }
    }

    /// `push_waiter` behind a queue that has its first entry already.
    #[cold]
    #[inline(never)]
    fn push_more(&mut self, side: Side, w: Waiter<T>) {
        self.rest(side).push_back(w);
        self.set_state(Self::more(side));
    }

    #[inline]
    fn pop_waiter(&mut self, side: Side) -> Option<Waiter<T>> {
        // Look before taking: `take` would write the empty slot too.
        self.first(side).as_ref()?;
        let w = self.first(side).take();
        if self.state() & Self::more(side) != 0 {
            self.promote_next(side);
        } else {
            self.mirror_clear(Self::waiting(side));
        }
        w
    }

    /// The first entry was taken from a queue with more: the next one
    /// moves up.
    #[cold]
    #[inline(never)]
    fn promote_next(&mut self, side: Side) {
        let next = self.rest(side).pop_front();
        *self.first(side) = next;
        if self.rest(side).is_empty() {
            self.clear_state(Self::more(side));
        }
    }

    fn remove_waiters(&mut self, side: Side, sel: &Selection) {
        let more = Self::more(side);
        if self.state() & more != 0 {
            self.rest(side).retain(|w| !w.belongs_to(sel));
        }
        if self.first(side).as_ref().is_some_and(|w| w.belongs_to(sel)) {
            *self.first(side) = None;
        }
        if self.state() & more != 0 {
            if self.first(side).is_none() {
                let next = self.rest(side).pop_front();
                *self.first(side) = next;
            }
            if self.rest(side).is_empty() {
                self.clear_state(more);
            }
        }
        if self.first(side).is_none() {
            self.mirror_clear(Self::waiting(side));
        }
    }

    fn pending(&mut self) -> &mut Option<Direct> {
        // SAFETY: see above.
        unsafe { &mut *self.chan.pending.get() }
    }

    /// Keeps a wake-up for the unlock: a goroutine's in `pending` if it is
    /// free, anything else in the cold list.
    #[inline]
    fn defer_wake(&mut self, wake: Option<Wake>) {
        match wake {
            None => {}
            Some(Wake::Direct(g)) if self.pending().is_none() => *self.pending() = Some(g),
            Some(w) => self.defer_more(w),
        }
    }

    #[cold]
    #[inline(never)]
    fn defer_more(&mut self, w: Wake) {
        self.crowd().wakes.push(w);
        // SAFETY: see above.
        unsafe { *self.chan.more_wakes.get() = true };
    }

    /// True if the buffer may hold values (else it is never looked at).
    fn uses_buf(&self) -> bool {
        self.state() & (BUFFERED | SPILLED) != 0
    }

    /// Sends now if a receiver waits or the buffer has room (`cap`: the
    /// channel's). With the lock.
    ///
    /// The waiter matching lives in its own functions, out of line, so that
    /// a buffered operation that finds nobody waiting runs a short path.
    #[inline]
    pub(crate) fn try_send(&mut self, cap: usize, value: T) -> Result<(), (T, SendFail)> {
        if self.state() & (CLOSED | NO_RECEIVERS) != 0 {
            return Err((value, SendFail::Closed));
        }
        let value = if self.first(Side::Recv).is_some() {
            match self.hand_to_receiver(value) {
                Ok(()) => return Ok(()),
                Err(v) => v,
            }
        } else {
            value
        };
        if self.state() & BUFFERED != 0 && self.cold().buf.len() < cap {
            self.cold().buf.push_back(value);
            self.mirror_len();
            return Ok(());
        }
        Err((value, SendFail::Full))
    }

    /// Gives `value` to the first waiting receiver that can still take it
    /// (Go's `sendDirect`); back if none could.
    #[inline(never)]
    fn hand_to_receiver(&mut self, value: T) -> Result<(), T> {
        while let Some(w) = self.pop_waiter(Side::Recv) {
            if w.claim() {
                let wake = w.deliver(Some(value));
                self.defer_wake(wake);
                return Ok(());
            }
        }
        Err(value)
    }

    /// Receives now from the buffer or a waiting sender. With the lock.
    #[inline]
    pub(crate) fn try_recv(&mut self) -> Result<T, RecvFail> {
        if self.uses_buf() {
            if let Some(v) = self.cold().buf.pop_front() {
                if self.first(Side::Send).is_some() {
                    self.refill_from_sender();
                }
                self.mirror_len();
                if self.state() & SPILLED != 0 && self.cold().buf.is_empty() {
                    self.clear_state(SPILLED);
                }
                return Ok(v);
            }
        }
        if self.first(Side::Send).is_some() {
            if let Some(v) = self.take_from_sender() {
                return Ok(v);
            }
        }
        if self.state() & CLOSED != 0 {
            Err(RecvFail::Closed)
        } else {
            Err(RecvFail::Empty)
        }
    }

    /// Takes the value of the first waiting sender that can still give it.
    #[inline(never)]
    fn take_from_sender(&mut self) -> Option<T> {
        while let Some(w) = self.pop_waiter(Side::Send) {
            if w.claim() {
                let (v, wake) = w.take();
                self.defer_wake(wake);
                return Some(v);
            }
        }
        None
    }

    /// A buffer slot freed up: the first waiting sender moves into it.
    #[inline(never)]
    fn refill_from_sender(&mut self) {
        if let Some(v) = self.take_from_sender() {
            self.cold().buf.push_back(v);
        }
    }

    pub(crate) fn enqueue_recv(&mut self, w: Waiter<T>) {
        self.push_waiter(Side::Recv, w);
    }

    pub(crate) fn enqueue_send(&mut self, w: Waiter<T>) {
        self.push_waiter(Side::Send, w);
    }

    /// Removes `sel`'s waiters (it stopped waiting). With the lock.
    pub(crate) fn dequeue(&mut self, sel: &Selection) {
        self.remove_waiters(Side::Recv, sel);
        self.remove_waiters(Side::Send, sel);
    }

    /// `close()`: wakes every waiter; receivers see "closed", senders get
    /// their values back. False if it was closed already. With the lock.
    pub(crate) fn close(&mut self) -> bool {
        if self.state() & CLOSED != 0 {
            return false;
        }
        self.set_state(CLOSED);
        self.mirror_set(CLOSED);
        self.fail_all();
        true
    }

    /// The last receiver is gone: pending and future sends fail.
    pub(crate) fn disconnect_receivers(&mut self) {
        self.set_state(NO_RECEIVERS);
        self.mirror_set(NO_RECEIVERS);
        self.fail_senders();
    }

    fn fail_all(&mut self) {
        while let Some(w) = self.pop_waiter(Side::Recv) {
            if w.claim() {
                let wake = w.deliver(None);
                self.defer_wake(wake);
            }
        }
        self.fail_senders();
    }

    /// Every waiting sender gets its value back.
    fn fail_senders(&mut self) {
        while let Some(w) = self.pop_waiter(Side::Send) {
            if w.claim() {
                let wake = w.fail();
                self.defer_wake(wake);
            }
        }
    }

    /// A value received by a future that was dropped before returning it:
    /// hand it to a waiting receiver, else put it back at the head of the
    /// buffer (even past `cap`), so nothing is lost. With the lock.
    pub(crate) fn put_back(&mut self, value: T) {
        let Err(value) = self.hand_to_receiver(value) else {
            return;
        };
        self.cold().buf.push_front(value);
        self.mirror_len();
        self.set_state(SPILLED);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The module docs' layout: what an unbuffered hand-off touches is the
    /// first 64 bytes of the channel, what a buffered one adds the next 64.
    /// (The sizes are a 64-bit target's.)
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_hand_off_touches_the_first_64_bytes() {
        assert_eq!(std::mem::size_of::<Option<Waiter<String>>>(), 24);
        let chan = Chan::<String>::new(0);
        let base = &chan as *const Chan<String> as usize;
        let end = |field: usize, size: usize| field - base + size;
        assert!(end(chan.send_first.get() as usize, 24) <= 64);
        assert!(end(chan.recv_first.get() as usize, 24) <= 64);
        assert!(end(chan.pending.get() as usize, 8) <= 64);
        assert!(end(chan.state.get() as usize, 1) <= 64);
        assert!(end(chan.more_wakes.get() as usize, 1) <= 64);
        assert!(end(&chan.flags as *const AtomicU8 as usize, 1) <= 64);
        // A buffered operation adds the second line only.
        // SAFETY: nobody else has the channel; only an address is taken.
        let buf = unsafe { &(*chan.cold.get()).buf } as *const VecDeque<String> as usize;
        assert!(end(buf, std::mem::size_of::<VecDeque<String>>()) <= 128);
        assert!(end(&chan.len as *const AtomicUsize as usize, 8) <= 128);
        assert!(end(&chan.cap as *const usize as usize, 8) <= 128);
        // 128 bytes in all.
        assert_eq!(std::mem::size_of::<Chan<String>>(), 128);
    }

    /// A receive arm waiting in a channel: its selection and its slot.
    struct Waiting {
        sel: Selection,
        slot: UnsafeCell<Option<u32>>,
    }

    impl Waiting {
        fn new() -> Box<Waiting> {
            // Not exclusive: claims go through the CAS, as a select's do.
            Box::new(Waiting {
                sel: Selection::for_current_wait(false),
                slot: UnsafeCell::new(None),
            })
        }

        fn got(&self) -> Option<u32> {
            // SAFETY: the entry is gone from the channel (claimed or
            // removed), so nobody else touches the slot.
            unsafe { *self.slot.get() }
        }
    }

    fn queue_receivers(chan: &Chan<u32>, waiting: &[Box<Waiting>]) {
        chan.locked(|inner| {
            for w in waiting {
                inner.enqueue_recv(Waiter::new(&w.sel, 0, w.slot.get()));
            }
        });
    }

    /// The mirrors and bits the module invariants tie to the queues.
    fn receivers_waiting(chan: &Chan<u32>) -> (bool, bool, bool) {
        chan.locked(|inner| {
            let more = inner.state() & RECV_MORE != 0;
            let first = inner.first(Side::Recv).is_some();
            (first, more, chan.send_looks_ready())
        })
    }

    /// Receivers queue past the inline first entry and are served in order;
    /// `RECV_MORE` and the `RECV_WAITING` hint follow the queue.
    #[test]
    fn waiters_past_the_first_keep_their_order() {
        let chan = Chan::<u32>::new(0);
        let waiting: Vec<_> = (0..4).map(|_| Waiting::new()).collect();
        assert_eq!(receivers_waiting(&chan), (false, false, false));
        queue_receivers(&chan, &waiting[..1]);
        assert_eq!(receivers_waiting(&chan), (true, false, true));
        queue_receivers(&chan, &waiting[1..]);
        assert_eq!(receivers_waiting(&chan), (true, true, true));
        for (i, w) in waiting.iter().enumerate() {
            chan.locked(|inner| inner.try_send(0, 10 + i as u32))
                .ok()
                .unwrap();
            assert_eq!(w.got(), Some(10 + i as u32));
            let left = i < 3;
            assert_eq!(receivers_waiting(&chan), (left, i < 2, left));
        }
        assert!(chan.locked(|inner| inner.try_send(0, 99)).is_err());
    }

    /// A waiter that stops waiting leaves from the first place, the middle
    /// or the end; the rest keep their order.
    #[test]
    fn removed_waiters_leave_the_rest_in_order() {
        for gone in 0..4 {
            let chan = Chan::<u32>::new(0);
            let waiting: Vec<_> = (0..4).map(|_| Waiting::new()).collect();
            queue_receivers(&chan, &waiting);
            chan.locked(|inner| inner.dequeue(&waiting[gone].sel));
            for v in 0..3 {
                chan.locked(|inner| inner.try_send(0, v)).ok().unwrap();
            }
            let got: Vec<_> = waiting.iter().map(|w| w.got()).collect();
            let mut want = vec![Some(0), Some(1), Some(2)];
            want.insert(gone, None);
            assert_eq!(got, want, "removed #{gone}");
            assert_eq!(receivers_waiting(&chan), (false, false, false));
        }
    }

    /// A value put back on an unbuffered channel waits in the buffer, shows
    /// in `len` and the receive hint, and the next receive takes it.
    #[test]
    fn a_value_put_back_on_an_unbuffered_channel_is_received_next() {
        let chan = Chan::<u32>::new(0);
        chan.locked(|inner| inner.put_back(7));
        assert_eq!(chan.len(), 1);
        assert!(chan.recv_looks_ready());
        assert_eq!(chan.locked(|inner| inner.try_recv()).ok(), Some(7));
        assert_eq!(chan.len(), 0);
        assert!(!chan.recv_looks_ready());
        assert_eq!(chan.locked(|inner| inner.state() & SPILLED), 0);
        assert!(matches!(
            chan.locked(|inner| inner.try_recv()),
            Err(RecvFail::Empty)
        ));
    }

    /// `len` and the hints of a buffered channel follow its buffer.
    #[test]
    fn buffered_mirrors_follow_the_buffer() {
        let chan = Chan::<u32>::new(2);
        assert!(chan.send_looks_ready() && !chan.recv_looks_ready());
        for v in 0..2 {
            chan.locked(|inner| inner.try_send(2, v)).ok().unwrap();
            assert_eq!(chan.len(), v as usize + 1);
        }
        assert!(!chan.send_looks_ready() && chan.recv_looks_ready());
        assert!(chan.locked(|inner| inner.try_send(2, 9)).is_err());
        assert_eq!(chan.locked(|inner| inner.try_recv()).ok(), Some(0));
        assert!(chan.send_looks_ready() && chan.recv_looks_ready());
        assert_eq!(chan.len(), 1);
        chan.locked(|inner| inner.close());
        assert!(chan.is_closed() && chan.send_looks_ready());
        assert_eq!(chan.locked(|inner| inner.try_recv()).ok(), Some(1));
        assert!(matches!(
            chan.locked(|inner| inner.try_recv()),
            Err(RecvFail::Closed)
        ));
    }
}
