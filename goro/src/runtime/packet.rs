//! The join packet: what a goroutine and its `JoinHandle` share. A small
//! block with the result slot, a state word and the joiner's waker; the
//! goroutine's stack cannot hold it, since the stack is recycled the moment
//! the goroutine ends. Packets live in [`cells`], not
//! in `malloc`'s heap (that module says why).
//!
//! It has exactly two owners, the goroutine's [`Completer`] and the handle's
//! [`Handle`], and no reference count: the state word says which of the two
//! frees it. (It used to be an `Arc`, which can only live in the global
//! allocator, and cost a clone, two decrements and two state RMWs per
//! goroutine. Now a goroutine that is joined after it finished costs one RMW
//! in all, which is most of them.)
//!
//! # Invariants of `state` (bits, each set once)
//!
//! - `DONE`: the result is written (by the completer, before the bit).
//! - `JOINING`: a waker is in `joiner`, set by the handle after storing it.
//! - `DETACHED`: the handle is gone.
//! - `RELEASED`: the completer will not touch the packet again. It comes with
//!   `DONE` in one RMW when no joiner waits; after taking the joiner's waker
//!   otherwise.
//! - The result belongs to the handle if `DONE` came before `DETACHED`, to the
//!   completer otherwise; the handle takes it only while it has not set
//!   `DETACHED` (so nobody can free the packet under it).
//! - The packet is freed once, by whoever comes last: the handle when it sees
//!   `RELEASED`, the completer when it sets `RELEASED` and sees `DETACHED`.
//!   Whoever frees it reports a panic payload left in it (never lost).
//!
//! Model-checked under loom (`loom_packet_*` below).

use std::alloc::Layout;
use std::panic::Location;
use std::ptr::NonNull;
use std::task::Waker;
use std::thread;

use crate::loom::{AtomicU8, Mutex, Ordering, UnsafeCell};
use crate::runtime::cells;

const DONE: u8 = 1;
const JOINING: u8 = 2;
const DETACHED: u8 = 4;
const RELEASED: u8 = 8;

struct Packet<T> {
    id: u64,
    spawn_site: &'static Location<'static>,
    state: AtomicU8,
    result: UnsafeCell<Option<thread::Result<T>>>,
    joiner: Mutex<Option<Waker>>,
    /// Under loom, set by `free` instead of freeing: every use checks it
    /// (see [`Packet::touch`]).
    #[cfg(loom)]
    freed: UnsafeCell<bool>,
}

impl<T> Packet<T> {
    /// Under loom, checks that this use of the packet happens before its
    /// free: a use racing with `free` is a data race on `freed`, which loom
    /// reports, and a use after it fails the assertion. Nothing otherwise.
    #[inline(always)]
    fn touch(&self) {
        #[cfg(loom)]
        // SAFETY: a read; loom checks it against `free`'s write.
        self.freed
            .with(|f| assert!(!unsafe { *f }, "join packet used after free"));
    }
}

/// The goroutine's end: completes the packet once.
pub(crate) struct Completer<T>(NonNull<Packet<T>>);

/// The handle's end: waits for, takes and finally drops the result.
pub(crate) struct Handle<T>(NonNull<Packet<T>>);

// SAFETY: the two ends reach the packet from different threads only through
// the `state` protocol (module docs); the result crosses threads, hence
// `T: Send`. The handle's methods take `&self` and only read the state or
// take the result under that protocol, so sharing a handle is sound too.
unsafe impl<T: Send> Send for Completer<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Handle<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Handle<T> {}

/// A new packet for goroutine `id`, and its two ends. Any thread.
pub(crate) fn new<T>(id: u64, spawn_site: &'static Location<'static>) -> (Completer<T>, Handle<T>) {
    let ptr = cells::alloc(Layout::new::<Packet<T>>()).cast::<Packet<T>>();
    let packet = Packet {
        id,
        spawn_site,
        state: AtomicU8::new(0),
        result: UnsafeCell::new(None),
        joiner: Mutex::new(None),
        #[cfg(loom)]
        freed: UnsafeCell::new(false),
    };
    // SAFETY: the cell fits a `Packet<T>`, is aligned for it and is ours.
    unsafe { ptr.as_ptr().write(packet) };
    (Completer(ptr), Handle(ptr))
}

