//! Idle Ps, idle Ms, spinning Ms and the timer sleeper: how new work finds a
//! thread to run it, and how a thread without work goes to sleep without
//! losing any (Go's `pidle`/`midle`, `wakep`, `startm`, `handoffp`, `stopm`,
//! and the netpoller's sleep until the next timer).
//!
//! # What this module protects
//!
//! - `lists` (one lock, Go's `sched.lock`): the idle Ps (their [`IdleP`]
//!   tokens) and the idle Ms. A P is on the list exactly when no M runs on it
//!   and nobody is handing it over; an M is on it exactly when it sleeps in
//!   [`Runtime::stop_m`] waiting to be handed a P. `npidle` mirrors the P
//!   list's length, readable without the lock.
//! - `nmspinning` counts Ms that hold a P, have no work and are looking for
//!   some. At most half the busy Ps' worth spin (Go's rule), so a burst of
//!   wake-ups does not become a herd of thieves.
//! - The sleeper (`sleeper`, `sleep_until`): at most one idle M sleeps with a
//!   timeout, until the earliest timer of all heaps; every other idle M
//!   parks with none, so nothing wakes periodically when nothing is due.
//! - An M's [`NextP`] slot: a P (and maybe a goroutine) handed to it while it
//!   sleeps; the P is published last and is the signal.
//!
//! # The no-lost-wakeup rules (from Go's `proc.go`)
//!
//! 1. Whoever makes work available (a push to any run queue) calls
//!    [`Runtime::wake_p`] afterwards. An M that stops spinning re-checks every
//!    queue *after* decrementing `nmspinning`, with a full fence between
//!    ([`Runtime::give_up_p`]): either the waker sees `nmspinning == 0` and
//!    starts an M, or the spinner sees the work. The waker has no fence (it
//!    would cost every spawn and wake-up): on x86 its push to its own P may
//!    still sit in its store buffer when the spinner looks. Such work is only
//!    delayed, never lost: it sits on the waker's own P, whose M runs it at
//!    its next scheduling point, or sysmon hands that P on within ~10 ms.
//! 2. The global queue against idle Ps: a thread without a P pushes there
//!    (`SeqCst` length) and then reads `npidle` (`wake_p`); an M that gives
//!    its P up publishes the idle P, fences, then reads the global queue
//!    ([`Runtime::release_idle_p`], [`Runtime::hand_off_p`]). One of the two
//!    sees the other.
//! 3. Timers against the sleeper: whoever makes a heap's minimum earlier
//!    publishes it, fences, and reads `sleeper`/`sleep_until` ([`notify`]);
//!    the sleeper publishes `sleeper`/`sleep_until`, fences, and reads the
//!    heaps ([`sleeper_deadline`]); one leaving the role publishes, fences,
//!    and reads the heaps too ([`step_down`]). So either the adder wakes (or
//!    kicks) the sleeper, or the sleeper sees the new deadline. With no
//!    sleeper, a timer on the adder's own P needs nobody (its M looks at that
//!    heap at its next scheduling point and takes the role before it
//!    sleeps); otherwise an idle M is kicked to take the role (or, with none
//!    idle, every M is busy and each looks at the heaps as it schedules;
//!    sysmon runs timers overdue by more than a millisecond).
//!
//! Rules 1 and 2 are model-checked with the real code (`loom_idle_*`), and
//! so is rule 3 (`loom_sleeper_*`).

use std::ptr::{self, NonNull};
use std::time::Duration;

use crate::loom::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::runtime::g::{GRef, G};
use crate::runtime::m::M;
use crate::runtime::p::{ClaimedP, IdleP, P};
use crate::runtime::sched::Runtime;
use crate::runtime::timers::{self, now_nanos, NONE};

/// The idle protocol's state (module docs), one per runtime.
pub(crate) struct Idle {
    lists: Mutex<Lists>,
    npidle: AtomicUsize,
    pub(crate) nmspinning: AtomicUsize,
    /// The idle M that sleeps until the earliest deadline, or null.
    sleeper: AtomicPtr<M>,
    /// The deadline the sleeper sleeps until ([`NONE`]: no timeout).
    sleep_until: AtomicU64,
}

