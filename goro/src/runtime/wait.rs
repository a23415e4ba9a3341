//! The wait queue: how every primitive blocks a caller and wakes it again
//! (Go's `sudog` and `waitq`). Channels and `select` use it today; mutexes,
//! wait groups, conds, semaphores and the netpoller are written against it
//! too, so none of them reaches into the scheduler.
//!
//! Four parts:
//!
//! - A [`Waiter`]: one blocked operation of one goroutine, thread or async
//!   task (Go's `g.selectDone` plus the `g` itself): a state word that says
//!   which arm committed, and the waker. A `select` over N channels is one
//!   `Waiter` with N nodes; a lone `recv` is one with one node.
//! - A [`Node`]: one entry of a waiter in one primitive's queue (Go's
//!   `sudog`): the waiter, the arm, the links, and a payload the primitive
//!   hands through it (a channel's value slot; a semaphore's weight). It
//!   lives with the waiter (on its stack, in its future), and the queue
//!   links it in place, so queueing allocates nothing.
//! - A [`WaitQueue`]: a FIFO of nodes, intrusive and doubly linked (Go's
//!   `waitq`), two pointers, touched only under the lock of the primitive
//!   that owns it. Removing a node is O(1), so a select that woke on one
//!   channel leaves the others in a step each.
//! - [`Wakes`]: the wake-ups a lock holder decided, carried out after the
//!   unlock (the first goroutine inline, anything more in a box).
//!
//! # The commit protocol ("exactly one arm commits")
//!
//! `state` goes `WAITING → CLAIMED(arm) → DONE(arm)`, or `WAITING → ABORTED`
//! (the waiter timed out or its future was dropped). A counterpart takes a
//! node off a queue ([`WaitQueue::claim_first`], holding that queue's lock)
//! and must win the CAS `WAITING → CLAIMED(arm)` before touching the node's
//! payload; if it loses, another arm of the same waiter committed (or the
//! waiter gave up), and it looks at the next node. After moving the value it
//! publishes `DONE(arm)` (release, [`Claimed::finish`]) and leaves the
//! wake-up ([`Wake`]) with the primitive, carried out after the unlock: a
//! goroutine is marked runnable *before* `DONE` (it cannot run until queued),
//! any other waker is cloned before it. Once `DONE` is visible the waiter may
//! return and free its nodes and itself, so nothing touches them afterwards.
//!
//! The waiter decides on one load of `state` ([`Waiter::check`]): `DONE`
//! returns, `CLAIMED` spins for `DONE` (the claimer holds a lock for a few
//! instructions), `WAITING` parks through the seam ([`park`](crate::park)),
//! whose token makes a wake-up that lands before the park count.
//!
//! # Invariants
//!
//! - Only one CAS out of `WAITING` ever succeeds: at most one arm commits. A
//!   waiter with a single node and no deadline (`exclusive`) has exactly one
//!   possible claimer, which claims with a store.
//! - A node is in at most one queue, the one it was pushed on (`queue`
//!   names it), and only that queue's lock holder touches its links.
//! - A claimed node has left its queue: [`WaitQueue::claim_first`] unlinks
//!   before it claims, so the committed arm's node needs no removal.
//! - A payload is written only by the claimer, between `CLAIMED` and `DONE`,
//!   with the queue's lock held; the waiter reads it only after it saw
//!   `DONE` (acquire), or under the lock after removing its node.
//! - The waiter and its nodes outlive their queue entries: the waiter
//!   removes every node that is still queued (under each lock) before it
//!   goes away, and a claimer unlinked the one it claimed.
//! - `waker` changes only while no node of the waiter is queued, or with the
//!   lock of every queue it is on held (async re-polls).

use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr;
use std::task::Waker;
use std::time::Instant;

use smallvec::SmallVec;

use crate::loom::{AtomicUsize, Ordering, UnsafeCell};
use crate::runtime::park::Direct;

const WAITING: usize = 0;
const ABORTED: usize = 1;
const CLAIMED: usize = 2;
const DONE: usize = 3;
const TAG: usize = 3;

