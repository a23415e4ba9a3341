//! The channel itself (Go's `hchan`): a FIFO buffer of `cap` values, the
//! queues of blocked receivers and senders, and the closed flags, all behind
//! one lock.
//!
//! # Invariants (with the lock held)
//!
//! - `buf.len() <= cap`; for `cap == 0` the buffer stays empty and every
//!   value goes straight from a sender's slot to a receiver's slot (Go's
//!   `sendDirect`), except one put back by a dropped receive future.
//! - If `recvq` holds a live waiter, the buffer is empty; if `sendq` holds a
//!   live waiter, the buffer is full. (Entries whose selection already
//!   committed elsewhere may linger until their owner removes them; every
//!   scan skips them after a failed claim.)
//! - `closed` never goes back to false. Once set, no waiter is ever queued:
//!   receivers drain the buffer and then see "closed"; senders fail at once
//!   and get their value back.
//! - `receivers_gone` means every `Receiver` was dropped: sends fail, with
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

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

const CLOSED: u8 = 1;
const RECV_READY: u8 = 2;
const SEND_READY: u8 = 4;
/// Every receiver is gone: sends fail at once.
const NO_RECEIVERS: u8 = 8;

use crate::chan::lock::ChanLock;

use crate::chan::waiter::{Selection, Waiter, Wakes};

#[doc(hidden)]
pub struct Chan<T> {
    lock: ChanLock,
    inner: UnsafeCell<Inner<T>>,
    cap: usize,
    /// Mirror of `buf.len()`, for `len()` without the lock.
    len: AtomicUsize,
    /// `CLOSED`, `RECV_READY`, `SEND_READY`: what the state looked like at
    /// the last unlock. Hints for `select`'s fast path, never trusted alone.
    flags: AtomicU8,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
}

// SAFETY: `inner` is only touched with `lock` held; values cross threads,
// hence `T: Send`.
unsafe impl<T: Send> Sync for Chan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Chan<T> {}

pub(crate) struct Inner<T> {
    buf: VecDeque<T>,
    closed: bool,
    receivers_gone: bool,
    recvq: VecDeque<Waiter<T>>,
    sendq: VecDeque<Waiter<T>>,
    /// Wake-ups decided under the lock, run by the unlocker after it.
    wakes: Wakes,
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
            inner: UnsafeCell::new(Inner {
                buf: VecDeque::with_capacity(cap.min(1024)),
                closed: false,
                receivers_gone: false,
                recvq: VecDeque::new(),
                sendq: VecDeque::new(),
                wakes: Wakes::default(),
            }),
            cap,
            len: AtomicUsize::new(0),
            flags: AtomicU8::new(if cap > 0 { SEND_READY } else { 0 }),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
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
        self.flags.load(Ordering::Relaxed) & (RECV_READY | CLOSED) != 0
    }

    /// Lock-free hint: a send would likely complete (or fail) now.
    pub(crate) fn send_looks_ready(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & (SEND_READY | CLOSED | NO_RECEIVERS) != 0
    }

    /// The channel's address: the order in which `select` locks channels.
    pub(crate) fn id(&self) -> usize {
        self as *const Self as *const () as usize
    }

    /// Runs `f` with the lock held.
    pub(crate) fn locked<R>(&self, f: impl FnOnce(&mut Inner<T>) -> R) -> R {
        self.lock.lock();
        // SAFETY: the lock is held, so `inner` is ours until `unlock`.
        let r = f(unsafe { &mut *self.inner.get() });
        // SAFETY: locked above, by this thread.
        unsafe { self.raw_unlock() };
        r
    }

    /// Takes the lock for `select`, which holds several at once.
    pub(crate) fn raw_lock(&self) {
        self.lock.lock();
    }

    /// Releases a lock taken by [`Chan::raw_lock`].
    ///
    /// # Safety
    /// The caller holds the lock, taken by `raw_lock` on this thread.
    pub(crate) unsafe fn raw_unlock(&self) {
        self.sync_mirrors();
        // SAFETY: the lock is held (contract): `inner` is ours.
        let pending = unsafe { &mut (*self.inner.get()).wakes };
        if pending.is_empty() {
            // SAFETY: by the contract.
            unsafe { self.lock.unlock() };
            return;
        }
        let wakes = pending.take();
        // SAFETY: by the contract.
        unsafe { self.lock.unlock() };
        wakes.run();
    }

    /// The state, for a caller holding the lock through `raw_lock`.
    ///
    /// # Safety
    /// The caller holds the lock and keeps no other reference to `Inner`.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn inner_locked(&self) -> &mut Inner<T> {
        // SAFETY: by the contract.
        unsafe { &mut *self.inner.get() }
    }

    /// With the lock held: refresh the lock-free mirrors.
    fn sync_mirrors(&self) {
        // SAFETY: the caller holds the lock.
        let inner = unsafe { &*self.inner.get() };
        self.len.store(inner.buf.len(), Ordering::Relaxed);
        let mut flags = 0;
        if inner.closed {
            flags |= CLOSED;
        }
        if inner.receivers_gone {
            flags |= NO_RECEIVERS;
        }
        if !inner.buf.is_empty() || !inner.sendq.is_empty() {
            flags |= RECV_READY;
        }
        if inner.buf.len() < self.cap || !inner.recvq.is_empty() {
            flags |= SEND_READY;
        }
        self.flags.store(flags, Ordering::Release);
    }
}

