//! M: an OS thread that runs goroutines while it owns a P (Go's `m`), and the
//! scheduling loop every M runs (Go's `schedule`/`findRunnable`/`execute`).
//!
//! # What it protects
//!
//! An `M` is shared (idle list, lock_os_thread), but its `Cell`s and its
//! cache of free packet cells are touched only by its own thread; other
//! threads reach it only through `handoff` (a P, maybe a G, given to it
//! while it sleeps) and its `Thread` handle to unpark it. Ms are leaked:
//! they live as long as the process (at most `max_threads` of them), so
//! `&'static M` is always valid.
//!
//! # Thread-locals and migration
//!
//! A goroutine may resume on another thread after any switch. The runtime
//! therefore never caches the address of a thread-local across a switch:
//! every read goes through [`current_m`], which is `#[inline(never)]` so that
//! LLVM cannot hoist the TLS address computation out of a caller that
//! switches (llvm/llvm-project#98479).

use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::runtime::cells::CellCache;
use crate::runtime::g::{GRef, Switch, G};
use crate::runtime::p::{P, USER};
use crate::runtime::sched::{self, rt, Handoff, Runtime};
use crate::runtime::timers::{self, now_nanos, NONE};

pub(crate) struct M {
    pub(crate) id: u64,
    thread: OnceLock<Thread>,
    handoff: Handoff,
    p: Cell<Option<&'static P>>,
    spinning: Cell<bool>,
    curg: Cell<Option<GRef>>,
    /// True while goroutine code runs, and through a hand-over in user mode
    /// (the P's owner word has `USER` set).
    in_user: Cell<bool>,
    /// `lock_os_thread` nesting depth of the goroutine running here.
    locked: Cell<u32>,
    rng: Cell<u64>,
    /// Free packet cells; only this M's thread touches them.
    cells: UnsafeCell<CellCache>,
}

// SAFETY: the `Cell`s and the cell cache are only used by the M's own thread
// (module docs); `handoff` is atomic and `Thread` is Sync.
unsafe impl Sync for M {}

thread_local! {
    static CURRENT: Cell<*const M> = const { Cell::new(ptr::null()) };
}

static NEXT_M_ID: AtomicU64 = AtomicU64::new(1);

/// The M running on this thread, if this thread is one. Any thread.
#[inline(never)]
pub(crate) fn current_m() -> Option<&'static M> {
    let m = CURRENT.with(Cell::get);
    // SAFETY: Ms are leaked, so a non-null pointer stays valid forever.
    unsafe { m.as_ref() }
}

/// The goroutine running on this thread, if any. Any thread. May be inlined:
/// the TLS read itself is in [`current_m`].
#[inline]
pub(crate) fn current_g() -> Option<GRef> {
    current_m()?.curg.get()
}

