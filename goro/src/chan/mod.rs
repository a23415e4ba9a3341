//! Channels with Go's semantics: `chan::<T>(cap)` gives a `(Sender, Receiver)`
//! pair, both `Clone` (many senders, many receivers).
//!
//! - `cap == 0` is a rendezvous: `send` returns once a receiver has the value,
//!   handed over directly, never parked in a buffer. `cap > 0` is a FIFO
//!   buffer of that size.
//! - `close()` by any sender, or dropping every sender, closes the channel:
//!   receivers drain what is buffered, then `recv` returns `None`.
//! - Dropping every receiver makes `send` fail. A failed send always gives
//!   the value back (`SendError(value)`) — where Go panics on a send to a
//!   closed channel, goro returns the value.
//! - The same channel works from goroutines (the goroutine parks), from plain
//!   threads (the thread parks) and from async code (`send_async`,
//!   `recv_async`, `Stream`, `Sink`): all three wait through one park/wake seam.
//!
//! ```
//! let (tx, rx) = goro::chan::<u32>(0);
//! goro::go(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//! }); // tx dropped at the end: the channel closes
//! let got: Vec<u32> = rx.iter().collect();
//! assert_eq!(got, [0, 1, 2]);
//! ```

pub(crate) mod core;
mod error;
mod future;
mod lock;
pub(crate) mod op;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod thread_tests;

use std::fmt;
use std::time::{Duration, Instant};

use crate::loom::{Arc, AtomicU32, Ordering};

use self::core::{Chan, RecvFail, SendFail};

pub use error::{
    CloseError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use future::{RecvFuture, RecvStream, SendFuture, SendSink};

/// Makes a channel of capacity `cap` (`0`: unbuffered) and returns its two
/// ends, as Go's `make(chan T, cap)`.
pub fn chan<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(cap));
    (
        Sender {
            chan: Arc::clone(&chan),
        },
        Receiver { chan },
    )
}

/// A receiver that never receives: its arm in `select!` is never ready and
/// `recv` on it blocks forever, as a nil channel in Go.
pub fn never<T>() -> Receiver<T> {
    // No `Sender` exists, yet the sender count stays 1: it never closes.
    Receiver {
        chan: Arc::new(Chan::new(0)),
    }
}

/// The sending end. Clone it for more senders.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving end. Clone it for more receivers; each value goes to one.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.chan
    }

    /// Sends `value`, waiting for room (or, unbuffered, for a receiver).
    /// Fails, giving the value back, if the channel is closed or every
    /// receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        op::send(self.chan(), value, None).map_err(|(v, _)| SendError(v))
    }

    /// Sends only if that can happen without waiting.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let cap = self.chan.cap();
        self.chan
            .locked(|c| c.try_send(cap, value))
            .map_err(|(v, why)| match why {
                SendFail::Full => TrySendError::Full(v),
                SendFail::Closed => TrySendError::Closed(v),
            })
    }

    /// Sends, waiting at most `timeout`.
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline(value, Instant::now() + timeout)
    }

    /// Sends, waiting until `deadline` at the latest.
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        op::send(self.chan(), value, Some(deadline)).map_err(|(v, closed)| match closed {
            true => SendTimeoutError::Closed(v),
            false => SendTimeoutError::Timeout(v),
        })
    }

    /// Closes the channel (Go's `close`). Receivers drain the buffer and then
    /// see the end; blocked and later sends fail with their values. Closing
    /// twice is an error, not a crash.
    pub fn close(&self) -> Result<(), CloseError> {
        if self.chan.locked(|c| c.close()) {
            Ok(())
        } else {
            Err(CloseError)
        }
    }

    /// Values in the buffer now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// True if the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the buffer is full (always true for an unbuffered channel).
    pub fn is_full(&self) -> bool {
        self.len() >= self.cap()
    }

    /// The buffer's capacity.
    pub fn cap(&self) -> usize {
        self.chan.cap()
    }

    /// True once the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// True if both ends belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Receiver<T> {
    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.chan
    }

    /// Receives a value, waiting for one; `None` once the channel is closed
    /// and drained (Go's `v, ok := <-ch` with `ok == false`).
    pub fn recv(&self) -> Option<T> {
        op::recv(self.chan(), None).ok()
    }

    /// Receives only if a value is there now.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.locked(|c| c.try_recv()).map_err(|why| match why {
            RecvFail::Empty => TryRecvError::Empty,
            RecvFail::Closed => TryRecvError::Closed,
        })
    }

    /// Receives, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline(Instant::now() + timeout)
    }

    /// Receives, waiting until `deadline` at the latest.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        op::recv(self.chan(), Some(deadline)).map_err(|closed| match closed {
            true => RecvTimeoutError::Closed,
            false => RecvTimeoutError::Timeout,
        })
    }

    /// A blocking iterator: `for v in rx.iter()` runs until the channel is
    /// closed and drained (Go's `for v := range ch`).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the values there now, without waiting.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Values in the buffer now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// True if the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the buffer is full (always true for an unbuffered channel).
    pub fn is_full(&self) -> bool {
        self.len() >= self.cap()
    }

    /// The buffer's capacity.
    pub fn cap(&self) -> usize {
        self.chan.cap()
    }

    /// True once the channel is closed (values may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// True if both ends belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

/// One more `Sender` or `Receiver`. Like `Arc`, it aborts rather than
/// wrap around: four billion live ends of one channel is a leak, and a
/// wrapped count would close the channel under them.
fn count_one_more(count: &AtomicU32) {
    if count.fetch_add(1, Ordering::Relaxed) == u32::MAX {
        std::process::abort();
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        count_one_more(&self.chan.senders);
        Sender {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Drop for Sender<T> {
    /// The last sender closes the channel: nobody can send any more, so the
    /// receivers must not wait for it.
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.locked(|c| c.close());
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        count_one_more(&self.chan.receivers);
        Receiver {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Drop for Receiver<T> {
    /// The last receiver makes every pending and later send fail.
    fn drop(&mut self) {
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.locked(|c| c.disconnect_receivers());
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("cap", &self.cap())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("cap", &self.cap())
            .finish()
    }
}

/// Blocking iterator over received values; see [`Receiver::iter`].
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}

/// Non-blocking iterator; see [`Receiver::try_iter`].
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator: `for v in rx`.
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
