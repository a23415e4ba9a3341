//! Periodic timers: [`Ticker`] and [`tick`], on the engine of
//! [`Timer`](super::Timer).
//!
//! # What this module protects
//!
//! A ticker is a timer that re-arms itself when it fires (see `timer.rs`
//! for the locking). Its invariants:
//!
//! - Ticks stay on the schedule `start + k * period`: the next deadline is
//!   computed from the schedule, not from when the tick was delivered, and
//!   ticks missed meanwhile are skipped, as in Go.
//! - A slow reader loses ticks rather than queueing them: the channel has
//!   capacity 1 and a tick finding it full is dropped.
//! - The period is never zero (it would fire without pause): `try_new` and
//!   `try_reset` refuse it, `new` and `reset` panic, as Go's do.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::timer::{now_plus, Shared};
use crate::chan::{never, Receiver};

/// A [`Ticker`] was asked for a zero period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidPeriod;

impl fmt::Display for InvalidPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("non-positive interval for Ticker: the period must be greater than zero")
    }
}

impl Error for InvalidPeriod {}

/// Sends the time on [`c`](Ticker::c) every period (Go's `time.Ticker`).
///
/// A reader slower than the period gets at most one buffered tick: the
/// others are dropped, and the schedule is kept (ticks do not drift).
/// After [`stop`](Ticker::stop) or [`reset`](Ticker::reset) returns, no
/// tick of the old schedule can be received. Dropping the `Ticker` stops
/// it. Works on goroutines and plain threads alike.
///
/// ```
/// use std::time::Duration;
/// let t = goro::time::Ticker::new(Duration::from_millis(1));
/// for _ in 0..3 {
///     t.c.recv().unwrap();
/// }
/// t.stop();
/// ```
pub struct Ticker {
    /// The channel the ticks arrive on (capacity 1). Usable in `select!`
    /// as `recv(ticker.c)`.
    pub c: Receiver<Instant>,
    /// The channel's own receiver, drained by `stop`/`reset`.
    drain: Receiver<Instant>,
    shared: Arc<Shared>,
}

impl Ticker {
    /// A ticker with period `d`, first tick at `now + d` (Go's
    /// `time.NewTicker`). Any thread.
    ///
    /// # Panics
    ///
    /// If `d` is zero, as Go's `NewTicker` panics on a non-positive
    /// interval; [`try_new`](Ticker::try_new) returns the error instead.
    #[must_use = "dropping a Ticker stops it; use `tick` for a channel alone"]
    pub fn new(d: Duration) -> Ticker {
        match Ticker::try_new(d) {
            Ok(t) => t,
            Err(e) => panic!("goro::time::Ticker::new: {e}"),
        }
    }

    /// As [`new`](Ticker::new), but a zero `d` is an error. Any thread.
    pub fn try_new(d: Duration) -> Result<Ticker, InvalidPeriod> {
        if d.is_zero() {
            return Err(InvalidPeriod);
        }
        let (now, deadline) = now_plus(d);
        let (shared, rx) = Shared::sending(now);
        shared.start(deadline, now, Some(d));
        Ok(Ticker {
            drain: rx.clone(),
            c: rx,
            shared,
        })
    }

    /// Turns the ticker off: no tick is sent afterwards, and a tick sent
    /// but not yet received is withdrawn (Go's `Ticker.Stop`, 1.23). Any
    /// thread.
    pub fn stop(&self) {
        self.shared.stop(&self.drain);
    }

    /// Stops the ticker and restarts it with period `d`, the next tick
    /// one period from now (Go's `Ticker.Reset`). Also restarts a stopped
    /// ticker. Any thread.
    ///
    /// # Panics
    ///
    /// If `d` is zero; [`try_reset`](Ticker::try_reset) returns the error.
    pub fn reset(&self, d: Duration) {
        if let Err(e) = self.try_reset(d) {
            panic!("goro::time::Ticker::reset: {e}");
        }
    }

    /// As [`reset`](Ticker::reset), but a zero `d` is an error and leaves
    /// the ticker as it was. Any thread.
    pub fn try_reset(&self, d: Duration) -> Result<(), InvalidPeriod> {
        if d.is_zero() {
            return Err(InvalidPeriod);
        }
        let (now, deadline) = now_plus(d);
        self.shared.restart(&self.drain, deadline, now, Some(d));
        Ok(())
    }
}

impl Drop for Ticker {
    /// Nobody can receive the ticks: stop, freeing the heap entry now.
    fn drop(&mut self) {
        self.shared.stop(&self.drain);
    }
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticker").finish_non_exhaustive()
    }
}

/// A channel that receives the time every `d` (Go's `time.Tick`); a zero
/// `d` gives a channel that never receives (Go returns nil). The ticker
/// stops at its first tick after the receiver (and every clone) is
/// dropped. Any thread.
pub fn tick(d: Duration) -> Receiver<Instant> {
    if d.is_zero() {
        return never();
    }
    let (now, deadline) = now_plus(d);
    let (shared, rx) = Shared::sending(now);
    shared.start(deadline, now, Some(d));
    rx
}
