//! Port of Go's `test/chan/select3.go`: the semantics of the select statement
//! for the basic empty/non-empty cases — what blocks, what does not, what
//! panics — with nil channels, closed channels, buffered channels and a
//! select that sees its own channel on both sides.
//!
//! Changes from the Go original:
//! - Go's nil channel: a receive is `goro::never()`; a send has no goro
//!   value (there is no nil `Sender`), so sends to nil are written as select
//!   arms whose target is `None::<&Sender<_>>` (goro's spelling of a nil
//!   channel in a select), including the bare `nilch <- 7`, which becomes a
//!   one-arm select on `None`. Receives are checked both ways (`never()` and
//!   a `None` arm).
//! - Where Go panics (send on a closed channel, as a statement or a select
//!   arm), goro returns the value: `testPanic(always, ...)` becomes an
//!   assertion that the send yields `Err(SendError(7))`. `testPanic(never,
//!   ...)` just runs `f` (a panic fails the test).
//! - Receiving from a closed channel gives Go's zero value with `ok ==
//!   false`; goro gives `None`.
//! - A channel made inside `f` must keep its `Sender` alive (`_tx`):
//!   dropping every sender closes a goro channel, so `<-ch` on a fresh
//!   channel would otherwise not block.
//! - `testBlock` sleeps 100 ms (`time.Sleep(1e8)`) with `goro::time::sleep`;
//!   the goroutines that block forever are leaked, as in Go.

use std::time::Duration;

use goro::chan::SendError;
use goro::{Receiver, Sender};

const ALWAYS: &str = "function did not";
const NEVER: &str = "function did";

fn unreachable() -> ! {
    panic!("control flow shouldn't reach here")
}

/// Calls f and empirically verifies that f always/never blocks depending on
/// signal.
fn test_block(signal: &'static str, line: u32, f: impl FnOnce() + Send + 'static) {
    let (c, c_rx) = goro::chan::<&'static str>(0);
    let c2 = c.clone();
    goro::go(move || {
        f();
        let _ = c.send(NEVER); // f didn't block
    });
    goro::go(move || {
        goro::time::sleep(Duration::from_millis(100)); // 0.1s seems plenty long
        let _ = c2.send(ALWAYS); // f blocked always
    });
    let got = c_rx.recv().unwrap();
    assert_eq!(got, signal, "{signal} block (line {line})");
}

fn nil_send() -> Option<&'static Sender<i32>> {
    None
}

fn nil_recv() -> Option<&'static Receiver<i32>> {
    None
}

#[test]
fn select3() {
    goro::run(|| {
        const ASYNC: usize = 1; // asynchronous channels
        let (closed_tx, closedch) = goro::chan::<i32>(0);
        closed_tx.close().unwrap();

        // sending/receiving from a nil channel blocks
        test_block(ALWAYS, line!(), || {
            goro::select! { send(nil_send(), 7) -> _ => unreachable() }
        });
        test_block(ALWAYS, line!(), || {
            goro::never::<i32>().recv();
        });

        // sending/receiving from a nil channel inside a select is never
        // selected
        goro::select! {
            send(nil_send(), 7) -> _ => unreachable(),
            default => {}
        }
        goro::select! {
            recv(goro::never::<i32>()) -> _ => unreachable(),
            default => {}
        }
        goro::select! {
            recv(nil_recv()) -> _ => unreachable(),
            default => {}
        }

        // sending to an async channel with free buffer space never blocks
        test_block(NEVER, line!(), || {
            let (ch, _rx) = goro::chan::<i32>(ASYNC);
            ch.send(7).unwrap();
        });

        // receiving from a closed channel never blocks
        let c = closedch.clone();
        test_block(NEVER, line!(), move || {
            for _ in 0..10 {
                assert_eq!(
                    c.recv().unwrap_or(0),
                    0,
                    "expected zero value when reading from closed channel"
                );
                let x = c.recv();
                assert_eq!(x, None, "expected 0, false from closed channel");
            }
        });

        // sending to a closed channel panics (in Go; goro gives the value
        // back)
        assert_eq!(closed_tx.send(7), Err(SendError(7)));

        // receiving from a non-ready channel always blocks
        test_block(ALWAYS, line!(), || {
            let (_tx, ch) = goro::chan::<i32>(0);
            ch.recv();
        });

        // empty selects always block
        test_block(ALWAYS, line!(), || goro::select! {});

        // selects with only nil channels always block
        test_block(ALWAYS, line!(), || {
            goro::select! { recv(goro::never::<i32>()) -> _ => unreachable() }
        });
        test_block(ALWAYS, line!(), || {
            goro::select! { recv(nil_recv()) -> _ => unreachable() }
        });
        test_block(ALWAYS, line!(), || {
            goro::select! { send(nil_send(), 7) -> _ => unreachable() }
        });
        test_block(ALWAYS, line!(), || {
            goro::select! {
                recv(nil_recv()) -> _ => unreachable(),
                send(nil_send(), 7) -> _ => unreachable(),
            }
        });

        // selects with non-ready non-nil channels always block
        test_block(ALWAYS, line!(), || {
            let (_tx, ch) = goro::chan::<i32>(0);
            goro::select! { recv(ch) -> _ => unreachable() }
        });

        // selects with default cases don't block
        test_block(NEVER, line!(), || goro::select! { default => {} });
        test_block(NEVER, line!(), || {
            goro::select! {
                recv(nil_recv()) -> _ => unreachable(),
                default => {}
            }
        });
        test_block(NEVER, line!(), || {
            goro::select! {
                send(nil_send(), 7) -> _ => unreachable(),
                default => {}
            }
        });

        // selects with ready channels don't block
        test_block(NEVER, line!(), || {
            let (ch, _rx) = goro::chan::<i32>(ASYNC);
            goro::select! {
                send(ch, 7) -> r => r.unwrap(),
                default => unreachable(),
            }
        });
        test_block(NEVER, line!(), || {
            let (ch, rx) = goro::chan::<i32>(ASYNC);
            ch.send(7).unwrap();
            goro::select! {
                recv(rx) -> v => assert_eq!(v, Some(7)),
                default => unreachable(),
            }
        });

        // selects with closed channels behave like ordinary operations
        let c = closedch.clone();
        test_block(NEVER, line!(), move || {
            goro::select! { recv(c) -> _ => {} }
        });
        let c = closedch.clone();
        test_block(NEVER, line!(), move || {
            goro::select! { recv(c) -> x => { let _ = x.unwrap_or(0); } }
        });
        let c = closedch.clone();
        test_block(NEVER, line!(), move || {
            goro::select! { recv(c) -> x => assert_eq!(x, None) }
        });
        goro::select! {
            send(closed_tx, 7) -> r => assert_eq!(r, Err(SendError(7))),
        }

        // select should not get confused if it sees itself
        test_block(ALWAYS, line!(), || {
            let (c, rx) = goro::chan::<i32>(0);
            goro::select! {
                send(c, 1) -> _ => unreachable(),
                recv(rx) -> _ => unreachable(),
            }
        });
    });
}
