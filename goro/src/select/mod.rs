//! `select`: wait on several channel operations, commit exactly one.
//!
//! The algorithm is Go's `selectgo`:
//!
//! 1. Visit the enabled arms in a random order (fairness between ready arms)
//!    after locking their channels in address order (no deadlock between two
//!    selects that share channels, whatever order their arms are written in).
//! 2. The first arm that can complete now completes; all locks are released.
//! 3. Otherwise, with `default`, nothing happens. Otherwise a `Selection`
//!    is queued on every arm's channel, the locks are released, and the
//!    goroutine (or thread) parks until a counterpart claims one arm (the
//!    commit protocol in `chan::waiter`) or the deadline passes.
//! 4. The waiter then removes its entries from every channel.
//!
//! Arms are type-erased through [`Arm`]; each arm owns the slot its value
//! travels through, so a value is never in two places and never lost: a
//! failed send keeps its value in its arm and gives it back.

use std::cell::{Cell, UnsafeCell};
use std::time::Instant;

use smallvec::SmallVec;

use crate::chan::core::{Chan, RecvFail, SendFail};
use crate::chan::waiter::{Selection, Waiter, Woken};
use crate::chan::{Receiver, SendError, Sender};

mod dynamic;
mod macros;

pub use dynamic::{RecvToken, Select, SendToken};

/// One operation of a select, type-erased. Implemented by [`RecvArm`] and
/// [`SendArm`]; used by the [`select!`](crate::select!) macro.
#[doc(hidden)]
pub trait Arm {
    /// The channel's address, or `None` for a switched-off arm.
    fn chan_id(&self) -> Option<usize>;
    /// Locks the arm's channel. Only `run`.
    fn lock(&self);
    /// # Safety
    /// The caller locked the channel with `lock`.
    unsafe fn unlock(&self);
    /// Completes now if possible. # Safety: the channel is locked.
    unsafe fn try_now(&self) -> bool;
    /// Queues `sel` as arm `index`. # Safety: the channel is locked, and
    /// `sel` outlives the entry (the caller dequeues before dropping it).
    unsafe fn enqueue(&self, sel: &Selection, index: usize);
    /// Removes `sel`'s entries. # Safety: the channel is locked.
    unsafe fn dequeue(&self, sel: &Selection);
    /// Lock-free hint that `try_now` would succeed (from the channel's state
    /// at its last unlock). Used to skip locking every channel when one arm
    /// is plainly ready; never trusted without the lock.
    fn looks_ready(&self) -> bool;
    /// A receive arm holding a value nobody took yet. Only between selects
    /// (no waiter of this arm is queued, so nobody writes its slot).
    fn holds_value(&self) -> bool {
        false
    }
}

/// What a select did.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This arm committed.
    Arm(usize),
    /// Nothing was ready (`default`), or the deadline passed.
    Fallback,
}

/// How a select waits.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Block,
    NonBlock,
    Deadline(Instant),
}

/// A receive arm: `recv(rx) -> v`.
#[doc(hidden)]
pub struct RecvArm<'a, T> {
    chan: Option<&'a Chan<T>>,
    slot: UnsafeCell<Option<T>>,
}

impl<'a, T> RecvArm<'a, T> {
    pub fn new<S: RecvSource<T> + ?Sized>(source: &'a S) -> Self {
        RecvArm {
            chan: source.recv_chan(),
            slot: UnsafeCell::new(None),
        }
    }

    /// The received value, or `None` if the channel is closed and drained.
    pub fn into_result(self) -> Option<T> {
        self.slot.into_inner()
    }

    pub(crate) fn take(&mut self) -> Option<T> {
        self.slot.get_mut().take()
    }
}

impl<T> Arm for RecvArm<'_, T> {
    fn chan_id(&self) -> Option<usize> {
        self.chan.map(Chan::id)
    }
    fn lock(&self) {
        lock_chan(self.chan);
    }
    unsafe fn unlock(&self) {
        // SAFETY: locked by `lock`, per the contract.
        unsafe { unlock_chan(self.chan) }
    }
    unsafe fn try_now(&self) -> bool {
        let Some(c) = self.chan else { return false };
        // SAFETY: the channel is locked (contract); the slot is ours.
        let (mut inner, slot) = unsafe { (c.inner_locked(), &mut *self.slot.get()) };
        match inner.try_recv() {
            Ok(v) => {
                *slot = Some(v);
                true
            }
            Err(RecvFail::Closed) => true,
            Err(RecvFail::Empty) => false,
        }
    }
    unsafe fn enqueue(&self, sel: &Selection, index: usize) {
        if let Some(c) = self.chan {
            let w = Waiter::new(sel, index, self.slot.get());
            // SAFETY: locked, per the contract.
            unsafe { c.inner_locked() }.enqueue_recv(w);
        }
    }
    unsafe fn dequeue(&self, sel: &Selection) {
        // SAFETY: locked, per the contract.
        unsafe { dequeue_from(self.chan, sel) }
    }
    fn looks_ready(&self) -> bool {
        self.chan.is_some_and(Chan::recv_looks_ready)
    }
    fn holds_value(&self) -> bool {
        // SAFETY: between selects nobody else writes the slot (trait docs).
        unsafe { (*self.slot.get()).is_some() }
    }
}

