//! `Select`: a select over a set of operations known only at run time (Go's
//! `reflect.Select`), e.g. fan-in from N channels.
//!
//! ```
//! use goro::select::Select;
//!
//! let chans: Vec<_> = (0..4).map(|_| goro::chan::<usize>(1)).collect();
//! chans[2].0.send(42).unwrap();
//! let mut sel = Select::new();
//! let tokens: Vec<_> = chans.iter().map(|(_, rx)| sel.recv(rx)).collect();
//! let i = sel.select();
//! assert_eq!(i, 2);
//! assert_eq!(sel.take(tokens[i]), Some(42));
//! ```

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{run, ArmRef, Mode, Outcome};
use crate::chan::op::{Op, RecvOp, SendOp};
use crate::chan::SendError;
use crate::select::{RecvSource, SendSource};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Names a receive arm of one [`Select`]; redeem it with [`Select::take`].
pub struct RecvToken<T> {
    select: u64,
    index: usize,
    _t: PhantomData<fn() -> T>,
}

/// Names a send arm of one [`Select`]; redeem it with [`Select::send_result`].
pub struct SendToken<T> {
    select: u64,
    index: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for RecvToken<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RecvToken<T> {}
impl<T> Clone for SendToken<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendToken<T> {}

/// One arm: its operation, boxed once and from then on reached only through
/// the pointer `Box::into_raw` gave, both erased (for `run`) and typed (for
/// the tokens). A pointer taken before a `Box` moves is invalidated by the
/// move under Stacked Borrows; this one never goes back into a `Box` until
/// the arm is dropped.
struct Entry<'a> {
    op: NonNull<dyn Op + 'a>,
    off: bool,
}

impl<'a> Entry<'a> {
    fn new<O: Op + 'a>(op: O) -> Self {
        let raw: *mut (dyn Op + 'a) = Box::into_raw(Box::new(op));
        Entry {
            // SAFETY: `Box::into_raw` never returns null.
            op: unsafe { NonNull::new_unchecked(raw) },
            off: false,
        }
    }

    fn op(&self) -> &(dyn Op + 'a) {
        // SAFETY: alive until `drop`; shared access, as every `&self` use.
        unsafe { self.op.as_ref() }
    }

    /// The concrete operation.
    ///
    /// # Safety
    /// `O` is the type this entry was made from.
    unsafe fn typed<O>(&mut self) -> &mut O {
        // SAFETY: by the contract the pointee is an `O`; `&mut self` makes
        // the access exclusive.
        unsafe { &mut *self.op.cast::<O>().as_ptr() }
    }
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw` in `new`, freed once, here.
        drop(unsafe { Box::from_raw(self.op.as_ptr()) });
    }
}

/// A select built at run time. Arms are added with [`recv`](Select::recv) and
/// [`send`](Select::send); each `select*` call commits exactly one of them
/// (or none, for `try_select` and the timeouts). A `Select` can run again:
/// receive arms re-arm once their value is taken, spent send arms stay off.
pub struct Select<'a> {
    id: u64,
    entries: Vec<Entry<'a>>,
}

impl Default for Select<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Select<'a> {
    pub fn new() -> Self {
        Select {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            entries: Vec::new(),
        }
    }

    /// Adds a receive arm; an `Option` that is `None` adds a switched-off arm.
    pub fn recv<T: 'a, S: RecvSource<T> + ?Sized>(&mut self, rx: &'a S) -> RecvToken<T> {
        self.entries.push(Entry::new(RecvOp::new(rx)));
        RecvToken {
            select: self.id,
            index: self.entries.len() - 1,
            _t: PhantomData,
        }
    }

    /// Adds a send arm offering `value`.
    pub fn send<T: 'a, S: SendSource<T> + ?Sized>(&mut self, tx: &'a S, value: T) -> SendToken<T> {
        self.entries.push(Entry::new(SendOp::new(tx, value)));
        SendToken {
            select: self.id,
            index: self.entries.len() - 1,
            _t: PhantomData,
        }
    }

    /// Blocks until one arm commits; returns its index (the order of adding).
    pub fn select(&mut self) -> usize {
        match self.run(Mode::Block) {
            Outcome::Arm(i) => i,
            Outcome::Fallback => unreachable!("a blocking select returned no arm"),
        }
    }

    /// Commits an arm only if one is ready now (a `default` arm).
    pub fn try_select(&mut self) -> Option<usize> {
        fallback_none(self.run(Mode::NonBlock))
    }

    /// Waits at most `timeout`.
    pub fn select_timeout(&mut self, timeout: Duration) -> Option<usize> {
        self.select_deadline(Instant::now() + timeout)
    }

    /// Waits until `deadline` at the latest.
    pub fn select_deadline(&mut self, deadline: Instant) -> Option<usize> {
        fallback_none(self.run(Mode::Deadline(deadline)))
    }

    fn run(&mut self, mode: Mode) -> Outcome {
        // A received value not taken yet is delivered again, never lost.
        if let Some(i) = self.entries.iter().position(|e| e.op().holds_value()) {
            return Outcome::Arm(i);
        }
        let live: Vec<usize> = (0..self.entries.len())
            .filter(|&i| !self.entries[i].off)
            .collect();
        let arms: Vec<ArmRef<'_>> = live
            .iter()
            .map(|&i| ArmRef::erased(self.entries[i].op()))
            .collect();
        match run(&arms, mode) {
            Outcome::Arm(k) => Outcome::Arm(live[k]),
            Outcome::Fallback => Outcome::Fallback,
        }
    }

    /// Switches arm `index` off for the following selects, as setting a case's
    /// channel to nil does in Go (e.g. once a fan-in source is closed).
    pub fn disable(&mut self, index: usize) {
        self.entries[index].off = true;
    }

    /// The value received by the arm of `token` (after it was selected):
    /// `Some(v)`, or `None` if its channel was closed. Each value is taken
    /// once. Panics if the token belongs to another `Select`.
    pub fn take<T: 'a>(&mut self, token: RecvToken<T>) -> Option<T> {
        assert_eq!(token.select, self.id, "RecvToken of another Select");
        // SAFETY: the token was made by `recv::<T>` of this select at this
        // index, so the entry there is a `RecvOp<'a, T>`.
        unsafe { self.entries[token.index].typed::<RecvOp<'a, T>>() }.take()
    }

    /// Whether the send arm of `token` sent its value (after it was
    /// selected); on a closed channel the value comes back.
    pub fn send_result<T: 'a>(&mut self, token: SendToken<T>) -> Result<(), SendError<T>> {
        assert_eq!(token.select, self.id, "SendToken of another Select");
        // SAFETY: made by `send::<T>` of this select at this index.
        unsafe { self.entries[token.index].typed::<SendOp<'a, T>>() }.take_result()
    }
}

fn fallback_none(o: Outcome) -> Option<usize> {
    match o {
        Outcome::Arm(i) => Some(i),
        Outcome::Fallback => None,
    }
}
