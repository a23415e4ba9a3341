//! Loom models of channels and `select`, running the real code: the real
//! `Chan`, `Sender`/`Receiver`, `select!`, the async futures, the runtime's
//! wait queue (`runtime::wait`) and the real park token. Under loom every
//! model thread is a stand-in goroutine (`runtime::park::ModelG`): the
//! seam's `park` blocks it and the wait queue's direct wake queues it, so a
//! blocking `send` or `recv` parks and wakes exactly as a goroutine's does,
//! and a lost wake-up is a loom deadlock. Every shared cell (the channel's
//! state, the queues' links, the value slots, the waiter's waker) is a loom
//! cell, so an access the protocol does not order fails the model.
//!
//! Timed operations use a deadline that has already passed: the real code
//! tries, queues, and then gives up at once, which is the race a timeout
//! opens (give up against a claimer mid-transfer).
//!
//! Run (what `.ci/run` does):
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p goro --release --lib --target-dir target/loom -- loom`

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use loom::thread;

use crate::chan::{chan, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError};

/// A waker that counts its wakes.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A fresh counting waker, and its counter.
fn counting_waker() -> (std::sync::Arc<Count>, Waker) {
    let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
    (count.clone(), Waker::from(count))
}

fn wakes(count: &Count) -> usize {
    count.0.load(SeqCst)
}

/// Polls `fut` once with `waker`.
fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// (1) A select receives from two unbuffered channels while a blocking
/// sender waits on each: exactly one value is taken; once the select is
/// done its receivers go, and the other sender gets its value back. With
/// `timeout`, the select may give up instead (then both values come back).
fn select_two_senders(timeout: bool) {
    loom::model(move || {
        let (tx0, rx0) = chan::<u32>(0);
        let (tx1, rx1) = chan::<u32>(0);
        let senders = [
            thread::spawn(move || tx0.send(10)),
            thread::spawn(move || tx1.send(20)),
        ];
        let got = if timeout {
            crate::select! {
                recv(rx0) -> v => Some((0, v)),
                recv(rx1) -> v => Some((1, v)),
                timeout(Duration::ZERO) => None,
            }
        } else {
            crate::select! {
                recv(rx0) -> v => Some((0, v)),
                recv(rx1) -> v => Some((1, v)),
            }
        };
        drop((rx0, rx1));
        let sent: Vec<Result<(), SendError<u32>>> =
            senders.into_iter().map(|s| s.join().unwrap()).collect();
        match got {
            Some((arm, v)) => {
                assert_eq!(v, Some(10 * (arm as u32 + 1)));
                assert_eq!(sent[arm], Ok(()));
                let other = 1 - arm;
                assert_eq!(sent[other], Err(SendError(10 * (other as u32 + 1))));
            }
            None => assert_eq!(sent, [Err(SendError(10)), Err(SendError(20))]),
        }
    });
}

#[test]
fn loom_select_two_senders_wait() {
    select_two_senders(false);
}

#[test]
fn loom_select_two_senders_timeout() {
    select_two_senders(true);
}

/// (2) `close` of one channel races a send on the other: a select receives
/// from both (arm 0 on the closing channel), and a lone receiver blocks on
/// the closing one too. Each gets exactly one outcome; the lone receiver
/// must see the close.
#[test]
fn loom_close_vs_send() {
    loom::model(|| {
        let (tx0, rx0) = chan::<u32>(0);
        let (tx1, rx1) = chan::<u32>(0);
        let lone = {
            let rx0 = rx0.clone();
            thread::spawn(move || rx0.recv())
        };
        let closer = thread::spawn(move || tx0.close());
        let sender = thread::spawn(move || tx1.send(20));
        let got = crate::select! {
            recv(rx0) -> v => (0, v),
            recv(rx1) -> v => (1, v),
        };
        drop(rx1);
        assert_eq!(
            lone.join().unwrap(),
            None,
            "the lone receiver missed the close"
        );
        closer.join().unwrap().unwrap();
        let sent = sender.join().unwrap();
        match got {
            (0, None) => assert_eq!(sent, Err(SendError(20))),
            (1, Some(20)) => assert_eq!(sent, Ok(())),
            other => panic!("impossible outcome {other:?}"),
        }
    });
}

/// (3) `close` races a receive for a blocked sender: either the receiver
/// takes the value or the close fails the sender, which keeps it. With
/// `timeout`, the sender may also give up (and keeps it).
fn close_vs_recv(timeout: bool) {
    loom::model(move || {
        let (tx, rx) = chan::<u32>(0);
        let closer = {
            let tx = tx.clone();
            thread::spawn(move || tx.close())
        };
        let receiver = thread::spawn(move || rx.try_recv());
        let sent = if timeout {
            tx.send_timeout(7, Duration::ZERO)
        } else {
            tx.send(7)
                .map_err(|SendError(v)| SendTimeoutError::Closed(v))
        };
        closer.join().unwrap().unwrap();
        let received = receiver.join().unwrap();
        match sent {
            Ok(()) => assert_eq!(received, Ok(7), "sent, but not received"),
            Err(SendTimeoutError::Closed(7)) => assert!(received.is_err()),
            Err(SendTimeoutError::Timeout(7)) => {
                assert!(timeout && received.is_err(), "timed out, yet received")
            }
            Err(e) => panic!("impossible outcome {e:?}"),
        }
    });
}

#[test]
fn loom_close_vs_recv_wait() {
    close_vs_recv(false);
}

#[test]
fn loom_close_vs_recv_timeout() {
    close_vs_recv(true);
}

/// (4) A receive future is dropped (under the lock: dequeue, then put back
/// whatever its slot already holds) while a send races it; a second
/// receive future waits behind it. The value ends up in exactly one place:
/// with the sender, with the second future, or back in the channel.
#[test]
fn loom_cancel_vs_send() {
    loom::model(|| {
        let (tx, rx) = chan::<u32>(0);
        let (_, waker) = counting_waker();
        let mut first = Box::pin(rx.recv_async());
        assert!(poll_once(first.as_mut(), &waker).is_pending());
        let mut second = Box::pin(rx.recv_async());
        assert!(poll_once(second.as_mut(), &waker).is_pending());
        let sender = thread::spawn(move || {
            let r = tx.try_send(5).map_err(|e| e.into_inner());
            (r, tx)
        });
        drop(first);
        let got = match poll_once(second.as_mut(), &waker) {
            Poll::Ready(v) => v,
            Poll::Pending => None,
        };
        drop(second);
        let (sent, _tx) = sender.join().unwrap();
        let mut places = Vec::new();
        if let Err(v) = sent {
            places.push(("sender", v));
        }
        if let Some(v) = got {
            places.push(("second future", v));
        }
        if let Ok(v) = rx.try_recv() {
            places.push(("channel", v));
        }
        assert_eq!(places.len(), 1, "the value is in {places:?}");
        assert_eq!(places[0].1, 5);
    });
}

/// (5) An async receive is re-polled with a new waker while a send races
/// it: the wake goes to the waker registered last, never a stale one.
#[test]
fn loom_repoll_moves_the_wake() {
    loom::model(|| {
        let (tx, rx) = chan::<u32>(0);
        let (first, waker_a) = counting_waker();
        let (second, waker_b) = counting_waker();
        let mut fut = Box::pin(rx.recv_async());
        assert!(poll_once(fut.as_mut(), &waker_a).is_pending());
        let sender = thread::spawn(move || tx.send(1));
        let (got, at_repoll) = match poll_once(fut.as_mut(), &waker_b) {
            Poll::Ready(v) => (v, true),
            Poll::Pending => {
                while wakes(&second) == 0 {
                    thread::yield_now();
                }
                match poll_once(fut.as_mut(), &waker_b) {
                    Poll::Ready(v) => (v, false),
                    Poll::Pending => panic!("woken, yet not done"),
                }
            }
        };
        assert_eq!(got, Some(1));
        sender.join().unwrap().unwrap();
        if at_repoll {
            // Completed before the re-poll: the old waker got the wake.
            assert_eq!((wakes(&first), wakes(&second)), (1, 0));
        } else {
            assert_eq!(
                (wakes(&first), wakes(&second)),
                (0, 1),
                "woke a stale waker"
            );
        }
    });
}

/// (6) Park against claim, through the seam: a blocking receive (or a
/// select, with `claimers` senders) parks on its token while senders
/// claim it. With `stale_token` the goroutine starts with a token left by
/// an earlier wait (a wake that landed after it had already seen its
/// outcome), which is what made the M's failed park and a waker's no-op
/// race. A lost wake-up is a loom deadlock.
fn park_vs_claimers(stale_token: bool, claimers: usize) {
    loom::model(move || {
        if stale_token {
            crate::park::current_waker().wake();
        }
        let (tx0, rx0) = chan::<u32>(0);
        let (tx1, rx1) = chan::<u32>(0);
        let s0 = thread::spawn(move || tx0.send(0));
        let s1 = (claimers > 1).then(|| thread::spawn(move || tx1.send(1)));
        let got = if claimers > 1 {
            crate::select! {
                recv(rx0) -> v => v,
                recv(rx1) -> v => v,
            }
        } else {
            rx0.recv()
        };
        drop((rx0, rx1));
        let results = [Some(s0.join().unwrap()), s1.map(|s| s.join().unwrap())];
        let arm = got.expect("a value") as usize;
        assert_eq!(results[arm], Some(Ok(())));
        if claimers > 1 {
            assert!(
                results[1 - arm].as_ref().unwrap().is_err(),
                "two arms committed"
            );
        }
    });
}

#[test]
fn loom_park_one_claimer() {
    park_vs_claimers(false, 1);
}

#[test]
fn loom_park_one_claimer_stale_token() {
    park_vs_claimers(true, 1);
}

#[test]
fn loom_park_two_claimers_stale_token() {
    park_vs_claimers(true, 2);
}

/// (7) Two waits in a row by one goroutine, each finished by its own
/// sender: the first wake-up may land after the goroutine saw its outcome,
/// and its token must then neither be lost for nor swallow the second.
#[test]
fn loom_park_two_waits_in_a_row() {
    loom::model(|| {
        let (tx0, rx0) = chan::<u32>(0);
        let (tx1, rx1) = chan::<u32>(0);
        let a = thread::spawn(move || tx0.send(1));
        let b = thread::spawn(move || tx1.send(2));
        assert_eq!(rx0.recv(), Some(1));
        assert_eq!(rx1.recv(), Some(2));
        a.join().unwrap().unwrap();
        b.join().unwrap().unwrap();
    });
}

/// (8) Two receivers queue on one channel (a node behind another, so a
/// claim relinks its neighbour); one value arrives and then the channel
/// closes: one receiver gets the value, the other the close.
#[test]
fn loom_two_queued_receivers_value_then_close() {
    loom::model(|| {
        let (tx, rx) = chan::<u32>(0);
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || rx.recv())
            })
            .collect();
        drop(rx);
        let sent = tx.send_timeout(3, Duration::ZERO);
        drop(tx);
        let mut got: Vec<Option<u32>> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
        got.sort();
        match sent {
            Ok(()) => assert_eq!(got, [None, Some(3)]),
            Err(SendTimeoutError::Timeout(3)) => assert_eq!(got, [None, None]),
            Err(e) => panic!("impossible outcome {e:?}"),
        }
    });
}

/// (9) A full buffered channel: a blocked sender is moved into the buffer
/// by the receive that makes room (`refill_from_sender`), and a timed
/// receive races it. Every value arrives once, in order.
#[test]
fn loom_buffered_refill_from_a_blocked_sender() {
    loom::model(|| {
        let (tx, rx) = chan::<u32>(1);
        let sender = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        let mut got = Vec::new();
        while got.len() < 2 {
            match rx.recv_timeout(Duration::ZERO) {
                Ok(v) => got.push(v),
                Err(RecvTimeoutError::Timeout) => thread::yield_now(),
                Err(RecvTimeoutError::Closed) => panic!("closed with values left"),
            }
        }
        assert_eq!(got, [1, 2]);
        sender.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}
