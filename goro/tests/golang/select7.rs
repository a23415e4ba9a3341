//! Port of Go's `test/chan/select7.go`: select when discarding a value —
//! every pairing of a plain receive, a one-arm select receive and a two-arm
//! select receive with a plain send, a one-arm select send and a two-arm
//! select send.
//!
//! Changes from the Go original: the receiving goroutine is joined (Go
//! leaves it to finish), and the receivers check the value (1).

type Recv = fn(goro::Receiver<i32>);

fn recv1(c: goro::Receiver<i32>) {
    assert_eq!(c.recv(), Some(1));
}

fn recv2(c: goro::Receiver<i32>) {
    goro::select! {
        recv(c) -> v => assert_eq!(v, Some(1)),
    }
}

fn recv3(c: goro::Receiver<i32>) {
    let (_c2_tx, c2) = goro::chan::<i32>(0);
    goro::select! {
        recv(c) -> v => assert_eq!(v, Some(1)),
        recv(c2) -> _ => unreachable!(),
    }
}

fn send1(recv: Recv) {
    let (c, rx) = goro::chan::<i32>(0);
    let h = goro::go(move || recv(rx));
    goro::yield_now();
    c.send(1).unwrap();
    h.join().unwrap();
}

fn send2(recv: Recv) {
    let (c, rx) = goro::chan::<i32>(0);
    let h = goro::go(move || recv(rx));
    goro::yield_now();
    goro::select! {
        send(c, 1) -> r => r.unwrap(),
    }
    h.join().unwrap();
}

fn send3(recv: Recv) {
    let (c, rx) = goro::chan::<i32>(0);
    let h = goro::go(move || recv(rx));
    goro::yield_now();
    let (c2, _c2_rx) = goro::chan::<i32>(0);
    goro::select! {
        send(c, 1) -> r => r.unwrap(),
        send(c2, 1) -> _ => unreachable!(),
    }
    h.join().unwrap();
}

#[test]
fn select7() {
    goro::run(|| {
        send1(recv1);
        send2(recv1);
        send3(recv1);
        send1(recv2);
        send2(recv2);
        send3(recv2);
        send1(recv3);
        send2(recv3);
        send3(recv3);
    });
}
