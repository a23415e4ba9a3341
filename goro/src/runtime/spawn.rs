//! `go`, `run` and `JoinHandle`: starting goroutines and collecting what they
//! return.
//!
//! The join packet (a goroutine's result on its way to the handle) is in
//! [`packet`].
//!
//! Rejected: holding the packet in an `Arc`. It allocates from `malloc`,
//! whose heap a burst of a million packets grows and then shrinks again, page
//! fault by page fault (see `cells` and `docs/decisions/stacks-and-packets.md`).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::thread;

use crate::runtime::builder::PanicPolicy;
use crate::runtime::g::{GRef, SpawnError, G};
use crate::runtime::m;
use crate::runtime::packet;
use crate::runtime::queue;
use crate::runtime::sched::rt;
use crate::stack::Stack;

/// Owned permission to join a goroutine: [`join`](JoinHandle::join) waits for
/// it and returns its value (or its panic). Dropping the handle detaches the
/// goroutine, which keeps running. It is also a `Future`, so async code can
/// await a goroutine.
pub struct JoinHandle<T> {
    packet: packet::Handle<T>,
}

impl<T> JoinHandle<T> {
    /// Waits for the goroutine to finish: parks the calling goroutine, or the
    /// calling thread off the runtime. `Err` holds the panic payload.
    pub fn join(mut self) -> thread::Result<T> {
        let packet = &mut self.packet;
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
        self.packet.id()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = thread::Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
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
            .field("id", &self.packet.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Reports a goroutine's panic that nobody joined, and ends the program if
/// the panic policy says so. Whoever drops the payload unobserved.
pub(crate) fn report_unobserved_panic(id: u64, site: &Location<'_>, payload: &(dyn Any + Send)) {
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
        p.count_spawned();
        p.push(g, true, &rt.global);
        Ok((handle, p.p().runq().len() >= queue::CAPACITY))
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
            rt.global.push(g);
            (handle, false)
        }
    };
    rt.wake_p();
    if lost_p {
        // A goroutine whose P was taken by sysmon (it ran too long) yields
        // here, as Go would have preempted it: it resumes on a P.
        crate::runtime::blocking::yield_if_p_lost();
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
    let (completer, packet) = packet::new(id, spawn_site);
    let g = G::spawn_on(stack, id, move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        // Goroutine-locals go before the result is published, so a joiner
        // sees their destructors' effects (as a thread's join does).
        crate::runtime::goroutine_local::drop_current_goroutine_locals();
        completer.complete(result);
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
