//! Port of Go's `test/chan/goroutines.go`: make a lot of goroutines (10 000)
//! threaded together by unbuffered channels, pass one value down the whole
//! chain, and tear them down cleanly.
//!
//! Changes from the Go original: the count comes from the
//! `GORO_TEST_GOROUTINES` environment variable instead of `os.Args[1]`
//! (default 10 000, as in Go). The test additionally checks the value that
//! arrives at the leftmost channel and, at the end, that every goroutine of
//! the chain has exited (`runtime::num_goroutine` back to where it started,
//! within 5 s: a joined goroutine may still be returning).

fn f(left: goro::Sender<i32>, right: goro::Receiver<i32>) {
    left.send(right.recv().unwrap()).unwrap();
}

#[test]
fn goroutines() {
    let n: usize = std::env::var("GORO_TEST_GOROUTINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    goro::run(move || {
        let before = goro::runtime::num_goroutine();
        let (leftmost_tx, leftmost) = goro::chan::<i32>(0);
        let mut left = leftmost_tx;
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            let (right_tx, right) = goro::chan::<i32>(0);
            handles.push(goro::go(move || f(left, right)));
            left = right_tx;
        }
        let right = left;
        handles.push(goro::go(move || right.send(1).unwrap()));
        assert_eq!(leftmost.recv(), Some(1));
        for h in handles {
            h.join().unwrap();
        }
        // A joined goroutine has published its result but may still be
        // returning: wait (bounded) for the count to settle.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while goro::runtime::num_goroutine() != before && std::time::Instant::now() < deadline {
            goro::yield_now();
        }
        assert_eq!(
            goro::runtime::num_goroutine(),
            before,
            "goroutines left over"
        );
    });
}