/// One blocked operation (module docs).
pub(crate) struct Waiter {
    state: AtomicUsize,
    /// Dropped with the waiter only if `owned`; a waiting goroutine's own
    /// waker is borrowed (uncounted), since the goroutine outlives its wait.
    waker: UnsafeCell<ManuallyDrop<Waker>>,
    owned: bool,
    /// One node, and an owner that never aborts (a blocking `send`/`recv`
    /// without deadline): its one claimer, who took the node off the queue
    /// under the lock, cannot race anybody, and claims with a store.
    exclusive: bool,
}

// SAFETY: `waker` is read by claimers only under the lock of a queue one of
// the waiter's nodes is on, and written only when no claimer can read it
// (module invariants); `state` is atomic.
unsafe impl Sync for Waiter {}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// This arm committed.
    Arm(usize),
    /// The deadline passed first and the waiter gave up.
    TimedOut,
}

impl Waiter {
    /// A waiter woken through `waker` (an async task's). Any thread.
    pub(crate) fn new(waker: Waker) -> Waiter {
        Waiter {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(ManuallyDrop::new(waker)),
            owned: true,
            exclusive: false,
        }
    }

    /// A waiter for the calling goroutine (or thread) to wait on, with its
    /// waker borrowed. Only the caller, which must not leave its wait before
    /// the waiter is done or aborted. `exclusive`: it will queue one node and
    /// never abort (see the field).
    #[inline]
    pub(crate) fn for_current_wait(exclusive: bool) -> Waiter {
        Waiter {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(crate::runtime::park::current_waker_for_wait()),
            owned: false,
            exclusive,
        }
    }