impl<T> Inner<T> {
    /// Sends now if a receiver waits or the buffer has room. With the lock.
    pub(crate) fn try_send(&mut self, cap: usize, value: T) -> Result<(), (T, SendFail)> {
        if self.closed || self.receivers_gone {
            return Err((value, SendFail::Closed));
        }
        while let Some(w) = self.recvq.pop_front() {
            if w.claim() {
                w.deliver(Some(value), &mut self.wakes);
                return Ok(());
            }
        }
        if self.buf.len() < cap {
            self.buf.push_back(value);
            return Ok(());
        }
        Err((value, SendFail::Full))
    }

    /// Receives now from the buffer or a waiting sender. With the lock.
    pub(crate) fn try_recv(&mut self) -> Result<T, RecvFail> {
        if let Some(v) = self.buf.pop_front() {
            // A slot freed up: the first waiting sender moves into it.
            while let Some(w) = self.sendq.pop_front() {
                if w.claim() {
                    self.buf.push_back(w.take(&mut self.wakes));
                    break;
                }
            }
            return Ok(v);
        }
        while let Some(w) = self.sendq.pop_front() {
            if w.claim() {
                return Ok(w.take(&mut self.wakes));
            }
        }
        if self.closed {
            Err(RecvFail::Closed)
        } else {
            Err(RecvFail::Empty)
        }
    }

    pub(crate) fn enqueue_recv(&mut self, w: Waiter<T>) {
        self.recvq.push_back(w);
    }

    pub(crate) fn enqueue_send(&mut self, w: Waiter<T>) {
        self.sendq.push_back(w);
    }

    /// Removes `sel`'s waiters (it stopped waiting). With the lock.
    pub(crate) fn dequeue(&mut self, sel: &Selection) {
        self.recvq.retain(|w| !w.belongs_to(sel));
        self.sendq.retain(|w| !w.belongs_to(sel));
    }

    /// `close()`: wakes every waiter; receivers see "closed", senders get
    /// their values back. False if it was closed already. With the lock.
    pub(crate) fn close(&mut self) -> bool {
        if self.closed {
            return false;
        }
        self.closed = true;
        self.fail_all();
        true
    }

    /// The last receiver is gone: pending and future sends fail.
    pub(crate) fn disconnect_receivers(&mut self) {
        self.receivers_gone = true;
        for w in std::mem::take(&mut self.sendq) {
            if w.claim() {
                w.fail(&mut self.wakes);
            }
        }
    }

    fn fail_all(&mut self) {
        for w in std::mem::take(&mut self.recvq) {
            if w.claim() {
                w.deliver(None, &mut self.wakes);
            }
        }
        for w in std::mem::take(&mut self.sendq) {
            if w.claim() {
                w.fail(&mut self.wakes);
            }
        }
    }

    /// A value received by a future that was dropped before returning it:
    /// hand it to a waiting receiver, else put it back at the head of the
    /// buffer (even past `cap`), so nothing is lost. With the lock.
    pub(crate) fn put_back(&mut self, value: T) {
        while let Some(w) = self.recvq.pop_front() {
            if w.claim() {
                w.deliver(Some(value), &mut self.wakes);
                return;
            }
        }
        self.buf.push_front(value);
    }
}
