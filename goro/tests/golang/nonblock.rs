//! Port of Go's `test/chan/nonblock.go`: non-blocking channel operations
//! (`select` with `default`) on unbuffered and 1-buffered channels of
//! several element types (`int32`, `int64`, `bool`, `string`): a
//! non-blocking receive on an empty channel takes `default`, and a
//! non-blocking send/receive retried in a loop eventually meets a
//! goroutine on the other side.
//!
//! Changes from the Go original:
//! - `sleep()` waits for two ticks of a 10 µs `time.Tick` then calls
//!   `Gosched` three times; goro has no ticker yet, so it is two
//!   `goro::time::sleep(10 µs)` then three `goro::yield_now()`.
//! - The eight near-identical blocks (send/receive × four types) are one
//!   generic function, called per type; labelled `break`s become
//!   `select!`'s `break` out of the retry loop.
//! - Go's `panic("... value")` in the helper goroutines are assertions whose
//!   failure is propagated by joining the goroutines.

use std::time::Duration;

const MAX_TRIES: u32 = 10_000; // Up to 100ms per test.

fn sleep() {
    goro::time::sleep(Duration::from_micros(10));
    goro::time::sleep(Duration::from_micros(10));
    goro::yield_now();
    goro::yield_now();
    goro::yield_now();
}

/// One type's four steps for one buffer size: a non-blocking receive on the
/// empty channel, a retried non-blocking send to a receiver goroutine, and a
/// retried non-blocking receive from a sender goroutine.
fn check<T>(name: &str, buffer: usize, to_receiver: T, from_sender: T)
where
    T: Clone + PartialEq + std::fmt::Debug + Send + 'static,
{
    let (c, c_rx) = goro::chan::<T>(buffer);
    let (sync, sync_rx) = goro::chan::<bool>(0);

    goro::select! {
        recv(c_rx) -> _ => panic!("blocked {name}sender"),
        default => {}
    }

    // receiver
    let (rx, strobe, want) = (c_rx.clone(), sync.clone(), to_receiver.clone());
    let h = goro::go(move || {
        assert_eq!(rx.recv(), Some(want), "value");
        strobe.send(true).unwrap();
    });
    let mut tries = 0;
    loop {
        goro::select! {
            send(c, to_receiver.clone()) -> r => { r.unwrap(); break },
            default => {
                tries += 1;
                assert!(tries <= MAX_TRIES, "{name}receiver buffer= {buffer}");
                sleep();
            }
        }
    }
    sync_rx.recv().unwrap();
    h.join().unwrap();

    // sender
    let (tx, strobe, v) = (c.clone(), sync.clone(), from_sender.clone());
    let h = goro::go(move || {
        tx.send(v).unwrap();
        strobe.send(true).unwrap();
    });
    if buffer > 0 {
        sync_rx.recv().unwrap();
    }
    tries = 0;
    let got = loop {
        goro::select! {
            recv(c_rx) -> v => break v.unwrap(),
            default => {
                tries += 1;
                assert!(tries <= MAX_TRIES, "{name}sender buffer= {buffer}");
                sleep();
            }
        }
    };
    assert_eq!(got, from_sender, "{name}sender value");
    if buffer == 0 {
        sync_rx.recv().unwrap();
    }
    h.join().unwrap();
}

#[test]
fn nonblock() {
    goro::run(|| {
        for buffer in 0..2 {
            check::<i32>("i32", buffer, 123, 234);
            check::<i64>("i64", buffer, 123456, 234567);
            check::<bool>("b", buffer, true, true);
            check::<String>("s", buffer, "hello".into(), "hello again".into());
        }
    });
}
