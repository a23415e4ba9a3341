//! G: the goroutine control block, and its park/wake state machine.
//!
//! A G lives at the top of its own stack (the stack module reserves the room),
//! so a parked goroutine whose frames fit in one page costs one page, control
//! block included. The memory is returned to the stack pool only when the last
//! reference is gone, which is why a G is reference-counted: the running
//! goroutine holds one reference until it finishes, every [`Waker`] made for it
//! holds one more. A stale waker can therefore never wake a stranger that
//! reused the stack; it finds the G `DONE` and does nothing.
//!
//! # Park and wake
//!
//! `park` holds the token state machine ([`ParkState`]). The coroutine is
//! resumed only by the one M that took the G from a run queue (or that
//! switched it out and re-runs it), so `coroutine` is never touched by two
//! threads at once.
//!
//! # Resume hints
//!
//! `last_p` and `switch_sp` say where the goroutine last ran and where its
//! innermost frame was, so a waker that moves it to another core can
//! prefetch what its resume reads first (`Runtime::ready`). They are hints:
//! read after the wake CAS they are exact, but nothing depends on them.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::mem::{self, ManuallyDrop};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::task::{RawWaker, RawWakerVTable, Waker};

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::runtime::m::M;
use crate::runtime::park_state::ParkState;
use crate::stack::{Stack, StackError};

/// Why a goroutine switched back to its M.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Switch {
    /// `park()`: the M marks it `PARKED` unless a wake already came.
    Park,
    /// `yield_now()`: back on the global queue, as Go's `Gosched`.
    Yield,
    /// The goroutine's M lost its P (sysmon or `blocking`) and found no idle
    /// one: the goroutine goes to the global queue and the M sleeps.
    NoP,
}

pub(crate) type GoCoroutine = Coroutine<(), Switch, (), Stack>;
pub(crate) type GoYielder = Yielder<(), Switch>;

/// Goroutine-local values, dropped on the goroutine when it finishes.
pub(crate) type Locals = Vec<(usize, Box<dyn Any + Send>)>;

pub(crate) struct G {
    pub(crate) id: u64,
    park: ParkState,
    refs: AtomicUsize,
    /// Set once by the goroutine itself on first run.
    yielder: Cell<*const GoYielder>,
    coroutine: UnsafeCell<ManuallyDrop<GoCoroutine>>,
    /// The M this goroutine is pinned to (`lock_os_thread`), or null.
    pub(crate) locked_m: AtomicPtr<M>,
    pub(crate) locals: UnsafeCell<Option<Box<Locals>>>,
    /// The index of the P this goroutine last ran on (`NEVER_RAN` before
    /// its first run). Written by the M that resumes it, read by its waker.
    last_p: AtomicU32,
    /// An address in the goroutine's innermost frame when it last switched
    /// out: where its resume starts reading. Written by the goroutine, read
    /// by its waker. Both are hints for [`G::prefetch_for_resume`]: a waker
    /// reads them after winning the wake CAS, which orders it after the
    /// writes, but a stale value would only prefetch the wrong lines.
    switch_sp: AtomicUsize,
}

const NEVER_RAN: u32 = u32::MAX;

/// Bytes below the recorded switch address that the switch itself used
/// (corosensei's saved registers and resume address).
const SWITCH_SAVE_AREA: usize = 192;
/// Bytes prefetched for a resume, from the switch's saved registers up
/// through the park path to the goroutine's own loop. A parked sieve
/// filter's frames take ~510 bytes below its G.
const RESUME_WINDOW: usize = 1024;
const LINE: usize = 64;

/// A counted reference to a G, as it travels through run queues.
pub(crate) type GRef = NonNull<G>;

