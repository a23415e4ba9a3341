//! Timers: per-P heaps of deadlines, each waking a [`Waker`], and the rule
//! that decides which idle M sleeps until the earliest of them (Go's
//! `checkTimers` and the netpoller's sleep delay).
//!
//! # What this module protects
//!
//! - Each [`TimerHeap`] (one per P, plus one global) is a min-heap ordered by
//!   (deadline, sequence number), so equal deadlines fire in the order they
//!   were added. Its lock is held only for heap work, never while a waker
//!   runs or is dropped. `earliest` is the heap's top deadline (or [`NONE`]),
//!   readable without the lock: never later than the live minimum, but it
//!   may be earlier when the top entry was cancelled (one spurious wake-up).
//! - A timer lives with the P whose goroutine added it, as in Go: the M that
//!   owns that P runs it at its next scheduling point, so a goroutine that
//!   sleeps and wakes stays on its core. Timers added off the runtime (a
//!   plain thread, async code, a goroutine inside `blocking`) go to the
//!   global heap, which every M looks at with its own. Rejected: a P chosen
//!   round-robin, which would spread those rare timers over heaps whose
//!   owners may all be asleep, and gain nothing over one heap.
//! - Cancelling marks the entry dead through its slot (lazy deletion: the
//!   slot's sequence number no longer matches) and drops the waker at once;
//!   the entry itself stays in the heap (a stop costs no O(log n) pop, as in
//!   Go) until it reaches the top while timers run, or until dead entries
//!   exceed half the heap and it is rebuilt. A slot is
//!   reused only with a fresh sequence number, so a stale key never cancels a
//!   stranger. An empty heap also empties its slot table.
//!
//! # Who sleeps until the next timer
//!
//! At most one idle M at a time sleeps with a timeout, until the earliest
//! deadline of all heaps (`idle.rs` has that protocol: the sleeper, and
//! `idle::notify`, which whoever makes a heap's
//! minimum earlier calls afterwards).
//!
//! Rejected: a hierarchical timing wheel (O(1) insert, but it ticks: some
//! thread must wake every tick even when nothing is due, and the resolution
//! is the tick); a dedicated timer thread (one more thread wake on every
//! expiry, and the woken goroutine lands on a queue of no P's choosing).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::task::Waker;
use std::time::Instant;

use crate::loom::{AtomicU64, Mutex, Ordering};
use crate::runtime::idle::notify;
use crate::runtime::m;
use crate::runtime::p::P;
use crate::runtime::sched::{rt, Runtime};

/// "No timer" (as a deadline) and "no sleeper's timeout".
pub(crate) const NONE: u64 = u64::MAX;

/// The heap index a [`TimerKey`] gives for the global heap.
const GLOBAL: u32 = u32::MAX;

/// How many expired wakers are taken out of a heap per lock.
const BATCH: usize = 32;

/// Sysmon runs timers itself once they are this late (all Ms busy).
pub(crate) const OVERDUE_NS: u64 = 1_000_000;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Deadlines are nanoseconds since the first use of timers, so a heap's
/// minimum fits one atomic word. Any thread.
pub(crate) fn to_nanos(t: Instant) -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    let ns = t.saturating_duration_since(epoch).as_nanos();
    ns.min(u128::from(NONE - 1)) as u64
}

/// Now, in the units of [`to_nanos`]. Any thread.
pub(crate) fn now_nanos() -> u64 {
    to_nanos(Instant::now())
}

/// Names one registered timer, for [`cancel`]. Copyable and stale-safe:
/// cancelling a timer that has fired (or was cancelled) does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    heap: u32,
    slot: u32,
    seq: u64,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    when: u64,
    seq: u64,
    slot: u32,
}

/// A slot holds the waker of the live timer whose `seq` it carries; `seq`
/// 0 means free.
struct Slot {
    seq: u64,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Heap {
    heap: BinaryHeap<Reverse<Entry>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    dead: usize,
    next_seq: u64,
}

impl Heap {
    fn live(slots: &[Slot], e: &Entry) -> bool {
        slots.get(e.slot as usize).is_some_and(|s| s.seq == e.seq)
    }

