//! Loom models of the commit protocol of `chan::waiter` ("exactly one arm
//! commits").
//!
//! The [`Selection`] is the real one; around it, miniature channels follow
//! `chan::core` and `select` step by step without running them (they need
//! the runtime to park): one lock per channel over its queues; a counterpart
//! pops an entry, claims it, moves the value and finishes it, all under that
//! lock; a select enqueues one entry per arm under every lock, waits (or
//! times out: `abort`, then `wait_claimed` if that lost), and removes its
//! entries under each lock again. Slots are loom cells, and the waker lives
//! in one inside `Selection` (through `crate::loom`), so an access to either
//! that the protocol does not order fails the model; replacing the waker
//! once the owner is done stands for the `Selection` being freed.
//!
//! The park models (`loom_park_*`) go one step further and run the real
//! waiting side too: a stand-in goroutine ([`ModelG`]) with the real park
//! token (`runtime::park_state`), the real `Selection::check` between parks,
//! and the real goroutine path of `Selection::finish` (wake, then `DONE`,
//! then queue). They found two lost wake-ups that the yield-based models
//! above could not see.
//!
//! Run (what `.ci/run` does):
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p goro --release --lib --target-dir target/loom -- loom`

use std::collections::VecDeque;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Wake, Waker};

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use super::waiter::{ModelG, Selection};
use crate::loom::Mutex;

/// A waker that counts its wakes.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A fresh counting waker, and its counter.
fn counting_waker() -> (std::sync::Arc<Count>, Waker) {
    let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
    (count.clone(), Waker::from(count))
}

fn wakes(count: &Count) -> usize {
    count.0.load(SeqCst)
}

/// `Selection::finish`, then its wake-up at once (the miniature channels
/// model no lock hold times, so running it inside their lock changes
/// nothing the models check).
fn finish_now(sel: &Selection, arm: usize) {
    if let Some(wake) = sel.finish(arm) {
        wake.run();
    }
}

/// Where a value travels: a select arm's slot (`RecvArm`/`SendArm::slot`).
type Slot = Arc<UnsafeCell<Option<u32>>>;

fn slot(value: Option<u32>) -> Slot {
    Arc::new(UnsafeCell::new(value))
}

/// The owner reads its slot (after the protocol handed it back).
fn read(slot: &Slot) -> Option<u32> {
    // SAFETY: loom checks that this read is ordered after every write.
    slot.with(|p| unsafe { *p })
}

/// A queued arm: `chan::waiter::Waiter`, with a loom cell for the slot.
struct Entry {
    sel: Arc<Selection>,
    arm: usize,
    slot: Slot,
}

impl Entry {
    fn claim(&self) -> bool {
        self.sel.try_claim(self.arm)
    }

    /// `Waiter::deliver`: write the receiver's slot, then finish.
    fn deliver(self, value: Option<u32>) {
        // SAFETY: claimed; loom checks the write against the owner's reads.
        self.slot.with_mut(|p| unsafe { *p = value });
        finish_now(&self.sel, self.arm);
    }

    /// `Waiter::take`: take the sender's value, then finish.
    fn take(self) -> u32 {
        // SAFETY: as in `deliver`.
        let v = self.slot.with_mut(|p| unsafe { (*p).take() });
        finish_now(&self.sel, self.arm);
        v.expect("queued sender without a value")
    }

    /// `Waiter::fail`: finish without moving anything.
    fn fail(self) {
        finish_now(&self.sel, self.arm);
    }

    fn belongs_to(&self, sel: &Arc<Selection>) -> bool {
        Arc::ptr_eq(&self.sel, sel)
    }
}

/// A miniature unbuffered `Chan`: its `Inner` behind one lock.
struct MiniChan(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    /// Only `put_back` fills it (the channels here are unbuffered).
    buf: VecDeque<u32>,
    closed: bool,
    recvq: VecDeque<Entry>,
    sendq: VecDeque<Entry>,
}

impl MiniChan {
    fn new() -> Arc<MiniChan> {
        Arc::new(MiniChan(Mutex::new(Inner::default())))
    }
}

impl Inner {
    /// `Inner::try_send` with `cap == 0`: the value comes back on failure.
    fn try_send(&mut self, value: u32) -> Result<(), u32> {
        if self.closed {
            return Err(value);
        }
        while let Some(w) = self.recvq.pop_front() {
            if w.claim() {
                w.deliver(Some(value));
                return Ok(());
            }
        }
        Err(value)
    }

    /// `Inner::try_recv` with `cap == 0`. `Err(closed)` when nothing came.
    fn try_recv(&mut self) -> Result<u32, bool> {
        while let Some(w) = self.sendq.pop_front() {
            if w.claim() {
                return Ok(w.take());
            }
        }
        Err(self.closed)
    }

    /// `Inner::close` (`fail_all`).
    fn close(&mut self) {
        self.closed = true;
        for w in std::mem::take(&mut self.recvq) {
            if w.claim() {
                w.deliver(None);
            }
        }
        for w in std::mem::take(&mut self.sendq) {
            if w.claim() {
                w.fail();
            }
        }
    }

    /// `Inner::put_back`: a value a dropped receive future already had.
    fn put_back(&mut self, value: u32) {
        while let Some(w) = self.recvq.pop_front() {
            if w.claim() {
                w.deliver(Some(value));
                return;
            }
        }
        self.buf.push_front(value);
    }

    /// `Inner::dequeue`.
    fn dequeue(&mut self, sel: &Arc<Selection>) {
        self.recvq.retain(|w| !w.belongs_to(sel));
        self.sendq.retain(|w| !w.belongs_to(sel));
    }
}

/// How the owner of a selection waits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Owner {
    /// Without deadline: until an arm is done (`wait(None)`, the parking
    /// replaced by yields).
    Wait,
    /// Its deadline passed at once: `abort`, or `wait_claimed` if it lost
    /// (`wait(Some(deadline))` after the deadline).
    TimeOut,
}

/// The committed arm, or `None` if the owner gave up first.
fn wait(sel: &Selection, owner: Owner) -> Option<usize> {
    match owner {
        Owner::Wait => loop {
            if let Some(arm) = sel.done_arm() {
                return Some(arm);
            }
            thread::yield_now();
        },
        Owner::TimeOut if sel.abort() => None,
        Owner::TimeOut => Some(sel.wait_claimed()),
    }
}

/// The owner is done with `sel`: it is queued nowhere, so it may be freed.
/// Replacing the waker is a write to it, which loom checks against every
/// claimer's read (a claimer touching the selection after `DONE` fails).
fn free(sel: &Selection) {
    let (_, other) = counting_waker();
    // SAFETY: queued nowhere any more (the callers dequeued or were taken).
    unsafe { sel.set_waker(&other) };
}

/// (1) The commit step alone: two claimers race for the two arms of one
/// selection while its owner waits, or times out.
fn commit_step(owner: Owner) {
    loom::model(move || {
        let (count, waker) = counting_waker();
        let sel = Arc::new(Selection::new(waker));
        let slots = [slot(None), slot(None)];
        let claimers: Vec<_> = (0..2)
            .map(|arm| {
                let (sel, slot) = (sel.clone(), slots[arm].clone());
                thread::spawn(move || {
                    if !sel.try_claim(arm) {
                        return false;
                    }
                    // SAFETY: claimed; loom checks it against the reads.
                    slot.with_mut(|p| unsafe { *p = Some(10 + arm as u32) });
                    finish_now(&sel, arm);
                    true
                })
            })
            .collect();
        let outcome = wait(&sel, owner);
        // Read before joining: only the protocol orders these accesses.
        let got = [read(&slots[0]), read(&slots[1])];
        free(&sel);
        let won: Vec<bool> = claimers.into_iter().map(|c| c.join().unwrap()).collect();
        match outcome {
            Some(arm) => {
                assert_eq!(won, [arm == 0, arm == 1], "exactly the committed arm won");
                assert_eq!(got[arm], Some(10 + arm as u32));
                assert_eq!(got[1 - arm], None);
            }
            None => {
                assert_eq!(won, [false, false], "aborted, yet a claim won");
                assert_eq!(got, [None, None]);
            }
        }
        assert_eq!(wakes(&count), usize::from(outcome.is_some()));
    });
}

#[test]
fn loom_commit_two_claimers_wait() {
    commit_step(Owner::Wait);
}

#[test]
fn loom_commit_two_claimers_timeout() {
    commit_step(Owner::TimeOut);
}

/// Locks every channel in order, runs `f`, unlocks in reverse order (as
/// `select::run` does).
fn with_all_locked(chans: &[Arc<MiniChan>], f: impl FnOnce(&mut [&mut Inner])) {
    let mut guards: Vec<_> = chans.iter().map(|c| c.0.lock()).collect();
    let mut inners: Vec<&mut Inner> = guards.iter_mut().map(|g| &mut **g).collect();
    f(&mut inners);
    drop(inners);
    while let Some(g) = guards.pop() {
        drop(g);
    }
}

/// Queues `sel` as a receiver on each of `chans` (arm `i` on `chans[i]`).
fn enqueue_recv(chans: &[Arc<MiniChan>], sel: &Arc<Selection>, slots: &[Slot]) {
    with_all_locked(chans, |inners| {
        for (arm, inner) in inners.iter_mut().enumerate() {
            inner.recvq.push_back(Entry {
                sel: sel.clone(),
                arm,
                slot: slots[arm].clone(),
            });
        }
    });
}

/// Removes `sel`'s entries from every channel, one lock at a time.
fn dequeue(chans: &[Arc<MiniChan>], sel: &Arc<Selection>) {
    for c in chans {
        c.0.lock().dequeue(sel);
    }
}

const VALUES: [u32; 2] = [10, 20];

/// (2) A select receiving from two channels; one sender on each. With
/// `repoll`, the owner re-registers a new waker under both locks while the
/// senders run (an async re-poll). With `TimeOut`, the senders start before
/// the select has enqueued, so they may also find nobody.
fn select_two_senders(owner: Owner, repoll: bool) {
    loom::model(move || {
        let chans = [MiniChan::new(), MiniChan::new()];
        let (first, waker) = counting_waker();
        let sel = Arc::new(Selection::new(waker));
        let slots = [slot(None), slot(None)];
        let spawn_senders = || -> Vec<_> {
            (0..2)
                .map(|i| {
                    let chan = chans[i].clone();
                    thread::spawn(move || chan.0.lock().try_send(VALUES[i]))
                })
                .collect()
        };
        let early = (owner == Owner::TimeOut).then(spawn_senders);
        enqueue_recv(&chans, &sel, &slots);
        let senders = early.unwrap_or_else(spawn_senders);
        // (waker, whether the re-poll found the select done)
        let second = repoll.then(|| {
            let (count, waker) = counting_waker();
            let mut done = false;
            with_all_locked(&chans, |_| {
                done = sel.done_arm().is_some();
                if !done {
                    // SAFETY: every channel it is queued on is locked.
                    unsafe { sel.set_waker(&waker) };
                }
            });
            (count, done)
        });
        let outcome = wait(&sel, owner);
        dequeue(&chans, &sel);
        let got = [read(&slots[0]), read(&slots[1])];
        free(&sel);
        let sent: Vec<Result<(), u32>> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        match outcome {
            Some(arm) => {
                assert_eq!(sent[arm], Ok(()));
                assert_eq!(got[arm], Some(VALUES[arm]));
                // The other sender saw a failed claim (or no entry): it
                // keeps its value.
                assert_eq!(sent[1 - arm], Err(VALUES[1 - arm]));
                assert_eq!(got[1 - arm], None);
            }
            None => {
                assert_eq!(sent, [Err(VALUES[0]), Err(VALUES[1])]);
                assert_eq!(got, [None, None]);
            }
        }
        let woken = usize::from(outcome.is_some());
        match second {
            None => assert_eq!(wakes(&first), woken),
            // Committed before the re-poll: the old waker got the wake.
            Some((_, true)) => assert_eq!(wakes(&first), 1),
            // Otherwise the new one must, never the stale one.
            Some((second, false)) => {
                assert_eq!(wakes(&first), 0, "woke a stale waker");
                assert_eq!(wakes(&second), woken);
            }
        }
        for c in &chans {
            let inner = c.0.lock();
            assert!(inner.recvq.is_empty() && inner.sendq.is_empty());
        }
    });
}

#[test]
fn loom_select_two_senders_wait() {
    select_two_senders(Owner::Wait, false);
}

#[test]
fn loom_select_two_senders_timeout() {
    select_two_senders(Owner::TimeOut, false);
}

#[test]
fn loom_select_two_senders_repoll() {
    select_two_senders(Owner::Wait, true);
}

/// (3a) `close` of one channel races a send on the other: a select
/// receives from both (arm 0 on the closing channel), and a plain receiver
/// waits on the closing one too. Each waiter gets exactly one outcome.
fn close_vs_send(owner: Owner) {
    loom::model(move || {
        let chans = [MiniChan::new(), MiniChan::new()];
        let (sel_count, waker) = counting_waker();
        let sel = Arc::new(Selection::new(waker));
        let slots = [slot(None), slot(None)];
        enqueue_recv(&chans, &sel, &slots);
        let (lone_count, waker) = counting_waker();
        let lone = Arc::new(Selection::new(waker));
        let lone_slot = slot(Some(99)); // must come back `None`: "closed"
        enqueue_recv(&chans[..1], &lone, std::slice::from_ref(&lone_slot));
        let closer = {
            let chan = chans[0].clone();
            thread::spawn(move || chan.0.lock().close())
        };
        let sender = {
            let chan = chans[1].clone();
            thread::spawn(move || chan.0.lock().try_send(VALUES[1]))
        };
        let outcome = wait(&sel, owner);
        dequeue(&chans, &sel);
        let got = [read(&slots[0]), read(&slots[1])];
        free(&sel);
        // The lone receiver has no deadline: `close` must complete it.
        assert_eq!(wait(&lone, Owner::Wait), Some(0));
        assert_eq!(read(&lone_slot), None, "the lone receiver missed the close");
        free(&lone);
        closer.join().unwrap();
        let sent = sender.join().unwrap();
        match outcome {
            Some(0) => {
                assert_eq!(got, [None, None], "closed arm");
                assert_eq!(sent, Err(VALUES[1]));
            }
            Some(1) => {
                assert_eq!(got, [None, Some(VALUES[1])]);
                assert_eq!(sent, Ok(()));
            }
            Some(arm) => panic!("no arm {arm}"),
            None => {
                assert_eq!(got, [None, None]);
                assert_eq!(sent, Err(VALUES[1]));
            }
        }
        assert_eq!(wakes(&sel_count), usize::from(outcome.is_some()));
        assert_eq!(wakes(&lone_count), 1);
    });
}

#[test]
fn loom_close_vs_send_wait() {
    close_vs_send(Owner::Wait);
}

#[test]
fn loom_close_vs_send_timeout() {
    close_vs_send(Owner::TimeOut);
}

/// (3b) `close` races a receive for a waiting sender: either the receiver
/// takes the value (sent) or the close fails the sender, which keeps it.
fn close_vs_recv(owner: Owner) {
    loom::model(move || {
        let chan = MiniChan::new();
        let (count, waker) = counting_waker();
        let sel = Arc::new(Selection::new(waker));
        let value = slot(Some(7));
        chan.0.lock().sendq.push_back(Entry {
            sel: sel.clone(),
            arm: 0,
            slot: value.clone(),
        });
        let closer = {
            let chan = chan.clone();
            thread::spawn(move || chan.0.lock().close())
        };
        let receiver = {
            let chan = chan.clone();
            thread::spawn(move || chan.0.lock().try_recv())
        };
        let outcome = wait(&sel, owner);
        chan.0.lock().dequeue(&sel);
        let kept = read(&value);
        free(&sel);
        closer.join().unwrap();
        let received = receiver.join().unwrap();
        match (outcome, kept) {
            (Some(0), None) => assert_eq!(received, Ok(7), "sent, but not received"),
            (Some(0), Some(7)) => assert_eq!(received, Err(true), "failed, not closed"),
            (None, Some(7)) => assert!(received.is_err(), "timed out, yet received"),
            other => panic!("impossible outcome {other:?}"),
        }
        assert_eq!(wakes(&count), usize::from(outcome.is_some()));
    });
}

#[test]
fn loom_close_vs_recv_wait() {
    close_vs_recv(Owner::Wait);
}

#[test]
fn loom_close_vs_recv_timeout() {
    close_vs_recv(Owner::TimeOut);
}

/// (3c) A receive future is dropped (`RecvWait::cancel`: under the lock,
/// dequeue, then put back whatever its slot already holds) while a send
/// races it; a second receiver, with a deadline, waits behind it. The value
/// ends up in exactly one place: with the sender, with the second receiver,
/// or back in the buffer.
#[test]
fn loom_cancel_vs_send() {
    loom::model(|| {
        let chan = MiniChan::new();
        let (_, waker) = counting_waker();
        let dropped = Arc::new(Selection::new(waker));
        let dropped_slot = slot(None);
        enqueue_recv(
            std::slice::from_ref(&chan),
            &dropped,
            std::slice::from_ref(&dropped_slot),
        );
        let (count, waker) = counting_waker();
        let second = Arc::new(Selection::new(waker));
        let second_slot = slot(None);
        enqueue_recv(
            std::slice::from_ref(&chan),
            &second,
            std::slice::from_ref(&second_slot),
        );
        let sender = {
            let chan = chan.clone();
            thread::spawn(move || chan.0.lock().try_send(5))
        };
        {
            // `RecvWait::cancel`: no look at the state, only the slot, and
            // only under the lock.
            let mut inner = chan.0.lock();
            inner.dequeue(&dropped);
            // SAFETY: under the lock that every writer of the slot holds.
            if let Some(v) = dropped_slot.with_mut(|p| unsafe { (*p).take() }) {
                inner.put_back(v);
            }
        }
        free(&dropped);
        let outcome = wait(&second, Owner::TimeOut);
        chan.0.lock().dequeue(&second);
        let got = read(&second_slot);
        free(&second);
        let sent = sender.join().unwrap();
        let buffered: Vec<u32> = chan.0.lock().buf.drain(..).collect();
        let mut places = Vec::new();
        if let Err(v) = sent {
            places.push(("sender", v));
        }
        if let Some(v) = got {
            assert_eq!(outcome, Some(0));
            places.push(("second receiver", v));
        }
        places.extend(buffered.into_iter().map(|v| ("buffer", v)));
        assert_eq!(places.len(), 1, "the value is in {places:?}");
        assert_eq!(places[0].1, 5);
        assert_eq!(wakes(&count), usize::from(outcome.is_some()));
    });
}

/// (7) Park against claim, as a goroutine does it: the owner looks
/// (`check`), parks through its token (consume, or switch out and let its M
/// make the park real, then sleep until queued), and looks again; claimers
/// finish it through the goroutine path of `finish`. With `stale_token` the
/// owner starts with a token left by an earlier wait (a wake that landed
/// after it had already seen its outcome), which is what made the M's
/// failed park and a waker's no-op race. A lost wake-up is a loom deadlock.
fn park_vs_claimers(stale_token: bool, claimers: usize) {
    loom::model(move || {
        let g = Arc::new(ModelG::new());
        if stale_token {
            assert!(!g.park.wake(), "a running goroutine is not queued");
        }
        let sel = Arc::new(Selection::new(g.waker()));
        let slots: Vec<Slot> = (0..claimers).map(|_| slot(None)).collect();
        let handles: Vec<_> = (0..claimers)
            .map(|arm| {
                let (sel, slot, g) = (sel.clone(), slots[arm].clone(), g.clone());
                thread::spawn(move || {
                    if sel.try_claim(arm) {
                        // SAFETY: claimed: the slot is ours until `finish`.
                        slot.with_mut(|p| unsafe { *p = Some(arm as u32) });
                        finish_now(&sel, arm);
                    }
                    drop(g);
                })
            })
            .collect();
        let arm = loop {
            if let Some(arm) = sel.check() {
                break arm;
            }
            g.park();
        };
        assert_eq!(read(&slots[arm]), Some(arm as u32));
        for h in handles {
            h.join().unwrap();
        }
        for (i, s) in slots.iter().enumerate() {
            if i != arm {
                assert_eq!(read(s), None, "a second arm committed");
            }
        }
    });
}

#[test]
fn loom_park_one_claimer() {
    park_vs_claimers(false, 1);
}

#[test]
fn loom_park_one_claimer_stale_token() {
    park_vs_claimers(true, 1);
}

#[test]
fn loom_park_two_claimers_stale_token() {
    park_vs_claimers(true, 2);
}

/// (8) Two waits in a row by one goroutine, each finished by its own
/// claimer: the first wake-up may land after the goroutine saw `DONE`, and
/// its token must then neither be lost for nor swallow the second wake-up.
/// The second selection is offered to its claimer only once the goroutine
/// is done with the first (as a real one is only queued then).
#[test]
fn loom_park_two_waits_in_a_row() {
    loom::model(|| {
        let g = Arc::new(ModelG::new());
        let first = Arc::new(Selection::new(g.waker()));
        let second = Arc::new(Selection::new(g.waker()));
        let queued = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let a = {
            let (sel, g) = (first.clone(), g.clone());
            thread::spawn(move || {
                assert!(sel.try_claim(0));
                finish_now(&sel, 0);
                drop(g);
            })
        };
        let b = {
            let (sel, g, queued) = (second.clone(), g.clone(), queued.clone());
            thread::spawn(move || {
                while !queued.load(SeqCst) {
                    thread::yield_now();
                }
                assert!(sel.try_claim(1));
                finish_now(&sel, 1);
                drop(g);
            })
        };
        for (sel, want) in [(&first, 0), (&second, 1)] {
            let arm = loop {
                if let Some(arm) = sel.check() {
                    break arm;
                }
                g.park();
            };
            assert_eq!(arm, want);
            queued.store(true, SeqCst);
        }
        a.join().unwrap();
        b.join().unwrap();
    });
}
