//! A rate-limited worker with a heartbeat, Go's `time.Ticker` and
//! `time.After` idioms in one `select!` loop.
//!
//! Jobs arrive on a channel faster than the worker may take them; a ticker
//! paces the worker (one job per tick; ticks missed while it is busy are
//! dropped, not queued), a second ticker prints a heartbeat, and `after`
//! bounds the whole run.
//!
//! Run: `cargo run --release -p goro --example ticker`

use std::time::{Duration, Instant};

use goro::time::{after, Ticker};

/// Processes up to `jobs` jobs at one per `rate`, for at most `budget`;
/// returns (jobs done, heartbeats seen).
fn paced(jobs: u32, rate: Duration, beat: Duration, budget: Duration) -> (u32, u32) {
    goro::run(move || {
        let (tx, rx) = goro::chan::<u32>(16);
        goro::go(move || {
            for j in 0..jobs {
                if tx.send(j).is_err() {
                    return;
                }
            }
        });
        let limiter = Ticker::new(rate);
        let heartbeat = Ticker::new(beat);
        let deadline = after(budget);
        let (mut done, mut beats) = (0, 0);
        loop {
            goro::select! {
                recv(limiter.c) -> _ => match rx.recv() {
                    Some(_job) => done += 1,
                    None => break,
                },
                recv(heartbeat.c) -> _ => beats += 1,
                recv(deadline) -> _ => break,
            }
        }
        (done, beats)
    })
}

fn main() {
    let t0 = Instant::now();
    let (done, beats) = paced(
        50,
        Duration::from_millis(10),
        Duration::from_millis(100),
        Duration::from_secs(2),
    );
    println!(
        "{done} jobs at one per 10 ms, {beats} heartbeats, in {:?}",
        t0.elapsed()
    );
}

#[test]
fn pace_is_kept_and_the_budget_ends_the_run() {
    let rate = Duration::from_millis(2);
    let t0 = Instant::now();
    let (done, _) = paced(20, rate, Duration::from_millis(10), Duration::from_secs(10));
    let took = t0.elapsed();
    assert_eq!(done, 20);
    assert!(took >= 20 * rate, "faster than the limiter: {took:?}");
    // The budget: far more jobs than fit, the run ends on time.
    let t0 = Instant::now();
    let (done, _) = paced(1_000_000, rate, rate, Duration::from_millis(30));
    assert!(done <= 16, "{done} jobs in 30 ms at one per 2 ms");
    assert!(t0.elapsed() < Duration::from_secs(5));
}