/// Runs `f` with this thread's P claimed, so sysmon cannot take it away
/// meanwhile; `None` if the thread has no P (not an M, or the P was taken).
/// Any thread; `f` must not switch goroutines.
pub(crate) fn with_p<R>(f: impl FnOnce(&'static P) -> R) -> Option<R> {
    let m = current_m()?;
    let p = m.p.get()?;
    if !m.in_user.get() {
        return Some(f(p));
    }
    if !p.claim(m.id) {
        m.p.set(None);
        return None;
    }
    m.in_user.set(false);
    let r = f(p);
    m.in_user.set(true);
    p.enter_user(m.id);
    Some(r)
}

/// Runs `f` on this thread's M's cell cache; `None` on a plain thread. Any
/// thread; `f` must not switch goroutines (it cannot reach the M again).
#[inline]
pub(crate) fn with_cells<R>(f: impl FnOnce(&mut CellCache) -> R) -> Option<R> {
    let m = current_m()?;
    // SAFETY: only the M's own thread reaches its cache, this is that
    // thread, and `f` gets no way back to the M to borrow it twice.
    Some(f(unsafe { &mut *m.cells.get() }))
}

/// For `ready`: this thread's M and the P it holds (or held until sysmon
/// took it, unnoticed so far); `None` on a plain thread or an M without P.
#[inline]
pub(crate) fn current_m_and_p() -> Option<(&'static M, &'static P)> {
    let m = current_m()?;
    Some((m, m.p.get()?))
}

impl M {
    /// True if `p` is still this M's. Only `m`'s thread, with `p` from
    /// [`current_m_and_p`]. In scheduler code the P cannot be taken; in
    /// goroutine code sysmon may take it at any moment, so the answer is
    /// about the instant of the `SeqCst` load (see `Local::offer_next`).
    #[inline]
    pub(crate) fn still_owns(&self, p: &P) -> bool {
        !self.in_user.get() || p.owner.load(Ordering::SeqCst) == (self.id << 1 | USER)
    }

    /// Gives the M's free cells back to the pool before it sleeps, so that
    /// sleeping Ms hold none. Only the M's own thread, in scheduler code.
    pub(crate) fn drain_cells(&self) {
        // SAFETY: this is the M's own thread (the contract), and no cache
        // borrow is live in scheduler code.
        unsafe { &mut *self.cells.get() }.drain();
    }

    fn new() -> &'static M {
        let id = NEXT_M_ID.fetch_add(1, Ordering::Relaxed);
        Box::leak(Box::new(M {
            id,
            thread: OnceLock::new(),
            handoff: Handoff::new(),
            p: Cell::new(None),
            spinning: Cell::new(false),
            curg: Cell::new(None),
            in_user: Cell::new(false),
            locked: Cell::new(0),
            rng: Cell::new(id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            cells: UnsafeCell::new(CellCache::new()),
        }))
    }

    /// Gives a sleeping M a P (and maybe a goroutine to run first) and wakes
    /// it. Any thread, after taking the M off the idle list (or for a locked
    /// M, which sleeps off the list).
    pub(crate) fn hand_over(&self, p: &'static P, g: Option<GRef>, spinning: bool) {
        self.handoff.give(p, g, spinning);
        self.thread.get().expect("M without thread").unpark();
    }

    /// Wakes the M's thread without handing it anything (the timer
    /// sleeper re-computes its deadline; an idle M may take that role).
    /// Any thread.
    pub(crate) fn unpark(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Sleeps on the idle list until handed a P (Go's `stopm`). Meanwhile,
    /// if it is (or becomes) the timer sleeper, it sleeps only until the
    /// earliest timer, then leaves the list, takes an idle P as a spinning
    /// M and runs the due timers, returning `None` with the P set. Only the
    /// M's own thread, right after putting itself on the idle list.
    pub(crate) fn idle_wait(&'static self, rt: &'static Runtime) -> Option<GRef> {
        loop {
            if let Some((p, g, spinning)) = self.handoff.take() {
                timers::step_down(rt, self);
                self.acquire(p);
                self.spinning.set(spinning);
                return g;
            }
            let until = match timers::sleeper_deadline(rt, self) {
                None | Some(NONE) => {
                    thread::park();
                    continue;
                }
                Some(until) => until,
            };
            let now = now_nanos();
            if until > now {
                thread::park_timeout(Duration::from_nanos(until - now));
                continue;
            }
            let Some(p) = rt.unidle_m(self) else {
                // Popped by a waker that is handing us a P: it unparks us.
                thread::park();
                continue;
            };
            if let Some(p) = p {
                self.acquire(p);
                // Spinning, so the wake-ups below start no other M; finding
                // work then wakes one more if a P is idle (`reset_spinning`).
                self.spinning.set(true);
                rt.nmspinning.fetch_add(1, Ordering::AcqRel);
            }
            timers::run_all(rt, now_nanos());
            if self.p.get().is_some() {
                timers::step_down(rt, self);
                return None;
            }
            // Every P is busy: the woken goroutines wait on the global
            // queue, and we stay the sleeper.
            rt.idle_push(self);
        }
    }

    /// Sleeps until handed a P, off the idle list (a locked M). Only the
    /// M's own thread.
    pub(crate) fn sleep_until_handed(&'static self) -> Option<GRef> {
        loop {
            if let Some((p, g, spinning)) = self.handoff.take() {
                self.acquire(p);
                self.spinning.set(spinning);
                return g;
            }
            thread::park();
        }
    }

    fn acquire(&self, p: &'static P) {
        p.acquire(self.id);
        self.p.set(Some(p));
    }

    /// Gives up the P this M owns (scheduler phase). Only the M's thread.
    fn release(&self) -> Option<&'static P> {
        let p = self.p.take()?;
        p.release();
        Some(p)
    }

    fn rand(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }
}

/// Starts a new M that owns `p`. Any thread. Past the thread limit the
/// program ends, as Go's does ("thread exhaustion"): a program blocked in
/// that many threads cannot make progress.
pub(crate) fn spawn_m(rt: &'static Runtime, p: &'static P, spinning: bool) {
    let n = rt.nthreads.fetch_add(1, Ordering::AcqRel) + 1;
    if n > rt.config.max_threads {
        fatal(&format!(
            "program exceeds the {}-thread limit (goroutines blocked in `blocking` or \
             system calls); raise it with runtime::Builder::max_threads",
            rt.config.max_threads
        ));
    }
    let m = M::new();
    let spawned = thread::Builder::new()
        .name(format!("goro-m{}", m.id))
        .spawn(move || m_main(rt, m, p, spinning));
    if let Err(e) = spawned {
        fatal(&format!("cannot start an OS thread for the scheduler: {e}"));
    }
}

fn fatal(msg: &str) -> ! {
    eprintln!("goro: fatal error: {msg}");
    std::process::exit(2)
}

fn m_main(rt: &'static Runtime, m: &'static M, p: &'static P, spinning: bool) {
    CURRENT.with(|c| c.set(m));
    let _ = m.thread.set(thread::current());
    crate::stack::ensure_signal_stack();
    tighten_timer_slack();
    m.acquire(p);
    m.spinning.set(spinning);
    let mut next = None;
    loop {
        let g = match next.take() {
            Some(g) => g,
            None => find_runnable(rt, m),
        };
        if m.spinning.get() {
            reset_spinning(rt, m);
        }
        // SAFETY: a G taken from a run queue is alive (it holds its own ref).
        let locked_to = unsafe { g.as_ref() }.locked_m.load(Ordering::Acquire);
        if !locked_to.is_null() && !ptr::eq(locked_to, m) {
            next = start_locked_m(rt, m, locked_to, g);
            continue;
        }
        match execute(rt, m, g) {
            Next::Run(g) => next = Some(g),
            Next::ExitThread => return exit_locked_thread(rt, m),
            Next::Schedule if m.p.get().is_none() => next = acquire_or_stop(rt, m),
            Next::Schedule => {}
        }
    }
}

/// Linux lets a sleeping thread wake up to 50 µs late by default (timer
/// slack, to batch wake-ups); an M sleeping until the next timer would pass
/// that lateness on to every `sleep`. 1 µs keeps timers prompt. Only the
/// M's own thread, at start.
fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and touches only this
    // thread's scheduling attributes.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong);
    }
}

