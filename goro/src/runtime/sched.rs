//! The scheduler's shared state: the Ps, the global queue, the idle lists, and
//! the functions that move work and processors between Ms (Go's `sched`).
//!
//! # What this module protects
//!
//! - `idle` (one lock, Go's `sched.lock`): the list of idle Ps and the list of
//!   idle Ms. A P is on the idle list exactly when no M owns it; an M is on the
//!   idle list exactly when it sleeps in [`stop_m`] waiting to be handed a P.
//!   One idle M may be the timer sleeper, which sleeps with a timeout (see
//!   [`timers`](crate::runtime::timers)); it leaves the list by itself when
//!   its deadline passes ([`Runtime::unidle_m`]).
//! - `npidle` mirrors the idle-P list's length, readable without the lock.
//! - `nmspinning` counts Ms that own a P, have no work and are looking for
//!   some. At most half the busy Ps' worth spin (Go's rule), so a burst of
//!   wake-ups does not turn into a thundering herd of thieves.
//!
//! # The no-lost-wakeup rule (from Go's proc.go)
//!
//! Whoever makes work available (a push to any run queue) calls
//! [`Runtime::wake_p`] afterwards; an M that stops spinning re-checks every
//! queue *after* decrementing `nmspinning` (with a full fence between). Between
//! the two, either the waker sees `nmspinning == 0` and starts an M, or the
//! spinning M sees the work. The waker side has no fence (it would cost every
//! spawn and wake-up): on x86 its push may still sit in its store buffer when
//! the spinner looks. The work is then only delayed, never lost: it sits on the
//! waker's own P, whose M runs it at its next scheduling point, or sysmon hands
//! that P to another M within ~10 ms. The global queue's length is `SeqCst`,
//! so pushes from plain threads are always seen.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::runtime::builder::Config;
use crate::runtime::g::{GRef, G};
use crate::runtime::inject::Inject;
use crate::runtime::m::{self, M};
use crate::runtime::p::P;
use crate::runtime::timers::{self, Timers, NONE};
use crate::stack::{Stack, StackError, StackPool};

pub(crate) struct Runtime {
    pub(crate) ps: Box<[P]>,
    pub(crate) inject: Inject<G>,
    idle: Mutex<Idle>,
    npidle: AtomicUsize,
    pub(crate) nmspinning: AtomicUsize,
    pub(crate) nthreads: AtomicUsize,
    pub(crate) stacks: StackPool,
    /// Goroutines started or ended by threads without a P (their P's
    /// counters hold the rest; see `num_goroutine`).
    pub(crate) spawned_off_p: AtomicU64,
    pub(crate) exited_off_p: AtomicU64,
    pub(crate) next_goid: AtomicU64,
    pub(crate) config: Config,
    pub(crate) timers: Timers,
    /// Sysmon sleeps here while every P is idle.
    sysmon_idle: Mutex<bool>,
    sysmon_cv: Condvar,
    sysmon_sleeping: AtomicBool,
}

#[derive(Default)]
struct Idle {
    ps: Vec<&'static P>,
    ms: Vec<&'static M>,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The global runtime, started with the default configuration on first use.
#[inline]
pub(crate) fn rt() -> &'static Runtime {
    match RUNTIME.get() {
        Some(rt) => rt,
        None => start(Config::from_env()).unwrap_or_else(|_| RUNTIME.get().expect("runtime")),
    }
}

/// The global runtime if it has started.
pub(crate) fn try_rt() -> Option<&'static Runtime> {
    RUNTIME.get()
}

/// Starts the global runtime; errors if it has started already or the stack
/// pool cannot be made. Any thread may call it.
pub(crate) fn start(config: Config) -> Result<&'static Runtime, StartError> {
    let stacks = StackPool::new(config.stack_size).map_err(StartError::Stack)?;
    let mut created = false;
    let rt = RUNTIME.get_or_init(|| {
        created = true;
        Runtime::new(config, stacks)
    });
    if !created {
        return Err(StartError::AlreadyStarted);
    }
    crate::stack::install_overflow_handler();
    rt.idle.lock().ps = rt.ps.iter().rev().collect();
    crate::runtime::sysmon::spawn(rt);
    Ok(rt)
}

pub(crate) enum StartError {
    AlreadyStarted,
    Stack(StackError),
}

