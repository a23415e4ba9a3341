//! Channels, `select!` and the dynamic `Select` between plain threads and
//! with hand-polled futures: no goroutine, so nothing here starts the
//! runtime, and Miri can run it all (`.ci/run` does): the wait queue's nodes
//! on the waiters' stacks, the slots, the dynamic `Select`'s erased arms and
//! the async futures' pinned nodes, checked under Stacked Borrows.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use crate::chan::{chan, SendError, TryRecvError};
use crate::select::Select;

struct Count(std::sync::atomic::AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Blocking sends and receives between two threads hand every value over,
/// in order, and the last sender's drop ends the receiver's loop.
#[test]
fn threads_ping_pong_and_close() {
    let (ping_tx, ping_rx) = chan::<u32>(0);
    let (pong_tx, pong_rx) = chan::<u32>(0);
    let echo = thread::spawn(move || {
        for v in &ping_rx {
            pong_tx.send(v + 1).unwrap();
        }
    });
    for i in 0..20 {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv(), Some(i + 1));
    }
    drop(ping_tx);
    echo.join().unwrap();
    assert_eq!(pong_rx.recv(), None, "the echo's sender is gone");
}

/// Several receivers queue on one channel (nodes behind nodes); values go
/// to them one each, and a close completes the rest with `None`.
#[test]
fn queued_receivers_get_one_value_each_then_the_close() {
    let (tx, rx) = chan::<u32>(0);
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.recv())
        })
        .collect();
    drop(rx);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    drop(tx);
    let mut got: Vec<_> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, [None, Some(1), Some(2)]);
}

/// A `select!` over two channels fed by two threads takes one value; the
/// other sender gets its value back once the receivers are gone.
#[test]
fn select_between_threads_commits_one_arm() {
    let (tx0, rx0) = chan::<u32>(0);
    let (tx1, rx1) = chan::<u32>(0);
    let s0 = thread::spawn(move || tx0.send(10));
    let s1 = thread::spawn(move || tx1.send(11));
    let got = crate::select! {
        recv(rx0) -> v => v,
        recv(rx1) -> v => v,
    }
    .expect("a value");
    drop((rx0, rx1));
    let sent = [s0.join().unwrap(), s1.join().unwrap()];
    let arm = (got - 10) as usize;
    assert_eq!(sent[arm], Ok(()));
    assert_eq!(sent[1 - arm], Err(SendError(got ^ 1)));
}

/// The dynamic `Select`: arms of two types, values taken by token, a
/// closed arm switched off, a send arm's result, and a re-run.
#[test]
fn dynamic_select_between_threads() {
    let (a_tx, a_rx) = chan::<u32>(0);
    let (b_tx, b_rx) = chan::<String>(1);
    let (c_tx, c_rx) = chan::<u8>(0);
    let feeder = thread::spawn(move || {
        a_tx.send(7).unwrap();
        b_tx.send("seven".to_string()).unwrap();
        c_rx.recv()
    });
    let mut sel = Select::new();
    let a = sel.recv(&a_rx);
    let b = sel.recv(&b_rx);
    let c = sel.send(&c_tx, 9);
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let i = sel.select();
        match i {
            0 => match sel.take(a) {
                Some(v) => seen.push(format!("a {v}")),
                None => {
                    sel.disable(0);
                    seen.push("a closed".into());
                }
            },
            1 => match sel.take(b) {
                Some(v) => seen.push(format!("b {v}")),
                None => {
                    sel.disable(1);
                    seen.push("b closed".into());
                }
            },
            2 => {
                sel.send_result(c).unwrap();
                seen.push("c sent".into());
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(feeder.join().unwrap(), Some(9));
    seen.sort();
    assert_eq!(seen, ["a 7", "a closed", "b closed", "b seven", "c sent"]);
}

/// A receive future that was handed a value and then dropped puts it back:
/// the next receive gets it. A pending send future's drop leaves the channel
/// as it was.
#[test]
fn dropped_futures_lose_nothing() {
    let (tx, rx) = chan::<u32>(0);
    let count = Arc::new(Count(Default::default()));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    {
        let mut fut = pin!(rx.recv_async());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let sender = thread::spawn({
            let tx = tx.clone();
            move || tx.send(5)
        });
        sender.join().unwrap().unwrap();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
    assert_eq!(rx.try_recv(), Ok(5), "put back by the dropped future");
    {
        let mut send = pin!(tx.send_async(6));
        assert!(send.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let mut send = pin!(tx.send_async(8));
    assert!(send.as_mut().poll(&mut cx).is_pending());
    let receiver = thread::spawn(move || rx.recv());
    assert_eq!(receiver.join().unwrap(), Some(8));
    assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
}

/// The async ends can move to another thread (a tokio task, say), and so can
/// the channel ends.
#[test]
fn futures_and_ends_are_send() {
    fn send<T: Send>() {}
    send::<crate::chan::RecvFuture<'static, String>>();
    send::<crate::chan::SendFuture<'static, String>>();
    send::<crate::chan::RecvStream<String>>();
    send::<crate::chan::SendSink<String>>();
    send::<crate::Sender<String>>();
    send::<crate::Receiver<String>>();
    send::<crate::JoinHandle<String>>();
}