/// Finds a goroutine to run; sleeps the M (without its P) if there is none.
/// Due timers of its P and the global heap run first (Go's `checkTimers`),
/// so the goroutines they wake are found below. Only `m`'s thread (Go's
/// `findRunnable`).
fn find_runnable(rt: &'static Runtime, m: &'static M) -> GRef {
    loop {
        let Some(p) = m.p.get() else {
            if let Some(g) = acquire_or_stop(rt, m) {
                return g;
            }
            continue;
        };
        timers::check(rt, p);
        if let Some(g) = find_local_or_global(rt, p) {
            return g;
        }
        let busy = rt.nprocs() - rt.npidle();
        if m.spinning.get() || 2 * rt.nmspinning.load(Ordering::Acquire) < busy {
            if !m.spinning.replace(true) {
                rt.nmspinning.fetch_add(1, Ordering::AcqRel);
            }
            if let Some(g) = steal_once(rt, m, p) {
                return g;
            }
        }
        // Nothing anywhere: give the P back and sleep.
        m.release();
        if let Some(p) = rt.release_idle_p(p) {
            m.acquire(p);
            continue;
        }
        if m.spinning.replace(false) {
            rt.nmspinning.fetch_sub(1, Ordering::AcqRel);
            // The no-lost-wakeup re-check (module docs of `sched`): the
            // decrement must be visible before we read the queues.
            std::sync::atomic::fence(Ordering::SeqCst);
            if rt.any_work() {
                if let Some(p) = rt.try_get_idle_p() {
                    m.acquire(p);
                    m.spinning.set(true);
                    rt.nmspinning.fetch_add(1, Ordering::AcqRel);
                    continue;
                }
            }
        }
        if let Some(g) = rt.stop_m(m) {
            return g;
        }
    }
}

