//! One-shot timers: [`Timer`], [`after`], [`after_func`], and the firing
//! engine (`Shared`) that [`Ticker`](super::Ticker) shares.
//!
//! # What this module protects
//!
//! A timer is a `Shared`: one mutex over its schedule and its runtime heap
//! entry, plus what firing does (send the time on a channel of capacity 1,
//! or start a function on a new goroutine). The heap entry's waker is the
//! `Shared` itself, so a pending timer costs one heap entry and no
//! goroutine or thread: the scheduler thread that runs the heap calls
//! `wake`, which sends with `try_send` (it never blocks) and, for a ticker,
//! registers the next entry.
//!
//! Invariants, with the lock held:
//!
//! - At most one heap entry is live, `key`; `armed` says a firing is
//!   scheduled (an entry, or a deadline too far to represent: none).
//! - A value is sent only under the lock, by the firing of the current
//!   schedule. `stop` and `reset` cancel the entry and drain the channel
//!   under the same lock, so once they return no value of the old schedule
//!   is buffered and none can be sent later (Go 1.23's synchronous timer
//!   channels; goro's channel has capacity 1, where Go reports 0).
//! - `stale` counts entries cancelled too late (the heap had already taken
//!   their waker out to wake it): each such wake is ignored once. Which wake
//!   is ignored does not matter: every wake does the same check-and-fire,
//!   and one that runs after a newer deadline's wake is past that deadline.
//! - Nothing that can switch goroutines runs under the lock (a goroutine
//!   for `after_func` is started after it is released), so a goroutine
//!   never holds it across a park.

use std::fmt;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::chan::{chan, never, Receiver, Sender, TrySendError};
use crate::runtime::park::{cancel_timer, register_timer};
use crate::runtime::timers::TimerKey;

/// The function of an [`after_func`] timer.
type Func = Arc<dyn Fn() + Send + Sync>;

/// What a firing does.
enum Action {
    /// Send the time (timers, tickers).
    Send(Sender<Instant>),
    /// Run the function on a new goroutine (`after_func`).
    Call(Func),
}

struct State {
    key: Option<TimerKey>,
    armed: bool,
    /// A value was sent since the last drain (it may still be buffered).
    sent: bool,
    stale: u32,
    /// The current deadline; for a ticker, the schedule's next tick.
    when: Instant,
    /// A ticker's period; `None` for a one-shot timer.
    period: Option<Duration>,
}

/// A timer's shared state (module docs). Its `Arc` is the heap entry's
/// waker.
pub(crate) struct Shared {
    state: Mutex<State>,
    action: Action,
}