/// A send arm: `send(tx, value) -> res`.
#[doc(hidden)]
pub struct SendArm<'a, T> {
    chan: Option<&'a Chan<T>>,
    cap: usize,
    slot: UnsafeCell<Option<T>>,
    /// The value was offered: an empty slot then means "sent".
    armed: Cell<bool>,
}

impl<'a, T> SendArm<'a, T> {
    pub fn new<S: SendSource<T> + ?Sized>(target: &'a S, value: T) -> Self {
        let chan = target.send_chan();
        SendArm {
            cap: chan.map_or(0, Chan::cap),
            chan,
            slot: UnsafeCell::new(Some(value)),
            armed: Cell::new(true),
        }
    }

    /// `Ok` if the value was sent; else the value comes back.
    pub fn into_result(self) -> Result<(), SendError<T>> {
        match self.slot.into_inner() {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        }
    }

    pub(crate) fn take_result(&mut self) -> Result<(), SendError<T>> {
        self.armed.set(false);
        match self.slot.get_mut().take() {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        }
    }
}

impl<T> Arm for SendArm<'_, T> {
    fn chan_id(&self) -> Option<usize> {
        self.chan.filter(|_| self.armed.get()).map(Chan::id)
    }
    fn looks_ready(&self) -> bool {
        self.armed.get() && self.chan.is_some_and(Chan::send_looks_ready)
    }
    fn lock(&self) {
        lock_chan(self.chan);
    }
    unsafe fn unlock(&self) {
        // SAFETY: locked by `lock`, per the contract.
        unsafe { unlock_chan(self.chan) }
    }
    unsafe fn try_now(&self) -> bool {
        let Some(c) = self.chan else { return false };
        // SAFETY: the channel is locked (contract); the slot is ours.
        let (mut inner, slot) = unsafe { (c.inner_locked(), &mut *self.slot.get()) };
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
    }
    unsafe fn enqueue(&self, sel: &Selection, index: usize) {
        if let Some(c) = self.chan {
            let w = Waiter::new(sel, index, self.slot.get());
            // SAFETY: locked, per the contract.
            unsafe { c.inner_locked() }.enqueue_send(w);
        }
    }
    unsafe fn dequeue(&self, sel: &Selection) {
        // SAFETY: locked, per the contract.
        unsafe { dequeue_from(self.chan, sel) }
    }
}

/// An arm's `lock` (nothing for a switched-off arm).
fn lock_chan<T>(chan: Option<&Chan<T>>) {
    if let Some(c) = chan {
        c.raw_lock();
    }
}

/// An arm's `unlock` (nothing for a switched-off arm).
///
/// # Safety
/// The caller locked `chan` with `raw_lock` on this thread.
unsafe fn unlock_chan<T>(chan: Option<&Chan<T>>) {
    if let Some(c) = chan {
        // SAFETY: by the contract.
        unsafe { c.raw_unlock() };
    }
}

/// An arm's `dequeue`: removes `sel`'s entries from `chan`.
///
/// # Safety
/// The caller holds `chan`'s lock.
unsafe fn dequeue_from<T>(chan: Option<&Chan<T>>, sel: &Selection) {
    if let Some(c) = chan {
        // SAFETY: by the contract.
        unsafe { c.inner_locked() }.dequeue(sel);
    }
}

/// What a receive arm can name: a `Receiver`, or an `Option` of one (`None`
/// switches the arm off, as a nil channel does in Go).
pub trait RecvSource<T> {
    #[doc(hidden)]
    fn recv_chan(&self) -> Option<&Chan<T>>;
}

impl<T> RecvSource<T> for Receiver<T> {
    fn recv_chan(&self) -> Option<&Chan<T>> {
        Some(self.chan())
    }
}

impl<T, S: RecvSource<T> + ?Sized> RecvSource<T> for &S {
    fn recv_chan(&self) -> Option<&Chan<T>> {
        (**self).recv_chan()
    }
}

impl<T, S: RecvSource<T>> RecvSource<T> for Option<S> {
    fn recv_chan(&self) -> Option<&Chan<T>> {
        self.as_ref().and_then(RecvSource::recv_chan)
    }
}

/// What a send arm can name: a `Sender`, or an `Option` of one.
pub trait SendSource<T> {
    #[doc(hidden)]
    fn send_chan(&self) -> Option<&Chan<T>>;
}