/// Local queue first, the global queue every 61st tick and when the local
/// one is empty. Only the owner of `p`.
fn find_local_or_global(rt: &'static Runtime, p: &'static P) -> Option<GRef> {
    let fair_tick = p.global_queue_turn();
    if fair_tick && !rt.inject.is_empty() {
        if let Some(g) = rt.inject.pop() {
            return Some(g);
        }
    }
    // SAFETY: the caller owns `p`.
    if let Some(g) = unsafe { p.runq.pop() } {
        return Some(g);
    }
    global_batch(rt, p)
}

/// A batch from the global queue into `p`'s (Go's `globrunqget`), returning
/// one to run now. Only the owner of `p`.
fn global_batch(rt: &'static Runtime, p: &'static P) -> Option<GRef> {
    if rt.inject.is_empty() {
        return None;
    }
    // SAFETY: the caller owns `p`, so its queue's owner side is ours.
    unsafe { rt.inject.pop_batch_into(&p.runq, rt.nprocs(), usize::MAX) }
}

/// How long a thief gives a P that is running a goroutine before taking
/// work from its queue (see `steal_work`).
const STEAL_PATIENCE: Duration = Duration::from_micros(10);

/// A queue this short, behind a P that is scheduling, is left to that P
/// (see `steal_work`).
const SMALL_BACKLOG: usize = 8;

