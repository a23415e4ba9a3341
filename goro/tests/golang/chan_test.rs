//! Port of tests from Go's `src/runtime/chan_test.go`: `TestChan`,
//! `TestNonblockRecvRace`, `TestSelfSelect`, `TestSelectStress`,
//! `TestSelectFairness`, `TestPseudoRandomSend` and `TestMultiConsumer`.
//!
//! Changes from the Go original:
//! - Sizes are Go's full (non-`-short`) ones: the whole file runs in about
//!   a second. `runtime.GOMAXPROCS(n)` cannot be changed at run time in goro,
//!   so the tests run with the default (the `GOMAXPROCS` variable, else the
//!   CPU count).
//! - `t.Fatal` inside a goroutine is a panic, propagated by joining the
//!   goroutine (Go's `sync.WaitGroup` becomes joining handles).
//! - Go's unsynchronised `recv1`/`recv2` flags are atomics.
//! - Go's zero value with `ok == false` from a closed channel is `None`.
//! - `time.Sleep` is `goro::time::sleep`.
//! - `TestPseudoRandomSend` hands its result back through the goroutine's
//!   `JoinHandle` instead of a mutex locked in one goroutine and unlocked in
//!   another.
//! - A nil channel in `TestSelectStress` is a `None` arm; a select arm body
//!   cannot reassign the channel array it borrows, so the arm returns its
//!   index and the channel is switched off after the select.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

