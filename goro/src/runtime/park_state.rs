//! A goroutine's park token: the state machine that makes "wake before
//! park" and "wake after park" both work, without a lock (Go's
//! `gopark`/`goready` handshake, with `std::thread::park`'s token).
//!
//! ```text
//!   IDLE ──wake──▶ NOTIFIED ──park (consumes token)──▶ IDLE
//!   IDLE ──park, switched out, M CASes──▶ PARKED ──wake──▶ IDLE + ready()
//!   any ──goroutine returns──▶ DONE
//! ```
//!
//! Invariants:
//! - `IDLE` means running or runnable (in exactly one run queue, or held by
//!   an M).
//! - `PARKED` is only ever set by the M that switched the goroutine out,
//!   after the switch, so a waker that sees `PARKED` knows no thread is on
//!   the goroutine's stack and may queue it. Exactly one waker wins that CAS.
//! - A wake that lands while the goroutine still runs leaves a token
//!   (`NOTIFIED`); the next park consumes it and returns at once, so a wake
//!   is never lost, and a park may return without a fresh wake: callers
//!   re-check their condition in a loop.
//! - Every transition is a read-modify-write, the waker's included (it
//!   rewrites `NOTIFIED` with `NOTIFIED`). A waker publishes its outcome
//!   (say, a channel's `DONE`) *then* wakes; the goroutine consumes the
//!   token *then* looks at the outcome. With a plain load on one side and a
//!   plain store on the other, both could read the other's old value (the
//!   store-buffer pattern, real on x86) and the goroutine would park for a
//!   wake that was already spent. With RMWs on one atomic, one of the two is
//!   ordered after the other and sees its writes.
//!
//! Model-checked under loom with the channel commit protocol
//! (`chan::loom_tests`).

use crate::loom::{AtomicU8, Ordering};

const IDLE: u8 = 0;
const NOTIFIED: u8 = 1;
const PARKED: u8 = 2;
const DONE: u8 = 3;

pub(crate) struct ParkState(AtomicU8);

impl ParkState {
    /// A running goroutine without a token. Any thread.
    #[inline]
    pub(crate) fn new() -> Self {
        ParkState(AtomicU8::new(IDLE))
    }

    /// The park fast path: consumes a pending token. Only the goroutine.
    #[inline]
    pub(crate) fn try_consume_token(&self) -> bool {
        // A plain load first: usually there is no token, and then the CAS
        // would be wasted (`finish_park`'s CAS catches a late one).
        self.0.load(Ordering::Relaxed) == NOTIFIED
            && self
                .0
                .compare_exchange(NOTIFIED, IDLE, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// After the goroutine switched out to park, its M makes the park real.
    /// False means a wake came in between: the token is consumed and the
    /// goroutine must run again. Only the M that switched it out.
    #[inline]
    pub(crate) fn finish_park(&self) -> bool {
        match self
            .0
            .compare_exchange(IDLE, PARKED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED (wakers never leave another state behind while
                // the goroutine is switched out): consume it with an RMW.
                self.0.swap(IDLE, Ordering::AcqRel);
                false
            }
        }
    }

    /// The goroutine has returned. Only its M.
    pub(crate) fn mark_done(&self) {
        self.0.store(DONE, Ordering::Release);
    }

    /// Any thread. True when the caller won the right to put the goroutine
    /// on a run queue (it was parked); false when a token was left, or the
    /// goroutine is gone.
    #[inline]
    pub(crate) fn wake(&self) -> bool {
        let mut s = self.0.load(Ordering::Acquire);
        loop {
            let (to, readies) = match s {
                // An existing token is rewritten too (module docs).
                IDLE | NOTIFIED => (NOTIFIED, false),
                PARKED => (IDLE, true),
                _ => return false,
            };
            match self
                .0
                .compare_exchange_weak(s, to, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return readies,
                Err(now) => s = now,
            }
        }
    }
}