    fn push(&mut self, when: u64, waker: Waker) -> (u32, u64) {
        self.next_seq += 1;
        let seq = self.next_seq;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Slot {
                    seq,
                    waker: Some(waker),
                };
                i
            }
            None => {
                let i = u32::try_from(self.slots.len()).expect("over 4G timers on one P");
                self.slots.push(Slot {
                    seq,
                    waker: Some(waker),
                });
                i
            }
        };
        self.heap.push(Reverse(Entry { when, seq, slot }));
        (slot, seq)
    }

    /// Frees the slot of a live timer and returns its waker.
    fn take(&mut self, slot: u32) -> Option<Waker> {
        let s = &mut self.slots[slot as usize];
        s.seq = 0;
        self.free.push(slot);
        s.waker.take()
    }

    /// The live minimum, popping dead entries off the top; resets the slot
    /// table once the heap is empty.
    fn min(&mut self) -> u64 {
        while let Some(Reverse(top)) = self.heap.peek() {
            if Self::live(&self.slots, top) {
                return top.when;
            }
            self.heap.pop();
            self.dead -= 1;
        }
        self.dead = 0;
        self.slots.clear();
        self.free.clear();
        if self.slots.capacity() > 4096 {
            self.slots.shrink_to(4096);
            self.free.shrink_to(4096);
        }
        NONE
    }
}

/// One heap of timers (see the module docs).
pub(crate) struct TimerHeap {
    inner: Mutex<Heap>,
    earliest: AtomicU64,
}

impl TimerHeap {
    pub(crate) fn new() -> TimerHeap {
        TimerHeap {
            inner: Mutex::new(Heap::default()),
            earliest: AtomicU64::new(NONE),
        }
    }

    /// The earliest live deadline, or [`NONE`]; racy. Any thread.
    pub(crate) fn earliest(&self) -> u64 {
        self.earliest.load(Ordering::Acquire)
    }

    /// Adds a timer; true in the third place if it is the heap's new
    /// minimum. Any thread.
    pub(crate) fn add(&self, when: u64, waker: Waker) -> (u32, u64, bool) {
        let mut h = self.inner.lock();
        let (slot, seq) = h.push(when, waker);
        let first = when < self.earliest.load(Ordering::Relaxed);
        if first {
            self.earliest.store(when, Ordering::Release);
        }
        (slot, seq, first)
    }

    /// Cancels a timer; true if it had not fired. The waker is dropped
    /// after the lock is released. Any thread.
    fn cancel(&self, slot: u32, seq: u64) -> bool {
        let waker = {
            let mut h = self.inner.lock();
            if !Heap::live(&h.slots, &Entry { when: 0, seq, slot }) {
                return false;
            }
            let waker = h.take(slot);
            h.dead += 1;
            // The dead entry stays where it is (no O(log n) pop per stop, as
            // Go's deleted timers): `earliest` may now be early, never late,
            // which costs at most one spurious wake-up. Past half dead, the
            // heap is rebuilt (amortised O(1) per cancel) and exact again.
            if h.dead > h.heap.len() / 2 {
                let Heap { heap, slots, .. } = &mut *h;
                heap.retain(|Reverse(e)| Heap::live(slots, e));
                h.dead = 0;
                let min = h.min();
                self.earliest.store(min, Ordering::Release);
            }
            waker
        };
        drop(waker);
        true
    }

    /// Wakes every timer due at `now`, in (deadline, sequence) order, outside
    /// the lock. Returns how many fired. Any thread.
    pub(crate) fn run(&self, now: u64) -> usize {
        let mut fired = 0;
        while self.earliest() <= now {
            let mut batch: [Option<Waker>; BATCH] = std::array::from_fn(|_| None);
            let mut n = 0;
            {
                let mut h = self.inner.lock();
                while n < BATCH {
                    match h.heap.peek() {
                        Some(Reverse(top)) if top.when <= now => {}
                        _ => break,
                    }
                    let Some(Reverse(e)) = h.heap.pop() else {
                        break;
                    };
                    if Heap::live(&h.slots, &e) {
                        batch[n] = h.take(e.slot);
                        n += 1;
                    } else {
                        h.dead -= 1;
                    }
                }
                let min = h.min();
                self.earliest.store(min, Ordering::Release);
            }
            for w in batch.iter_mut().take(n).filter_map(Option::take) {
                w.wake();
            }
            fired += n;
        }
        fired
    }

    #[cfg(all(test, not(loom)))]
    fn len(&self) -> (usize, usize) {
        let h = self.inner.lock();
        (h.heap.len(), h.dead)
    }
}

/// The runtime's timer state beyond the per-P heaps.
pub(crate) struct Timers {
    pub(crate) global: TimerHeap,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            global: TimerHeap::new(),
        }
    }
}

