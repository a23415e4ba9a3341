//! Port of Go's `test/chan/select6.go` (Go issue 2075): a select that loses
//! on a channel with other waiters must leave that channel's wait queue
//! intact, so later waiters on it still wake up. `c1` is such a channel.
//!
//! Changes from the Go original: the goroutines are joined (Go leaks the
//! first and lets a panic in the second abort the program), and the main
//! goroutine's operations use timeouts (10 s) so a lost wake-up fails the
//! test instead of hanging it.

use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn select6() {
    goro::run(|| {
        let (c1, c1_rx) = goro::chan::<bool>(0);
        let (c2, c2_rx) = goro::chan::<bool>(0);
        let (c3, c3_rx) = goro::chan::<bool>(0);
        let r = c1_rx.clone();
        let a = goro::go(move || {
            r.recv();
        });
        let r = c1_rx.clone();
        let b = goro::go(move || {
            goro::select! {
                recv(r) -> _ => panic!("dummy"),
                recv(c2_rx) -> _ => c3.send(true).unwrap(),
            }
            r.recv();
        });
        goro::go(move || c2.send(true).unwrap());
        c3_rx.recv_timeout(LIMIT).expect("c3 never came");
        c1.send_timeout(true, LIMIT)
            .unwrap_or_else(|_| panic!("first c1 send: no receiver woke"));
        c1.send_timeout(true, LIMIT)
            .unwrap_or_else(|_| panic!("second c1 send: no receiver woke"));
        a.join().unwrap();
        b.join().unwrap();
    });
}
