//! A goroutine that blocks its OS thread does not stop the others.
//!
//! One goroutine calls a blocking function (here `std::thread::sleep`, in
//! real code a blocking syscall or a C library) inside `goro::blocking`, which
//! hands its processor to another thread first. Another goroutine blocks
//! without telling anyone; after ~10 ms the monitor thread hands its
//! processor off too. Meanwhile a third goroutine keeps ticking, even with a
//! single processor.
//!
//! Run: `GOMAXPROCS=1 cargo run --release -p goro --example blocking`

use std::time::{Duration, Instant};

fn main() {
    let ticks = ticks_while_others_block();
    println!(
        "GOMAXPROCS={}: {ticks} yields while two goroutines blocked their threads",
        goro::runtime::gomaxprocs()
    );
}

fn ticks_while_others_block() -> u64 {
    goro::run(|| {
        let t0 = Instant::now();
        let polite = goro::go(|| goro::blocking(|| std::thread::sleep(Duration::from_millis(300))));
        let rude = goro::go(|| std::thread::sleep(Duration::from_millis(300)));
        let ticker = goro::go(move || {
            let mut ticks = 0;
            while t0.elapsed() < Duration::from_millis(250) {
                ticks += 1;
                goro::yield_now();
            }
            ticks
        });
        let ticks = ticker.join().unwrap();
        polite.join().unwrap();
        rude.join().unwrap();
        ticks
    })
}

#[test]
fn the_ticker_keeps_ticking() {
    assert!(ticks_while_others_block() > 100);
}
