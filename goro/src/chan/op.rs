//! One channel operation: a receive ([`RecvOp`]) or a send ([`SendOp`]),
//! run alone ([`send`] and [`recv`]: `Sender::send`, `Receiver::recv` and
//! their timed forms) or as one arm of a `select` (the `select` module runs a
//! set of them through [`Op`]). Each owns its wait-queue node, whose slot is
//! where its value travels, so a value is never in two places and never
//! lost: a failed send keeps its value in its slot and gives it back.
//!
//! The lone path and `select` share everything below them (the channel, the
//! runtime's wait queue); `chan` does not depend on `select`.

use std::cell::Cell;
use std::time::Instant;

use crate::chan::core::{Chan, ChanNode, RecvFail, SendFail, Slot};
use crate::chan::{Receiver, SendError, Sender};
use crate::runtime::wait::{Node, Waiter, Woken};

/// One operation as `select` and the lone operations drive it.
///
/// # Safety
/// Implementors promise that `chan_id` is the address of the one channel
/// that every other method uses (or `None`, and then `try_now`, `enqueue`
/// and `dequeue` do nothing), since `select` locks each channel once, by
/// that address, before calling the methods that need the lock. Only the
/// two operations below implement it; the trait is crate-private.
pub(crate) unsafe trait Op {
    /// The channel's address, or `None` for a switched-off arm.
    fn chan_id(&self) -> Option<usize>;
    /// Locks the operation's channel.
    fn lock(&self);
    /// # Safety
    /// The caller locked the channel with `lock`, on this thread.
    unsafe fn unlock(&self);
    /// Completes now if possible (received, sent, or failed on a closed
    /// channel).
    ///
    /// # Safety
    /// The channel is locked, and the operation's node is in no queue.
    unsafe fn try_now(&self) -> bool;
    /// Queues the operation's node as arm `arm` of `waiter`.
    ///
    /// # Safety
    /// The channel is locked; the node is in no queue; `waiter` and `self`
    /// stay alive and in place until the node is claimed or dequeued.
    unsafe fn enqueue(&self, waiter: &Waiter, arm: usize);
    /// Takes the node out of the channel's queue if it is still there.
    ///
    /// # Safety
    /// The channel is locked, and the node was queued by `enqueue` (it may
    /// have been claimed since).
    unsafe fn dequeue(&self);
    /// Lock-free hint that `try_now` would succeed. Used to skip locking
    /// every channel when one arm is plainly ready; never trusted without
    /// the lock.
    fn looks_ready(&self) -> bool;
    /// A receive that holds a value nobody took yet. Only between runs (its
    /// node is in no queue, so nobody writes its slot).
    fn holds_value(&self) -> bool {
        false
    }
}

/// An operation's `lock` (nothing for a switched-off one).
#[inline]
fn lock_chan<T>(chan: Option<&Chan<T>>) {
    if let Some(c) = chan {
        c.raw_lock();
    }
}

/// An operation's `unlock` (nothing for a switched-off one).
///
/// # Safety
/// The caller locked `chan` with `lock_chan`, on this thread.
#[inline]
unsafe fn unlock_chan<T>(chan: Option<&Chan<T>>) {
    if let Some(c) = chan {
        // SAFETY: by the contract.
        unsafe { c.raw_unlock() };
    }
}

/// A receive: `rx.recv()`, or the arm `recv(rx) -> v` of a select.
pub struct RecvOp<'a, T> {
    chan: Option<&'a Chan<T>>,
    node: ChanNode<T>,
}

impl<'a, T> RecvOp<'a, T> {
    /// A receive from `source` (`None` switches it off).
    pub fn new<S: RecvSource<T> + ?Sized>(source: &'a S) -> Self {
        Self::on(source.recv_chan())
    }

    pub(crate) fn on(chan: Option<&'a Chan<T>>) -> Self {
        RecvOp {
            chan,
            node: Node::new(Slot::new(None)),
        }
    }