/// Frees the packet, reporting a panic nobody took. Only the last owner
/// (module docs), once.
///
/// # Safety
/// The caller is the last owner: the other end has set its final bit and
/// the caller saw it with `Acquire` (or through an `AcqRel` RMW).
unsafe fn free<T>(packet: NonNull<Packet<T>>) {
    // SAFETY: by the contract, nobody else touches the packet any more.
    let p = unsafe { packet.as_ref() };
    p.touch();
    // SAFETY: we own the whole packet now.
    let left = p.result.with_mut(|r| unsafe { (*r).take() });
    if let Some(Err(payload)) = left {
        crate::runtime::spawn::report_unobserved_panic(p.id, p.spawn_site, &*payload);
    }
    #[cfg(loom)]
    {
        // SAFETY: we own the packet; loom checks every other use against
        // this write. The shell is leaked so that a late use stays
        // observable (the model is short).
        p.freed.with_mut(|f| unsafe { *f = true });
    }
    #[cfg(not(loom))]
    // SAFETY: ours alone (above); it came from `cells::alloc` with this
    // layout in `new`, and is dropped and given back once.
    unsafe {
        std::ptr::drop_in_place(packet.as_ptr());
        cells::dealloc(packet.cast(), Layout::new::<Packet<T>>());
    }
}