struct Lists {
    ps: Vec<IdleP>,
    ms: Vec<&'static M>,
}

impl Idle {
    /// No P and no M yet.
    pub(crate) fn new() -> Idle {
        Idle {
            npidle: AtomicUsize::new(0),
            lists: Mutex::new(Lists {
                ps: Vec::new(),
                ms: Vec::new(),
            }),
            nmspinning: AtomicUsize::new(0),
            sleeper: AtomicPtr::new(ptr::null_mut()),
            sleep_until: AtomicU64::new(NONE),
        }
    }

    /// Puts the Ps of `ps` on the idle list (the last taken first). Once, at
    /// the runtime's start.
    pub(crate) fn fill(&self, ps: Vec<IdleP>) {
        let mut lists = self.lists.lock();
        self.npidle.fetch_add(ps.len(), Ordering::AcqRel);
        lists.ps.extend(ps);
    }

    /// The sleeper, if any. Any thread.
    pub(crate) fn sleeper(&self) -> *const M {
        self.sleeper.load(Ordering::Acquire)
    }
}

/// The slot through which a sleeping M is given a P, and maybe a goroutine
/// to run first (Go's `m.nextp`).
pub(crate) struct NextP {
    p: AtomicPtr<P>,
    g: AtomicPtr<G>,
    spinning: AtomicBool,
}

impl NextP {
    pub(crate) fn new() -> Self {
        NextP {
            p: AtomicPtr::new(ptr::null_mut()),
            g: AtomicPtr::new(ptr::null_mut()),
            spinning: AtomicBool::new(false),
        }
    }

    /// The giver's side: G and spinning first, P last (it is the signal).
    /// Any thread, for an M that sleeps waiting for it.
    pub(crate) fn give(&self, p: IdleP, g: Option<GRef>, spinning: bool) {
        let g = g.map_or(ptr::null_mut(), NonNull::as_ptr);
        self.g.store(g, Ordering::Relaxed);
        self.spinning.store(spinning, Ordering::Relaxed);
        self.p.store(p.into_raw().as_ptr(), Ordering::Release);
    }

    /// The sleeping M's side: `Some` once a P has been given. Only the M.
    pub(crate) fn take(&self) -> Option<(IdleP, Option<GRef>, bool)> {
        let p = NonNull::new(self.p.swap(ptr::null_mut(), Ordering::Acquire))?;
        let g = NonNull::new(self.g.swap(ptr::null_mut(), Ordering::Relaxed));
        let spinning = self.spinning.load(Ordering::Relaxed);
        // SAFETY: `give` stored it from `into_raw`, and the swap took it
        // exactly once.
        Some((unsafe { IdleP::from_raw(p) }, g, spinning))
    }
}

impl Runtime {
    pub(crate) fn npidle(&self) -> usize {
        self.idle.npidle.load(Ordering::Acquire)
    }

    /// Takes an idle P. With the lists locked.
    fn pidle_get(&self, lists: &mut Lists) -> Option<IdleP> {
        let p = lists.ps.pop()?;
        self.idle.npidle.fetch_sub(1, Ordering::AcqRel);
        // A P gets busy: sysmon must watch it again.
        self.sysmon.wake();
        Some(p)
    }

