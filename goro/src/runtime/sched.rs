//! The scheduler's shared state (Go's `sched`): the Ps, the global queue,
//! the idle protocol's state (`idle.rs`), the stack pool, the counters; and
//! `ready`, the one way a woken goroutine gets back on a run queue.
//!
//! # What this module protects
//!
//! - `ps`: fixed at start; each P's owner-only parts are reached through its
//!   token (`p.rs`).
//! - The goroutine count: each P counts what it spawned and what ended on
//!   it (`spawned_and_exited`), threads without a P count in
//!   `spawned_off_p`/`exited_off_p`; [`Runtime::goroutines`] reads every
//!   `exited` before any `spawned`, so an exit seen implies its spawn is seen
//!   and the count never underflows.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::runtime::builder::Config;
use crate::runtime::g::{GRef, G};
use crate::runtime::global_queue::GlobalQueue;
use crate::runtime::idle::Idle;
use crate::runtime::m;
use crate::runtime::p::{ClaimedP, IdleP, P};
use crate::runtime::sysmon::SysmonSleep;
use crate::runtime::timers::Timers;
use crate::stack::{Stack, StackError, StackPool};

pub(crate) struct Runtime {
    pub(crate) ps: Box<[P]>,
    pub(crate) global: GlobalQueue<G>,
    pub(crate) idle: Idle,
    pub(crate) nthreads: AtomicUsize,
    pub(crate) stacks: StackPool,
    /// Goroutines started or ended by threads without a P (their P's
    /// counters hold the rest; see `goroutines`).
    pub(crate) spawned_off_p: AtomicU64,
    pub(crate) exited_off_p: AtomicU64,
    pub(crate) next_goid: AtomicU64,
    pub(crate) config: Config,
    pub(crate) timers: Timers,
    pub(crate) sysmon: SysmonSleep,
    /// Under loom, the Ms `spawn_m` would have started (with their P, and
    /// whether spinning): what the idle protocol's models check.
    #[cfg(loom)]
    pub(crate) model_started_ms: crate::loom::Mutex<Vec<(&'static m::M, IdleP, bool)>>,
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
    rt.make_ps_idle();
    crate::runtime::sysmon::spawn(rt);
    Ok(rt)
}

pub(crate) enum StartError {
    AlreadyStarted,
    Stack(StackError),
}

impl Runtime {
    /// A runtime whose Ps have no tokens yet: [`Runtime::make_ps_idle`]
    /// makes them once it sits where it stays.
    pub(crate) fn new(config: Config, stacks: StackPool) -> Runtime {
        let ps: Box<[P]> = (0..config.gomaxprocs).map(P::new).collect();
        Runtime {
            ps,
            global: GlobalQueue::new(),
            idle: Idle::new(),
            nthreads: AtomicUsize::new(0),
            stacks,
            spawned_off_p: AtomicU64::new(0),
            exited_off_p: AtomicU64::new(0),
            next_goid: AtomicU64::new(1),
            config,
            timers: Timers::new(),
            sysmon: SysmonSleep::new(),
            #[cfg(loom)]
            model_started_ms: crate::loom::Mutex::new(Vec::new()),
        }
    }

    /// Puts every P on the idle list, the first P last (the first taken).
    /// Once, right after the runtime reached its final place.
    pub(crate) fn make_ps_idle(&'static self) {
        // SAFETY: once per runtime, before any M exists: no other token of
        // these Ps exists and nobody runs on them.
        let tokens = self.ps.iter().rev().map(|p| unsafe { IdleP::new(p) });
        self.idle.fill(tokens.collect());
    }

    pub(crate) fn nprocs(&self) -> usize {
        self.ps.len()
    }

    /// Goroutines alive now (module docs).
    pub(crate) fn goroutines(&self) -> u64 {
        let exited = self.exited_off_p.load(Ordering::Acquire)
            + self
                .ps
                .iter()
                .map(|p| p.spawned_and_exited().1)
                .sum::<u64>();
        let spawned = self.spawned_off_p.load(Ordering::Acquire)
            + self
                .ps
                .iter()
                .map(|p| p.spawned_and_exited().0)
                .sum::<u64>();
        spawned.saturating_sub(exited)
    }

    /// Makes `g` runnable: on this thread's P (in `runnext`, so the woken
    /// goroutine runs next, on the waker's P) or else on the global queue.
    /// Any thread (Go's `ready`).
    ///
    /// A goroutine that lands in an empty `runnext` wakes no other M (tokio's
    /// LIFO-slot rule; Go wakes one): the usual waker blocks right after (a
    /// channel hand-off), and then this M runs it at once, where a woken
    /// thread would preempt the waker or steal the goroutine and split the
    /// pair across cores. If the waker instead keeps running, sysmon starts
    /// an M for the waiting goroutine at its next look (`sysmon::retake`),
    /// and anything else this P queues wakes one as usual.
    ///
    /// A goroutine that last ran on another P changes cores here, and its
    /// frames are still in the other core's cache: the waker prefetches them
    /// ([`G::prefetch_for_resume`]) so they travel while it finishes its
    /// hand-off, not one miss at a time after the switch. Figures for both
    /// rules: `docs/decisions/wake-ups.md`.
    pub(crate) fn ready(&'static self, g: GRef) {
        let Some((m, p)) = m::current_m_and_p() else {
            self.global.push(g);
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
        match p.runq().offer_next(g) {
            None if m.still_owns(p) => {}
            // Sysmon took the P meanwhile: whoever has it now, or a thief,
            // must look at its `runnext`.
            None => self.wake_p(),
            Some(kicked) => {
                let queued = m::with_p(|p| p.push(kicked, false, &self.global));
                if queued.is_none() {
                    self.global.push(kicked);
                }
                self.wake_p();
            }
        }
    }
}

/// Puts a woken goroutine on a run queue. Any thread.
#[inline]
pub(crate) fn ready(g: NonNull<G>) {
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
/// without a P.
pub(crate) fn free_stack_on(p: Option<&ClaimedP>, stack: Stack) {
    let rt = rt();
    match p {
        Some(p) => p.stack_cache(|c| c.put(&rt.stacks, stack)),
        None => rt.stacks.put(stack),
    }
}
