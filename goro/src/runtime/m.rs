//! M: an OS thread that runs goroutines while it holds a P (Go's `m`), its
//! thread-locals, and the loop every M runs (Go's `mstart`/`schedule`).
//! Finding work is `find.rs`, running it `execute.rs`, giving the P away
//! around a blocking call `blocking.rs`, threads wired to one goroutine
//! `locked.rs`, and sleeping and waking `idle.rs`.
//!
//! # What it protects
//!
//! An `M` is shared (the idle list, `lock_os_thread`), but its `Cell`s and
//! its cache of free packet cells are touched only by its own thread; other
//! threads reach it only through `next` (a P, maybe a G, given to it while it
//! sleeps) and its parker. Ms are leaked: they live as long as the process
//! (at most `max_threads` of them), so `&'static M` is always valid.
//!
//! `p` and `in_user` say where the thread's P is: `p` is `Some` exactly while
//! the M holds one, claimed (`in_user` false: its loop holds the
//! [`ClaimedP`]) or in user mode (`in_user` true: goroutine code runs, sysmon
//! may take the P, and the next claim finds out). Only the token transitions
//! below change them ([`M::run_on`], [`M::stop_running_on`],
//! [`M::enter_user`], [`M::claim_back`]).
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

use crate::loom::Parker;
use crate::runtime::cells::CellCache;
use crate::runtime::execute::{execute, Next};
use crate::runtime::find::{find_runnable, reset_spinning};
use crate::runtime::g::{GRef, G};
use crate::runtime::idle::NextP;
use crate::runtime::locked::{exit_locked_thread, start_locked_m};
use crate::runtime::p::{ClaimedP, IdleP, UserP, P};
use crate::runtime::sched::Runtime;

pub(crate) struct M {
    pub(crate) id: u64,
    pub(crate) parker: Parker,
    pub(crate) next: NextP,
    p: Cell<Option<&'static P>>,
    /// True while goroutine code runs, and through a successor switch in user mode
    /// (the P's owner word has `USER` set).
    in_user: Cell<bool>,
    spinning: Cell<bool>,
    pub(crate) curg: Cell<Option<GRef>>,
    /// `lock_os_thread` nesting depth of the goroutine running here.
    pub(crate) locked: Cell<u32>,
    rng: Cell<u64>,
    /// Free packet cells; only this M's thread touches them.
    cells: UnsafeCell<CellCache>,
}

// SAFETY: the `Cell`s and the cell cache are only used by the M's own thread
// (module docs); `next` is atomic and the parker is `Sync`.
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

/// Runs `f` with this thread's P claimed, so sysmon cannot take it away
/// meanwhile; `None` if the thread has no P (not an M, or the P was taken).
/// Any thread; `f` must not switch goroutines.
pub(crate) fn with_p<R>(f: impl FnOnce(&ClaimedP) -> R) -> Option<R> {
    let m = current_m()?;
    let p = m.p.get()?;
    if !m.in_user.get() {
        // SAFETY: in scheduler code with a P, this thread's loop holds the
        // P's `ClaimedP` and is suspended in the call that got us here (a
        // waker run by a timer, a stack freed by a dropped waker), so it
        // cannot give the token up before we return; the lent one ends here.
        let lent = unsafe { ClaimedP::lend(p) };
        return Some(f(&lent));
    }
    let Some(claimed) = UserP::of(p, m.id).claim() else {
        m.p.set(None);
        return None;
    };
    m.in_user.set(false);
    let r = f(&claimed);
    m.in_user.set(true);
    let _ = claimed.enter_user(m.id);
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
    fn new() -> &'static M {
        let id = NEXT_M_ID.fetch_add(1, Ordering::Relaxed);
        Box::leak(Box::new(M {
            id,
            parker: Parker::new(),
            next: NextP::new(),
            p: Cell::new(None),
            in_user: Cell::new(false),
            spinning: Cell::new(false),
            curg: Cell::new(None),
            locked: Cell::new(0),
            rng: Cell::new(id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            cells: UnsafeCell::new(CellCache::new()),
        }))
    }

    /// An M for the loom models of the idle protocol: never runs a thread.
    #[cfg(all(loom, test))]
    pub(crate) fn for_model() -> &'static M {
        M::new()
    }

    /// The P this M holds (claimed or in user mode), if any. Only its thread.
    #[inline]
    pub(crate) fn p(&self) -> Option<&'static P> {
        self.p.get()
    }

    /// True if `p` is still this M's. Only `m`'s thread, with `p` from
    /// [`current_m_and_p`]. In scheduler code the P cannot be taken; in
    /// goroutine code sysmon may take it at any moment, so the answer is
    /// about the instant of the `SeqCst` load (see `RunQueue::offer_next`).
    #[inline]
    pub(crate) fn still_owns(&self, p: &'static P) -> bool {
        !self.in_user.get() || UserP::of(p, self.id).still_owned()
    }

    /// The M starts running on `p`, in scheduler code. Only its thread.
    pub(crate) fn run_on(&self, p: IdleP) -> ClaimedP {
        let p = p.claim_for(self.id);
        self.p.set(Some(p.p()));
        p
    }

    /// The M gives `p` up. Only its thread.
    pub(crate) fn stop_running_on(&self, p: ClaimedP) -> IdleP {
        self.p.set(None);
        p.release()
    }

    /// The M starts goroutine code on `p`. Only its thread, with `p` the P
    /// it runs on.
    #[inline]
    pub(crate) fn enter_user(&self, p: ClaimedP) {
        debug_assert!(self.p.get().is_some_and(|q| ptr::eq(q, p.p())));
        self.in_user.set(true);
        let _ = p.enter_user(self.id);
    }

    /// After goroutine code: takes the P back from user mode; `None` if it
    /// has none any more (`blocking` gave it away and found no other, or
    /// sysmon took it). Only its thread.
    #[inline]
    pub(crate) fn claim_back(&self) -> Option<ClaimedP> {
        self.in_user.set(false);
        let p = self.p.get()?;
        let claimed = UserP::of(p, self.id).claim();
        if claimed.is_none() {
            self.p.set(None);
        }
        claimed
    }

    /// In goroutine code, the record of the P the M runs on (`blocking`).
    pub(crate) fn take_user_p(&self) -> Option<UserP> {
        debug_assert!(self.in_user.get());
        Some(UserP::of(self.p.take()?, self.id))
    }

    /// True while the M looks for work holding a P (counted in
    /// `nmspinning`). Only its thread.
    pub(crate) fn is_spinning(&self) -> bool {
        self.spinning.get()
    }

    /// Counted in `nmspinning` by the caller, or not. Only its thread.
    pub(crate) fn set_spinning(&self, spinning: bool) {
        self.spinning.set(spinning);
    }

    /// Stops spinning; true if it was. Only its thread.
    pub(crate) fn stop_spinning(&self) -> bool {
        self.spinning.replace(false)
    }

    /// Gives a sleeping M a P (and maybe a goroutine to run first) and wakes
    /// it. Any thread, after taking the M off the idle list (or for a locked
    /// M, which sleeps off the list).
    pub(crate) fn wake_with(&self, p: IdleP, g: Option<GRef>, spinning: bool) {
        self.next.give(p, g, spinning);
        self.parker.unpark();
    }

    /// Gives the M's free cells back to the pool before it sleeps, so that
    /// sleeping Ms hold none. Only the M's own thread, in scheduler code.
    pub(crate) fn drain_cells(&self) {
        // SAFETY: this is the M's own thread (the contract), and no cache
        // borrow is live in scheduler code.
        unsafe { &mut *self.cells.get() }.drain();
    }

    /// A xorshift step: the victim order of stealing. Only its thread.
    pub(crate) fn rand(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }
}

