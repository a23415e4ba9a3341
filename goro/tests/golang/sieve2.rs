//! Port of Go's `test/chan/sieve2.go`: an Eratosthenes-style prime sieve over
//! odd candidates, merging channels of multiples through a heap, with a
//! feedback loop of primes behind a growable send proxy (a `select` whose
//! send arm is switched off — Go's nil channel — while its buffer is empty).
//!
//! Changes from the Go original:
//! - `container/heap` of `*PeekCh` is a `BinaryHeap` ordered by `head`
//!   (smallest first); `container/ring` in `sendproxy` is a `VecDeque`, which
//!   grows by itself (Go doubles the ring when full).
//! - The nil channel `c = nil` is `None` as the send arm's target.
//! - Go's goroutines loop forever and leak when `main` returns. Here each
//!   one returns when its channel partner is gone (a send fails because every
//!   receiver was dropped, or a receive sees the channel closed), so dropping
//!   the output at the end unwinds the whole network; the test checks that
//!   by joining the two top-level goroutines of `Sieve`.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

const PRIMES: [i64; 25] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
];

/// A chan of odd numbers, starting from 5.
fn odds() -> goro::Receiver<i64> {
    let (out, rx) = goro::chan::<i64>(50);
    goro::go(move || {
        let mut n = 5;
        while out.send(n).is_ok() {
            n += 2;
        }
    });
    rx
}

/// A chan of odd multiples of the prime number p, starting from p*p.
fn multiples(p: i64) -> goro::Receiver<i64> {
    let (out, rx) = goro::chan::<i64>(10);
    goro::go(move || {
        let mut n = p * p;
        while out.send(n).is_ok() {
            n += 2 * p;
        }
    });
    rx
}

struct PeekCh {
    head: i64,
    ch: goro::Receiver<i64>,
}

// Heap of PeekCh, smallest head first.
impl PartialEq for PeekCh {
    fn eq(&self, other: &Self) -> bool {
        self.head == other.head
    }
}
impl Eq for PeekCh {}
impl PartialOrd for PeekCh {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PeekCh {
    fn cmp(&self, other: &Self) -> Ordering {
        other.head.cmp(&self.head) // reversed: BinaryHeap is a max-heap
    }
}

/// A channel to serve as a sending proxy to `out`: a goroutine receives
/// values from the proxy and stores them in an expanding buffer, so that
/// sending to the proxy never blocks for long.
fn sendproxy(out: goro::Sender<i64>) -> goro::Sender<i64> {
    let (proxy_tx, proxy) = goro::chan::<i64>(10);
    goro::go(move || {
        let mut buf: VecDeque<i64> = VecDeque::with_capacity(16);
        loop {
            // buffer empty: disable output
            let c = if buf.is_empty() { None } else { Some(&out) };
            let e = buf.front().copied().unwrap_or(0);
            let stop = goro::select! {
                recv(proxy) -> e => match e {
                    Some(e) => {
                        buf.push_back(e);
                        false
                    }
                    None => true, // every sender gone
                },
                send(c, e) -> res => {
                    if res.is_err() {
                        true
                    } else {
                        buf.pop_front();
                        false
                    }
                },
            };
            if stop {
                return;
            }
        }
    });
    proxy_tx
}

/// A chan of primes, and the handles of the two goroutines behind it.
fn sieve() -> (goro::Receiver<i64>, Vec<goro::JoinHandle<()>>) {
    // The output values.
    let (out, out_rx) = goro::chan::<i64>(10);
    out.send(2).unwrap();
    out.send(3).unwrap();

    // The channel of all composites to be eliminated in increasing order.
    let (composites_tx, composites) = goro::chan::<i64>(50);

    // The feedback loop.
    let (primes_tx, primes) = goro::chan::<i64>(10);
    primes_tx.send(3).unwrap();

    // Merge channels of multiples of 'primes' into 'composites'.
    let merge = goro::go(move || {
        let mut h: BinaryHeap<PeekCh> = BinaryHeap::new();
        let mut min = 15;
        let next = |pc: &PeekCh| pc.ch.recv().expect("multiples never close");
        loop {
            let Some(p) = primes.recv() else { return };
            let m = multiples(p);
            let head = m.recv().unwrap();
            while min < head {
                if composites_tx.send(min).is_err() {
                    return;
                }
                let mut minchan = h.pop().unwrap();
                min = minchan.head;
                minchan.head = next(&minchan);
                h.push(minchan);
            }
            while min == head {
                let mut minchan = h.pop().unwrap();
                min = minchan.head;
                minchan.head = next(&minchan);
                h.push(minchan);
            }
            if composites_tx.send(head).is_err() {
                return;
            }
            let head = m.recv().unwrap();
            h.push(PeekCh { head, ch: m });
        }
    });

    // Sieve out 'composites' from 'candidates'.
    let filter = goro::go(move || {
        // In order to generate the nth prime we only need multiples of
        // primes ≤ sqrt(nth prime). Thus, the merging goroutine will
        // receive from 'primes' much slower than this goroutine
        // will send to it, making the buffer accumulate and block this
        // goroutine from sending, causing a deadlock. The solution is to
        // use a proxy goroutine to do automatic buffering.
        let primes = sendproxy(primes_tx);

        let candidates = odds();
        let mut p = candidates.recv().unwrap();

        loop {
            let Some(c) = composites.recv() else { return };
            while p < c {
                if primes.send(p).is_err() || out.send(p).is_err() {
                    return;
                }
                p = candidates.recv().unwrap();
            }
            if p == c {
                p = candidates.recv().unwrap();
            }
        }
    });

    (out_rx, vec![merge, filter])
}

#[test]
fn sieve2() {
    goro::run(|| {
        let (primes, handles) = sieve();
        for &want in PRIMES.iter() {
            let x = primes.recv().expect("primes closed early");
            assert_eq!(x, want, "{x} != {want}");
        }
        // Dropping the output unwinds the network: the filter's next send to
        // `out` fails, which closes the proxy, then `primes`, then ends the
        // merger, whose `composites` and multiples go with it.
        drop(primes);
        for h in handles {
            h.join().unwrap();
        }
    });
}