#[test]
fn test_chan() {
    goro::run(|| {
        let n = 200;
        for chan_cap in 0..n {
            {
                // Ensure that receive from empty chan blocks.
                let (c, c_rx) = goro::chan::<i32>(chan_cap);
                let recv1 = Arc::new(AtomicBool::new(false));
                let (r, f) = (c_rx.clone(), recv1.clone());
                let h1 = goro::go(move || {
                    let _ = r.recv();
                    f.store(true, Ordering::SeqCst);
                });
                let recv2 = Arc::new(AtomicBool::new(false));
                let (r, f) = (c_rx.clone(), recv2.clone());
                let h2 = goro::go(move || {
                    let _ = r.recv();
                    f.store(true, Ordering::SeqCst);
                });
                goro::time::sleep(MS);
                assert!(
                    !recv1.load(Ordering::SeqCst) && !recv2.load(Ordering::SeqCst),
                    "chan[{chan_cap}]: receive from empty chan"
                );
                // Ensure that non-blocking receive does not block.
                goro::select! {
                    recv(c_rx) -> _ => panic!("chan[{chan_cap}]: receive from empty chan"),
                    default => {}
                }
                goro::select! {
                    recv(c_rx) -> _ => panic!("chan[{chan_cap}]: receive from empty chan"),
                    default => {}
                }
                c.send(0).unwrap();
                c.send(0).unwrap();
                h1.join().unwrap();
                h2.join().unwrap();
            }

            {
                // Ensure that send to full chan blocks.
                let (c, c_rx) = goro::chan::<i32>(chan_cap);
                for i in 0..chan_cap {
                    c.send(i as i32).unwrap();
                }
                let sent = Arc::new(AtomicBool::new(false));
                let (tx, f) = (c.clone(), sent.clone());
                let h = goro::go(move || {
                    tx.send(0).unwrap();
                    f.store(true, Ordering::SeqCst);
                });
                goro::time::sleep(MS);
                assert!(
                    !sent.load(Ordering::SeqCst),
                    "chan[{chan_cap}]: send to full chan"
                );
                // Ensure that non-blocking send does not block.
                goro::select! {
                    send(c, 0) -> _ => panic!("chan[{chan_cap}]: send to full chan"),
                    default => {}
                }
                c_rx.recv().unwrap();
                h.join().unwrap();
            }

            {
                // Ensure that we receive 0 from closed chan.
                let (c, c_rx) = goro::chan::<i32>(chan_cap);
                for i in 0..chan_cap {
                    c.send(i as i32).unwrap();
                }
                c.close().unwrap();
                for i in 0..chan_cap {
                    let v = c_rx.recv();
                    assert_eq!(
                        v,
                        Some(i as i32),
                        "chan[{chan_cap}]: received {v:?}, expected {i}"
                    );
                }
                let v = c_rx.recv().unwrap_or(0);
                assert_eq!(v, 0, "chan[{chan_cap}]: received {v}, expected 0");
                let v = c_rx.recv();
                assert_eq!(
                    v, None,
                    "chan[{chan_cap}]: received {v:?}, expected 0/false"
                );
            }

            {
                // Ensure that close unblocks receive.
                let (c, c_rx) = goro::chan::<i32>(chan_cap);
                let (done, done_rx) = goro::chan::<bool>(0);
                goro::go(move || {
                    let v = c_rx.recv();
                    done.send(v.is_none()).unwrap();
                });
                goro::time::sleep(MS);
                c.close().unwrap();
                assert!(
                    done_rx.recv().unwrap(),
                    "chan[{chan_cap}]: received non zero from closed chan"
                );
            }

            {
                // Send 100 integers,
                // ensure that we receive them non-corrupted in FIFO order.
                let (c, c_rx) = goro::chan::<i32>(chan_cap);
                let tx = c.clone();
                goro::go(move || {
                    for i in 0..100 {
                        tx.send(i).unwrap();
                    }
                });
                for i in 0..100 {
                    let v = c_rx.recv();
                    assert_eq!(v, Some(i), "chan[{chan_cap}]: received {v:?}, expected {i}");
                }

                // Same, but using recv2 (Go's `v, ok := <-c`).
                let tx = c.clone();
                goro::go(move || {
                    for i in 0..100 {
                        tx.send(i).unwrap();
                    }
                });
                for i in 0..100 {
                    match c_rx.recv() {
                        None => panic!("chan[{chan_cap}]: receive failed, expected {i}"),
                        Some(v) => {
                            assert_eq!(v, i, "chan[{chan_cap}]: received {v}, expected {i}")
                        }
                    }
                }

                // Send 1000 integers in 4 goroutines,
                // ensure that we receive what we send.
                const P: usize = 4;
                const L: i32 = 1000;
                for _ in 0..P {
                    let tx = c.clone();
                    goro::go(move || {
                        for i in 0..L {
                            tx.send(i).unwrap();
                        }
                    });
                }
                let (done, done_rx) = goro::chan::<HashMap<i32, usize>>(0);
                for _ in 0..P {
                    let (rx, done) = (c_rx.clone(), done.clone());
                    goro::go(move || {
                        let mut recv = HashMap::new();
                        for _ in 0..L {
                            let v = rx.recv().unwrap();
                            *recv.entry(v).or_insert(0) += 1;
                        }
                        done.send(recv).unwrap();
                    });
                }
                let mut recv: HashMap<i32, usize> = HashMap::new();
                for _ in 0..P {
                    for (k, v) in done_rx.recv().unwrap() {
                        *recv.entry(k).or_insert(0) += v;
                    }
                }
                assert_eq!(
                    recv.len(),
                    L as usize,
                    "chan[{chan_cap}]: received {} values, expected {L}",
                    recv.len()
                );
                for v in recv.values() {
                    assert_eq!(*v, P, "chan[{chan_cap}]: received {v} values, expected {P}");
                }
            }

            {
                // Test len/cap.
                let (c, c_rx) = goro::chan::<i32>(chan_cap);
                assert!(
                    c.is_empty() && c.cap() == chan_cap,
                    "chan[{chan_cap}]: bad len/cap, expect 0/{chan_cap}, got {}/{}",
                    c.len(),
                    c.cap()
                );
                for i in 0..chan_cap {
                    c.send(i as i32).unwrap();
                }
                assert!(
                    c.len() == chan_cap && c.cap() == chan_cap && c_rx.len() == chan_cap,
                    "chan[{chan_cap}]: bad len/cap, expect {chan_cap}/{chan_cap}, got {}/{}",
                    c.len(),
                    c.cap()
                );
            }
        }
    });
}

