//! Time, as Go's `time` package: [`sleep`] and [`sleep_until`].
//!
//! On a goroutine these park the goroutine on a timer of its P (see the
//! runtime's timer heaps), so a sleeping goroutine holds no thread and costs
//! one heap entry; on a plain thread they sleep the thread. Neither ever
//! returns before its deadline: a spurious wake-up parks again.
//!
//! The channel-based `after`, `tick`, `Timer` and `Ticker` are built on
//! channels and come with them.

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