impl Shared {
    fn new(action: Action, now: Instant) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                key: None,
                armed: false,
                sent: false,
                stale: 0,
                when: now,
                period: None,
            }),
            action,
        })
    }

    /// A timer that sends on a fresh channel of capacity 1. Any thread.
    pub(crate) fn sending(now: Instant) -> (Arc<Shared>, Receiver<Instant>) {
        let (tx, rx) = chan(1);
        (Shared::new(Action::Send(tx), now), rx)
    }

    /// Schedules the first firing at `deadline` (`None`: never); one not
    /// after `now` (a recent reading of the clock) fires at once. Any
    /// thread; the timer must be disarmed.
    pub(crate) fn start(
        self: &Arc<Self>,
        deadline: Option<Instant>,
        now: Instant,
        period: Option<Duration>,
    ) {
        let call = {
            let mut st = self.state.lock();
            st.period = period;
            self.arm(&mut st, deadline, now)
        };
        spawn_call(call);
    }

    /// Cancels the pending firing and drains `drain`, the channel's own
    /// receiver: true if a firing was pending or its value not yet received.
    /// Any thread.
    pub(crate) fn stop(&self, drain: &Receiver<Instant>) -> bool {
        let mut st = self.state.lock();
        self.disarm(&mut st, drain)
    }

    /// `stop`, then schedules a firing at `deadline` with `period` (as
    /// `start`); returns what `stop` would. Any thread.
    pub(crate) fn restart(
        self: &Arc<Self>,
        drain: &Receiver<Instant>,
        deadline: Option<Instant>,
        now: Instant,
        period: Option<Duration>,
    ) -> bool {
        let (pending, call) = {
            let mut st = self.state.lock();
            let pending = self.disarm(&mut st, drain);
            st.period = period;
            (pending, self.arm(&mut st, deadline, now))
        };
        spawn_call(call);
        pending
    }

    /// With the lock: no firing of the current schedule will happen or be
    /// received. True if one was pending or unreceived.
    fn disarm(&self, st: &mut State, drain: &Receiver<Instant>) -> bool {
        let mut pending = std::mem::take(&mut st.armed);
        if let Some(key) = st.key.take() {
            if !cancel_timer(key) {
                // Its waker is out of the heap, about to run: ignore it.
                st.stale += 1;
            }
        }
        // Only a firing sends, under this lock, and says so in `sent`: a
        // timer that never sent skips the channel (a cold cache line when
        // a million timers are stopped). Capacity 1: at most one value.
        if std::mem::take(&mut st.sent) && drain.try_recv().is_ok() {
            pending = true;
        }
        pending
    }

    /// With the lock: schedules a firing at `deadline`, or fires now if it
    /// is not after `now` (returning a function to start once unlocked).
    fn arm(
        self: &Arc<Self>,
        st: &mut State,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Option<Func> {
        let Some(when) = deadline else {
            // Too far to represent: pending forever, with no heap entry.
            self.schedule(st, None);
            return None;
        };
        if when <= now {
            st.armed = true;
            st.when = when;
            return self.fire(st, now);
        }
        self.schedule(st, Some(when));
        None
    }

    /// With the lock: registers the heap entry for `deadline` (`None`:
    /// never), even one already past (the heap fires it at its next look;
    /// firing here could recurse without bound for a tiny period).
    fn schedule(self: &Arc<Self>, st: &mut State, deadline: Option<Instant>) {
        st.armed = true;
        if let Some(when) = deadline {
            st.when = when;
            st.key = Some(register_timer(when, Waker::from(Arc::clone(self))));
        }
    }

    /// With the lock, at or after `st.when`: sends the time (or returns the
    /// function to start) and, for a ticker, schedules the next tick.
    fn fire(self: &Arc<Self>, st: &mut State, now: Instant) -> Option<Func> {
        st.armed = false;
        let call = match &self.action {
            Action::Send(tx) => match tx.try_send(now) {
                Ok(()) => {
                    st.sent = true;
                    None
                }
                // A slow reader: the tick is dropped, not queued.
                Err(TrySendError::Full(_)) => None,
                // Every receiver is gone (`tick`'s caller dropped it):
                // nothing to re-arm for; the timer is freed with its entry.
                Err(TrySendError::Closed(_)) => return None,
            },
            Action::Call(f) => Some(Arc::clone(f)),
        };
        if let Some(period) = st.period {
            // Go's rule: the next tick stays on the schedule, skipping the
            // ticks already missed.
            let missed = now.saturating_duration_since(st.when).as_nanos() / period.as_nanos();
            let next = u32::try_from(missed + 1)
                .ok()
                .and_then(|n| period.checked_mul(n))
                .and_then(|step| st.when.checked_add(step));
            self.schedule(st, next);
        }
        call
    }
}

impl Wake for Shared {
    /// The heap's firing. Runs on whichever thread runs the heap (usually
    /// a scheduler thread between goroutines): short, never blocks.
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let call = {
            let mut st = self.state.lock();
            if st.stale > 0 {
                st.stale -= 1;
                return;
            }
            st.key = None;
            self.fire(&mut st, Instant::now())
        };
        spawn_call(call);
    }
}

/// Starts an `after_func` function on its own goroutine. Any thread, with
/// no timer lock held.
fn spawn_call(call: Option<Func>) {
    let Some(f) = call else { return };
    let g = Arc::clone(&f);
    if crate::try_go(move || g()).is_err() {
        // No stack to be had: a thread still keeps the promise to run it.
        std::thread::spawn(move || f());
    }
}

/// Now, and `now + d` (`None` if too far to represent: never fires); one
/// clock reading serves both.
pub(crate) fn now_plus(d: Duration) -> (Instant, Option<Instant>) {
    let now = Instant::now();
    (now, now.checked_add(d))
}

/// A single event in the future (Go's `time.Timer`): when it fires, the
/// current time is sent on [`c`](Timer::c), or, for [`after_func`], a
/// function starts on its own goroutine.
///
/// As in Go 1.23, once [`stop`](Timer::stop) or [`reset`](Timer::reset)
/// returns, no value from the old schedule can be received, even one that
/// was sent and not yet taken. Dropping a `Timer` stops it (its channel
/// then reports closed to any clone of `c`); an [`after_func`] timer is the
/// exception, and still runs its function. Works on goroutines and plain
/// threads alike.
///
/// ```
/// use std::time::Duration;
/// let t = goro::time::Timer::new(Duration::from_millis(1));
/// goro::select! {
///     recv(t.c) -> v => assert!(v.is_some()),
///     timeout(Duration::from_secs(5)) => panic!("the timer did not fire"),
/// }
/// ```
pub struct Timer {
    /// The channel the time is sent on when the timer fires (capacity 1).
    /// Usable in `select!` as `recv(timer.c)`. Never receives for an
    /// [`after_func`] timer.
    pub c: Receiver<Instant>,
    /// The channel's own receiver, drained by `stop`/`reset` (so replacing
    /// `c` cannot make them drain someone else's channel).
    drain: Receiver<Instant>,
    shared: Arc<Shared>,
    sends: bool,
}