    fn pidle_put(&self, lists: &mut Lists, p: IdleP) {
        lists.ps.push(p);
        self.idle.npidle.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes an idle P if there is one. Any thread.
    pub(crate) fn try_get_idle_p(&self) -> Option<IdleP> {
        if self.npidle() == 0 {
            return None;
        }
        self.pidle_get(&mut self.idle.lists.lock())
    }

    /// Makes sure someone will look at newly available work: if a P is idle
    /// and no M is spinning, start one spinning. Any thread (Go's `wakep`).
    pub(crate) fn wake_p(&'static self) {
        // `SeqCst` pairs with the publish-fence-look of rule 2 (module docs):
        // the pusher's `SeqCst` store of the global queue's length and this
        // `SeqCst` load are ordered in the single total order, so they and
        // the other side's fence cannot both miss. (Free on x86: a plain
        // load after the store's `xchg`.) loom models `SeqCst` accesses as
        // acquire/release only, and `SeqCst` fences fully, so its build puts
        // the fence this pair amounts to here.
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        if self.idle.npidle.load(Ordering::SeqCst) == 0
            || self.idle.nmspinning.load(Ordering::Acquire) != 0
        {
            return;
        }
        if self
            .idle
            .nmspinning
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        self.start_m(None, true);
    }

    /// Runs `p` (or an idle P if `None`) on an idle or new M. With `spinning`,
    /// the caller has already counted the M in `nmspinning`; if no P can be
    /// had that count is undone. Any thread (Go's `startm`).
    pub(crate) fn start_m(&'static self, p: Option<IdleP>, spinning: bool) {
        let mut lists = self.idle.lists.lock();
        let p = match p.or_else(|| self.pidle_get(&mut lists)) {
            Some(p) => p,
            None => {
                drop(lists);
                if spinning {
                    self.idle.nmspinning.fetch_sub(1, Ordering::AcqRel);
                }
                return;
            }
        };
        // Prefer an M other than the timer sleeper: waking it would move
        // the sleeper's role, and cost a second wake-up.
        let n = lists.ms.len();
        if n > 1 && ptr::eq(lists.ms[n - 1], self.idle.sleeper()) {
            lists.ms.swap(n - 1, n - 2);
        }
        let sleeper = lists.ms.pop();
        drop(lists);
        match sleeper {
            Some(m) => m.wake_with(p, None, spinning),
            None => crate::runtime::m::spawn_m(self, p, spinning),
        }
    }

    /// Gives away the P of an M that stops running goroutines for a while
    /// (it blocks, or it lost the P to sysmon): to a new M if there is work
    /// for it, else to the idle list. Any thread (Go's `handoffp`).
    pub(crate) fn hand_off_p(&'static self, p: IdleP) {
        // Pairs with `ready`'s `SeqCst` offer and ownership check: after the
        // P was taken, either we see the offered goroutine or `ready` sees
        // the P gone (and wakes an M).
        fence(Ordering::SeqCst);
        if !p.p().runq().is_empty() || !self.global.is_empty() {
            self.start_m(Some(p), false);
            return;
        }
        if self.idle.nmspinning.load(Ordering::Acquire) + self.npidle() == 0
            && self
                .idle
                .nmspinning
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.start_m(Some(p), true);
            return;
        }
        let heap = &p.p().timers;
        let mut lists = self.idle.lists.lock();
        self.pidle_put(&mut lists, p);
        drop(lists);
        // Rule 2: publish, fence, look again.
        fence(Ordering::SeqCst);
        if !self.global.is_empty() {
            self.wake_p();
        }
        // Its timers now have no M: the sleeper must cover them.
        let when = heap.earliest();
        if when != NONE {
            notify(self, when, false);
        }
    }

    /// An M gives up `p` because it found no work. Returns a P back (the
    /// same or another) if work showed up on the global queue meanwhile, in
    /// which case the caller runs again with it. Only the M that held `p`.
    pub(crate) fn release_idle_p(&self, p: IdleP) -> Option<IdleP> {
        let mut lists = self.idle.lists.lock();
        // Rule 2: publish the idle P first, then look at the global queue.
        // Looking first and publishing after would let both sides miss (a
        // goroutine on the global queue and every M asleep).
        self.pidle_put(&mut lists, p);
        fence(Ordering::SeqCst);
        if self.global.is_empty() {
            return None;
        }
        self.pidle_get(&mut lists)
    }