impl Runtime {
    fn new(config: Config, stacks: StackPool) -> Runtime {
        let ps: Box<[P]> = (0..config.gomaxprocs).map(P::new).collect();
        Runtime {
            npidle: AtomicUsize::new(ps.len()),
            ps,
            inject: Inject::new(),
            idle: Mutex::new(Idle::default()),
            nmspinning: AtomicUsize::new(0),
            nthreads: AtomicUsize::new(0),
            stacks,
            spawned_off_p: AtomicU64::new(0),
            exited_off_p: AtomicU64::new(0),
            next_goid: AtomicU64::new(1),
            config,
            timers: Timers::new(),
            sysmon_idle: Mutex::new(false),
            sysmon_cv: Condvar::new(),
            sysmon_sleeping: AtomicBool::new(false),
        }
    }

    pub(crate) fn nprocs(&self) -> usize {
        self.ps.len()
    }

    pub(crate) fn npidle(&self) -> usize {
        self.npidle.load(Ordering::Acquire)
    }

    /// Goroutines alive now. Reads every `exited` before any `spawned`: an
    /// exit seen implies its spawn is seen, so the count never underflows.
    pub(crate) fn goroutines(&self) -> u64 {
        let exited = self.exited_off_p.load(Ordering::Acquire)
            + self
                .ps
                .iter()
                .map(|p| p.exited.load(Ordering::Acquire))
                .sum::<u64>();
        let spawned = self.spawned_off_p.load(Ordering::Acquire)
            + self
                .ps
                .iter()
                .map(|p| p.spawned.load(Ordering::Acquire))
                .sum::<u64>();
        spawned.saturating_sub(exited)
    }

