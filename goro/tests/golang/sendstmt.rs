//! Port of Go's `test/chan/sendstmt.go`: parsing cases that differ now that
//! send is a statement — `case <-cc <- 2` (send 2 to the channel received
//! from `cc`) and `c <- false || true`.
//!
//! Changes from the Go original: the syntax being tested is Go's, so the port
//! checks the semantics: the send arm's channel expression (`<-cc`) is
//! evaluated when the select starts and the send then goes through without
//! blocking; the precedence case is trivially `c.send(false || true)`. The
//! channel of channels carries `Sender`s (a Go channel is both ends).

#[test]
fn sendstmt() {
    goro::run(|| {
        chanchan();
        sendprec();
    });
}

fn chanchan() {
    let (cc, cc_rx) = goro::chan::<goro::Sender<i32>>(1);
    let (c, c_rx) = goro::chan::<i32>(1);
    cc.send(c).unwrap();
    goro::select! {
        send(cc_rx.recv().unwrap(), 2) -> r => r.unwrap(),
        default => panic!("nonblock"),
    }
    assert_eq!(c_rx.recv(), Some(2), "bad receive");
}

#[allow(clippy::nonminimal_bool, clippy::overly_complex_bool_expr)]
fn sendprec() {
    let (c, c_rx) = goro::chan::<bool>(1);
    c.send(false || true).unwrap(); // same as c <- (false || true)
    assert!(c_rx.recv().unwrap(), "sent false");
}
