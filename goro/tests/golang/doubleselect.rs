//! Port of Go's `test/chan/doubleselect.go`: flushes out the case where two
//! cases of one select could both run. A sender selects over four unbuffered
//! channels, four muxes forward onto one channel, and the receiver checks
//! that no value arrives twice.
//!
//! Changes from the Go original:
//! - 100 000 iterations as in Go (`GORO_TEST_N` overrides, as `-n` does);
//!   `runtime.GOMAXPROCS(2)` is not settable at run time in goro, so the
//!   test runs with the default (`GOMAXPROCS` env var, else the CPU count).
//! - The deferred `close`s are explicit `close()`s, asserted to succeed.
//! - The receiver additionally checks that all n values arrived.

use std::collections::HashSet;

fn iterations() -> i64 {
    std::env::var("GORO_TEST_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

// sender sends a counter to one of four different channels. If two cases
// both end up running in the same iteration, the same value will be sent to
// two different channels.
fn sender(
    n: i64,
    c1: goro::Sender<i64>,
    c2: goro::Sender<i64>,
    c3: goro::Sender<i64>,
    c4: goro::Sender<i64>,
) {
    for i in 0..n {
        goro::select! {
            send(c1, i) -> r => r.unwrap(),
            send(c2, i) -> r => r.unwrap(),
            send(c3, i) -> r => r.unwrap(),
            send(c4, i) -> r => r.unwrap(),
        }
    }
    c4.close().unwrap();
    c3.close().unwrap();
    c2.close().unwrap();
    c1.close().unwrap();
}

// mux receives the values from sender and forwards them onto another channel.
fn mux(out: goro::Sender<i64>, input: goro::Receiver<i64>, done: goro::Sender<bool>) {
    for v in &input {
        out.send(v).unwrap();
    }
    done.send(true).unwrap();
}

// recver gets a stream of values from the four muxes and checks for duplicates.
fn recver(input: goro::Receiver<i64>) -> usize {
    let mut seen = HashSet::new();
    for v in &input {
        assert!(seen.insert(v), "got duplicate value: {v}");
    }
    seen.len()
}

#[test]
fn doubleselect() {
    let n = iterations();
    goro::run(move || {
        let (c1, r1) = goro::chan::<i64>(0);
        let (c2, r2) = goro::chan::<i64>(0);
        let (c3, r3) = goro::chan::<i64>(0);
        let (c4, r4) = goro::chan::<i64>(0);
        let (done, done_rx) = goro::chan::<bool>(0);
        let (cmux, cmux_rx) = goro::chan::<i64>(0);
        goro::go(move || sender(n, c1, c2, c3, c4));
        for r in [r1, r2, r3, r4] {
            let (cmux, done) = (cmux.clone(), done.clone());
            goro::go(move || mux(cmux, r, done));
        }
        drop(done);
        goro::go(move || {
            for _ in 0..4 {
                done_rx.recv().unwrap();
            }
            cmux.close().unwrap();
        });
        let got = recver(cmux_rx);
        assert_eq!(got, n as usize, "values lost");
    });
}