    /// Claims the waiter for `arm`. Only [`WaitQueue::claim_first`], holding
    /// the lock of the queue it took the node from.
    #[inline]
    fn try_claim(&self, arm: usize) -> bool {
        if self.exclusive {
            // The only node, taken by us: nobody else can claim or abort.
            // `CLAIMED` still tells a running owner to wait for `DONE`.
            self.state.store(arm << 2 | CLAIMED, Ordering::Relaxed);
            return true;
        }
        self.state
            .compare_exchange(
                WAITING,
                arm << 2 | CLAIMED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Publishes the claimed arm's outcome and returns the waiter's wake-up,
    /// to be carried out once the lock is released (`None`: nothing to do,
    /// the goroutine was still running and keeps a token). Only
    /// [`Claimed::finish`], once.
    ///
    /// Once `DONE` is visible the owner may return and free the waiter, so
    /// nothing may touch it afterwards. A goroutine waiter is first marked
    /// runnable (it cannot run before it is queued, so it stays alive), then
    /// `DONE` is published, then it is queued: no reference count, and the
    /// goroutine never runs before its outcome is there. Any other waker is
    /// cloned before `DONE` and woken after.
    #[inline]
    fn finish(&self, arm: usize) -> Option<Wake> {
        let done = arm << 2 | DONE;
        // SAFETY: the claimer holds the queue's lock and the waiter is alive
        // until `DONE` is stored (module invariants).
        let direct = self.waker.with(|w| Direct::of(unsafe { &*w }));
        if let Some(target) = direct {
            let must_queue = target.mark_runnable();
            self.state.store(done, Ordering::Release);
            return must_queue.then_some(Wake::Direct(target));
        }
        // SAFETY: as above: alive until `DONE`.
        let waker = self.waker.with(|w| unsafe { (**w).clone() });
        self.state.store(done, Ordering::Release);
        Some(Wake::Waker(waker))
    }

    /// One look at the state, for a waiter between parks: `Some` once the
    /// wait is over (an arm is done, or claimed and about to be).
    ///
    /// One load decides: `CLAIMED` may turn `DONE` at any moment, and two
    /// loads could see `CLAIMED` ("not done") and then `DONE` ("not
    /// claimed"), and park after the wake-up was spent. Only the owner.
    #[inline]
    pub(crate) fn check(&self) -> Option<usize> {
        let s = self.state.load(Ordering::Acquire);
        match s & TAG {
            DONE => Some(s >> 2),
            // Woken by a claimer that has not published `DONE` yet: parking
            // now would wait for a wake-up that already happened.
            CLAIMED => Some(self.wait_claimed()),
            _ => None,
        }
    }

    /// The committed arm, if one has finished. Any thread.
    pub(crate) fn done_arm(&self) -> Option<usize> {
        let s = self.state.load(Ordering::Acquire);
        (s & TAG == DONE).then_some(s >> 2)
    }

    /// Gives up waiting. False if an arm was claimed first: the caller must
    /// then wait for it to finish ([`Waiter::wait_claimed`]). Only the owner.
    pub(crate) fn abort(&self) -> bool {
        self.state
            .compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// After a lost `abort`: the claimer is mid-transfer, holding a lock for
    /// a few instructions; waits for its `DONE`. Only the owner.
    pub(crate) fn wait_claimed(&self) -> usize {
        let mut spins = 0u32;
        loop {
            if let Some(arm) = self.done_arm() {
                return arm;
            }
            spins += 1;
            Self::pause(spins);
        }
    }

    /// The claimer may have been preempted by the OS between its wake and
    /// its `DONE`: after a short spin, let others run.
    #[cfg(not(loom))]
    fn pause(spins: u32) {
        if spins > 100 {
            crate::yield_now();
        } else {
            crate::loom::spin_loop();
        }
    }

    #[cfg(loom)]
    fn pause(_spins: u32) {
        crate::loom::spin_loop();
    }

    /// Blocks (goroutine, or thread) until an arm commits or `deadline`
    /// passes. Only the owner of the waiter.
    ///
    /// Always inlined: a parked goroutine resumes through one frame less
    /// (`docs/decisions/channel-layout.md`).
    #[inline(always)]
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Woken {
        loop {
            if let Some(arm) = self.check() {
                return Woken::Arm(arm);
            }
            match deadline {
                None => crate::park::park(),
                Some(d) if Instant::now() < d => crate::park::park_deadline(d),
                Some(_) if self.abort() => return Woken::TimedOut,
                Some(_) => return Woken::Arm(self.wait_claimed()),
            }
        }
    }

    /// Replaces the waker (an async task re-polled with another one).
    ///
    /// # Safety
    /// Only the owner, with the lock of every queue one of its nodes is on
    /// held (or while none is queued).
    pub(crate) unsafe fn set_waker(&self, waker: &Waker) {
        self.waker.with_mut(|slot| {
            // SAFETY: by the contract, no claimer reads the waker meanwhile.
            let slot = unsafe { &mut *slot };
            if !slot.will_wake(waker) {
                debug_assert!(self.owned, "set_waker on a borrowed waker");
                // SAFETY: owned (async waiters are), so ours to drop.
                unsafe { ManuallyDrop::drop(slot) };
                *slot = ManuallyDrop::new(waker.clone());
            }
        });
    }
}

impl Drop for Waiter {
    #[inline]
    fn drop(&mut self) {
        if self.owned {
            self.waker.with_mut(|w| {
                // SAFETY: owned, dropped once, here, with no claimer left
                // (module invariants).
                unsafe { ManuallyDrop::drop(&mut *w) }
            });
        }
    }
}

/// One entry of a waiter in one queue (Go's `sudog`), carrying `P` (module
/// docs). It lives with its waiter and must stay in place while queued: a
/// queue links it where it is.
pub(crate) struct Node<P> {
    /// Written in full by `push`, and read only after one: a node that
    /// never waits costs no store (a store pending in front of the lock's
    /// atomic delays it; `docs/decisions/wait-queue.md`).
    link: UnsafeCell<MaybeUninit<Link<P>>>,
    payload: P,
}

/// A node's place in its queue. Written by the queue's lock holder only.
struct Link<P> {
    /// The queue it is on, or null once it left it.
    queue: *const WaitQueue<P>,
    waiter: *const Waiter,
    arm: usize,
    prev: *const Node<P>,
    next: *const Node<P>,
}

// SAFETY: the links are only touched under the lock of the queue the node is
// on (module invariants); the payload crosses threads only as `P` allows.
unsafe impl<P: Sync> Sync for Node<P> {}
// SAFETY: as above.
unsafe impl<P: Send> Send for Node<P> {}

impl<P> Node<P> {
    /// A node in no queue. Any thread.
    pub(crate) fn new(payload: P) -> Node<P> {
        Node {
            link: UnsafeCell::new(MaybeUninit::uninit()),
            payload,
        }
    }

    /// The payload, for its owner (the primitive says when it may touch
    /// what is inside: before queueing, after `DONE`, or under the lock).
    pub(crate) fn payload(&self) -> &P {
        &self.payload
    }

    /// Consumes the node (in no queue: it is owned by value).
    pub(crate) fn into_payload(self) -> P {
        self.payload
    }
}

/// A FIFO of nodes, linked through them (module docs). It must stay in place
/// while it holds any, and is touched only under its owner's lock (`&mut`).
pub(crate) struct WaitQueue<P> {
    head: *const Node<P>,
    tail: *const Node<P>,
}

// SAFETY: the queue holds addresses of nodes that are only dereferenced by
// its lock holder, per the module invariants; the payload crosses threads
// only as `P` allows.
unsafe impl<P: Send> Send for WaitQueue<P> {}

impl<P> Default for WaitQueue<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> WaitQueue<P> {
    /// An empty queue.
    pub(crate) const fn new() -> Self {
        WaitQueue {
            head: ptr::null(),
            tail: ptr::null(),
        }
    }

    /// True if no node is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Queues `node` as arm `arm` of `waiter`, at the back.
    ///
    /// # Safety
    /// `node` is in no queue; `node` and `waiter` stay alive and in place
    /// until the node leaves this queue (a claimer takes it, or
    /// [`WaitQueue::remove`]); and this queue stays in place meanwhile.
    #[inline]
    pub(crate) unsafe fn push(&mut self, node: &Node<P>, waiter: &Waiter, arm: usize) {
        let tail = self.tail;
        let queue: *const WaitQueue<P> = self;
        node.link.with_mut(|l| {
            // SAFETY: the node is in no queue, so nobody else touches its
            // links; we hold the lock of the queue it joins.
            unsafe {
                (*l).write(Link {
                    queue,
                    waiter,
                    arm,
                    prev: tail,
                    next: ptr::null(),
                })
            };
        });
        let node: *const Node<P> = node;
        if tail.is_null() {
            self.head = node;
        } else {
            // SAFETY: `tail` is a node of this queue (alive, per `push`'s
            // contract); we hold the lock.
            unsafe { Self::set_next(tail, node) };
        }
        self.tail = node;
    }

    /// Takes `node` out of this queue if it is still in it (a claimer may
    /// have taken it). A node names the queue it is on, so once it left,
    /// this does nothing.
    ///
    /// # Safety
    /// `node` has been pushed on a queue (this or another) since it was
    /// made: its links are written only then.
    #[inline]
    pub(crate) unsafe fn remove(&mut self, node: &Node<P>) {
        // SAFETY: pushed once (contract), so the links are initialized; only
        // this queue's lock holder (us) writes them.
        let queued = node
            .link
            .with(|l| ptr::eq(unsafe { (*l).assume_init_ref().queue }, self));
        if queued {
            self.unlink(node);
        }
    }

    /// Takes nodes off the front until one's waiter is claimed for its arm,
    /// and returns it; `None` if the queue ran out. Nodes whose waiter
    /// committed elsewhere or gave up are dropped from the queue on the way
    /// (their owners find them gone).
    #[inline]
    pub(crate) fn claim_first(&mut self) -> Option<Claimed<'_, P>> {
        loop {
            let head = self.head;
            if head.is_null() {
                return None;
            }
            // SAFETY: a queued node is alive (module invariants).
            let node = unsafe { &*head };
            let Link { waiter, arm, .. } = self.unlink(node);
            // SAFETY: a node's waiter is alive while the node is queued, and
            // stays so past our claim until `finish` (module invariants).
            let waiter = unsafe { &*waiter };
            if waiter.try_claim(arm) {
                return Some(Claimed { node, waiter, arm });
            }
        }
    }

    /// Unlinks `node`, which is in this queue, and says where it stood.
    #[inline]
    fn unlink(&mut self, node: &Node<P>) -> Link<P> {
        // SAFETY: `node` is in this queue, whose lock we hold: its links are
        // ours (initialized: it was pushed), and so are its neighbours'
        // (alive while queued).
        let link = node.link.with_mut(|l| unsafe {
            let l = (*l).assume_init_mut();
            let link = Link { ..*l };
            l.queue = ptr::null();
            link
        });
        if link.prev.is_null() {
            self.head = link.next;
        } else {
            // SAFETY: as above.
            unsafe { Self::set_next(link.prev, link.next) };
        }
        if link.next.is_null() {
            self.tail = link.prev;
        } else {
            // SAFETY: as above.
            unsafe { Self::set_prev(link.next, link.prev) };
        }
        link
    }

    /// # Safety
    /// `node` is in this queue (so its links are initialized) and the
    /// caller holds its lock.
    #[inline]
    unsafe fn set_next(node: *const Node<P>, next: *const Node<P>) {
        // SAFETY: by the contract.
        unsafe {
            (*node)
                .link
                .with_mut(|l| (*l).assume_init_mut().next = next)
        };
    }

    /// # Safety
    /// As for `set_next`.
    #[inline]
    unsafe fn set_prev(node: *const Node<P>, prev: *const Node<P>) {
        // SAFETY: by the contract.
        unsafe {
            (*node)
                .link
                .with_mut(|l| (*l).assume_init_mut().prev = prev)
        };
    }
}

/// A node taken off its queue whose waiter was claimed for its arm: its
/// payload is the claimer's until [`Claimed::finish`]. It borrows the queue,
/// so it cannot outlive the lock hold in which it was claimed.
#[must_use = "a claimed waiter waits until it is finished"]
pub(crate) struct Claimed<'q, P> {
    node: &'q Node<P>,
    waiter: &'q Waiter,
    arm: usize,
}

impl<P> Claimed<'_, P> {
    /// The payload, the claimer's to use until `finish` (the primitive says
    /// what it carries: `chan`'s slot gives it safe `put`/`take`).
    #[inline]
    pub(crate) fn payload(&self) -> &P {
        &self.node.payload
    }