impl Timer {
    /// A timer that sends the time on `c` once `d` has passed (Go's
    /// `time.NewTimer`); a zero `d` has sent it on return. Any thread.
    #[must_use = "dropping a Timer stops it; use `after` for a fire-and-forget channel"]
    pub fn new(d: Duration) -> Timer {
        let (now, deadline) = now_plus(d);
        Timer::start(deadline, now)
    }

    /// A timer that sends the time on `c` once `deadline` has passed. Any
    /// thread.
    #[must_use = "dropping a Timer stops it; use `after` for a fire-and-forget channel"]
    pub fn at(deadline: Instant) -> Timer {
        Timer::start(Some(deadline), Instant::now())
    }

    fn start(deadline: Option<Instant>, now: Instant) -> Timer {
        let (shared, rx) = Shared::sending(now);
        shared.start(deadline, now, None);
        Timer {
            drain: rx.clone(),
            c: rx,
            shared,
            sends: true,
        }
    }

    /// Stops the timer: true if this call stopped it (it had not fired, or
    /// its value had not been received), false if it had already fired and
    /// been received, or was stopped (Go's `Timer.Stop`). Afterwards `c`
    /// holds no value and receives none until a [`reset`](Timer::reset).
    /// For an [`after_func`] timer, true means the function will not run.
    /// Any thread.
    pub fn stop(&self) -> bool {
        self.shared.stop(&self.drain)
    }

    /// Re-arms the timer to fire once `d` has passed from now, as if it had
    /// been stopped first; returns what [`stop`](Timer::stop) would have
    /// (Go's `Timer.Reset`). No value of the old schedule can be received
    /// afterwards. Any thread.
    pub fn reset(&self, d: Duration) -> bool {
        let (now, deadline) = now_plus(d);
        self.shared.restart(&self.drain, deadline, now, None)
    }

    /// As [`reset`](Timer::reset), to fire once `deadline` has passed. Any
    /// thread.
    pub fn reset_at(&self, deadline: Instant) -> bool {
        self.shared
            .restart(&self.drain, Some(deadline), Instant::now(), None)
    }
}

impl Drop for Timer {
    /// A channel timer nobody can receive from any more is stopped, so its
    /// heap entry and state are freed now. An `after_func` timer keeps its
    /// promise: the function still runs (as in Go).
    fn drop(&mut self) {
        if self.sends {
            self.shared.stop(&self.drain);
        }
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("Timer")
            .field("pending", &st.armed)
            .field("when", &st.when)
            .finish_non_exhaustive()
    }
}

/// A channel that receives the time once `d` has passed (Go's
/// `time.After`), for `select!`: `recv(goro::time::after(d)) -> t`. Any
/// thread.
///
/// The timer lives until it fires (one heap entry; the value is dropped if
/// the receiver is gone by then). The channel then holds the value and
/// reports closed once it is taken (goro closes a channel whose senders
/// are gone), so a second `recv` returns `None` where Go would block: keep
/// a [`Timer`] to wait on one channel again and again, or to stop early.
pub fn after(d: Duration) -> Receiver<Instant> {
    let (now, Some(deadline)) = now_plus(d) else {
        return never();
    };
    let (shared, rx) = Shared::sending(now);
    shared.start(Some(deadline), now, None);
    rx
}

/// Runs `f` on its own goroutine once `d` has passed (Go's
/// `time.AfterFunc`). The returned timer's [`stop`](Timer::stop) keeps `f`
/// from running if it has not started; [`reset`](Timer::reset) runs it
/// again later. Dropping the timer does not cancel `f`. Its `c` never
/// receives. Any thread.
pub fn after_func<F>(d: Duration, f: F) -> Timer
where
    F: Fn() + Send + Sync + 'static,
{
    let (now, deadline) = now_plus(d);
    let shared = Shared::new(Action::Call(Arc::new(f)), now);
    shared.start(deadline, now, None);
    Timer {
        c: never(),
        drain: never(),
        shared,
        sends: false,
    }
}