    /// An M that found no work anywhere gives its P up. `Some`: work showed
    /// up meanwhile and the M holds a P again (spinning, if it re-checked as
    /// a spinner); `None`: it holds none and should sleep (`stop_m`). Only
    /// `m`'s thread (the end of Go's `findRunnable`).
    pub(crate) fn give_up_p(&'static self, m: &'static M, p: ClaimedP) -> Option<ClaimedP> {
        let idle = m.stop_running_on(p);
        if let Some(p) = self.release_idle_p(idle) {
            return Some(m.run_on(p));
        }
        if !m.stop_spinning() {
            return None;
        }
        self.idle.nmspinning.fetch_sub(1, Ordering::AcqRel);
        // Rule 1: the decrement must be visible before we read the queues.
        fence(Ordering::SeqCst);
        if !self.any_work() {
            return None;
        }
        let p = self.try_get_idle_p()?;
        m.set_spinning(true);
        self.idle.nmspinning.fetch_add(1, Ordering::AcqRel);
        Some(m.run_on(p))
    }

    /// After a spinning M stopped spinning: is there any work left anywhere?
    /// Any thread; a racy look that rule 1 relies on.
    pub(crate) fn any_work(&self) -> bool {
        !self.global.is_empty() || self.ps.iter().any(|p| !p.runq().is_empty())
    }

    /// Puts `m` to sleep on the idle list until it is handed a P, and
    /// returns the P and maybe a goroutine to run first. Only `m`'s own
    /// thread (Go's `stopm`).
    pub(crate) fn stop_m(&'static self, m: &'static M) -> (ClaimedP, Option<GRef>) {
        m.drain_cells();
        self.idle.lists.lock().ms.push(m);
        self.idle_wait(m)
    }

    /// Sleeps on the idle list until handed a P. Meanwhile, if it is (or
    /// becomes) the timer sleeper, it sleeps only until the earliest timer,
    /// then leaves the list, takes an idle P as a spinning M and runs the due
    /// timers. Only `m`'s own thread, right after putting itself on the list.
    fn idle_wait(&'static self, m: &'static M) -> (ClaimedP, Option<GRef>) {
        loop {
            if let Some((p, g, spinning)) = m.next.take() {
                step_down(self, m);
                let p = m.run_on(p);
                m.set_spinning(spinning);
                return (p, g);
            }
            let until = match sleeper_deadline(self, m) {
                None | Some(NONE) => {
                    m.parker.park();
                    continue;
                }
                Some(until) => until,
            };
            let now = now_nanos();
            if until > now {
                m.parker.park_timeout(Duration::from_nanos(until - now));
                continue;
            }
            let Some(p) = self.unidle_m(m) else {
                // Popped by a waker that is handing us a P: it unparks us.
                m.parker.park();
                continue;
            };
            let Some(p) = p else {
                // Every P is busy: the woken goroutines wait on the global
                // queue, and we stay the sleeper.
                timers::run_all(self, now_nanos());
                self.idle.lists.lock().ms.push(m);
                continue;
            };
            let p = m.run_on(p);
            // Spinning, so the wake-ups below start no other M; finding work
            // then wakes one more if a P is idle (`reset_spinning`).
            m.set_spinning(true);
            self.idle.nmspinning.fetch_add(1, Ordering::AcqRel);
            timers::run_all(self, now_nanos());
            step_down(self, m);
            return (p, None);
        }
    }

    /// Sleeps until handed a P, off the idle list (a locked M: Go's
    /// `stoplockedm`). Only `m`'s own thread.
    pub(crate) fn sleep_until_handed(&self, m: &'static M) -> (ClaimedP, Option<GRef>) {
        loop {
            if let Some((p, g, spinning)) = m.next.take() {
                let p = m.run_on(p);
                m.set_spinning(spinning);
                return (p, g);
            }
            m.parker.park();
        }
    }

    /// The timer sleeper `m` leaves the idle list because a timer is due,
    /// taking an idle P if there is one. `None` if `m` is no longer on the
    /// list: someone popped it and is handing it a P. Only `m`'s thread.
    fn unidle_m(&self, m: &'static M) -> Option<Option<IdleP>> {
        let mut lists = self.idle.lists.lock();
        let at = lists.ms.iter().position(|x| ptr::eq(*x, m))?;
        lists.ms.swap_remove(at);
        Some(self.pidle_get(&mut lists))
    }