    /// Publishes the arm as committed and returns the wake-up to carry out
    /// after the unlock ([`Wakes::defer`]). The node and its waiter may be
    /// gone as soon as this returns.
    #[inline]
    #[must_use = "the wake-up must be run once the lock is released"]
    pub(crate) fn finish(self) -> Option<Wake> {
        self.waiter.finish(self.arm)
    }
}

/// A wake-up decided under a lock and carried out after it is released:
/// queueing a goroutine may wake an idle thread (a futex call), and a foreign
/// waker runs arbitrary code; neither belongs inside a lock whose hold time
/// everybody else waits out.
pub(crate) enum Wake {
    /// A goroutine marked runnable and not queued yet: it stays alive until
    /// queued.
    Direct(Direct),
    Waker(Waker),
}

impl Wake {
    /// Carries the wake-up out. Only once the lock under which it was
    /// decided is released.
    pub(crate) fn run(self) {
        match self {
            Wake::Direct(target) => target.queue(),
            Wake::Waker(w) => w.wake(),
        }
    }
}

/// The wake-ups one lock holder decided: the first goroutine's in one word,
/// anything more in a box made on first need and kept, so a primitive that
/// keeps waking a thread allocates nothing per wake-up. Whoever unlocks
/// takes them out first and runs them after. No thread-local: a list that
/// outlived its lock on one thread could be carried off by a goroutine that
/// migrates (and reading one at every unlock is slow:
/// `docs/decisions/stacks-and-packets.md`).
pub(crate) struct Wakes {
    first: Option<Direct>,
    // One word in the first line of a channel; the `Vec`'s three only once
    // needed.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<Wake>>>,
    has_more: bool,
}

