//! Async ends of a channel: `send_async`/`recv_async` futures, a `Stream` and
//! a `Sink`, so goroutines and async tasks (tokio's included) talk over the
//! same channels.
//!
//! A pending future is queued in the channel exactly like a parked goroutine,
//! with the task's own `Waker` in its wait-queue [`Waiter`]. The future is `!Unpin`:
//! the channel's queue points into it, so it must not move while queued, and
//! dropping it removes the entry (under the channel lock) first.
//!
//! Cancellation never loses a value: a receive future dropped after a value
//! was handed to it puts the value back (to another waiting receiver, or at
//! the head of the buffer); a send future dropped before completing keeps its
//! value, which is dropped with it, and a completed send stays sent.

use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;

use crate::chan::core::{Chan, ChanNode, RecvFail, SendFail, Slot};
use crate::chan::{Receiver, SendError, Sender};
use crate::runtime::wait::{Node, Waiter};

/// The state of one receive that may have to wait: its wait-queue node and,
/// while queued, its waiter (both pinned: the channel's queue points here).
struct RecvWait<T> {
    node: ChanNode<T>,
    waiter: Option<Waiter>,
    _pin: PhantomPinned,
}

/// If `waiter` is queued on `chan`: `true` once a counterpart has finished
/// it; otherwise it takes the task's current waker (under the lock, where
/// no claimer can be reading it) and says `false`. Only the owning future.
fn done_or_rewake<T>(chan: &Chan<T>, waiter: &Waiter, cx: &Context<'_>) -> bool {
    chan.locked(|_| {
        let done = waiter.done_arm().is_some();
        if !done {
            // SAFETY: the channel lock is held and it is the only channel
            // this waiter is queued on.
            unsafe { waiter.set_waker(cx.waker()) };
        }
        done
    })
}

impl<T> RecvWait<T> {
    fn new() -> Self {
        RecvWait {
            node: Node::new(Slot::new(None)),
            waiter: None,
            _pin: PhantomPinned,
        }
    }

    /// Only the owning future. `None` = closed and drained.
    fn poll(self: Pin<&mut Self>, chan: &Chan<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: nothing is moved out of the pinned state.
        let this = unsafe { self.get_unchecked_mut() };
        if let Some(waiter) = &this.waiter {
            if !done_or_rewake(chan, waiter, cx) {
                return Poll::Pending;
            }
            this.waiter = None;
            // SAFETY: done: the claimer took the node out and finished.
            return Poll::Ready(unsafe { this.node.payload().with_mut(Option::take) });
        }
        let waiter = this.waiter.insert(Waiter::new(cx.waker().clone()));
        let node = &this.node;
        let now = chan.locked(|inner| match inner.try_recv() {
            Ok(v) => Some(Some(v)),
            Err(RecvFail::Closed) => Some(None),
            Err(RecvFail::Empty) => {
                // SAFETY: pinned: the node and the waiter stay in place
                // until the node is claimed, or removed by `cancel`.
                unsafe { inner.enqueue_recv(node, waiter, 0) };
                None
            }
        });
        match now {
            Some(v) => {
                this.waiter = None;
                Poll::Ready(v)
            }
            None => Poll::Pending,
        }
    }

    /// Leaves the queue; a value already handed over goes back. Only the
    /// owning future, when dropped.
    fn cancel(self: Pin<&mut Self>, chan: &Chan<T>) {
        // SAFETY: nothing is moved out of the pinned state.
        let this = unsafe { self.get_unchecked_mut() };
        if this.waiter.is_none() {
            return;
        }
        let node = &this.node;
        chan.locked(|inner| {
            // SAFETY: a waiter is kept only while the node was queued.
            unsafe { inner.dequeue_recv(node) };
            // SAFETY: out of the queue, under the lock every claimer holds.
            if let Some(v) = unsafe { node.payload().with_mut(Option::take) } {
                inner.put_back(v);
            }
        });
        this.waiter = None;
    }
}

/// The state of one send that may have to wait (as [`RecvWait`]).
struct SendWait<T> {
    node: ChanNode<T>,
    waiter: Option<Waiter>,
    _pin: PhantomPinned,
}

impl<T> SendWait<T> {
    fn new(value: Option<T>) -> Self {
        SendWait {
            node: Node::new(Slot::new(value)),
            waiter: None,
            _pin: PhantomPinned,
        }
    }

    fn is_idle(&self) -> bool {
        self.waiter.is_none()
    }

    /// Only the owner, while idle.
    fn set_value(self: Pin<&mut Self>, value: T) {
        // SAFETY: nothing is moved out of the pinned state.
        let this = unsafe { self.get_unchecked_mut() };
        debug_assert!(this.is_idle());
        // SAFETY: idle: the node is in no queue.
        unsafe { this.node.payload().with_mut(|s| *s = Some(value)) };
    }