/// Starts a new M that runs on `p`. Any thread. Past the thread limit the
/// program ends, as Go's does ("thread exhaustion"): a program blocked in
/// that many threads cannot make progress.
#[cfg(not(loom))]
pub(crate) fn spawn_m(rt: &'static Runtime, p: IdleP, spinning: bool) {
    let n = rt.nthreads.fetch_add(1, Ordering::AcqRel) + 1;
    if n > rt.config.max_threads {
        fatal(&format!(
            "program exceeds the {}-thread limit (goroutines blocked in `blocking` or \
             system calls); raise it with runtime::Builder::max_threads",
            rt.config.max_threads
        ));
    }
    let m = M::new();
    let spawned = std::thread::Builder::new()
        .name(format!("goro-m{}", m.id))
        .spawn(move || m_main(rt, m, p, spinning));
    if let Err(e) = spawned {
        fatal(&format!("cannot start an OS thread for the scheduler: {e}"));
    }
}

/// Under loom no thread starts: the M is made and recorded with its P, and
/// the models read what would have run.
#[cfg(loom)]
pub(crate) fn spawn_m(rt: &'static Runtime, p: IdleP, spinning: bool) {
    rt.model_started_ms.lock().push((M::new(), p, spinning));
}

#[cfg_attr(loom, allow(dead_code))]
fn fatal(msg: &str) -> ! {
    eprintln!("goro: fatal error: {msg}");
    std::process::exit(2)
}

#[cfg_attr(loom, allow(dead_code))]
fn m_main(rt: &'static Runtime, m: &'static M, p: IdleP, spinning: bool) {
    CURRENT.with(|c| c.set(m));
    m.parker.bind();
    crate::stack::ensure_signal_stack();
    tighten_timer_slack();
    let p = m.run_on(p);
    m.set_spinning(spinning);
    let mut next = Next::Schedule(Some(p));
    loop {
        let (p, g) = match next {
            Next::Run(p, g) => (p, g),
            Next::Schedule(p) => find_runnable(rt, m, p),
            Next::ExitThread(p) => return exit_locked_thread(rt, m, p),
        };
        if m.spinning.get() {
            reset_spinning(rt, m);
        }
        // SAFETY: a G taken from a run queue is alive (it holds its own ref).
        let locked_to = unsafe { g.as_ref() }.locked_m.load(Ordering::Acquire);
        next = if !locked_to.is_null() && !ptr::eq(locked_to, m) {
            start_locked_m(rt, m, locked_to, p, g)
        } else {
            execute(rt, m, p, g)
        };
    }
}

/// Linux lets a sleeping thread wake up to 50 µs late by default (timer
/// slack, to batch wake-ups); an M sleeping until the next timer would pass
/// that lateness on to every `sleep`. 1 µs keeps timers prompt. Only the
/// M's own thread, at start.
#[cfg_attr(loom, allow(dead_code))]
fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and touches only this
    // thread's scheduling attributes.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong);
    }
}