// SAFETY: a `Direct` is a goroutine pointer whose goroutine is alive until
// queued; handing it to the thread that unlocks is what it is for.
unsafe impl Send for Wakes {}

impl Default for Wakes {
    fn default() -> Self {
        Self::new()
    }
}

impl Wakes {
    /// None yet.
    pub(crate) const fn new() -> Self {
        Wakes {
            first: None,
            more: None,
            has_more: false,
        }
    }

    /// Keeps `wake` for the unlock. With the lock.
    #[inline]
    pub(crate) fn defer(&mut self, wake: Option<Wake>) {
        match wake {
            None => {}
            Some(Wake::Direct(g)) if self.first.is_none() => self.first = Some(g),
            Some(w) => self.defer_more(w),
        }
    }

    #[cold]
    #[inline(never)]
    fn defer_more(&mut self, w: Wake) {
        self.more.get_or_insert_with(Box::default).push(w);
        self.has_more = true;
    }

    /// The first goroutine to queue. With the lock, before unlocking.
    #[inline]
    pub(crate) fn take_first(&mut self) -> Option<Direct> {
        // Look before taking: `take` would write the empty slot too.
        if self.first.is_some() {
            self.first.take()
        } else {
            None
        }
    }

    /// True if more than the first are waiting ([`Wakes::take_more`]).
    #[inline]
    pub(crate) fn has_more(&self) -> bool {
        self.has_more
    }

