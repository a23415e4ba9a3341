//! Time, as Go's `time` package: [`sleep`], [`sleep_until`], the channel
//! timers [`after`], [`tick`], [`Timer`], [`Ticker`], and [`after_func`].
//!
//! On a goroutine the sleeps park the goroutine on a timer of its P (see the
//! runtime's timer heaps), so a sleeping goroutine holds no thread and costs
//! one heap entry; on a plain thread they sleep the thread. Neither ever
//! returns before its deadline: a spurious wake-up parks again.
//!
//! A channel timer is one heap entry whose waker does the firing (sends the
//! time with `try_send`; re-arms a ticker; starts `after_func`'s goroutine):
//! no goroutine or thread waits per timer. Timers made off the runtime (a
//! plain thread, async code) use the runtime's global heap and work the
//! same. Go 1.23's guarantees hold: after `stop` or `reset` returns no stale
//! value can be received, a slow reader of a ticker loses ticks instead of
//! queueing them, and a dropped `Timer`/`Ticker` is stopped and freed at
//! once (an `after` channel lives until it fires).

mod ticker;
mod timer;

pub use ticker::{tick, InvalidPeriod, Ticker};
pub use timer::{after, after_func, Timer};

use std::time::{Duration, Instant};

use crate::runtime::park::{park, park_deadline};

/// Pauses the current goroutine (or thread) for at least `d` (Go's
/// `time.Sleep`). A zero duration returns at once. Any thread.
pub fn sleep(d: Duration) {
    match Instant::now().checked_add(d) {
        Some(deadline) => sleep_until(deadline),
        // Too far to represent: sleep forever, as a deadline never reached.
        None => loop {
            park();
        },
    }
}

/// Pauses the current goroutine (or thread) until `deadline` has passed.
/// Returns at once if it already has. Any thread.
pub fn sleep_until(deadline: Instant) {
    if !crate::park::on_goroutine() {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            std::thread::sleep(deadline - now);
        }
    }
    while Instant::now() < deadline {
        park_deadline(deadline);
    }
}
