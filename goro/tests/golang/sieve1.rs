//! Port of Go's `test/chan/sieve1.go`: the concurrent prime sieve (a linear
//! chain of divisibility filters, one goroutine each), checking the first 25
//! primes.
//!
//! Changes from the Go original:
//! - Go's `Generate`, `Filter` and `Sieve` loop forever and simply leak when
//!   `main` returns. Here each stops when its send fails (every receiver of
//!   its output was dropped), so dropping `primes` at the end tears the whole
//!   chain down; the test joins `Sieve` to check that it did. This exercises
//!   goro's "dropping every Receiver makes sends fail" on a parked sender.
//! - `for i := range in` is `for i in &input`.

const PRIMES: [i64; 25] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
];

/// Sends the sequence 2, 3, 4, ... to channel `ch`.
fn generate(ch: goro::Sender<i64>) {
    let mut i = 2;
    loop {
        if ch.send(i).is_err() {
            return; // nobody listens any more
        }
        i += 1;
    }
}

/// Copies the values from `input` to `out`, removing those divisible by
/// `prime`.
fn filter(input: goro::Receiver<i64>, out: goro::Sender<i64>, prime: i64) {
    for i in &input {
        if i % prime != 0 && out.send(i).is_err() {
            return;
        }
    }
}

/// The prime sieve: daisy-chains filter goroutines together.
fn sieve(primes: goro::Sender<i64>) {
    let (tx, mut ch) = goro::chan::<i64>(0);
    goro::go(move || generate(tx));
    loop {
        // Note that ch is different on each iteration.
        let prime = ch.recv().expect("the chain never closes while we read it");
        if primes.send(prime).is_err() {
            return;
        }
        let (tx1, ch1) = goro::chan::<i64>(0);
        goro::go(move || filter(ch, tx1, prime));
        ch = ch1;
    }
}

#[test]
fn sieve1() {
    goro::run(|| {
        let (tx, primes) = goro::chan::<i64>(0);
        let h = goro::go(move || sieve(tx));
        for &want in PRIMES.iter() {
            let x = primes.recv().expect("primes closed early");
            assert_eq!(x, want, "{x} != {want}");
        }
        drop(primes);
        // Sieve's next send fails now that `primes` has no receiver.
        h.join().unwrap();
    });
}