    /// The rest, to run after the unlock; the box keeps its capacity. With
    /// the lock.
    #[cold]
    pub(crate) fn take_more(&mut self) -> SmallVec<[Wake; 2]> {
        self.has_more = false;
        match &mut self.more {
            Some(more) => more.drain(..).collect(),
            None => SmallVec::new(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ids(q: &mut WaitQueue<u32>) -> Vec<u32> {
        let mut got = Vec::new();
        while let Some(c) = q.claim_first() {
            got.push(*c.payload());
            assert!(c.finish().is_some(), "a thread's waiter is woken");
        }
        got
    }

    /// Nodes leave in order; removal from the front, the middle or the back
    /// keeps the rest in order; a removed or taken node can be removed again
    /// (nothing happens), and another queue leaves it alone.
    #[test]
    fn nodes_leave_in_order_and_removal_is_exact() {
        for gone in 0..4 {
            let waiters: Vec<Waiter> = (0..4).map(|_| Waiter::for_current_wait(false)).collect();
            let nodes: Vec<Node<u32>> = (0..4).map(Node::new).collect();
            let mut q = WaitQueue::new();
            let mut other = WaitQueue::new();
            for (n, w) in nodes.iter().zip(&waiters) {
                // SAFETY: all live until the end of the test, in place.
                unsafe { q.push(n, w, 0) };
            }
            // SAFETY: pushed (on `q`): `other` finds it is not its own, and
            // a second removal finds it gone.
            unsafe {
                other.remove(&nodes[gone]);
                q.remove(&nodes[gone]);
                q.remove(&nodes[gone]);
            }
            let mut want: Vec<u32> = (0..4).collect();
            want.remove(gone);
            assert_eq!(ids(&mut q), want, "removed #{gone}");
            assert!(q.is_empty());
            for n in &nodes {
                // SAFETY: every node was pushed on `q`.
                unsafe { q.remove(n) };
            }
        }
    }

    /// A waiter claimed through one node is skipped (and dropped from the
    /// queue) through its others: exactly one arm commits.
    #[test]
    fn a_waiter_commits_through_one_node_only() {
        let select = Waiter::for_current_wait(false);
        let lone = Waiter::for_current_wait(false);
        let nodes: Vec<Node<u32>> = (0..3).map(Node::new).collect();
        let mut q = WaitQueue::new();
        // SAFETY: all live until the end of the test, in place.
        unsafe {
            q.push(&nodes[0], &select, 0);
            q.push(&nodes[1], &select, 1);
            q.push(&nodes[2], &lone, 0);
        }
        let first = q.claim_first().expect("a claim");
        assert_eq!(*first.payload(), 0);
        let _ = first.finish();
        assert_eq!(select.done_arm(), Some(0));
        let next = q.claim_first().expect("the lone waiter");
        assert_eq!(*next.payload(), 2, "the select's second node was skipped");
        let _ = next.finish();
        assert!(q.is_empty() && q.claim_first().is_none());
    }

    /// An aborted waiter is never claimed.
    #[test]
    fn an_aborted_waiter_is_skipped() {
        let w = Waiter::for_current_wait(false);
        let node = Node::new(7u32);
        let mut q = WaitQueue::new();
        // SAFETY: both live until the end of the test, in place.
        unsafe { q.push(&node, &w, 0) };
        assert!(w.abort());
        assert!(q.claim_first().is_none());
        assert!(!w.abort(), "aborted once");
    }
}

/// The wait queue on its own, as a primitive other than a channel uses it:
/// waiters queue a node under the primitive's lock and block through the
/// real seam (each model thread is a stand-in goroutine, see
/// `runtime::park`); a signaller claims the first and hands it a value
/// through the payload, waking it after the unlock. A timed-out waiter
/// (deadline already past) races the signaller. A lost wake-up is a loom
/// deadlock; a payload access the protocol does not order fails the model.
#[cfg(all(test, loom))]
mod loom_tests {
    use std::time::Instant;

    use loom::sync::Arc;
    use loom::thread;

    use super::*;
    use crate::loom::Mutex;

    /// A one-value event: a queue behind the primitive's lock.
    struct Event {
        queue: Mutex<WaitQueue<UnsafeCell<Option<u32>>>>,
    }

    /// Waits for the event's value (with a deadline already past if
    /// `timeout`): `Some` if a signaller handed it over.
    fn wait_for(event: &Event, timeout: bool) -> Option<u32> {
        let waiter = Waiter::for_current_wait(false);
        let node = Node::new(UnsafeCell::new(None));
        // SAFETY: `node` and `waiter` outlive their time in the queue (it is
        // removed below unless a claimer took it).
        unsafe { event.queue.lock().push(&node, &waiter, 0) };
        match waiter.wait(timeout.then(Instant::now)) {
            // SAFETY: `DONE` seen: the claimer is finished with the payload.
            Woken::Arm(0) => node.payload().with(|p| unsafe { *p }),
            Woken::Arm(arm) => panic!("no arm {arm}"),
            Woken::TimedOut => {
                // SAFETY: pushed above.
                unsafe { event.queue.lock().remove(&node) };
                // SAFETY: removed under the lock: nobody else can reach it.
                assert_eq!(node.payload().with(|p| unsafe { *p }), None);
                None
            }
        }
    }

    /// Hands `value` to the first waiter that can still take it; true if one
    /// did. The wake-up runs after the unlock.
    fn signal(event: &Event, value: u32) -> bool {
        let wake = {
            let mut queue = event.queue.lock();
            queue.claim_first().map(|claimed| {
                // SAFETY: claimed: the payload is ours until `finish`.
                claimed.payload().with_mut(|p| unsafe { *p = Some(value) });
                claimed.finish()
            })
        };
        match wake {
            Some(wake) => {
                wake.into_iter().for_each(Wake::run);
                true
            }
            None => false,
        }
    }

    /// Two waiters (with a deadline already past where `timeouts` says so)
    /// and a signaller that signals once, then again for as long as a
    /// waiter without deadline has not been served. Every value signalled
    /// is received exactly once; a waiter without deadline always gets one.
    fn two_waiters_and_a_signaller(timeouts: [bool; 2]) {
        loom::model(move || {
            let event = Arc::new(Event {
                queue: Mutex::new(WaitQueue::new()),
            });
            let served = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let waiters: Vec<_> = timeouts
                .iter()
                .map(|&timeout| {
                    let (event, served) = (event.clone(), served.clone());
                    thread::spawn(move || {
                        let got = wait_for(&event, timeout);
                        if !timeout {
                            served.fetch_add(1, Ordering::SeqCst);
                        }
                        got
                    })
                })
                .collect();
            let must_serve = timeouts.iter().filter(|t| !**t).count();
            let mut delivered = Vec::new();
            let mut value = 7;
            loop {
                if signal(&event, value) {
                    delivered.push(value);
                    value += 1;
                }
                if served.load(Ordering::SeqCst) == must_serve {
                    break;
                }
                thread::yield_now();
            }
            let mut got: Vec<u32> = waiters
                .into_iter()
                .filter_map(|w| w.join().unwrap())
                .collect();
            got.sort();
            assert_eq!(got, delivered, "every value signalled arrives once");
            assert!(event.queue.lock().is_empty());
        });
    }

    #[test]
    fn loom_wait_queue_signal_vs_timeout() {
        two_waiters_and_a_signaller([true, false]);
    }

    #[test]
    fn loom_wait_queue_signal_vs_two_timeouts() {
        two_waiters_and_a_signaller([true, true]);
    }
}
