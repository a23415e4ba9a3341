//! Port of Go's `test/chan/fifo.go`: buffered channels are FIFO, and
//! receivers blocked on an unbuffered channel are served in arrival order
//! (threaded together by a daisy chain so they arrive in a known order).
//!
//! Changes from the Go original: none of substance. `Chain`'s `panic(val)`
//! becomes an `assert_eq!`; the chain goroutines' handles are joined so a
//! failure in one fails the test instead of aborting the process.

const N: i32 = 10;

fn asynch_fifo() {
    let (tx, rx) = goro::chan::<i32>(N as usize);
    for i in 0..N {
        tx.send(i).unwrap();
    }
    for i in 0..N {
        assert_eq!(rx.recv(), Some(i), "bad receive");
    }
}

fn chain(ch: goro::Receiver<i32>, val: i32, input: goro::Receiver<i32>, out: goro::Sender<i32>) {
    input.recv().unwrap();
    assert_eq!(ch.recv(), Some(val));
    out.send(1).unwrap();
}

// thread together a daisy chain to read the elements in sequence
fn synch_fifo() {
    let (ch_tx, ch) = goro::chan::<i32>(0);
    let (start, mut input) = goro::chan::<i32>(0);
    let mut handles = Vec::new();
    for i in 0..N {
        let (out_tx, out) = goro::chan::<i32>(0);
        let ch = ch.clone();
        handles.push(goro::go(move || chain(ch, i, input, out_tx)));
        input = out;
    }
    start.send(0).unwrap();
    for i in 0..N {
        ch_tx.send(i).unwrap();
    }
    input.recv().unwrap();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn fifo() {
    goro::run(|| {
        asynch_fifo();
        synch_fifo();
    });
}