/// Four rounds over the other Ps in random order, stealing half of a queue;
/// the last round may take a `runnext` too, and runs the victims' due
/// timers (their goroutines land on our queue). Only the owner of `p`.
///
/// Patience: in each round, the first victim found running a goroutine with
/// work queued gets `STEAL_PATIENCE` before we steal. If its goroutine is
/// still the same one after that, we take half (and in the last round its
/// `runnext`). If it scheduled meanwhile, it is working through its queue
/// itself, and we leave the queue to it when what is left is small: at most
/// `SMALL_BACKLOG`, or no more goroutines than it ran while we waited (so it
/// gets through them within another patience). A longer backlog is still
/// split, so a P that fans out many short goroutines does not run them all
/// alone.
///
/// Why: what queues behind a running goroutine is mostly what it just woke
/// (senders it made room for, a ping-pong partner, children it spawned).
/// Moving those to another core costs a cache miss on every line they
/// touch, and taken one at a time they park again after a single value;
/// left for a few µs they run where they were woken, or move in batches with
/// full buffers to work on. Measured on 2 cores (2026-11-24), each figure
/// against stealing at once, A/B in alternation: select4 450 → 190 ms when the
/// host put the two vCPUs far apart (cross-core round trip ~340 ns; 190 →
/// 185 when close, ~85 ns), the select fan-out `cb_select_both_bounded0`
/// 610 → 345–450, worker_pool 118 → 65, mpmc_4x4 83 → 65–90 (noisy),
/// unbuffered MPSC 106 → 74; ping-pong, skynet, sieve and the fan-out of
/// 100 000 goroutines of 1–30 µs unchanged. Leaving every scheduling
/// victim's queue alone, whatever its length, measured the same on these but
/// could leave a long backlog to one P. Judging the pace by ring pops alone,
/// instead of by goroutines run (most runs come from `runnext`), measured the
/// same except on the sieve, whose median was higher in 4 of 5 paired runs
/// (noisy: it swings 0.5–2 s). Spent at most once per round, so a
/// look over many busy Ps spins at most 4 × 10 µs. Go's `runqgrab` pauses
/// (3 µs, asleep) before taking a running P's `runnext` only.
///
/// The sieve is where this rule costs most (measured on 2 cores at b0bc376,
/// 2026-11-24, counters in a throwaway build): its chain keeps both Ps busy
/// about half each, and a thief that finds the other P coping spends 2–30 %
/// of its P's time in these looks (26–370 ms of a 0.5–1 s run). Without the
/// "coping" verdict (steal whenever the ring holds anything) the looks fall
/// to 1–3 % but goroutines change P 1–7 million times a run instead of
/// 0.1–1 million, and the run is no faster (640–920 ms against 520–960).
/// Watching once per look instead of once per round: 1.03×. A 3 µs
/// patience: sieve 0.91–0.94×, but mpmc_4x4 1.25× and worker_pool 1.08×.
fn steal_work(rt: &'static Runtime, m: &'static M, p: &'static P) -> Option<GRef> {
    let n = rt.nprocs();
    for round in 0..4 {
        let last_round = round == 3;
        let start = m.rand() as usize % n;
        let mut now = NONE;
        let mut waited = false;
        for i in 0..n {
            let victim = &rt.ps[(start + i) % n];
            if last_round && !ptr::eq(victim, p) && victim.timers.earliest() != NONE {
                if now == NONE {
                    now = now_nanos();
                }
                if victim.timers.earliest() <= now && victim.timers.run(now) > 0 {
                    // SAFETY: the caller owns `p`.
                    if let Some(g) = unsafe { p.runq.pop() } {
                        return Some(g);
                    }
                }
            }
            if ptr::eq(victim, p) || victim.runq.is_empty() {
                continue;
            }
            if !last_round && victim.runq.ring_len() == 0 {
                // Only a `runnext`, which only the last round may take:
                // nothing to steal, nor to spend the patience on, yet.
                continue;
            }
            // A running victim's `runnext` is taken only after our patience
            // showed it stuck: otherwise it is most likely the partner its
            // goroutine is about to hand over to (a ping-pong stays on one P).
            let running = victim.owner_word() & USER != 0;
            let mut take_next = last_round && !running;
            if running && !waited {
                waited = true;
                match watch(victim) {
                    Watched::Stuck => take_next = last_round,
                    Watched::Coping => continue,
                    Watched::Backlogged => {}
                }
            }
            // SAFETY: the caller owns `p`, whose queue is the destination.
            if let Some(g) = unsafe { victim.runq.steal_into(&p.runq, take_next) } {
                return Some(g);
            }
        }
    }
    None
}

/// What a victim did while a thief watched it for `STEAL_PATIENCE`.
enum Watched {
    /// Still in the same goroutine: take half, and its `runnext` if allowed.
    Stuck,
    /// Scheduling, with what is left small, or cleared at the pace it just
    /// showed within another patience: leave its queue to it.
    Coping,
    /// Scheduling, but with a longer backlog: take half (not `runnext`).
    Backlogged,
}

/// Spins `STEAL_PATIENCE` watching `victim` (see `steal_work`). Any thief.
fn watch(victim: &P) -> Watched {
    let tick = victim.schedtick.load(Ordering::Relaxed);
    spin_for(STEAL_PATIENCE);
    let ran = victim.schedtick.load(Ordering::Relaxed).wrapping_sub(tick);
    if ran == 0 {
        Watched::Stuck
    } else if victim.runq.ring_len() <= SMALL_BACKLOG.max(ran as usize) {
        Watched::Coping
    } else {
        Watched::Backlogged
    }
}

/// One look for work anywhere: four stealing rounds over the other Ps, then
/// the global queue. A spinning M that finds nothing gives its P up at once
/// (Go's rule). Rejected: polling for a while longer (we had 50 µs) to spare
/// producers the wake-up of a sleeping M. It did spare them, but the poller
/// keeps reading the victims' queue words and stealing their `runnext`
/// goroutines, and measured slower everywhere it mattered (2026-11-24:
/// select4 340 → 107 ns/op, unbuffered MPSC 135 → 87, thread ring −15 %,
/// sieve −10 %; nothing got slower). Only the owner of `p`, spinning.
fn steal_once(rt: &'static Runtime, m: &'static M, p: &'static P) -> Option<GRef> {
    steal_work(rt, m, p).or_else(|| global_batch(rt, p))
}