#[test]
fn test_nonblock_recv_race() {
    goro::run(|| {
        let n = 10_000;
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            let (c, c_rx) = goro::chan::<i32>(1);
            c.send(1).unwrap();
            let rx = c_rx.clone();
            handles.push(goro::go(move || {
                goro::select! {
                    recv(rx) -> _ => {},
                    default => panic!("chan is not ready"),
                }
            }));
            c.close().unwrap();
            c_rx.recv();
        }
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn test_self_select() {
    // Ensure that send/recv on the same chan in select
    // does not crash nor deadlock.
    goro::run(|| {
        for chan_cap in [0, 10] {
            let (c, c_rx) = goro::chan::<i32>(chan_cap);
            let mut handles = Vec::new();
            for p in 0..2 {
                let (c, c_rx) = (c.clone(), c_rx.clone());
                handles.push(goro::go(move || {
                    for i in 0..1000 {
                        if p == 0 || i % 2 == 0 {
                            goro::select! {
                                send(c, p) -> r => r.unwrap(),
                                recv(c_rx) -> v => {
                                    assert!(!(chan_cap == 0 && v == Some(p)), "self receive");
                                },
                            }
                        } else {
                            goro::select! {
                                recv(c_rx) -> v => {
                                    assert!(!(chan_cap == 0 && v == Some(p)), "self receive");
                                },
                                send(c, p) -> r => r.unwrap(),
                            }
                        }
                    }
                }));
            }
            for h in handles {
                h.join().unwrap();
            }
        }
    });
}

#[test]
fn test_select_stress() {
    goro::run(|| {
        let (t0, r0) = goro::chan::<i32>(0);
        let (t1, r1) = goro::chan::<i32>(0);
        let (t2, r2) = goro::chan::<i32>(2);
        let (t3, r3) = goro::chan::<i32>(3);
        let tx = [t0, t1, t2, t3];
        let rx = [r0, r1, r2, r3];
        let n: usize = 100_000;
        // There are 4 goroutines that send N values on each of the chans,
        // + 4 goroutines that receive N values on each of the chans,
        // + 1 goroutine that sends N values on each of the chans in a single select,
        // + 1 goroutine that receives N values on each of the chans in a single select.
        // All these sends, receives and selects interact chaotically at runtime,
        // but we are careful that this whole construct does not deadlock.
        let mut handles = Vec::new();
        for k in 0..4 {
            let t = tx[k].clone();
            handles.push(goro::go(move || {
                for _ in 0..n {
                    t.send(0).unwrap();
                }
            }));
            let r = rx[k].clone();
            handles.push(goro::go(move || {
                for _ in 0..n {
                    r.recv().unwrap();
                }
            }));
        }
        let c = tx.clone();
        handles.push(goro::go(move || {
            let mut cnt = [0; 4];
            let mut c1: [Option<&goro::Sender<i32>>; 4] =
                [Some(&c[0]), Some(&c[1]), Some(&c[2]), Some(&c[3])];
            for _ in 0..4 * n {
                let k = goro::select! {
                    send(c1[3], 0) -> r => { r.unwrap(); 3 },
                    send(c1[2], 0) -> r => { r.unwrap(); 2 },
                    send(c1[0], 0) -> r => { r.unwrap(); 0 },
                    send(c1[1], 0) -> r => { r.unwrap(); 1 },
                };
                cnt[k] += 1;
                if cnt[k] == n {
                    c1[k] = None;
                }
            }
        }));
        let c = rx.clone();
        handles.push(goro::go(move || {
            let mut cnt = [0; 4];
            let mut c1: [Option<&goro::Receiver<i32>>; 4] =
                [Some(&c[0]), Some(&c[1]), Some(&c[2]), Some(&c[3])];
            for _ in 0..4 * n {
                let k = goro::select! {
                    recv(c1[0]) -> v => { v.unwrap(); 0 },
                    recv(c1[1]) -> v => { v.unwrap(); 1 },
                    recv(c1[2]) -> v => { v.unwrap(); 2 },
                    recv(c1[3]) -> v => { v.unwrap(); 3 },
                };
                cnt[k] += 1;
                if cnt[k] == n {
                    c1[k] = None;
                }
            }
        }));
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn test_select_fairness() {
    const TRIALS: usize = 10_000;
    goro::run(|| {
        let (c1, c1_rx) = goro::chan::<u8>(TRIALS + 1);
        let (c2, c2_rx) = goro::chan::<u8>(TRIALS + 1);
        for _ in 0..TRIALS + 1 {
            c1.send(1).unwrap();
            c2.send(2).unwrap();
        }
        let (_c3, c3_rx) = goro::chan::<u8>(0);
        let (_c4, c4_rx) = goro::chan::<u8>(0);
        let (out, out_rx) = goro::chan::<u8>(0);
        let (done, done_rx) = goro::chan::<u8>(0);
        let h = goro::go(move || loop {
            let b = goro::select! {
                recv(c3_rx) -> b => b.unwrap(),
                recv(c4_rx) -> b => b.unwrap(),
                recv(c1_rx) -> b => b.unwrap(),
                recv(c2_rx) -> b => b.unwrap(),
            };
            goro::select! {
                send(out, b) -> r => r.unwrap(),
                recv(done_rx) -> _ => return,
            }
        });
        let (mut cnt1, mut cnt2) = (0usize, 0usize);
        for _ in 0..TRIALS {
            match out_rx.recv().unwrap() {
                1 => cnt1 += 1,
                2 => cnt2 += 1,
                b => panic!("unexpected value {b} on channel"),
            }
        }
        // If the select in the goroutine is fair,
        // cnt1 and cnt2 should be about the same value.
        // See if we're more than 10 sigma away from the expected value.
        // 10 sigma is a lot, but we're ok with some systematic bias as
        // long as it isn't too severe.
        let mean = TRIALS as f64 * 0.5;
        let variance = TRIALS as f64 * 0.5 * (1.0 - 0.5);
        let stddev = variance.sqrt();
        assert!(
            (cnt1 as f64 - mean).abs() <= 10.0 * stddev,
            "unfair select: in {TRIALS} trials, results were {cnt1}, {cnt2}"
        );
        done.close().unwrap();
        h.join().unwrap();
    });
}

#[test]
fn test_pseudo_random_send() {
    goro::run(|| {
        let n = 100;
        for chan_cap in [0, n] {
            let (c, c_rx) = goro::chan::<usize>(chan_cap);
            let h = goro::go(move || {
                let mut l = vec![0; n];
                for slot in l.iter_mut() {
                    goro::yield_now();
                    *slot = c_rx.recv().unwrap();
                }
                l
            });
            for _ in 0..n {
                goro::select! {
                    send(c, 1) -> r => r.unwrap(),
                    send(c, 0) -> r => r.unwrap(),
                }
            }
            let l = h.join().unwrap(); // wait
            let (mut n0, mut n1) = (0, 0);
            for i in l {
                n0 += (i + 1) % 2;
                n1 += i;
            }
            assert!(
                n0 > n / 10 && n1 > n / 10,
                "Want pseudorandom, got {n0} zeros and {n1} ones (chan cap {chan_cap})"
            );
        }
    });
}

#[test]
fn test_multi_consumer() {
    const NWORK: usize = 23;
    const NITER: usize = 271_828;
    const PN: [usize; 10] = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31];
    goro::run(|| {
        let (q, q_rx) = goro::chan::<usize>(NWORK * 3);
        let (r, r_rx) = goro::chan::<usize>(NWORK * 3);

        // workers
        let mut wg = Vec::new();
        for w in 0..NWORK {
            let (q_rx, r) = (q_rx.clone(), r.clone());
            wg.push(goro::go(move || {
                for v in &q_rx {
                    // mess with the fifo-ish nature of range
                    if PN[w % PN.len()] == v {
                        goro::yield_now();
                    }
                    r.send(v).unwrap();
                }
            }));
        }
        drop(q_rx);

        // feeder & closer
        let feeder = goro::go(move || {
            let mut expect = 0;
            for i in 0..NITER {
                let v = PN[i % PN.len()];
                expect += v;
                q.send(v).unwrap();
            }
            q.close().unwrap(); // no more work
            for h in wg {
                h.join().unwrap(); // workers done
            }
            r.close().unwrap(); // ... so there can be no more results
            expect
        });

        // consume & check
        let (mut n, mut s) = (0, 0);
        for v in &r_rx {
            n += 1;
            s += v;
        }
        let expect = feeder.join().unwrap();
        assert!(
            n == NITER && s == expect,
            "Expected sum {expect} (got {s}) from {NITER} iter (saw {n})"
        );
    });
}