impl<T> SendSource<T> for Sender<T> {
    fn send_chan(&self) -> Option<&Chan<T>> {
        Some(self.chan())
    }
}

impl<T, S: SendSource<T> + ?Sized> SendSource<T> for &S {
    fn send_chan(&self) -> Option<&Chan<T>> {
        (**self).send_chan()
    }
}

impl<T, S: SendSource<T>> SendSource<T> for Option<S> {
    fn send_chan(&self) -> Option<&Chan<T>> {
        self.as_ref().and_then(SendSource::send_chan)
    }
}

/// Runs a select over `arms`. Used by the macro and the channel methods.
#[doc(hidden)]
pub fn run(arms: &[&dyn Arm], mode: Mode) -> Outcome {
    // Lists on the stack for the usual handful of arms. `locks` holds one
    // arm per distinct channel, in address order.
    let mut locks: SmallVec<[(usize, usize); 8]> = arms
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.chan_id().map(|id| (id, i)))
        .collect();
    let mut order: SmallVec<[usize; 8]> = locks.iter().map(|&(_, i)| i).collect();
    shuffle(&mut order);
    // Fast path: an arm that looks ready is tried under its own lock alone.
    // Random order keeps the choice among ready arms fair.
    if locks.len() > 1 {
        for &i in &order {
            if arms[i].looks_ready() {
                arms[i].lock();
                // SAFETY: locked just above.
                let done = unsafe { arms[i].try_now() };
                // SAFETY: locked just above.
                unsafe { arms[i].unlock() };
                if done {
                    return Outcome::Arm(i);
                }
            }
        }
    }
    locks.sort_unstable();
    locks.dedup_by_key(|&mut (id, _)| id);

    for &(_, i) in &locks {
        arms[i].lock();
    }
    let unlock_all = || {
        for &(_, i) in locks.iter().rev() {
            // SAFETY: locked just above, by this thread.
            unsafe { arms[i].unlock() };
        }
    };
    for &i in &order {
        // SAFETY: every enabled arm's channel is locked.
        if unsafe { arms[i].try_now() } {
            unlock_all();
            return Outcome::Arm(i);
        }
    }
    let deadline = match mode {
        Mode::NonBlock => {
            unlock_all();
            return Outcome::Fallback;
        }
        Mode::Block => None,
        Mode::Deadline(d) => Some(d),
    };
    let sel = Selection::for_current_wait(false);
    // Queue in the shuffled order too: when two arms wait on the same
    // channel, the counterpart takes the first queued, and that must not
    // always be the first written (Go's TestPseudoRandomSend).
    for &i in &order {
        // SAFETY: locked; `sel` outlives the entries (dequeued below).
        unsafe { arms[i].enqueue(&sel, i) };
    }
    unlock_all();
    let woken = sel.wait(deadline);
    // One dequeue per channel removes every entry of `sel` there.
    for &(_, i) in &locks {
        arms[i].lock();
        // SAFETY: locked just above.
        unsafe {
            arms[i].dequeue(&sel);
            arms[i].unlock();
        }
    }
    match woken {
        Woken::Arm(i) => Outcome::Arm(i),
        Woken::TimedOut => Outcome::Fallback,
    }
}

/// One operation, blocking until it completes or `deadline` passes: the
/// slow path of `send`/`recv` once the fast path found it must wait.
pub(crate) fn run_one<A: Arm + ?Sized>(arm: &A, deadline: Option<Instant>) -> bool {
    arm.lock();
    // SAFETY: locked just above.
    if unsafe { arm.try_now() } {
        // SAFETY: locked above.
        unsafe { arm.unlock() };
        return true;
    }
    let sel = Selection::for_current_wait(deadline.is_none());
    // SAFETY: locked; `sel` outlives the entry (dequeued on timeout; a
    // claimer removes it otherwise).
    unsafe {
        arm.enqueue(&sel, 0);
        arm.unlock();
    }
    match sel.wait(deadline) {
        Woken::Arm(_) => true,
        Woken::TimedOut => {
            arm.lock();
            // SAFETY: locked just above.
            unsafe {
                arm.dequeue(&sel);
                arm.unlock();
            }
            false
        }
    }
}

fn shuffle(v: &mut [usize]) {
    for i in (1..v.len()).rev() {
        let j = (fast_rand() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// A per-thread xorshift generator: cheap, and good enough to be fair.
/// Never inlined, so that its TLS address is never reused across a goroutine
/// switch (llvm/llvm-project#98479).
#[inline(never)]
fn fast_rand() -> u64 {
    static SEED: std::sync::atomic::AtomicU64 =
        std::sync::atomic::AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            SEED.fetch_add(0x6A09_E667_F3BC_C909, std::sync::atomic::Ordering::Relaxed) | 1,
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}