fn heap(rt: &'static Runtime, index: u32) -> &'static TimerHeap {
    match index {
        GLOBAL => &rt.timers.global,
        i => &rt.ps[i as usize].timers,
    }
}

/// The earliest deadline over all heaps, or [`NONE`]. Any thread.
pub(crate) fn earliest(rt: &Runtime) -> u64 {
    rt.ps
        .iter()
        .map(|p| p.timers.earliest())
        .fold(rt.timers.global.earliest(), u64::min)
}

/// Registers `waker` to be woken once `deadline` has passed: on the calling
/// goroutine's P, or the global heap off the runtime. Any thread. Starts the
/// runtime if needed.
pub(crate) fn register(deadline: Instant, waker: Waker) -> TimerKey {
    let rt = rt();
    let when = to_nanos(deadline);
    let mut waker = Some(waker);
    let local = m::with_p(|p| {
        let w = waker.take().expect("waker");
        let (slot, seq, first) = p.p().timers.add(when, w);
        (p.p().index as u32, slot, seq, first)
    });
    let (heap, slot, seq, first, local) = match local {
        Some((h, slot, seq, first)) => (h, slot, seq, first, true),
        None => {
            let w = waker.take().expect("waker");
            let (slot, seq, first) = rt.timers.global.add(when, w);
            (GLOBAL, slot, seq, first, false)
        }
    };
    if first {
        notify(rt, when, local);
    }
    TimerKey { heap, slot, seq }
}

/// Cancels a timer: true if it had not fired yet, in which case it never
/// will and its waker has been dropped. Any thread.
pub(crate) fn cancel(key: TimerKey) -> bool {
    heap(rt(), key.heap).cancel(key.slot, key.seq)
}

/// The earliest deadline in `p`'s heap and the global one ([`NONE`]: none).
/// Any thread.
#[inline]
fn first_deadline(rt: &Runtime, p: &P) -> u64 {
    p.timers.earliest().min(rt.timers.global.earliest())
}

/// True if a timer of `p` or of the global heap is due. Any thread.
#[inline]
pub(crate) fn due(rt: &Runtime, p: &P) -> bool {
    let e = first_deadline(rt, p);
    e != NONE && e <= now_nanos()
}

/// Runs the due timers of `p` and of the global heap (Go's `checkTimers`).
/// The M that holds `p`, in scheduler code (what the timers wake lands on
/// its queue).
pub(crate) fn check(rt: &'static Runtime, p: &'static P) {
    let e = first_deadline(rt, p);
    if e == NONE {
        return;
    }
    let now = now_nanos();
    if e <= now {
        p.timers.run(now);
        rt.timers.global.run(now);
    }
}

/// Runs every due timer of every heap. Any thread (the sleeper, sysmon).
pub(crate) fn run_all(rt: &'static Runtime, now: u64) -> usize {
    let mut n = rt.timers.global.run(now);
    for p in rt.ps.iter() {
        n += p.timers.run(now);
    }
    n
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Mutex as StdMutex};
    use std::task::Wake;

    struct Rec(usize, Arc<StdMutex<Vec<usize>>>);
    impl Wake for Rec {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Through the runtime: the global heap (a plain thread registers), and
    /// the idle sleeper that fires it.
    #[test]
    #[cfg_attr(miri, ignore)] // starts the runtime: goroutine stacks, threads
    fn runtime_fires_in_fifo_order_and_cancel_drops_the_waker() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let deadline = Instant::now() + std::time::Duration::from_millis(20);
        for i in 0..200 {
            register(deadline, Waker::from(Arc::new(Rec(i, log.clone()))));
        }
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let key = register(deadline, Waker::from(c.clone()));
        assert_eq!(Arc::strong_count(&c), 2);
        assert!(cancel(key));
        assert_eq!(Arc::strong_count(&c), 1, "the waker is dropped at once");
        assert!(!cancel(key));
        let t0 = Instant::now();
        while log.lock().unwrap().len() < 200 {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(5),
                "timers lost"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(Instant::now() >= deadline);
        assert_eq!(*log.lock().unwrap(), (0..200).collect::<Vec<_>>());
        assert_eq!(c.0.load(Ordering::Relaxed), 0, "a cancelled timer fired");
    }

    /// Prints the cost of registering and cancelling timers, one at a time
    /// and in bulk: `cargo test --release --lib measure_ -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore]
    fn measure_register_cancel() {
        const N: u32 = 1_000_000;
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(c.clone());
        let far = Instant::now() + std::time::Duration::from_secs(3600);
        let _ = cancel(register(far, waker.clone())); // start the runtime
        let t0 = Instant::now();
        for i in 0..N {
            let key = register(
                far + std::time::Duration::from_nanos(u64::from(i)),
                waker.clone(),
            );
            cancel(key);
        }
        let one = t0.elapsed() / N;
        let t0 = Instant::now();
        let keys: Vec<_> = (0..N)
            .map(|i| {
                register(
                    far + std::time::Duration::from_nanos(u64::from(i % 997)),
                    waker.clone(),
                )
            })
            .collect();
        let added = t0.elapsed() / N;
        let t0 = Instant::now();
        for k in keys {
            cancel(k);
        }
        let cancelled = t0.elapsed() / N;
        println!(
            "{N} timers: register+cancel {one:?}/op; in bulk: register {added:?}/op, \
             cancel {cancelled:?}/op (plain thread, global heap)"
        );
        let h = std::thread::spawn(move || {
            crate::go(move || {
                let t0 = Instant::now();
                for i in 0..N {
                    let key = register(
                        far + std::time::Duration::from_nanos(u64::from(i)),
                        waker.clone(),
                    );
                    cancel(key);
                }
                t0.elapsed() / N
            })
            .join()
            .unwrap()
        });
        println!(
            "register+cancel on a goroutine (its P's heap): {:?}/op",
            h.join().unwrap()
        );
        assert_eq!(Arc::strong_count(&c), 1);
    }

    #[test]
    fn equal_deadlines_fire_fifo() {
        let h = TimerHeap::new();
        let log = Arc::new(StdMutex::new(Vec::new()));
        for i in 0..100 {
            h.add(50, Waker::from(Arc::new(Rec(i, log.clone()))));
        }
        h.add(10, Waker::from(Arc::new(Rec(1000, log.clone()))));
        assert_eq!(h.earliest(), 10);
        assert_eq!(h.run(49), 1);
        assert_eq!(h.run(50), 100);
        let mut want = vec![1000];
        want.extend(0..100);
        assert_eq!(*log.lock().unwrap(), want);
        assert_eq!(h.earliest(), NONE);
    }

    #[test]
    fn cancel_drops_waker_and_never_fires() {
        let h = TimerHeap::new();
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let (slot, seq, _) = h.add(5, Waker::from(c.clone()));
        let (slot2, seq2, _) = h.add(7, Waker::from(c.clone()));
        assert_eq!(Arc::strong_count(&c), 3);
        assert!(h.cancel(slot, seq));
        assert_eq!(Arc::strong_count(&c), 2);
        assert!(h.earliest() <= 7, "never later than the live minimum");
        assert_eq!(h.run(6), 0, "a dead top does not fire");
        assert_eq!(h.earliest(), 7, "exact again once timers ran");
        assert!(!h.cancel(slot, seq), "twice");
        assert_eq!(h.run(100), 1);
        assert!(!h.cancel(slot2, seq2), "after firing");
        assert_eq!(Arc::strong_count(&c), 1);
        assert_eq!(c.0.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn stale_key_does_not_cancel_a_reused_slot() {
        let h = TimerHeap::new();
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let _keep = h.add(1_000, Waker::from(c.clone()));
        let (slot, seq, _) = h.add(5, Waker::from(c.clone()));
        assert!(h.cancel(slot, seq));
        let (slot2, seq2, _) = h.add(6, Waker::from(c.clone()));
        assert_eq!(slot, slot2, "the slot is reused");
        assert!(!h.cancel(slot, seq));
        assert!(h.cancel(slot2, seq2));
    }

    #[test]
    fn dead_entries_are_compacted() {
        let h = TimerHeap::new();
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let _first = h.add(1, Waker::from(c.clone()));
        let keys: Vec<_> = (0..1000)
            .map(|i| h.add(1000 - i, Waker::from(c.clone())))
            .collect();
        for (slot, seq, _) in keys {
            assert!(h.cancel(slot, seq));
            let (len, dead) = h.len();
            assert!(dead <= len / 2 + 1, "{dead} dead of {len}");
        }
        assert_eq!(Arc::strong_count(&c), 2);
        assert!(h.len().0 <= 2, "{:?}", h.len());
        assert_eq!(h.earliest(), 1);
    }
}