    /// The received value, or `None` if the channel is closed and drained.
    pub fn into_result(self) -> Option<T> {
        self.node.into_payload().into_inner()
    }

    /// Takes the received value, leaving the operation ready to run again.
    /// Only between runs.
    pub(crate) fn take(&mut self) -> Option<T> {
        // SAFETY: `&mut self`: the node is in no queue (every run dequeues
        // before returning), so nobody else reaches the slot.
        unsafe { self.node.payload().with_mut(Option::take) }
    }
}

// SAFETY: every method uses `self.chan`, whose address `chan_id` returns.
unsafe impl<T> Op for RecvOp<'_, T> {
    fn chan_id(&self) -> Option<usize> {
        self.chan.map(Chan::id)
    }

    #[inline]
    fn lock(&self) {
        lock_chan(self.chan);
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: locked by `lock`, per the contract.
        unsafe { unlock_chan(self.chan) };
    }

    #[inline]
    unsafe fn try_now(&self) -> bool {
        let Some(c) = self.chan else { return false };
        // SAFETY: the channel is locked (contract).
        let mut inner = unsafe { c.inner_locked() };
        match inner.try_recv() {
            Ok(v) => {
                // SAFETY: the node is in no queue (contract).
                unsafe { self.node.payload().with_mut(|s| *s = Some(v)) };
                true
            }
            Err(RecvFail::Closed) => true,
            Err(RecvFail::Empty) => false,
        }
    }

    #[inline]
    unsafe fn enqueue(&self, waiter: &Waiter, arm: usize) {
        if let Some(c) = self.chan {
            // SAFETY: locked, and the node and waiter stay put (contract).
            unsafe { c.inner_locked().enqueue_recv(&self.node, waiter, arm) };
        }
    }

    unsafe fn dequeue(&self) {
        if let Some(c) = self.chan {
            // SAFETY: locked, and queued here by `enqueue` (contract).
            unsafe { c.inner_locked().dequeue_recv(&self.node) };
        }
    }

    fn looks_ready(&self) -> bool {
        self.chan.is_some_and(Chan::recv_looks_ready)
    }

    fn holds_value(&self) -> bool {
        // SAFETY: between runs the node is in no queue (trait docs).
        unsafe { self.node.payload().with_mut(|s| s.is_some()) }
    }
}

/// A send: `tx.send(v)`, or the arm `send(tx, v) -> r` of a select.
pub struct SendOp<'a, T> {
    chan: Option<&'a Chan<T>>,
    cap: usize,
    node: ChanNode<T>,
    /// The value was offered: an empty slot then means "sent". Cleared once
    /// the result is taken (a dynamic select's spent send arm stays off).
    armed: Cell<bool>,
}

impl<'a, T> SendOp<'a, T> {
    /// A send of `value` to `target` (`None` switches it off).
    pub fn new<S: SendSource<T> + ?Sized>(target: &'a S, value: T) -> Self {
        Self::on(target.send_chan(), value)
    }

    pub(crate) fn on(chan: Option<&'a Chan<T>>, value: T) -> Self {
        SendOp {
            cap: chan.map_or(0, Chan::cap),
            chan,
            node: Node::new(Slot::new(Some(value))),
            armed: Cell::new(true),
        }
    }

    /// `Ok` if the value was sent; else the value comes back.
    pub fn into_result(self) -> Result<(), SendError<T>> {
        match self.node.into_payload().into_inner() {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        }
    }

    /// The result, once; the operation stays off afterwards. Only between
    /// runs.
    pub(crate) fn take_result(&mut self) -> Result<(), SendError<T>> {
        self.armed.set(false);
        // SAFETY: `&mut self`: the node is in no queue (as in `RecvOp::take`).
        match unsafe { self.node.payload().with_mut(Option::take) } {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        }
    }
}