impl<T> Completer<T> {
    /// The goroutine's side, once, when its body has returned or panicked.
    pub(crate) fn complete(self, result: thread::Result<T>) {
        let ptr = self.0;
        std::mem::forget(self);
        // SAFETY: the completer keeps the packet alive until it releases it.
        let packet = unsafe { ptr.as_ref() };
        packet.touch();
        // SAFETY: nobody reads `result` before `DONE` is set below.
        packet.result.with_mut(|r| unsafe { *r = Some(result) });
        let mut s = packet.state.load(Ordering::Relaxed);
        loop {
            // Without a joiner there is nothing left to do here: release at
            // once, in the same RMW.
            let released = if s & JOINING == 0 { RELEASED } else { 0 };
            match packet.state.compare_exchange_weak(
                s,
                s | DONE | released,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        if s & JOINING == 0 {
            if s & DETACHED != 0 {
                // SAFETY: the handle is gone (seen by the RMW) and we released.
                unsafe { free(ptr) };
            }
            return;
        }
        packet.touch();
        let waker = packet.joiner.lock().take();
        packet.touch();
        let prev = packet.state.fetch_or(RELEASED, Ordering::AcqRel);
        if prev & DETACHED != 0 {
            // SAFETY: the handle is gone (seen by the RMW) and we released.
            unsafe { free(ptr) };
        }
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Completer<T> {
    /// A goroutine body dropped without running: release without `DONE`
    /// (a joiner keeps waiting, as for a goroutine that never ends).
    fn drop(&mut self) {
        // SAFETY: the completer keeps the packet alive until it releases it.
        let packet = unsafe { self.0.as_ref() };
        packet.touch();
        let prev = packet.state.fetch_or(RELEASED, Ordering::AcqRel);
        if prev & DETACHED != 0 {
            // SAFETY: the handle is gone (seen by the RMW) and we released.
            unsafe { free(self.0) };
        }
    }
}

impl<T> Handle<T> {
    fn packet(&self) -> &Packet<T> {
        // SAFETY: the handle keeps the packet alive until it detaches.
        let packet = unsafe { self.0.as_ref() };
        packet.touch();
        packet
    }

    /// The goroutine's id. Any holder.
    pub(crate) fn id(&self) -> u64 {
        self.packet().id
    }

    /// True once the result is written. Any holder.
    pub(crate) fn is_done(&self) -> bool {
        self.packet().state.load(Ordering::Acquire) & DONE != 0
    }

    /// Takes the result; `None` before `DONE` or once taken. Only the
    /// handle's owner (`&mut self`: no two takers).
    pub(crate) fn take(&mut self) -> Option<thread::Result<T>> {
        if !self.is_done() {
            return None;
        }
        // SAFETY: `DONE` was seen with Acquire: the completer wrote the
        // result and will not touch it again, and we have not detached, so
        // nobody frees the packet meanwhile.
        self.packet().result.with_mut(|r| unsafe { (*r).take() })
    }

    /// Registers `waker` to be woken at completion; true if already done
    /// (then nothing will be woken). Only the handle's owner.
    pub(crate) fn register(&self, waker: &Waker) -> bool {
        let packet = self.packet();
        if self.is_done() {
            return true;
        }
        let mut slot = packet.joiner.lock();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
        drop(slot);
        // Ordered with the completer's RMW on the same word: either this
        // sees DONE, or the completer sees JOINING and wakes the waker.
        packet.state.fetch_or(JOINING, Ordering::AcqRel) & DONE != 0
    }
}

impl<T> Drop for Handle<T> {
    fn drop(&mut self) {
        let s = self.packet().state.load(Ordering::Acquire);
        if s & RELEASED != 0 {
            // The completer is finished with it (DONE came with or before
            // RELEASED): the packet is ours alone.
            // SAFETY: RELEASED seen with Acquire.
            unsafe { free(self.0) };
            return;
        }
        if s & DONE != 0 {
            // Ours to take while we have not detached; a panic in it is
            // reported here rather than by whoever frees the packet.
            if let Some(Err(payload)) = self.take() {
                let p = self.packet();
                crate::runtime::spawn::report_unobserved_panic(p.id, p.spawn_site, &*payload);
            }
        }
        let prev = self.packet().state.fetch_or(DETACHED, Ordering::AcqRel);
        if prev & RELEASED != 0 {
            // SAFETY: RELEASED seen through the RMW: we are last.
            unsafe { free(self.0) };
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The packet's two ends on two threads, in every interleaving loom
    //! finds: the result arrives once, is dropped once (taken, or freed with
    //! the packet), and a registered joiner is always woken or sees `DONE`.

    use super::*;
    use loom::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    /// Counts its drops, so a model can assert exactly one.
    struct Value(Arc<loom::sync::atomic::AtomicUsize>);

    impl Drop for Value {
        fn drop(&mut self) {
            self.0.fetch_add(1, loom::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A waker that counts its wakes.
    struct Flag(AtomicUsize);

    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Three preemptions (CI's default is two): the use-after-free this
    /// module guards against needs three to show.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(f);
    }

    fn site() -> &'static Location<'static> {
        Location::caller()
    }

    fn spawn_completer(
        done: Completer<Value>,
        drops: &Arc<loom::sync::atomic::AtomicUsize>,
    ) -> loom::thread::JoinHandle<()> {
        let drops = Arc::clone(drops);
        loom::thread::spawn(move || done.complete(Ok(Value(drops))))
    }

    #[test]
    fn loom_packet_join_after_completion() {
        model(|| {
            let drops = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let (done, mut handle) = new::<Value>(1, site());
            let t = spawn_completer(done, &drops);
            let got = loop {
                if let Some(r) = handle.take() {
                    break r;
                }
                loom::thread::yield_now();
            };
            assert!(got.is_ok());
            drop(got);
            drop(handle);
            t.join().unwrap();
            assert_eq!(drops.load(loom::sync::atomic::Ordering::Relaxed), 1);
        });
    }

    #[test]
    fn loom_packet_detach_races_completion() {
        model(|| {
            let drops = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let (done, handle) = new::<Value>(2, site());
            let t = spawn_completer(done, &drops);
            drop(handle);
            t.join().unwrap();
            assert_eq!(drops.load(loom::sync::atomic::Ordering::Relaxed), 1);
        });
    }

    #[test]
    fn loom_packet_registered_joiner_is_woken_or_sees_done() {
        model(|| {
            let drops = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let (done, handle) = new::<Value>(3, site());
            let t = spawn_completer(done, &drops);
            let flag = std::sync::Arc::new(Flag(AtomicUsize::new(0)));
            let waker = Waker::from(std::sync::Arc::clone(&flag));
            let already = handle.register(&waker);
            // The handle is dropped while maybe registered: the completer
            // may be taking the waker at this very moment.
            drop(handle);
            t.join().unwrap();
            let woken = flag.0.load(std::sync::atomic::Ordering::SeqCst);
            assert!(already || woken == 1, "a registered joiner was never woken");
            assert_eq!(drops.load(loom::sync::atomic::Ordering::Relaxed), 1);
        });
    }
}