impl G {
    /// Builds a goroutine on `stack` that runs `body`, and returns the one
    /// reference the goroutine itself holds. Any thread may call it.
    pub(crate) fn spawn_on<F: FnOnce() + Send + 'static>(
        mut stack: Stack,
        id: u64,
        body: F,
    ) -> GRef {
        stack.set_goroutine_id(id);
        let slot = stack.reserve_top(mem::size_of::<G>()).cast::<G>();
        let coroutine = Coroutine::with_stack(stack, move |yielder: &GoYielder, ()| {
            goroutine_main(yielder, body)
        });
        let g = G {
            id,
            park: ParkState::new(),
            refs: AtomicUsize::new(1),
            yielder: Cell::new(ptr::null()),
            coroutine: UnsafeCell::new(ManuallyDrop::new(coroutine)),
            locked_m: AtomicPtr::new(ptr::null_mut()),
            locals: UnsafeCell::new(None),
            last_p: AtomicU32::new(NEVER_RAN),
            switch_sp: AtomicUsize::new(0),
        };
        // SAFETY: `reserve_top` gave us room for a `G`, aligned to 64 bytes,
        // inside the slot this goroutine owns; nothing else lives there.
        unsafe { slot.as_ptr().write(g) };
        slot
    }

    /// Runs the goroutine until it switches out or returns.
    ///
    /// # Safety
    /// Only the M that holds this G (took it from a run queue, or just
    /// switched it out) may call this, with `M::curg` set to it.
    pub(crate) unsafe fn resume(&self) -> Option<Switch> {
        // SAFETY: by the contract, no other thread touches the coroutine now.
        let co = unsafe { &mut *self.coroutine.get() };
        match co.resume(()) {
            CoroutineResult::Yield(why) => Some(why),
            CoroutineResult::Return(()) => None,
        }
    }

    /// Switches from this goroutine back to its M.
    ///
    /// # Safety
    /// Only the goroutine itself, running on its own stack, may call this.
    #[inline]
    pub(crate) unsafe fn switch_out(&self, why: Switch) {
        let here = 0u8;
        let sp = std::hint::black_box(&here) as *const u8 as usize;
        self.switch_sp.store(sp, Ordering::Relaxed);
        let yielder = self.yielder.get();
        // SAFETY: the yielder lives on this coroutine's stack for as long as
        // the coroutine runs, and we are that coroutine.
        unsafe { (*yielder).suspend(why) };
    }

    /// Records that the goroutine runs on the P with index `p`. Only the M
    /// about to resume it.
    #[inline]
    pub(crate) fn note_running_on(&self, p: usize) {
        self.last_p.store(p as u32, Ordering::Relaxed);
    }

    /// True if the goroutine last ran on the P with index `p`. Its waker,
    /// after the wake CAS.
    #[inline]
    pub(crate) fn last_ran_on(&self, p: usize) -> bool {
        self.last_p.load(Ordering::Relaxed) == p as u32
    }

    /// Starts fetching the cache lines a resume reads first: the innermost
    /// frames (the registers the switch saved, then the park path the
    /// goroutine returns through) and the G's second line (with rustc's
    /// field order today it holds the coroutine's saved stack pointer and
    /// also the park state, so the waker's CAS may have brought it already;
    /// the first line is left out, which measured faster:
    /// `docs/decisions/wake-ups.md`). Called by a waker that moves a
    /// goroutine to another core, so the lines arrive while the waker
    /// finishes its hand-off instead of one miss at a time after the switch.
    /// Any thread; a hint only (see `switch_sp`).
    #[inline]
    pub(crate) fn prefetch_for_resume(&self) {
        let g = self as *const G as usize;
        for line in self.resume_window().step_by(LINE) {
            prefetch_line(line);
        }
        prefetch_line(g + LINE);
    }

    /// The addresses a resume reads first, below the G (empty if the
    /// goroutine never switched out). Any thread (a hint, see `switch_sp`).
    fn resume_window(&self) -> std::ops::Range<usize> {
        let g = self as *const G as usize;
        let sp = self.switch_sp.load(Ordering::Relaxed);
        if sp == 0 || sp > g {
            return 0..0;
        }
        let from = sp.saturating_sub(SWITCH_SAVE_AREA) & !(LINE - 1);
        from..g.min(from + RESUME_WINDOW)
    }

    /// The park fast path: consumes a pending wake token. Only the
    /// goroutine itself.
    #[inline]
    pub(crate) fn try_consume_token(&self) -> bool {
        self.park.try_consume_token()
    }

    /// After a `Switch::Park`, the M tries to make the park real; false
    /// means a wake came in between and the goroutine must run again. Only
    /// the M that switched it out.
    pub(crate) fn finish_park(&self) -> bool {
        self.park.finish_park()
    }

    /// Records that the goroutine has returned. Only its M.
    pub(crate) fn mark_done(&self) {
        self.park.mark_done();
    }

    /// Any thread. True when the caller won the right to put the G on a run
    /// queue (it was parked); false when a token was left or it is gone.
    #[inline]
    pub(crate) fn wake(&self) -> bool {
        self.park.wake()
    }

    pub(crate) fn acquire_ref(&self) {
        self.refs.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops one reference; the last one gives the stack back.
    ///
    /// # Safety
    /// The caller owns one reference to `g` and does not use it afterwards.
    pub(crate) unsafe fn release_ref(g: GRef) {
        // SAFETY: the caller's contract is ours.
        unsafe { Self::release_ref_with(g, crate::runtime::sched::free_stack) }
    }

    /// As [`G::release_ref`], giving the stack to `free` if this was the
    /// last reference.
    ///
    /// # Safety
    /// As for [`G::release_ref`].
    pub(crate) unsafe fn release_ref_with(g: GRef, free: impl FnOnce(Stack)) {
        // SAFETY: the caller still holds a reference, so `g` is alive.
        let gr = unsafe { g.as_ref() };
        if gr.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: we held the last reference: nobody else can reach the G.
        // The goroutine has finished (it held a reference until then), so its
        // coroutine is done and its stack can be taken back.
        let stack = unsafe {
            let co = ManuallyDrop::take(&mut *gr.coroutine.get());
            ptr::drop_in_place(g.as_ptr());
            co.into_stack()
        };
        free(stack);
    }

    /// A waker for this goroutine that holds no reference: it must not
    /// outlive the goroutine's current wait and must never be dropped (its
    /// clones are ordinary, counted wakers). Saves two atomic operations per
    /// blocking call. Only the goroutine itself, for a wait it is in.
    #[inline]
    pub(crate) fn waker_unowned(&self) -> ManuallyDrop<Waker> {
        let raw = RawWaker::new(self as *const G as *const (), &G_WAKER_VTABLE);
        // SAFETY: the vtable's contract holds for as long as the G lives,
        // which covers the wait; `ManuallyDrop` keeps the uncounted waker
        // from releasing a reference it never took.
        ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
    }

    /// The waker for this goroutine; it holds a reference.
    pub(crate) fn waker(&self) -> Waker {
        self.acquire_ref();
        let raw = RawWaker::new(self as *const G as *const (), &G_WAKER_VTABLE);
        // SAFETY: the vtable's contract is upheld: data is a G with a
        // reference owned by this waker.
        unsafe { Waker::from_raw(raw) }
    }
}

