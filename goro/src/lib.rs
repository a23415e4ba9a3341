//! # goro — Go's concurrency model, in Rust
//!
//! Goroutines are cheap stackful coroutines scheduled M:N over OS threads by
//! a work-stealing scheduler modelled on Go's (G, M, P). Code in a goroutine
//! is plain sequential Rust: no `async`, no colouring. Blocking parks the
//! goroutine, not the thread.
//!
//! | Go | goro |
//! |---|---|
//! | `go f()` | [`go`]`(move \|\| f())` → [`JoinHandle`] (dropping it detaches) |
//! | `func main()` | [`run`]`(\|\| ...)` runs the main goroutine and returns its value |
//! | `runtime.Gosched()` | [`yield_now`] |
//! | `runtime.NumGoroutine()`, `GOMAXPROCS` | [`runtime::num_goroutine`], [`runtime::gomaxprocs`], the `GOMAXPROCS` variable or [`runtime::Builder`] |
//! | `runtime.LockOSThread()` | [`runtime::lock_os_thread`] |
//! | a blocking syscall (the P is handed off) | [`blocking`]`(\|\| ...)`, or automatically after ~10 ms |
//! | goroutine stacks (2 KiB, growing) | 256 KiB reserved, committed page by page, with a guard page |
//! | `make(chan T, n)` | [`chan()`]`::<T>(n)` → ([`Sender`], [`Receiver`]), both `Clone`; `n == 0` is a rendezvous |
//! | `ch <- v`, `v, ok := <-ch` | `tx.send(v)` (gives `v` back if closed), `rx.recv()` → `None` once closed and drained |
//! | `close(ch)`, `for v := range ch` | `tx.close()` (or drop every sender), `for v in &rx` |
//! | `select { case ...: default: }` | [`select!`] with `recv`, `send`, `default` and `timeout` arms; [`select::Select`] for N channels |
//! | nil channel in a select | an `Option` that is `None`, or [`never()`] |
//! | `time.Sleep`, `time.After`, `time.Tick` | [`time::sleep`], [`time::after`], [`time::tick`] |
//! | `time.Timer`, `time.Ticker`, `time.AfterFunc` | [`time::Timer`] (`stop`/`reset` leave no stale value), [`time::Ticker`] (drops ticks for a slow reader), [`time::after_func`] |
//! | `gopark`/`goready` | [`park::park`] / [`park::current_waker`] (for building primitives) |
//!
//! ```
//! let total = goro::run(|| {
//!     let workers: Vec<_> = (0..100u64)
//!         .map(|i| goro::go(move || (0..1000u64).map(|x| x * i).sum::<u64>()))
//!         .collect();
//!     workers.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(total, 4950 * 499500);
//! ```
//!
//! Channels work from goroutines, from plain threads and from async code
//! (`send_async`, `recv_async`, `Stream`, `Sink`), so goroutines and tokio
//! tasks can talk:
//!
//! ```
//! let (tx, rx) = goro::chan::<u32>(0);
//! let producer = std::thread::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap(); // a plain thread parks its thread
//!     }
//! });
//! let sum = goro::go(move || rx.iter().sum::<u32>()).join().unwrap();
//! producer.join().unwrap();
//! assert_eq!(sum, 3);
//! ```
//!
//! ## Panics
//!
//! A goroutine's panic goes to its [`JoinHandle`]: `join()` returns it as
//! `Err`. A panic that nobody can observe (the handle was dropped) is
//! reported with the goroutine's id and, as in Go, ends the program with exit
//! status 2; [`runtime::PanicPolicy::Log`] keeps the program running instead.
//!
//! ## Stacks
//!
//! A goroutine's stack cannot grow as Go's does (Rust code holds pointers
//! into it), so each gets a fixed reservation (256 KiB by default,
//! [`runtime::Builder::stack_size`]) of which only the touched pages cost
//! memory: a parked goroutine with a shallow stack costs one 4 KiB page,
//! control block included. Overflowing it hits a guard page and ends the
//! program with `goroutine N: stack overflow`, never silent corruption.
//!
//! ## The thread-local hazard
//!
//! **A goroutine can move to another OS thread at any blocking point**
//! (every channel operation and `select!`, `join`, `sleep`, `park`,
//! `yield_now`). So:
//!
//! - Do not hold a reference into a `thread_local!` across a blocking point;
//!   with optimisations LLVM may even reuse the first thread's TLS address
//!   within one function (llvm/llvm-project#98479).
//! - Do not hold values that are tied to their thread (`!Send` values that
//!   share state with a thread-local, such as an `Rc` cloned out of one, or a
//!   `MutexGuard` of a lock that must be released on its own thread) across a
//!   blocking point.
//! - For per-goroutine state use [`goroutine_local!`]; to stay on one thread
//!   use [`runtime::lock_os_thread`].

pub mod park {
    //! The park/wake seam (see [`runtime`](crate::runtime)).
    pub use crate::runtime::park::{
        current_waker, on_goroutine, park, park_deadline, park_timeout,
    };
}

pub mod chan;
pub mod runtime;
pub mod select;
pub mod time;

/// What goro's macros expand to. Not API: it changes without notice, and
/// nothing in it can be implemented or misused from outside (the arms'
/// trait is crate-private; the operations only convert to arms).
#[doc(hidden)]
pub mod __private {
    pub use crate::chan::op::{RecvOp, SendOp};
    pub use crate::select::core::{run, ArmRef, Mode, Outcome};

    /// `goroutine_local!`'s key.
    pub const fn local_key<T: Send + 'static>(init: fn() -> T) -> crate::runtime::LocalKey<T> {
        crate::runtime::LocalKey::new(init)
    }
}

pub(crate) mod loom;
pub(crate) mod stack;

pub use chan::{chan, never, Receiver, Sender};
pub use runtime::blocking::{blocking, yield_now};
pub use runtime::spawn::{go, run, try_go, JoinHandle};
