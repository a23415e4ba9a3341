//! `go`, `run` and `JoinHandle`: starting goroutines and collecting what they
//! return.
//!
//! # The join packet
//!
//! A goroutine and its [`JoinHandle`] share a small heap `Packet`: the result
//! slot, a state word and the joiner's waker. The goroutine's stack cannot
//! hold the result, since it is recycled the moment the goroutine ends.
//!
//! Invariants of `state` (bits `DONE`, `DETACHED`, `JOINING`, each set once):
//! - `result` is written once, by the goroutine, before it sets `DONE`.
//! - Whichever side sets its bit second owns `result`: the goroutine if the
//!   handle was dropped first (`DETACHED`), the handle otherwise. A panic
//!   payload that its owner drops unobserved is reported (never lost).
//!
//! Rejected (2026-11-24): a packet without the `Arc`, freed by whichever
//! side sets its final state bit last (one RMW per joined goroutine instead
//! of five). It passed its loom models but measured no faster: uncontended
//! RMWs are cheap on this machine, and spawn+join is dominated by memory
//! (1M packets and handles alive at once). What did move the figure was the
//! packet's size: at 56 bytes (a 64-byte malloc chunk) spawn_join took 165
//! ns/op on one core, padded back to the `Arc`'s 72 bytes 136 ns.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;

use parking_lot::Mutex;

use crate::runtime::builder::PanicPolicy;
use crate::runtime::g::{GRef, SpawnError, G};
use crate::runtime::m;
use crate::runtime::p::P;
use crate::runtime::queue;
use crate::runtime::sched::rt;
use crate::stack::Stack;

const DONE: u8 = 1;
const DETACHED: u8 = 2;
/// A joiner's waker is in `joiner`: only then does completion take the lock.
const JOINING: u8 = 4;

struct Packet<T> {
    id: u64,
    spawn_site: &'static Location<'static>,
    state: AtomicU8,
    result: UnsafeCell<Option<thread::Result<T>>>,
    joiner: Mutex<Option<Waker>>,
}

// SAFETY: `result` is handed from the goroutine to the handle through the
// `state` protocol (module docs); `T: Send` lets it cross threads.
unsafe impl<T: Send> Sync for Packet<T> {}

impl<T> Packet<T> {
    /// The goroutine's side, once, when `f` has returned or panicked.
    fn complete(&self, result: thread::Result<T>) {
        // SAFETY: nobody reads `result` before `DONE` is set below.
        unsafe { *self.result.get() = Some(result) };
        let prev = self.state.fetch_or(DONE, Ordering::AcqRel);
        if prev & DETACHED != 0 {
            // SAFETY: the handle is gone: `result` is ours alone.
            if let Some(Err(payload)) = unsafe { (*self.result.get()).take() } {
                report_unobserved_panic(self.id, self.spawn_site, &*payload);
            }
        } else if prev & JOINING != 0 {
            if let Some(w) = self.joiner.lock().take() {
                w.wake();
            }
        }
    }

    fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) & DONE != 0
    }

    /// The handle's side, after seeing `DONE`.
    fn take(&self) -> Option<thread::Result<T>> {
        // SAFETY: `DONE` was observed with Acquire: the goroutine wrote the
        // result and will not touch it again; the handle is the only reader.
        unsafe { (*self.result.get()).take() }
    }

    /// Registers `waker` for the completion; true if already complete.
    fn register(&self, waker: &Waker) -> bool {
        if self.is_done() {
            return true;
        }
        let mut slot = self.joiner.lock();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
        drop(slot);
        // Ordered with `complete`'s `fetch_or(DONE)` on the same word: either
        // this sees DONE, or `complete` sees JOINING and wakes the waker.
        self.state.fetch_or(JOINING, Ordering::AcqRel) & DONE != 0
    }
}

/// Owned permission to join a goroutine: [`join`](JoinHandle::join) waits for
/// it and returns its value (or its panic). Dropping the handle detaches the
/// goroutine, which keeps running. It is also a `Future`, so async code can
/// await a goroutine.
pub struct JoinHandle<T> {
    packet: Arc<Packet<T>>,
}

impl<T> JoinHandle<T> {
    /// Waits for the goroutine to finish: parks the calling goroutine, or the
    /// calling thread off the runtime. `Err` holds the panic payload.
    pub fn join(self) -> thread::Result<T> {
        let packet = &self.packet;
        let mut waker: Option<Waker> = None;
        while !packet.is_done() {
            let w = waker.get_or_insert_with(crate::park::current_waker);
            if packet.register(w) {
                break;
            }
            crate::park::park();
        }
        packet.take().expect("JoinHandle: result already taken")
    }

    /// True once the goroutine has returned (or panicked).
    pub fn is_finished(&self) -> bool {
        self.packet.is_done()
    }

