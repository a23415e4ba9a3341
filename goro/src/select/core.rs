//! The select protocol itself (Go's `selectgo`), over type-erased arms; the
//! module docs of `select` give the steps.

use std::cell::Cell;

use smallvec::SmallVec;

use crate::chan::op::{Op, RecvOp, SendOp};
use crate::runtime::wait::{Waiter, Woken};

/// One arm of a select, as [`run`] takes it. Made from a channel operation
/// with `ArmRef::from(&op)`; only goro's own operations convert.
#[derive(Clone, Copy)]
pub struct ArmRef<'a>(&'a dyn Op);

impl<'a> ArmRef<'a> {
    /// Any of goro's operations, erased (the dynamic `Select` keeps them so).
    pub(crate) fn erased(op: &'a dyn Op) -> Self {
        ArmRef(op)
    }
}

impl<'a, T> From<&'a RecvOp<'_, T>> for ArmRef<'a> {
    fn from(op: &'a RecvOp<'_, T>) -> Self {
        ArmRef(op)
    }
}

impl<'a, T> From<&'a SendOp<'_, T>> for ArmRef<'a> {
    fn from(op: &'a SendOp<'_, T>) -> Self {
        ArmRef(op)
    }
}

/// What a select did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This arm committed.
    Arm(usize),
    /// Nothing was ready (`default`), or the deadline passed.
    Fallback,
}

/// How a select waits.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Block,
    NonBlock,
    Deadline(std::time::Instant),
}

/// Runs a select over `arms` (module docs of `select`). Used by the macro and
/// the dynamic `Select`. Any goroutine or thread.
pub fn run(arms: &[ArmRef<'_>], mode: Mode) -> Outcome {
    // Lists on the stack for the usual handful of arms. `locks` holds one
    // arm per distinct channel, in address order.
    let mut locks: SmallVec<[(usize, usize); 8]> = arms
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.0.chan_id().map(|id| (id, i)))
        .collect();
    let mut order: SmallVec<[usize; 8]> = locks.iter().map(|&(_, i)| i).collect();
    shuffle(&mut order);
    // Fast path: an arm that looks ready is tried under its own lock alone.
    // Random order keeps the choice among ready arms fair.
    if locks.len() > 1 {
        for &i in &order {
            let arm = arms[i].0;
            if arm.looks_ready() {
                arm.lock();
                // SAFETY: locked just above; no node of this run is queued.
                let done = unsafe { arm.try_now() };
                // SAFETY: locked just above.
                unsafe { arm.unlock() };
                if done {
                    return Outcome::Arm(i);
                }
            }
        }
    }
    locks.sort_unstable();
    locks.dedup_by_key(|&mut (id, _)| id);

    for &(_, i) in &locks {
        arms[i].0.lock();
    }
    let unlock_all = || {
        for &(_, i) in locks.iter().rev() {
            // SAFETY: locked just above, by this thread, once per channel.
            unsafe { arms[i].0.unlock() };
        }
    };
    for &i in &order {
        // SAFETY: every enabled arm's channel is locked; nothing is queued.
        if unsafe { arms[i].0.try_now() } {
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
    let waiter = Waiter::for_current_wait(false);
    // Queue in the shuffled order too: when two arms wait on the same
    // channel, the counterpart takes the first queued, and that must not
    // always be the first written (Go's TestPseudoRandomSend).
    for &i in &order {
        // SAFETY: locked; `waiter` and the arms (borrowed for this call)
        // outlive the nodes' time in the queues (dequeued below).
        unsafe { arms[i].0.enqueue(&waiter, i) };
    }
    unlock_all();
    let woken = waiter.wait(deadline);
    // Every node but the committed one may still be queued (the claimer
    // took that one out).
    let committed = match woken {
        Woken::Arm(i) => Some(i),
        Woken::TimedOut => None,
    };
    for &i in order.iter().filter(|&&i| Some(i) != committed) {
        let arm = arms[i].0;
        arm.lock();
        // SAFETY: locked just above; every arm in `order` was queued.
        unsafe {
            arm.dequeue();
            arm.unlock();
        }
    }
    committed.map_or(Outcome::Fallback, Outcome::Arm)
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
#[cfg(not(loom))]
#[inline(never)]
fn fast_rand() -> u64 {
    static SEED: std::sync::atomic::AtomicU64 =
        std::sync::atomic::AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            SEED.fetch_add(0x6A09_E667_F3BC_C909, std::sync::atomic::Ordering::Relaxed) | 1,
        );
    }
    STATE.with(xorshift)
}

/// Under loom the same generator, restarted with every execution of a
/// model: a model must make the same choices each time it replays a
/// schedule.
#[cfg(loom)]
fn fast_rand() -> u64 {
    loom::thread_local! {
        static STATE: Cell<u64> = Cell::new(0x9E37_79B9_7F4A_7C15);
    }
    STATE.with(xorshift)
}

fn xorshift(s: &Cell<u64>) -> u64 {
    let mut x = s.get();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s.set(x);
    x
}
