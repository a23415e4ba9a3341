//! The runtime: goroutines on an M:N work-stealing scheduler, as Go's.
//!
//! # G, M and P
//!
//! - A **G** (`g.rs`) is a goroutine: a stackful coroutine (`corosensei`) on a
//!   pooled stack, whose control block sits at the top of that stack.
//! - An **M** (`m.rs`) is an OS thread. It runs goroutines only while it holds
//!   a **P** (`p.rs`), a processor: the right to run Go code, with a local run
//!   queue of 256 slots plus a `runnext` slot (`queue.rs`) and a cache of free
//!   stacks. There are `GOMAXPROCS` Ps, so at most that many goroutines run
//!   at once, while any number of Ms may exist (most asleep, or blocked in
//!   system calls after giving their P away).
//!
//! Who holds a P is in its type (`p.rs`): an `IdleP` token on the idle list
//! or in transit, a `ClaimedP` held by an M's scheduling loop (the only way
//! to the owner's side of the run queue, the stack cache and the id cache),
//! or nothing while goroutine code runs (user mode), when sysmon may take it.
//!
//! # The files, by job
//!
//! | file | job (Go's name) |
//! |---|---|
//! | `m.rs` | the M, its thread-locals, its loop (`mstart`, `schedule`) |
//! | `find.rs` | finding work: local, global, stealing (`findRunnable`) |
//! | `execute.rs` | running a goroutine and settling it (`execute`, `park_m`, `goexit0`) |
//! | `idle.rs` | idle Ps and Ms, spinning, the timer sleeper (`wakep`, `startm`, `handoffp`, `stopm`) |
//! | `blocking.rs` | giving the P away around a blocking call (`entersyscall`), `Gosched` |
//! | `locked.rs` | `LockOSThread` |
//! | `sched.rs` | the shared state, `ready` (`sched`, `ready`) |
//! | `sysmon.rs` | the monitor thread (`sysmon`) |
//! | `timers.rs` | per-P timer heaps (`timers`, `checkTimers`) |
//! | `park.rs`, `park_state.rs` | the park/wake seam (`gopark`, `goready`) |
//! | `wait.rs` | the wait queue every primitive blocks on (`sudog`, `waitq`) |
//! | `spawn.rs`, `packet.rs`, `cells.rs` | `go`, `JoinHandle`, the join packets |
//! | `global_queue.rs` | the global run queue (`sched.runq`) |
//!
//! # Finding work (`find.rs`)
//!
//! Local `runnext`, then the local ring; every 61st tick the global queue
//! first, so a goroutine there cannot starve behind two that keep waking each
//! other; then a batch from the global queue; then, if fewer than half the
//! busy Ps already have a thief, steal half a random victim's queue (four
//! rounds, one look: no polling). A victim that is running a goroutine gets
//! 10 µs first, and keeps a short queue if it schedules meanwhile: what
//! queues behind a running goroutine is mostly what it just woke, and moving
//! those one by one to another core costs more than it gains (`find.rs` has
//! the rule). With nothing found the M gives its P back and sleeps on its
//! parker (a futex), so a program whose goroutines all wait uses no CPU
//! (`idle.rs` has the protocol that loses no wake-up meanwhile).
//!
//! A new or woken goroutine goes to `runnext` of the P that made it runnable:
//! two goroutines that ping-pong stay on one P and run back to back, with no
//! thread wake-up in between. That P's previous `runnext` moves to the ring,
//! and a full ring spills half of itself to the global queue. A wake-up that
//! only fills an empty `runnext` wakes no other M (the waker usually blocks
//! next, and this M runs it); sysmon starts one if the waker keeps running.
//!
//! When a goroutine parks and its P's `runnext` holds another (usually the
//! partner it just woke), its M switches to that one at once, with the P
//! still in user mode: no claim of the P and no round of the scheduling loop
//! per channel hand-off (`execute.rs` says why that is safe and what still
//! goes the long way). A wake-up that moves a goroutine to another P
//! prefetches its innermost stack frames on the waker's core
//! (`G::prefetch_for_resume`), so they cross while the waker finishes.
//!
//! # Timers (`timers.rs`)
//!
//! Each P keeps a heap of timers (deadline, then arrival order), as Go does;
//! an M runs its P's due timers before looking at its queues, a thief runs
//! its victims' due timers, and when every M is idle exactly one of them
//! sleeps with a timeout set to the earliest deadline, so nothing wakes
//! periodically when nothing is due. A timer's action is a `Waker`: waking a
//! goroutine, a thread or an async task are all the same to the heap.
//!
//! # Never stalling (`sysmon.rs`, [`blocking`](crate::blocking))
//!
//! Go hands a P to another M when its M enters a system call, and preempts
//! long-running goroutines with signals. Rust code cannot be preempted at an
//! arbitrary instruction safely, and a library cannot see system calls; so a
//! P is owned through a word that says "M n, in goroutine code", and the
//! monitor thread takes the P from any M that stays in one goroutine longer
//! than ~10 ms, handing it to another M. The stuck M finishes its goroutine
//! step without a P and then queues the goroutine globally. `blocking(f)` does
//! the same hand-off at once.
//!
//! Rejected alternatives: signal-based preemption (would switch stacks inside
//! arbitrary Rust code, e.g. holding a `std` lock: unsound); one thread per
//! blocking call, as `spawn_blocking` (a goroutine would have to know in
//! advance that it blocks, and sysmon's hand-off covers the cases it does not
//! know about).
//!
//! # Parking and waiting ([`park`](crate::park), `wait.rs`)
//!
//! Everything that blocks goes through one seam: park the current goroutine
//! (or thread) and wake it through a `Waker`. Primitives queue their blocked
//! callers on the one wait queue of `wait.rs` (a node per blocked arm, living
//! with its waiter), whose commit protocol makes exactly one arm of a waiter
//! commit. Nothing above the runtime reaches into the scheduler's queues.
//!
//! # Thread-locals
//!
//! A goroutine can resume on another thread after any blocking point (a
//! channel operation, `park`, `yield_now`, `join`). A reference into a
//! `thread_local!` taken before such a point may then belong to another thread,
//! and with optimisation LLVM may even reuse the old thread's TLS address
//! inside one function (llvm/llvm-project#98479). Use [`goroutine_local!`](crate::goroutine_local)
//! for per-goroutine state and [`lock_os_thread`] when the thread itself
//! matters. The runtime reads its own thread-locals only through
//! non-inlined accessors, never across a switch.