    /// Wakes an idle M without handing it a P, so that it takes the timer
    /// sleeper's role; with no idle M, starts one if a P is idle. Any thread.
    pub(crate) fn kick_idle_m(&'static self) {
        let lists = self.idle.lists.lock();
        if let Some(m) = lists.ms.last() {
            m.parker.unpark();
            return;
        }
        drop(lists);
        self.wake_p();
    }
}

/// A heap's minimum became `when`: make sure some M wakes by then (rule 3).
/// `local`: the heap is the caller's own P's, which its M will look at. Any
/// thread.
pub(crate) fn notify(rt: &'static Runtime, when: u64, local: bool) {
    fence(Ordering::SeqCst);
    let s = rt.idle.sleeper.load(Ordering::SeqCst);
    if s.is_null() {
        if !local {
            rt.kick_idle_m();
        }
        return;
    }
    if when < rt.idle.sleep_until.load(Ordering::SeqCst) {
        // SAFETY: Ms are leaked; a stale pointer still names a live M, and
        // unparking it is at worst a spurious wake-up.
        unsafe { &*s }.parker.unpark();
    }
}

/// For an idle M about to sleep: takes the sleeper's role if it is free and
/// returns the deadline to sleep until ([`NONE`]: none), or `None` if
/// another M is the sleeper. Only `m`'s thread, with `m` on the idle list.
pub(crate) fn sleeper_deadline(rt: &'static Runtime, m: &'static M) -> Option<u64> {
    let me = m as *const M as *mut M;
    let cur = rt.idle.sleeper.load(Ordering::Acquire);
    if cur != me
        && rt
            .idle
            .sleeper
            .compare_exchange(ptr::null_mut(), me, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
    {
        return None;
    }
    let mut until = NONE;
    loop {
        rt.idle.sleep_until.store(until, Ordering::SeqCst);
        // Rule 3: publish, then read the heaps.
        fence(Ordering::SeqCst);
        let next = timers::earliest(rt);
        if next >= until {
            return Some(until);
        }
        until = next;
    }
}

/// `m` leaves the sleeper's role (if it has it); if timers are pending, an
/// idle M is kicked to take it (rule 3). Only `m`'s thread.
pub(crate) fn step_down(rt: &'static Runtime, m: &'static M) {
    let me = m as *const M as *mut M;
    if rt.idle.sleeper.load(Ordering::Relaxed) != me {
        return;
    }
    rt.idle.sleep_until.store(NONE, Ordering::SeqCst);
    rt.idle.sleeper.store(ptr::null_mut(), Ordering::SeqCst);
    fence(Ordering::SeqCst);
    if timers::earliest(rt) != NONE {
        rt.kick_idle_m();
    }
}

/// Models of the no-lost-wakeup rules (module docs), running the real code
/// of this module on a real `Runtime` (its Ps, global queue and timer heaps
/// are loom-checked): a model thread plays an M, `spawn_m` records the Ms
/// it would start, and each M's parker records whether it was woken.
#[cfg(all(test, loom))]
mod loom_tests {
    use std::ptr::NonNull;
    use std::sync::Arc;
    use std::task::{Wake, Waker};
    use std::time::Duration;

    use loom::thread;

    use super::*;
    use crate::runtime::builder::{Config, PanicPolicy, DEFAULT_STACK_SIZE};
    use crate::stack::StackPool;

    /// A runtime of `nprocs` Ps, every one idle, for one execution of a
    /// model (leaked: the code under test wants `&'static`).
    fn runtime(nprocs: usize) -> &'static Runtime {
        let config = Config {
            gomaxprocs: nprocs,
            stack_size: DEFAULT_STACK_SIZE,
            panic_policy: PanicPolicy::Exit,
            max_threads: 16,
            retake_after: Duration::from_millis(10),
        };
        let stacks = StackPool::new(config.stack_size).expect("stack pool");
        let rt: &'static Runtime = Box::leak(Box::new(Runtime::new(config, stacks)));
        rt.make_ps_idle();
        rt
    }

    /// A goroutine pointer for the queues, which never dereference it.
    fn some_g() -> GRef {
        NonNull::dangling()
    }

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// Rule 2 (and rule 1, with `spinning`): an M gives its only P up while
    /// a plain thread queues a goroutine on the global queue and calls
    /// `wake_p`. Either the M keeps a P (it saw the goroutine), or the
    /// waker starts an M: never a goroutine queued with every M asleep.
    fn giving_up_vs_global_push(nprocs: usize, spinning: bool) {
        loom::model(move || {
            let rt = runtime(nprocs);
            let m = M::for_model();
            let p = m.run_on(rt.try_get_idle_p().expect("an idle P"));
            if spinning {
                m.set_spinning(true);
                rt.idle.nmspinning.fetch_add(1, Ordering::AcqRel);
            }
            let pusher = thread::spawn(move || {
                rt.global.push(some_g());
                rt.wake_p();
            });
            let kept = rt.give_up_p(m, p);
            pusher.join().unwrap();
            let started = rt.model_started_ms.lock().len();
            assert!(
                kept.is_some() || started > 0,
                "a goroutine on the global queue, and no M will look"
            );
            if let Some(p) = kept {
                let _ = m.stop_running_on(p);
            }
        });
    }

    #[test]
    fn loom_idle_give_up_vs_global_push() {
        giving_up_vs_global_push(1, false);
    }

    #[test]
    fn loom_idle_spinner_gives_up_vs_global_push() {
        giving_up_vs_global_push(1, true);
    }

    #[test]
    fn loom_idle_give_up_vs_global_push_two_ps() {
        giving_up_vs_global_push(2, true);
    }

    const WHEN: u64 = 5;

    /// Rule 3: an idle M takes the sleeper's role and computes its deadline
    /// while a plain thread adds a timer to the global heap. Either the
    /// sleeper's deadline covers the timer, or it is woken to look again. A
    /// second idle M, last on the list, is the one a kick would wake: it does
    /// not count (it would find the role taken and park without timeout).
    #[test]
    fn loom_sleeper_vs_new_timer() {
        loom::model(|| {
            let rt = runtime(1);
            let sleeper = M::for_model();
            let other = M::for_model();
            rt.idle.lists.lock().ms.extend([sleeper, other]);
            let adder = thread::spawn(move || {
                let (_, _, first) = rt.timers.global.add(WHEN, Waker::from(Arc::new(Noop)));
                if first {
                    notify(rt, WHEN, false);
                }
            });
            let until = sleeper_deadline(rt, sleeper).expect("the role was free");
            adder.join().unwrap();
            assert!(
                until <= WHEN || sleeper.parker.take_token(),
                "the sleeper sleeps past a timer and nobody wakes it"
            );
        });
    }

    /// Rule 3: the sleeper leaves its role (it was handed a P) while a plain
    /// thread adds a timer: the other idle M must be kicked to take the
    /// role, by the one or the other.
    #[test]
    fn loom_sleeper_steps_down_vs_new_timer() {
        loom::model(|| {
            let rt = runtime(1);
            let sleeper = M::for_model();
            let other = M::for_model();
            rt.idle.lists.lock().ms.push(other);
            assert_eq!(sleeper_deadline(rt, sleeper), Some(NONE));
            let adder = thread::spawn(move || {
                let (_, _, first) = rt.timers.global.add(WHEN, Waker::from(Arc::new(Noop)));
                if first {
                    notify(rt, WHEN, false);
                }
            });
            step_down(rt, sleeper);
            adder.join().unwrap();
            assert!(
                other.parker.take_token(),
                "a pending timer, and no idle M told to sleep until it"
            );
        });
    }
}
