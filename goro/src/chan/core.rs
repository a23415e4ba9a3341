//! The channel itself (Go's `hchan`): a FIFO buffer of `cap` values, the
//! wait queues of blocked receivers and senders, and the closed flags, all
//! behind one lock. Blocked operations wait through the runtime's one wait
//! queue ([`runtime::wait`](crate::runtime::wait)): a node per blocked arm,
//! carrying the arm's value [`Slot`].
//!
//! # Invariants (with the lock held)
//!
//! - `buf.len() <= cap`; for `cap == 0` the buffer stays empty and every
//!   value goes straight from a sender's slot to a receiver's slot (Go's
//!   `sendDirect`), except one put back by a dropped receive future, which
//!   sets `SPILLED` until the receive that empties the buffer again.
//!   Without `BUFFERED` or `SPILLED` the buffer is empty and never looked at.
//! - The lock-free mirrors agree with the state whenever the lock is free:
//!   `flags` has `CLOSED`/`NO_RECEIVERS` as `state` has them, and
//!   `RECV_WAITING`/`SEND_WAITING` exactly when that queue is non-empty;
//!   `len` is `buf.len()`. They are written where the state changes (an
//!   unlock recomputes nothing), and read without the lock as hints only.
//! - If the receive queue holds a live waiter, the buffer is empty; if the
//!   send queue holds a live waiter, the buffer is full. (Nodes whose waiter
//!   already committed elsewhere may linger until their owner removes them;
//!   every claim skips them.)
//! - A queued sender's slot holds its value; a queued receiver's is empty.
//! - `CLOSED` never goes away. Once set, no waiter is ever queued:
//!   receivers drain the buffer and then see "closed"; senders fail at once
//!   and get their value back.
//! - `NO_RECEIVERS` means every `Receiver` was dropped: sends fail, with the
//!   value given back.
//!
//! # Why one lock
//!
//! Go's channels take one lock per operation, and `select` locks every
//! channel it involves (in address order) to decide atomically. A lock-free
//! ring (crossbeam's `array` flavor) is faster for buffered throughput under
//! contention, but makes "exactly one arm commits" a multi-word protocol. The
//! lock itself is a spin-then-yield lock with a store for unlock
//! (`chan::lock`), since nothing is ever done under it but moving a value and
//! a few queue links.
//!
//! # Layout: 64 bytes for a hand-off
//!
//! An unbuffered hand-off touches only the channel's first 64 bytes: the
//! lock, the flags and state bits, the deferred wake-ups and both wait
//! queues (two pointers each: the nodes live with their waiters). A buffered
//! operation adds the next 64 (`cap`, `len`, the buffer). Not aligned to a
//! cache line: `#[repr(align(64))]` sends the `Arc` through `memalign`, which
//! costs more than the alignment gains. Figures and the layouts tried:
//! `docs/decisions/channel-layout.md`.

use std::collections::VecDeque;

use crate::chan::lock::ChanLock;
use crate::loom::{AtomicU32, AtomicU8, AtomicUsize, Ordering, UnsafeCell};
use crate::runtime::wait::{Claimed, Node, WaitQueue, Waiter, Wake, Wakes};

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

/// Where one arm's value travels (the payload of its wait-queue node): a
/// blocked sender's value waits in it, a blocked receiver's value arrives
/// in it. Its owner is the arm; a claimer has it between claim and finish.
pub(crate) struct Slot<T>(UnsafeCell<Option<T>>);

impl<T> Slot<T> {
    pub(crate) fn new(value: Option<T>) -> Slot<T> {
        Slot(UnsafeCell::new(value))
    }

    /// Runs `f` on the value.
    ///
    /// # Safety
    /// Only the slot's owner, while no claimer can reach it: its node is in
    /// no queue (never queued, or removed, or its waiter saw `DONE`), or the
    /// caller holds the lock of the channel it is queued on.
    #[inline]
    pub(crate) unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut Option<T>) -> R) -> R {
        // SAFETY: by the contract, nobody else touches the value meanwhile.
        self.0.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// The value, for an owner that holds the slot by value.
    pub(crate) fn into_inner(self) -> Option<T> {
        self.0.into_inner()
    }
}

impl<T> Claimed<'_, Slot<T>> {
    /// Hands `value` to a claimed receiver.
    #[inline]
    fn put(&self, value: T) {
        // SAFETY: claimed: the slot is the claimer's until `finish`, and a
        // queued receiver's is empty (module invariants).
        unsafe { self.payload().with_mut(|s| *s = Some(value)) };
    }

    /// Takes a claimed sender's value.
    #[inline]
    fn take(&self) -> T {
        // SAFETY: claimed: the slot is the claimer's until `finish`.
        let v = unsafe { self.payload().with_mut(Option::take) };
        v.expect("queued sender without a value")
    }
}