    /// Takes an idle P. With the idle lock held (`idle` is its guard).
    fn pidle_get(&self, idle: &mut Idle) -> Option<&'static P> {
        let p = idle.ps.pop()?;
        self.npidle.fetch_sub(1, Ordering::AcqRel);
        // A P gets busy: sysmon must watch it again.
        self.wake_sysmon();
        Some(p)
    }

    fn pidle_put(&self, idle: &mut Idle, p: &'static P) {
        idle.ps.push(p);
        self.npidle.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes an idle P if there is one. Any thread.
    pub(crate) fn try_get_idle_p(&self) -> Option<&'static P> {
        if self.npidle() == 0 {
            return None;
        }
        self.pidle_get(&mut self.idle.lock())
    }

    /// Makes sure someone will look at newly available work: if a P is idle
    /// and no M is spinning, start one spinning. Any thread (Go's `wakep`).
    pub(crate) fn wake_p(&'static self) {
        // `SeqCst` pairs with the publish-fence-look in `release_idle_p` and
        // `hand_off_p`: a global-queue push (a `SeqCst` store) followed by
        // this load, against `npidle` published then the queue read, cannot
        // both miss. (Free on x86: a plain load.)
        if self.npidle.load(Ordering::SeqCst) == 0 || self.nmspinning.load(Ordering::Acquire) != 0 {
            return;
        }
        if self
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
    pub(crate) fn start_m(&'static self, p: Option<&'static P>, spinning: bool) {
        let mut idle = self.idle.lock();
        let p = match p.or_else(|| self.pidle_get(&mut idle)) {
            Some(p) => p,
            None => {
                drop(idle);
                if spinning {
                    self.nmspinning.fetch_sub(1, Ordering::AcqRel);
                }
                return;
            }
        };
        // Prefer an M other than the timer sleeper: waking it would move
        // the sleeper's role, and cost a second wake-up.
        let n = idle.ms.len();
        if n > 1 && ptr::eq(idle.ms[n - 1], self.timers.sleeper()) {
            idle.ms.swap(n - 1, n - 2);
        }
        let sleeper = idle.ms.pop();
        drop(idle);
        match sleeper {
            Some(m) => m.hand_over(p, None, spinning),
            None => m::spawn_m(self, p, spinning),
        }
    }

    /// Gives away the P of an M that stops running goroutines for a while
    /// (it blocks, or it lost the P to sysmon): to a new M if there is work
    /// for it, else to the idle list. Any thread (Go's `handoffp`).
    pub(crate) fn hand_off_p(&'static self, p: &'static P) {
        // Pairs with `ready`'s `SeqCst` offer and ownership check: after the
        // P was taken, either we see the offered goroutine or `ready` sees
        // the P gone (and wakes an M).
        std::sync::atomic::fence(Ordering::SeqCst);
        if !p.runq.is_empty() || !self.inject.is_empty() {
            self.start_m(Some(p), false);
            return;
        }
        if self.nmspinning.load(Ordering::Acquire) + self.npidle() == 0
            && self
                .nmspinning
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.start_m(Some(p), true);
            return;
        }
        let mut idle = self.idle.lock();
        self.pidle_put(&mut idle, p);
        drop(idle);
        // Work may have arrived on the global queue after the check above,
        // while nobody could see this P as idle: publish, fence, look again
        // (the pusher does the mirror image in `wake_p`).
        std::sync::atomic::fence(Ordering::SeqCst);
        if !self.inject.is_empty() {
            self.wake_p();
        }
        // Its timers now have no M: the sleeper must cover them.
        let when = p.timers.earliest();
        if when != NONE {
            timers::notify(self, when, false);
        }
    }

    /// The M gives up `p` because it found no work. Returns a P back (the
    /// same or another) if work showed up on the global queue meanwhile, in
    /// which case the caller runs again with it. Only `m`, which owns `p`.
    pub(crate) fn release_idle_p(&self, p: &'static P) -> Option<&'static P> {
        let mut idle = self.idle.lock();
        // Publish the idle P first, then look at the global queue: a thread
        // without a P pushes there and then reads `npidle` (in `wake_p`), so
        // with a full fence on both sides one of us sees the other. Looking
        // first and publishing after would let both miss (a lost wake-up:
        // a goroutine on the global queue and every M asleep).
        self.pidle_put(&mut idle, p);
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.inject.is_empty() {
            return None;
        }
        self.pidle_get(&mut idle)
    }

    /// Puts `m` to sleep on the idle list until it is handed a P. Only `m`'s
    /// own thread calls this (Go's `stopm`).
    pub(crate) fn stop_m(&'static self, m: &'static M) -> Option<GRef> {
        m.drain_cells();
        self.idle.lock().ms.push(m);
        m.idle_wait(self)
    }

    /// The timer sleeper `m` leaves the idle list because a timer is due,
    /// taking an idle P if there is one. `None` if `m` is no longer on the
    /// list: someone popped it and is handing it a P. Only `m`'s thread.
    pub(crate) fn unidle_m(&self, m: &'static M) -> Option<Option<&'static P>> {
        let mut idle = self.idle.lock();
        let at = idle.ms.iter().position(|x| ptr::eq(*x, m))?;
        idle.ms.swap_remove(at);
        Some(self.pidle_get(&mut idle))
    }

    /// Puts `m` back on the idle list after `unidle_m` found no P. Only
    /// `m`'s thread, which then sleeps in `idle_wait` again.
    pub(crate) fn idle_push(&self, m: &'static M) {
        self.idle.lock().ms.push(m);
    }

    /// Wakes an idle M without handing it a P, so that it takes the timer
    /// sleeper's role; with no idle M, starts one if a P is idle. Any thread.
    pub(crate) fn kick_idle_m(&'static self) {
        let idle = self.idle.lock();
        if let Some(m) = idle.ms.last() {
            m.unpark();
            return;
        }
        drop(idle);
        self.wake_p();
    }

    /// After a spinning M stopped spinning: is there any work left anywhere?
    /// Any thread; a racy look that the no-lost-wakeup rule relies on.
    pub(crate) fn any_work(&self) -> bool {
        !self.inject.is_empty() || self.ps.iter().any(|p| !p.runq.is_empty())
    }

    /// Makes `g` runnable: on this thread's P (in `runnext`, so the woken
    /// goroutine runs next, on the waker's P) or else on the global queue.
    /// Any thread (Go's `ready`).
    ///
    /// A goroutine that lands in an empty `runnext` wakes no other M (tokio's
    /// LIFO-slot rule; Go wakes one): the usual waker blocks right after
    /// (a channel hand-off), and then this M runs it at once. Waking an idle
    /// M for it cost a futex call, and on a busy machine the woken thread
    /// preempted the waker or stole the goroutine, splitting a ping-pong pair
    /// across cores (measured 2026-11-24: ping-pong 192 → 158 ns, unbuffered
    /// SPSC 98 → 79 ns). If the waker instead keeps running, sysmon starts
    /// an M for the waiting goroutine at its next look (`sysmon::retake`),
    /// and anything else this P queues wakes one as usual.
    ///
    /// A goroutine that last ran on another P changes cores here, and its
    /// frames are still in the other core's cache: the waker prefetches
    /// them ([`G::prefetch_for_resume`]) so they travel while it finishes
    /// its hand-off, not one miss at a time after the switch. Measured on 2
    /// cores (2026-11-24, A/B in alternation): the sieve, whose filters
    /// migrate a million times or more per run, 0.94× with the vCPUs close
    /// and 0.77× far apart; ping-pong, SPSC, MPMC, select4, thread ring,
    /// worker pool, spawn+join and skynet unchanged or faster. Prefetching
    /// on every wake cost the one-core sieve ~2 %; prefetching again when a
    /// thief runs a stolen goroutine changed nothing.
    pub(crate) fn ready(&'static self, g: GRef) {
        let Some((m, p)) = m::current_m_and_p() else {
            self.inject.push(g);
            self.wake_p();
            return;
        };
        // SAFETY: a G being readied is alive (it holds its own reference).
        let gr = unsafe { g.as_ref() };
        if !gr.last_ran_on(p.index) {
            gr.prefetch_for_resume();
        }
        // `runnext` takes an offer from any thread, so the common case
        // (an empty `runnext`) needs no claim of the P.
        match p.runq.offer_next(g) {
            None if m.still_owns(p) => {}
            // Sysmon took the P meanwhile: whoever has it now, or a thief,
            // must look at its `runnext`.
            None => self.wake_p(),
            Some(kicked) => {
                let queued = m::with_p(|p| {
                    // SAFETY: `with_p` hands us the P this thread owns.
                    unsafe { p.runq.push(kicked, false, &self.inject) };
                });
                if queued.is_none() {
                    self.inject.push(kicked);
                }
                self.wake_p();
            }
        }
    }

    fn wake_sysmon(&self) {
        if self.sysmon_sleeping.load(Ordering::Acquire) {
            let mut asleep = self.sysmon_idle.lock();
            *asleep = false;
            self.sysmon_sleeping.store(false, Ordering::Release);
            self.sysmon_cv.notify_one();
        }
    }

    /// Sysmon's idle sleep: waits while every P stays idle, or until `max`
    /// passes (`None`: no limit). Only the sysmon thread calls this.
    pub(crate) fn sysmon_wait(&self, max: Option<Duration>) {
        let mut asleep = self.sysmon_idle.lock();
        *asleep = true;
        self.sysmon_sleeping.store(true, Ordering::Release);
        // Re-check after announcing the sleep: a P that got busy before the
        // flag was visible would not have woken us.
        if self.npidle() == self.nprocs() {
            match max {
                Some(max) => {
                    self.sysmon_cv.wait_while_for(&mut asleep, |a| *a, max);
                }
                None => self.sysmon_cv.wait_while(&mut asleep, |a| *a),
            }
        }
        self.sysmon_sleeping.store(false, Ordering::Release);
    }
}

/// Puts a woken goroutine on a run queue. Any thread.
#[inline]
pub(crate) fn ready(g: GRef) {
    rt().ready(g)
}

/// Returns a finished goroutine's stack: to this thread's P cache, else to
/// the pool. Any thread.
pub(crate) fn free_stack(stack: Stack) {
    let mut stack = Some(stack);
    let cached = m::with_p(|p| free_stack_on(Some(p), stack.take().expect("stack")));
    if cached.is_none() {
        if let Some(s) = stack {
            free_stack_on(None, s);
        }
    }
}

/// Returns a finished goroutine's stack to `p`'s cache, or to the pool
/// without a P. Only the M that has `p` claimed (scheduler code, or inside
/// `m::with_p`).
pub(crate) fn free_stack_on(p: Option<&'static P>, stack: Stack) {
    let rt = rt();
    match p {
        Some(p) => p.stack_cache(|c| c.put(&rt.stacks, stack)),
        None => rt.stacks.put(stack),
    }
}

/// A hand-over slot: a P (and maybe a G to run at once) given to a sleeping M.
pub(crate) struct Handoff {
    pub(crate) p: AtomicPtr<P>,
    pub(crate) g: AtomicPtr<G>,
    pub(crate) spinning: AtomicBool,
}

impl Handoff {
    pub(crate) const fn new() -> Self {
        Handoff {
            p: AtomicPtr::new(ptr::null_mut()),
            g: AtomicPtr::new(ptr::null_mut()),
            spinning: AtomicBool::new(false),
        }
    }

    /// The giver's side: G and spinning first, P last (it is the signal).
    pub(crate) fn give(&self, p: &'static P, g: Option<GRef>, spinning: bool) {
        let g = g.map_or(ptr::null_mut(), NonNull::as_ptr);
        self.g.store(g, Ordering::Relaxed);
        self.spinning.store(spinning, Ordering::Relaxed);
        self.p.store(p as *const P as *mut P, Ordering::Release);
    }

    /// The sleeping M's side: `Some` once a P has been given.
    pub(crate) fn take(&self) -> Option<(&'static P, Option<GRef>, bool)> {
        let p = self.p.swap(ptr::null_mut(), Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        let g = NonNull::new(self.g.swap(ptr::null_mut(), Ordering::Relaxed));
        let spinning = self.spinning.load(Ordering::Relaxed);
        // SAFETY: only `&'static P`s from the runtime's array are ever given.
        Some((unsafe { &*p }, g, spinning))
    }
}