pub(crate) mod blocking;
pub(crate) mod cells;
pub(crate) mod execute;
pub(crate) mod find;
pub(crate) mod g;
pub(crate) mod global_queue;
pub(crate) mod idle;
pub(crate) mod locked;
pub(crate) mod m;
pub(crate) mod p;
pub(crate) mod packet;
pub(crate) mod queue;
pub(crate) mod sched;
pub(crate) mod sysmon;
pub(crate) mod timers;
pub(crate) mod wait;

mod builder;
pub(crate) mod goroutine_local;
pub(crate) mod park;
pub(crate) mod park_state;
pub(crate) mod spawn;

pub use crate::stack::StackError;
pub use builder::{BuildError, Builder, PanicPolicy, DEFAULT_MAX_THREADS, DEFAULT_STACK_SIZE};
pub use g::SpawnError;
pub use goroutine_local::LocalKey;
pub use locked::{lock_os_thread, unlock_os_thread};

use std::sync::atomic::Ordering;

/// The number of goroutines that exist now (started, not yet returned), as
/// Go's `runtime.NumGoroutine`. The thread that called [`run`](crate::run)
/// is not one of them.
pub fn num_goroutine() -> usize {
    sched::try_rt().map_or(0, |rt| rt.goroutines() as usize)
}

/// The number of Ps: goroutines that can run in parallel (Go's
/// `runtime.GOMAXPROCS(0)`). Starts the runtime if needed.
///
/// Like Go's threads in system calls, a thread that holds its P for longer
/// than [`Builder::retake_after`] without a scheduling point loses the P to
/// another thread and finishes its current step without one, so for a moment
/// more goroutines than this may be executing.
pub fn gomaxprocs() -> usize {
    sched::rt().nprocs()
}

/// The id of the calling goroutine, `None` on a plain thread. Ids start at 1
/// and are never reused.
pub fn goroutine_id() -> Option<u64> {
    m::current_g_ref().map(|g| g.id)
}

/// The number of OS threads the scheduler has started (Ms), for diagnostics.
pub fn num_threads() -> usize {
    sched::try_rt().map_or(0, |rt| rt.nthreads.load(Ordering::Acquire))
}