fn spin_for(d: Duration) {
    let until = Instant::now() + d;
    // Reading the clock costs more than a pause: look every 32 pauses.
    while Instant::now() < until {
        for _ in 0..32 {
            std::hint::spin_loop();
        }
    }
}

/// A spinning M found work: stop spinning, and if it was the last spinner,
/// wake another so remaining work is found (Go's `resetspinning`).
fn reset_spinning(rt: &'static Runtime, m: &'static M) {
    m.spinning.set(false);
    if rt.nmspinning.fetch_sub(1, Ordering::AcqRel) == 1 {
        rt.wake_p();
    }
}

/// Gets an idle P for an M that has none, or sleeps until handed one.
fn acquire_or_stop(rt: &'static Runtime, m: &'static M) -> Option<GRef> {
    if let Some(p) = rt.try_get_idle_p() {
        m.acquire(p);
        return None;
    }
    rt.stop_m(m)
}

/// What an M does after running a goroutine.
enum Next {
    /// Look for work.
    Schedule,
    /// Run this goroutine (its locked goroutine, handed back).
    Run(GRef),
    /// The locked goroutine ended: the thread goes with it.
    ExitThread,
}

/// Runs `g` until it parks, yields or ends, and settles it; when it parks
/// and another goroutine waits in `runnext`, runs that one straight away
/// (`hand_over_in_user`). Only `m`'s thread.
fn execute(rt: &'static Runtime, m: &'static M, mut g: GRef) -> Next {
    // False while the P's owner word still says `USER` from the last
    // goroutine (a hand-over in user mode): then it must not be rewritten.
    let mut enter = true;
    loop {
        // SAFETY: the G is alive: it holds its own reference until it ends.
        let gr = unsafe { g.as_ref() };
        let p = m.p.get().expect("execute without a P");
        p.tick();
        gr.note_running_on(p.index);
        m.curg.set(Some(g));
        m.in_user.set(true);
        if enter {
            p.enter_user(m.id);
        }
        // SAFETY: this M took `g` from a run queue (or switched it out just
        // now) and `curg` is set: it is the only thread resuming it.
        let why = unsafe { gr.resume() };
        m.curg.set(None);
        let woke_meanwhile = why == Some(Switch::Park) && !gr.finish_park();
        if why == Some(Switch::Park) {
            match hand_over_in_user(rt, m, if woke_meanwhile { Some(g) } else { None }) {
                Handover::Run(next) => {
                    g = next;
                    enter = false;
                    continue;
                }
                Handover::Claim(next) => {
                    m.in_user.set(false);
                    claim_back(m);
                    return Next::Run(next);
                }
                Handover::No => {}
            }
        }
        m.in_user.set(false);
        enter = true;
        claim_back(m);
        match why {
            None if goexit(rt, m, g) => return Next::ExitThread,
            None => return Next::Schedule,
            Some(Switch::Park) if woke_meanwhile => {
                // A wake came between park and now: run it again.
                if m.p.get().is_some() {
                    continue;
                }
                rt.inject.push(g);
                rt.wake_p();
            }
            Some(Switch::Park) => {}
            Some(Switch::Yield) | Some(Switch::NoP) => {
                rt.inject.push(g);
                rt.wake_p();
            }
        }
        if m.locked.get() > 0 {
            return stop_locked_m(rt, m).map_or(Next::Schedule, Next::Run);
        }
        return Next::Schedule;
    }
}

/// After goroutine code: takes the P back from user mode (`blocking` may
/// have swapped it meanwhile, sysmon may have taken it). Only `m`'s thread.
fn claim_back(m: &'static M) {
    if let Some(p) = m.p.get() {
        if !p.claim(m.id) {
            m.p.set(None);
        }
    }
}

/// What `hand_over_in_user` found.
enum Handover {
    /// Run this goroutine now, with the P still in user mode.
    Run(GRef),
    /// This goroutine was taken, but must go through the scheduler (it is
    /// locked to another thread): claim the P back first.
    Claim(GRef),
    /// Nothing to hand over: the usual path.
    No,
}