    /// Only the owning future or sink.
    fn poll(
        self: Pin<&mut Self>,
        chan: &Chan<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        // SAFETY: nothing is moved out of the pinned state.
        let this = unsafe { self.get_unchecked_mut() };
        if let Some(waiter) = &this.waiter {
            if !done_or_rewake(chan, waiter, cx) {
                return Poll::Pending;
            }
            this.waiter = None;
            // SAFETY: done: the claimer took the node out and finished.
            return Poll::Ready(
                match unsafe { this.node.payload().with_mut(Option::take) } {
                    None => Ok(()),
                    Some(v) => Err(SendError(v)),
                },
            );
        }
        // SAFETY: idle: the node is in no queue.
        let Some(value) = (unsafe { this.node.payload().with_mut(Option::take) }) else {
            return Poll::Ready(Ok(()));
        };
        let cap = chan.cap();
        let waiter = this.waiter.insert(Waiter::new(cx.waker().clone()));
        let node = &this.node;
        let now = chan.locked(|inner| match inner.try_send(cap, value) {
            Ok(()) => Some(Ok(())),
            Err((v, SendFail::Closed)) => Some(Err(SendError(v))),
            Err((v, SendFail::Full)) => {
                // SAFETY: not queued yet: the slot is ours. Then pinned, as
                // in `RecvWait::poll`.
                unsafe {
                    node.payload().with_mut(|s| *s = Some(v));
                    inner.enqueue_send(node, waiter, 0);
                }
                None
            }
        });
        match now {
            Some(r) => {
                this.waiter = None;
                Poll::Ready(r)
            }
            None => Poll::Pending,
        }
    }

    fn cancel(self: Pin<&mut Self>, chan: &Chan<T>) {
        // SAFETY: nothing is moved out of the pinned state.
        let this = unsafe { self.get_unchecked_mut() };
        if this.waiter.is_some() {
            let node = &this.node;
            // SAFETY: a waiter is kept only while the node was queued.
            chan.locked(|inner| unsafe { inner.dequeue_send(node) });
        }
        this.waiter = None;
    }
}

/// A pending `recv`; see [`Receiver::recv_async`]. Output: `None` once the
/// channel is closed and drained.
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    rx: &'a Receiver<T>,
    wait: RecvWait<T>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: `wait` is structurally pinned; `rx` is a plain reference.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        unsafe { Pin::new_unchecked(&mut this.wait) }.poll(this.rx.chan(), cx)
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        // SAFETY: dropping in place: the pinned state is not moved.
        unsafe { Pin::new_unchecked(&mut self.wait) }.cancel(self.rx.chan());
    }
}

/// A pending `send`; see [`Sender::send_async`].
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    tx: &'a Sender<T>,
    wait: SendWait<T>,
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `wait` is structurally pinned; `tx` is a plain reference.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        unsafe { Pin::new_unchecked(&mut this.wait) }.poll(this.tx.chan(), cx)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        // SAFETY: dropping in place: the pinned state is not moved.
        unsafe { Pin::new_unchecked(&mut self.wait) }.cancel(self.tx.chan());
    }
}

impl<T> Receiver<T> {
    /// Receives from async code: resolves to the value, or `None` once the
    /// channel is closed and drained.
    pub fn recv_async(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            rx: self,
            wait: RecvWait::new(),
        }
    }

    /// An owning `Stream` of the received values (ends when closed).
    pub fn into_stream(self) -> RecvStream<T> {
        RecvStream {
            rx: self,
            wait: Box::pin(RecvWait::new()),
        }
    }
}

impl<T> Sender<T> {
    /// Sends from async code.
    pub fn send_async(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            tx: self,
            wait: SendWait::new(Some(value)),
        }
    }

    /// An owning `Sink` that sends into the channel.
    pub fn into_sink(self) -> SendSink<T> {
        SendSink {
            tx: self,
            wait: Box::pin(SendWait::new(None)),
        }
    }
}

/// A `Stream` of a channel's values; see [`Receiver::into_stream`].
pub struct RecvStream<T> {
    rx: Receiver<T>,
    wait: Pin<Box<RecvWait<T>>>,
}

impl<T> Stream for RecvStream<T> {
    type Item = T;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        this.wait.as_mut().poll(this.rx.chan(), cx)
    }
}

impl<T> Drop for RecvStream<T> {
    fn drop(&mut self) {
        self.wait.as_mut().cancel(self.rx.chan());
    }
}

/// A `Sink` into a channel; see [`Sender::into_sink`]. It holds at most one
/// value in flight; `poll_ready` waits for it to be delivered.
pub struct SendSink<T> {
    tx: Sender<T>,
    wait: Pin<Box<SendWait<T>>>,
}

impl<T> SendSink<T> {
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        self.wait.as_mut().poll(self.tx.chan(), cx)
    }
}

impl<T> Sink<T> for SendSink<T> {
    type Error = SendError<T>;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.drive(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        debug_assert!(self.wait.is_idle(), "start_send without poll_ready");
        self.wait.as_mut().set_value(item);
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.drive(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.drive(cx)
    }
}

impl<T> Drop for SendSink<T> {
    fn drop(&mut self) {
        self.wait.as_mut().cancel(self.tx.chan());
    }
}