    /// The goroutine's id, as [`goroutine_id`](crate::runtime::goroutine_id)
    /// reports it inside the goroutine.
    pub fn id(&self) -> u64 {
        self.packet.id
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let prev = self.packet.state.fetch_or(DETACHED, Ordering::AcqRel);
        if prev & DONE != 0 {
            if let Some(Err(payload)) = self.packet.take() {
                report_unobserved_panic(self.packet.id, self.packet.spawn_site, &*payload);
            }
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = thread::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.packet.register(cx.waker()) {
            return Poll::Pending;
        }
        Poll::Ready(
            self.packet
                .take()
                .expect("JoinHandle polled after completion"),
        )
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.packet.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

fn report_unobserved_panic(id: u64, site: &Location<'_>, payload: &(dyn Any + Send)) {
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    // One write, so a panic hook printing on another thread cannot split it.
    let mut report =
        format!("goroutine {id} (started at {site}) panicked and was not joined: {msg}\n");
    let exit = rt().config.panic_policy == PanicPolicy::Exit;
    if exit {
        report.push_str(
            "goro: exiting with status 2, as Go does on an unrecovered panic \
             (runtime::Builder::panic_policy(PanicPolicy::Log) keeps running)\n",
        );
    }
    let _ = std::io::Write::write_all(&mut std::io::stderr(), report.as_bytes());
    if exit {
        std::process::exit(2);
    }
}

/// Starts `f` on a new goroutine (Go's `go f()`). Returns its [`JoinHandle`];
/// drop the handle to detach it. Starts the runtime if it is not running.
///
/// Panics if no stack can be had for it (see [`try_go`]).
///
/// ```
/// let h = goro::go(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
/// ```
#[track_caller]
pub fn go<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match try_go(f) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`go`], but returns an error instead of panicking when the goroutine
/// cannot be created (its stack could not be reserved).
#[track_caller]
pub fn try_go<F, T>(f: F) -> Result<JoinHandle<T>, SpawnError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let rt = rt();
    let site = Location::caller();
    let mut f = Some(f);
    // Fast path: everything from this thread's P, with one claim.
    let on_p = m::with_p(|p| {
        let stack = p.stack_cache(|c| c.get(&rt.stacks))?;
        let (g, handle) = build(stack, p.next_goid(&rt.next_goid), site, f.take());
        P::count(&p.spawned);
        // SAFETY: `with_p` hands us the P this thread owns.
        unsafe { p.runq.push(g, true, &rt.inject) };
        Ok((handle, p.runq.len() >= queue::CAPACITY))
    });
    let lost_p = on_p.is_none();
    let (handle, queue_full) = match on_p {
        Some(r) => r.map_err(SpawnError::Stack)?,
        None => {
            // A plain thread, or a goroutine whose P sysmon took.
            let stack = rt.stacks.get().map_err(SpawnError::Stack)?;
            let id = rt.next_goid.fetch_add(1, Ordering::Relaxed);
            let (g, handle) = build(stack, id, site, f.take());
            rt.spawned_off_p.fetch_add(1, Ordering::AcqRel);
            rt.inject.push(g);
            (handle, false)
        }
    };
    rt.wake_p();
    if lost_p {
        // A goroutine whose P was taken by sysmon (it ran too long) yields
        // here, as Go would have preempted it: it resumes on a P.
        m::yield_if_p_lost();
    } else if queue_full {
        // Back-pressure: a spawner that has filled its P's queue lets the
        // goroutines it made run before it makes more. They run while their
        // fresh stacks are still in cache and go back to the pool, instead
        // of piling up (with a page of memory each) faster than other Ps can
        // steal them. Go would have spilled them to the global queue.
        crate::yield_now();
    }
    Ok(handle)
}

/// Makes the goroutine for `f` on `stack`, and its handle. Any thread.
fn build<F, T>(
    stack: Stack,
    id: u64,
    spawn_site: &'static Location<'static>,
    f: Option<F>,
) -> (GRef, JoinHandle<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let f = f.expect("goroutine body used twice");
    let packet = Arc::new(Packet {
        id,
        spawn_site,
        state: AtomicU8::new(0),
        result: UnsafeCell::new(None),
        joiner: Mutex::new(None),
    });
    let theirs = Arc::clone(&packet);
    let g = G::spawn_on(stack, id, move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        // Goroutine-locals go before the result is published, so a joiner
        // sees their destructors' effects (as a thread's join does).
        crate::runtime::local::drop_current_goroutine_locals();
        theirs.complete(result);
    });
    (g, JoinHandle { packet })
}

/// Runs `f` as the main goroutine and returns its value; a panic in it
/// resumes in the caller. Starts the runtime if it is not running.
///
/// ```
/// let sum = goro::run(|| {
///     let hs: Vec<_> = (1..=10u64).map(|i| goro::go(move || i * i)).collect();
///     hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
/// });
/// assert_eq!(sum, 385);
/// ```
#[track_caller]
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match go(f).join() {
        Ok(v) => v,
        Err(payload) => panic::resume_unwind(payload),
    }
}