/// A goroutine just parked (its park is settled): if the one it most likely
/// woke waits in `runnext` (or `again`, the parked goroutine itself, was
/// woken meanwhile), runs it without leaving user mode. The P's owner word
/// keeps its `USER` bit across the switch, so this saves the claim's CAS and
/// the scheduler's loop on every channel hand-off. Only `m`'s thread, after
/// a park, with the owner word not yet claimed back.
///
/// Why it is safe without the claim: in user mode sysmon may take the P at
/// any moment, and this code touches only what a P's non-owner may touch
/// (`runnext` by swap, like a thief; the tick counter, a racy statistic).
/// If sysmon takes the P after the ownership look below, the goroutine we
/// run is simply one that runs while its M loses the P, which user mode
/// allows for every goroutine; its next scheduling point finds the P gone.
/// Everything that needs the P as owner (the ring, the stack cache, timers
/// that queue what they wake) is left to the scheduler, and so are the
/// global queue's turn every 61st tick, due timers and a locked M.
fn hand_over_in_user(rt: &'static Runtime, m: &'static M, again: Option<GRef>) -> Handover {
    let Some(p) = m.p.get() else {
        return Handover::No;
    };
    if m.locked.get() > 0
        || p.owner_word() != (m.id << 1 | USER)
        || p.global_queue_turn()
        || timers::due(rt, p)
    {
        return Handover::No;
    }
    if let Some(g) = again {
        return Handover::Run(g);
    }
    let Some(next) = p.runq.pop_next() else {
        return Handover::No;
    };
    // SAFETY: a G taken from a run queue is alive (it holds its own ref).
    let locked_to = unsafe { next.as_ref() }.locked_m.load(Ordering::Acquire);
    if locked_to.is_null() || ptr::eq(locked_to, m) {
        Handover::Run(next)
    } else {
        Handover::Claim(next)
    }
}

/// A goroutine returned: account for it and drop its own reference. True if
/// it was locked to this thread, which then ends.
fn goexit(rt: &'static Runtime, m: &'static M, g: GRef) -> bool {
    // SAFETY: the G is alive until the `release_ref` below.
    let gr = unsafe { g.as_ref() };
    gr.mark_done();
    match m.p.get() {
        Some(p) => P::count(&p.exited),
        None => {
            rt.exited_off_p.fetch_add(1, Ordering::AcqRel);
        }
    }
    // Go's rule: a goroutine that exits while locked takes its thread with
    // it, since it may have changed the thread's state.
    let exit_thread = m.locked.replace(0) > 0;
    gr.locked_m.store(ptr::null_mut(), Ordering::Release);
    // SAFETY: this is the goroutine's own reference, given up exactly once.
    // Scheduler code: the P, if any, is claimed, so its stack cache is ours.
    unsafe { G::release_ref_with(g, |stack| sched::free_stack_on(m.p.get(), stack)) };
    exit_thread
}

fn exit_locked_thread(rt: &'static Runtime, m: &'static M) {
    if let Some(p) = m.release() {
        rt.hand_off_p(p);
    }
    rt.nthreads.fetch_sub(1, Ordering::AcqRel);
}

/// The locked goroutine of `m` switched out: give the P away and sleep until
/// the goroutine is runnable and handed back with a P. Only `m`'s thread.
fn stop_locked_m(rt: &'static Runtime, m: &'static M) -> Option<GRef> {
    if let Some(p) = m.release() {
        rt.hand_off_p(p);
    }
    m.sleep_until_handed()
}

/// `g` is locked to another M: hand it our P and `g`, and sleep. Only `m`'s
/// thread (Go's `startlockedm`).
fn start_locked_m(rt: &'static Runtime, m: &'static M, to: *mut M, g: GRef) -> Option<GRef> {
    let p = m.release().expect("scheduling without a P");
    if m.spinning.replace(false) {
        rt.nmspinning.fetch_sub(1, Ordering::AcqRel);
    }
    // SAFETY: Ms are leaked; a G's `locked_m` always names a live M.
    unsafe { &*to }.hand_over(p, Some(g), false);
    rt.stop_m(m)
}