// SAFETY: every method uses `self.chan`, whose address `chan_id` returns
// (or `None` once disarmed, and then the arm is never run).
unsafe impl<T> Op for SendOp<'_, T> {
    fn chan_id(&self) -> Option<usize> {
        self.chan.filter(|_| self.armed.get()).map(Chan::id)
    }

    fn looks_ready(&self) -> bool {
        self.armed.get() && self.chan.is_some_and(Chan::send_looks_ready)
    }

    #[inline]
    fn lock(&self) {
        lock_chan(self.chan);
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: locked by `lock`, per the contract.
        unsafe { unlock_chan(self.chan) };
    }

    #[inline]
    unsafe fn try_now(&self) -> bool {
        let Some(c) = self.chan else { return false };
        // SAFETY: the channel is locked (contract).
        let mut inner = unsafe { c.inner_locked() };
        // SAFETY: the node is in no queue (contract): the slot is ours.
        unsafe {
            self.node.payload().with_mut(|slot| {
                let Some(v) = slot.take() else { return false };
                match inner.try_send(self.cap, v) {
                    Ok(()) => true,
                    Err((v, SendFail::Closed)) => {
                        *slot = Some(v);
                        true
                    }
                    Err((v, SendFail::Full)) => {
                        *slot = Some(v);
                        false
                    }
                }
            })
        }
    }

    #[inline]
    unsafe fn enqueue(&self, waiter: &Waiter, arm: usize) {
        if let Some(c) = self.chan {
            // SAFETY: locked, and the node and waiter stay put (contract).
            unsafe { c.inner_locked().enqueue_send(&self.node, waiter, arm) };
        }
    }

    unsafe fn dequeue(&self) {
        if let Some(c) = self.chan {
            // SAFETY: locked, and queued here by `enqueue` (contract).
            unsafe { c.inner_locked().dequeue_send(&self.node) };
        }
    }
}

/// A lone send (`Sender::send` and its timed forms), in one lock round: it
/// tries with the bare value, and only if it must wait builds its operation
/// and queues it under the same lock. `Err((v, true))`: failed (closed, or no
/// receiver left), `Err((v, false))`: timed out; the value comes back.
#[inline(always)]
pub(crate) fn send<T>(
    chan: &Chan<T>,
    value: T,
    deadline: Option<Instant>,
) -> Result<(), (T, bool)> {
    chan.raw_lock();
    // SAFETY: locked just above; the view is gone before the unlock.
    let tried = unsafe { chan.inner_locked() }.try_send(chan.cap(), value);
    let value = match tried {
        Err((v, SendFail::Full)) => v,
        done => {
            // SAFETY: locked above, by this thread.
            unsafe { chan.raw_unlock() };
            return done.map_err(|(v, _)| (v, true));
        }
    };
    let op = SendOp::on(Some(chan), value);
    // SAFETY: the lock is held and the operation is new.
    let completed = unsafe { wait_locked(&op, deadline) };
    op.into_result().map_err(|SendError(v)| (v, completed))
}

/// A lone receive (`Receiver::recv` and its timed forms), in one lock round
/// (as [`send`]). `Err(true)`: closed and drained, `Err(false)`: timed out.
#[inline(always)]
pub(crate) fn recv<T>(chan: &Chan<T>, deadline: Option<Instant>) -> Result<T, bool> {
    chan.raw_lock();
    // SAFETY: locked just above; the view is gone before the unlock.
    let tried = unsafe { chan.inner_locked() }.try_recv();
    if !matches!(tried, Err(RecvFail::Empty)) {
        // SAFETY: locked above, by this thread.
        unsafe { chan.raw_unlock() };
        return tried.map_err(|_| true);
    }
    let op = RecvOp::on(Some(chan));
    // SAFETY: the lock is held and the operation is new.
    let completed = unsafe { wait_locked(&op, deadline) };
    op.into_result().ok_or(completed)
}