/// A wait-queue node of a channel operation.
pub(crate) type ChanNode<T> = Node<Slot<T>>;

#[repr(C)]
pub struct Chan<T> {
    // The first 64 bytes: all an unbuffered hand-off touches (module docs).
    lock: ChanLock,
    /// `CLOSED`, `NO_RECEIVERS`, `RECV_WAITING`, `SEND_WAITING`: a mirror
    /// of the state for lock-free hints (`select`'s fast path, `is_closed`),
    /// never trusted alone. Written under the lock where the state changes.
    flags: AtomicU8,
    /// `CLOSED`, `NO_RECEIVERS`, `BUFFERED`, `SPILLED`.
    state: UnsafeCell<u8>,
    /// The wake-ups decided under the lock, run by whoever unlocks.
    wakes: UnsafeCell<Wakes>,
    recvq: UnsafeCell<WaitQueue<Slot<T>>>,
    sendq: UnsafeCell<WaitQueue<Slot<T>>>,
    // The next 64 bytes: what a buffered operation adds.
    cap: usize,
    /// Mirror of `buf.len()`, for `len()` and the hints without the lock;
    /// written under the lock wherever the buffer changes.
    len: AtomicUsize,
    buf: UnsafeCell<VecDeque<T>>,
    /// Live `Sender`s and `Receiver`s.
    pub(crate) senders: AtomicU32,
    pub(crate) receivers: AtomicU32,
    /// Under loom, the channel's place in creation order: the lock order a
    /// model can replay (addresses may differ from one execution to the
    /// next, and loom needs each to make the same choices).
    #[cfg(loom)]
    seq: usize,
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
            wakes: UnsafeCell::new(Wakes::new()),
            recvq: UnsafeCell::new(WaitQueue::new()),
            sendq: UnsafeCell::new(WaitQueue::new()),
            cap,
            len: AtomicUsize::new(0),
            buf: UnsafeCell::new(VecDeque::with_capacity(cap.min(1024))),
            senders: AtomicU32::new(1),
            receivers: AtomicU32::new(1),
            #[cfg(loom)]
            seq: {
                static NEXT: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
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
    #[cfg(not(loom))]
    pub(crate) fn id(&self) -> usize {
        self as *const Self as *const () as usize
    }

    /// Under loom, creation order (see `seq`).
    #[cfg(loom)]
    pub(crate) fn id(&self) -> usize {
        self.seq
    }

    /// Runs `f` with the lock held, then carries out the wake-ups it decided.
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
        // SAFETY: the lock is held (contract): the cell is ours.
        let (first, more) = self.wakes.with_mut(|w| unsafe {
            let w = &mut *w;
            (w.take_first(), w.has_more())
        });
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

    /// `raw_unlock` when more than one goroutine, or a thread's or an async
    /// task's waker, is to be woken: unlocks and runs them.
    ///
    /// # Safety
    /// As for `raw_unlock`.
    #[cold]
    #[inline(never)]
    unsafe fn unlock_with_more_wakes(&self) {
        // SAFETY: the lock is held (contract).
        let rest = self.wakes.with_mut(|w| unsafe { (*w).take_more() });
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
        self.chan.state.with(|s| unsafe { *s })
    }

    fn set_state(&mut self, bits: u8) {
        // SAFETY: see above.
        self.chan.state.with_mut(|s| unsafe { *s |= bits });
    }

    fn clear_state(&mut self, bits: u8) {
        // SAFETY: see above.
        self.chan.state.with_mut(|s| unsafe { *s &= !bits });
    }

    fn buf(&mut self) -> &mut VecDeque<T> {
        // SAFETY: see above.
        self.chan.buf.with_mut(|b| unsafe { &mut *b })
    }

    fn queue(&mut self, side: Side) -> &mut WaitQueue<Slot<T>> {
        let cell = match side {
            Side::Recv => &self.chan.recvq,
            Side::Send => &self.chan.sendq,
        };
        // SAFETY: see above.
        cell.with_mut(|q| unsafe { &mut *q })
    }

    fn wakes(&mut self) -> &mut Wakes {
        // SAFETY: see above.
        self.chan.wakes.with_mut(|w| unsafe { &mut *w })
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
        let n = self.buf().len();
        self.chan.len.store(n, Ordering::Relaxed);
    }

    /// After a queue lost nodes: clears its "waiting" bit once it is empty.
    #[inline]
    fn mirror_queue_left(&mut self, side: Side) {
        if self.queue(side).is_empty() {
            self.mirror_clear(Self::waiting(side));
        }
    }

    /// Keeps a wake-up for the unlock.
    #[inline]
    fn defer_wake(&mut self, wake: Option<Wake>) {
        self.wakes().defer(wake);
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
        let value = if !self.queue(Side::Recv).is_empty() {
            match self.hand_to_receiver(value) {
                Ok(()) => return Ok(()),
                Err(v) => v,
            }
        } else {
            value
        };
        if self.state() & BUFFERED != 0 && self.buf().len() < cap {
            self.buf().push_back(value);
            self.mirror_len();
            return Ok(());
        }
        Err((value, SendFail::Full))
    }

    /// Gives `value` to the first waiting receiver that can still take it
    /// (Go's `sendDirect`); back if none could.
    #[inline(never)]
    fn hand_to_receiver(&mut self, value: T) -> Result<(), T> {
        let wake = match self.queue(Side::Recv).claim_first() {
            Some(receiver) => {
                receiver.put(value);
                receiver.finish()
            }
            None => {
                self.mirror_queue_left(Side::Recv);
                return Err(value);
            }
        };
        self.mirror_queue_left(Side::Recv);
        self.defer_wake(wake);
        Ok(())
    }

    /// Receives now from the buffer or a waiting sender. With the lock.
    #[inline]
    pub(crate) fn try_recv(&mut self) -> Result<T, RecvFail> {
        if self.uses_buf() {
            if let Some(v) = self.buf().pop_front() {
                if !self.queue(Side::Send).is_empty() {
                    self.refill_from_sender();
                }
                self.mirror_len();
                if self.state() & SPILLED != 0 && self.buf().is_empty() {
                    self.clear_state(SPILLED);
                }
                return Ok(v);
            }
        }
        if !self.queue(Side::Send).is_empty() {
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
        let (value, wake) = match self.queue(Side::Send).claim_first() {
            Some(sender) => {
                let v = sender.take();
                (v, sender.finish())
            }
            None => {
                self.mirror_queue_left(Side::Send);
                return None;
            }
        };
        self.mirror_queue_left(Side::Send);
        self.defer_wake(wake);
        Some(value)
    }

    /// A buffer slot freed up: the first waiting sender moves into it.
    #[inline(never)]
    fn refill_from_sender(&mut self) {
        if let Some(v) = self.take_from_sender() {
            self.buf().push_back(v);
        }
    }

    /// Queues a receive arm. With the lock.
    ///
    /// # Safety
    /// As [`WaitQueue::push`]: `node` is in no queue, and it and `waiter`
    /// stay alive and in place until the node leaves the queue.
    #[inline]
    pub(crate) unsafe fn enqueue_recv(&mut self, node: &ChanNode<T>, waiter: &Waiter, arm: usize) {
        // SAFETY: by the contract; the channel (and so the queue) stays in
        // place in its `Arc`.
        unsafe { self.queue(Side::Recv).push(node, waiter, arm) };
        self.mirror_set(RECV_WAITING);
    }

    /// Queues a send arm, whose slot holds its value. With the lock.
    ///
    /// # Safety
    /// As for [`Inner::enqueue_recv`].
    #[inline]
    pub(crate) unsafe fn enqueue_send(&mut self, node: &ChanNode<T>, waiter: &Waiter, arm: usize) {
        // SAFETY: as in `enqueue_recv`.
        unsafe { self.queue(Side::Send).push(node, waiter, arm) };
        self.mirror_set(SEND_WAITING);
    }

    /// Takes a receive arm's node out of the queue if it is still there.
    ///
    /// # Safety
    /// `node` was queued with [`Inner::enqueue_recv`] on this channel.
    pub(crate) unsafe fn dequeue_recv(&mut self, node: &ChanNode<T>) {
        // SAFETY: pushed on this queue (contract).
        unsafe { self.queue(Side::Recv).remove(node) };
        self.mirror_queue_left(Side::Recv);
    }

    /// Takes a send arm's node out of the queue if it is still there.
    ///
    /// # Safety
    /// `node` was queued with [`Inner::enqueue_send`] on this channel.
    pub(crate) unsafe fn dequeue_send(&mut self, node: &ChanNode<T>) {
        // SAFETY: pushed on this queue (contract).
        unsafe { self.queue(Side::Send).remove(node) };
        self.mirror_queue_left(Side::Send);
    }

    /// `close()`: wakes every waiter; receivers see "closed", senders get
    /// their values back. False if it was closed already. With the lock.
    pub(crate) fn close(&mut self) -> bool {
        if self.state() & CLOSED != 0 {
            return false;
        }
        self.set_state(CLOSED);
        self.mirror_set(CLOSED);
        self.fail_all(Side::Recv);
        self.fail_all(Side::Send);
        true
    }

    /// The last receiver is gone: pending and future sends fail.
    pub(crate) fn disconnect_receivers(&mut self) {
        self.set_state(NO_RECEIVERS);
        self.mirror_set(NO_RECEIVERS);
        self.fail_all(Side::Send);
    }

    /// Completes every waiter of `side` without moving anything: a receiver
    /// sees "closed" (its slot stays empty), a sender keeps its value.
    fn fail_all(&mut self, side: Side) {
        while let Some(waiter) = self.queue(side).claim_first() {
            let wake = waiter.finish();
            self.defer_wake(wake);
        }
        self.mirror_clear(Self::waiting(side));
    }

    /// A value received by a future that was dropped before returning it:
    /// hand it to a waiting receiver, else put it back at the head of the
    /// buffer (even past `cap`), so nothing is lost. With the lock.
    pub(crate) fn put_back(&mut self, value: T) {
        let Err(value) = self.hand_to_receiver(value) else {
            return;
        };
        self.buf().push_front(value);
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
        let chan = Chan::<String>::new(0);
        let base = &chan as *const Chan<String> as usize;
        let end = |field: usize, size: usize| field - base + size;
        let queue = std::mem::size_of::<WaitQueue<Slot<String>>>();
        assert_eq!(queue, 16);
        assert!(end(chan.sendq.with(|q| q as usize), queue) <= 64);
        assert!(end(chan.recvq.with(|q| q as usize), queue) <= 64);
        let wakes = std::mem::size_of::<Wakes>();
        assert!(end(chan.wakes.with(|w| w as usize), wakes) <= 64);
        assert!(end(chan.state.with(|s| s as usize), 1) <= 64);
        assert!(end(&chan.flags as *const AtomicU8 as usize, 1) <= 64);
        // A buffered operation adds the second line only.
        let buf = chan.buf.with(|b| b as usize);
        assert!(end(buf, std::mem::size_of::<VecDeque<String>>()) <= 128);
        assert!(end(&chan.len as *const AtomicUsize as usize, 8) <= 128);
        assert!(end(&chan.cap as *const usize as usize, 8) <= 128);
        assert!(std::mem::size_of::<Chan<String>>() <= 128);
    }

    /// A receive arm waiting in a channel: its waiter and its node.
    struct Waiting {
        waiter: Waiter,
        node: ChanNode<u32>,
    }

    impl Waiting {
        fn new() -> Box<Waiting> {
            // Not exclusive: claims go through the CAS, as a select's do.
            Box::new(Waiting {
                waiter: Waiter::for_current_wait(false),
                node: Node::new(Slot::new(None)),
            })
        }

        fn got(&self) -> Option<u32> {
            // SAFETY: the node is out of the channel (claimed or removed),
            // so nobody else touches the slot.
            unsafe { self.node.payload().with_mut(|s| *s) }
        }
    }

    fn queue_receivers(chan: &Chan<u32>, waiting: &[Box<Waiting>]) {
        chan.locked(|inner| {
            for w in waiting {
                // SAFETY: the boxes outlive the test's use of the channel.
                unsafe { inner.enqueue_recv(&w.node, &w.waiter, 0) };
            }
        });
    }

    /// Receivers are served in order; the `RECV_WAITING` hint follows the
    /// queue.
    #[test]
    fn waiters_keep_their_order_and_the_hint_follows() {
        let chan = Chan::<u32>::new(0);
        let waiting: Vec<_> = (0..4).map(|_| Waiting::new()).collect();
        assert!(!chan.send_looks_ready());
        queue_receivers(&chan, &waiting);
        assert!(chan.send_looks_ready());
        for (i, w) in waiting.iter().enumerate() {
            chan.locked(|inner| inner.try_send(0, 10 + i as u32))
                .ok()
                .unwrap();
            assert_eq!(w.got(), Some(10 + i as u32));
            assert_eq!(chan.send_looks_ready(), i < 3);
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
            // SAFETY: queued on this channel just above.
            chan.locked(|inner| unsafe { inner.dequeue_recv(&waiting[gone].node) });
            for v in 0..3 {
                chan.locked(|inner| inner.try_send(0, v)).ok().unwrap();
            }
            let got: Vec<_> = waiting.iter().map(|w| w.got()).collect();
            let mut want = vec![Some(0), Some(1), Some(2)];
            want.insert(gone, None);
            assert_eq!(got, want, "removed #{gone}");
            assert!(!chan.send_looks_ready());
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