/// Asks the CPU to bring the line at `addr` into its caches.
#[inline(always)]
fn prefetch_line(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address,
    // and changes no memory; SSE, which it needs, is part of x86_64.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// The body every goroutine runs on its own stack.
fn goroutine_main<F: FnOnce()>(yielder: &GoYielder, body: F) {
    let g = crate::runtime::m::current_g().expect("goroutine started outside an M");
    // SAFETY: `g` is the G that is running this very coroutine.
    unsafe { g.as_ref() }.yielder.set(yielder);
    body();
}

/// The goroutine behind `waker`, if it is a goroutine's waker. Lets the
/// wait queue publish an outcome between marking the goroutine runnable and
/// queueing it (`runtime::park::Direct`, used by `runtime::wait`).
#[cfg_attr(loom, allow(dead_code))]
#[inline]
pub(crate) fn goroutine_of(waker: &Waker) -> Option<&G> {
    if !std::ptr::eq(waker.vtable(), &G_WAKER_VTABLE) {
        return None;
    }
    // SAFETY: only G wakers carry this vtable, and their data is a G that
    // the waker keeps alive (or that outlives a borrowed waker's wait).
    Some(unsafe { &*(waker.data() as *const G) })
}

/// Wakes a goroutine from any thread: puts it on a run queue if it was parked.
pub(crate) fn wake_g(g: &G) {
    if g.wake() {
        crate::runtime::sched::ready(NonNull::from(g));
    }
}

static G_WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: data is a live G: this waker holds a reference to it.
    unsafe { (*(data as *const G)).acquire_ref() };
    RawWaker::new(data, &G_WAKER_VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: the waker's reference keeps the G alive until released below.
    unsafe {
        waker_wake_by_ref(data);
        waker_drop(data);
    }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: the waker's reference keeps the G alive.
    wake_g(unsafe { &*(data as *const G) });
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: this waker owned one reference and is being dropped.
    unsafe { G::release_ref(NonNull::new_unchecked(data as *mut G)) }
}

/// Failure to create a goroutine.
#[derive(Debug)]
pub enum SpawnError {
    /// No stack could be had (the address space or the memory map is full).
    Stack(StackError),
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::Stack(e) => write!(f, "cannot create goroutine: {e}"),
        }
    }
}

impl std::error::Error for SpawnError {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The resume prefetch aims at the right lines: after a switch, the
    /// recorded address lies in the goroutine's own frames just below its G,
    /// inside the prefetched window, and the G names the one P that ran it.
    #[test]
    #[cfg_attr(miri, ignore)] // goroutines switch stacks with inline assembly
    fn a_switched_out_goroutine_records_where_its_resume_starts() {
        let (g_addr, window, sp, ran_on) = crate::go(|| {
            let g = crate::runtime::m::current_g_ref().expect("on a goroutine");
            assert_eq!(g.resume_window(), 0..0, "nothing recorded before a switch");
            crate::yield_now();
            let sp = g.switch_sp.load(Ordering::Relaxed);
            let procs = crate::runtime::gomaxprocs();
            let ran_on: Vec<usize> = (0..procs).filter(|&p| g.last_ran_on(p)).collect();
            g.prefetch_for_resume();
            (g as *const G as usize, g.resume_window(), sp, ran_on)
        })
        .join()
        .unwrap();
        assert!(
            sp < g_addr && g_addr - sp < 4096,
            "switch address {sp:#x}, G at {g_addr:#x}"
        );
        assert!(window.contains(&sp), "{window:x?} misses {sp:#x}");
        assert!(window.start % LINE == 0 && window.end <= g_addr);
        assert_eq!(ran_on.len(), 1, "last P: {ran_on:?}");
    }
}