/// Yields the processor: the goroutine goes to the back of the global queue
/// (Go's `Gosched`). Off the runtime it yields the OS thread.
pub fn yield_now() {
    match current_g() {
        // SAFETY: we are this goroutine, on its own stack.
        Some(g) => unsafe { g.as_ref().switch_out(Switch::Yield) },
        None => thread::yield_now(),
    }
}

/// A goroutine running without a P (sysmon took it) switches out, to be
/// resumed on a P. Only the goroutine itself, at a point where switching is
/// expected (spawning). No-op off the runtime or with a P.
pub(crate) fn yield_if_p_lost() {
    let Some(m) = current_m() else { return };
    if m.p.get().is_some() || m.locked.get() > 0 {
        return;
    }
    if let Some(g) = m.curg.get() {
        // SAFETY: we are this goroutine, on its own stack.
        unsafe { g.as_ref().switch_out(Switch::NoP) };
    }
}

/// Runs `f`, which may block its OS thread (a blocking system call, a long
/// computation, a C library), after handing this goroutine's processor to
/// another thread, so the other goroutines keep running meanwhile. Returns
/// `f`'s value; off the runtime it simply calls `f`.
///
/// Without `blocking`, sysmon does the same hand-off after the goroutine has
/// held its processor for about 10 ms without a scheduling point; `blocking`
/// does it at once.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let Some(m) = current_m().filter(|m| m.curg.get().is_some()) else {
        return f();
    };
    if let Some(p) = m.p.take() {
        if p.retake(m.id << 1 | USER) {
            rt().hand_off_p(p);
        }
    }
    struct Reacquire;
    impl Drop for Reacquire {
        fn drop(&mut self) {
            reacquire_p();
        }
    }
    let _reacquire = Reacquire;
    f()
}

/// After `blocking`: get a P back, or queue the goroutine and let this M
/// sleep. Only the goroutine itself.
fn reacquire_p() {
    let m = current_m().expect("blocking ended off the runtime");
    if m.p.get().is_some() {
        return;
    }
    if let Some(p) = rt().try_get_idle_p() {
        m.acquire(p);
        p.enter_user(m.id);
        return;
    }
    let g = current_g().expect("blocking ended outside its goroutine");
    // SAFETY: we are this goroutine, on its own stack.
    unsafe { g.as_ref().switch_out(Switch::NoP) };
}

/// Wires the calling goroutine to its current OS thread: until the matching
/// [`unlock_os_thread`], it runs only on this thread and no other goroutine
/// runs here (Go's `runtime.LockOSThread`). Calls nest. If the goroutine
/// returns while locked, the thread ends with it. Off the runtime it does
/// nothing: a plain thread is already its own.
pub fn lock_os_thread() {
    let Some(m) = current_m() else { return };
    let Some(g) = m.curg.get() else { return };
    m.locked.set(m.locked.get() + 1);
    // SAFETY: `g` is the running goroutine: alive.
    unsafe { g.as_ref() }
        .locked_m
        .store(m as *const M as *mut M, Ordering::Release);
}

/// Undoes one [`lock_os_thread`]; the last one lets the goroutine move again.
pub fn unlock_os_thread() {
    let Some(m) = current_m() else { return };
    let Some(g) = m.curg.get() else { return };
    let depth = m.locked.get().saturating_sub(1);
    m.locked.set(depth);
    if depth == 0 {
        // SAFETY: `g` is the running goroutine: alive.
        unsafe { g.as_ref() }
            .locked_m
            .store(ptr::null_mut(), Ordering::Release);
    }
}

/// The running goroutine's G, for the park seam and goroutine-locals.
#[inline]
pub(crate) fn current_g_ref() -> Option<&'static G> {
    // SAFETY: the running goroutine's G is alive while it runs, and callers
    // use the reference only from that goroutine before it ends.
    current_g().map(|g| unsafe { &*g.as_ptr() })
}

pub(crate) fn is_goroutine() -> bool {
    current_g().is_some()
}