/// The waiting half of a lone operation (`send`, `recv` and their timed
/// forms), for a caller that locked the operation's channel and found that
/// it cannot complete now: queues the operation, unlocks, and blocks until
/// it completes or `deadline` passes. True if it completed (sent, received,
/// or failed on a closed channel), false if it timed out (and then it left
/// no trace in the channel).
///
/// The callers try first with a bare value and build the operation only
/// here: its node's stores would otherwise sit in the store buffer in front
/// of the lock's atomic on every operation that does not wait
/// (`docs/decisions/wait-queue.md`).
///
/// # Safety
/// The caller holds the lock of `op`'s channel (taken with `op.lock()` or
/// the channel's `raw_lock`, on this thread) and `op` was never queued.
#[inline(always)]
unsafe fn wait_locked<O: Op>(op: &O, deadline: Option<Instant>) -> bool {
    let waiter = Waiter::for_current_wait(deadline.is_none());
    // SAFETY: locked (contract); `waiter` and `op` outlive the node's time
    // in the queue (a claimer takes it, or it is dequeued on timeout below).
    unsafe {
        op.enqueue(&waiter, 0);
        op.unlock();
    }
    match waiter.wait(deadline) {
        Woken::Arm(_) => true,
        Woken::TimedOut => {
            op.lock();
            // SAFETY: locked just above; queued above.
            unsafe {
                op.dequeue();
                op.unlock();
            }
            false
        }
    }
}

/// What a receive can name: a `Receiver`, a reference to one, or an `Option`
/// of one (`None` switches the arm off, as a nil channel does in Go).
/// Sealed: the channel behind it is goro's own.
pub trait RecvSource<T>: sealed::RecvChan<T> {}

/// What a send can name: a `Sender`, a reference to one, or an `Option` of
/// one. Sealed, as [`RecvSource`].
pub trait SendSource<T>: sealed::SendChan<T> {}

/// The supertraits that seal [`RecvSource`] and [`SendSource`]: outside this
/// crate they can be neither named nor implemented, so the channel an arm
/// names is always a real one.
mod sealed {
    use crate::chan::core::Chan;

    pub trait RecvChan<T> {
        fn recv_chan(&self) -> Option<&Chan<T>>;
    }

    pub trait SendChan<T> {
        fn send_chan(&self) -> Option<&Chan<T>>;
    }
}

impl<T> sealed::RecvChan<T> for Receiver<T> {
    fn recv_chan(&self) -> Option<&Chan<T>> {
        Some(self.chan())
    }
}
impl<T> RecvSource<T> for Receiver<T> {}

impl<T, S: RecvSource<T> + ?Sized> sealed::RecvChan<T> for &S {
    fn recv_chan(&self) -> Option<&Chan<T>> {
        (**self).recv_chan()
    }
}
impl<T, S: RecvSource<T> + ?Sized> RecvSource<T> for &S {}

impl<T, S: RecvSource<T>> sealed::RecvChan<T> for Option<S> {
    fn recv_chan(&self) -> Option<&Chan<T>> {
        self.as_ref().and_then(sealed::RecvChan::recv_chan)
    }
}
impl<T, S: RecvSource<T>> RecvSource<T> for Option<S> {}

impl<T> sealed::SendChan<T> for Sender<T> {
    fn send_chan(&self) -> Option<&Chan<T>> {
        Some(self.chan())
    }
}
impl<T> SendSource<T> for Sender<T> {}

impl<T, S: SendSource<T> + ?Sized> sealed::SendChan<T> for &S {
    fn send_chan(&self) -> Option<&Chan<T>> {
        (**self).send_chan()
    }
}
impl<T, S: SendSource<T> + ?Sized> SendSource<T> for &S {}

impl<T, S: SendSource<T>> sealed::SendChan<T> for Option<S> {
    fn send_chan(&self) -> Option<&Chan<T>> {
        self.as_ref().and_then(sealed::SendChan::send_chan)
    }
}
impl<T, S: SendSource<T>> SendSource<T> for Option<S> {}
