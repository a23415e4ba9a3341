//! Port of Go's `test/chan/zerosize.go`: making channels of a zero-sized
//! type (`[0]byte`, `struct{}`), unbuffered and buffered.
//!
//! Changes from the Go original: Go only makes the channels; the port also
//! sends and receives one value on each (through a goroutine for the
//! unbuffered ones) and closes them, since a zero-sized element is exactly
//! where a buffer implementation can go wrong.

fn exercise<T: Send + Default + PartialEq + std::fmt::Debug + 'static>(cap: usize) {
    let (tx, rx) = goro::chan::<T>(cap);
    assert_eq!(tx.cap(), cap);
    if cap > 0 {
        tx.send(T::default()).unwrap();
        assert_eq!(rx.len(), 1);
        assert_eq!(rx.recv(), Some(T::default()));
    } else {
        let h = goro::go(move || rx.recv());
        tx.send(T::default()).unwrap();
        assert_eq!(h.join().unwrap(), Some(T::default()));
        return;
    }
    tx.close().unwrap();
    assert_eq!(rx.recv(), None);
}

#[test]
fn zerosize() {
    goro::run(|| {
        let _ = goro::chan::<[u8; 0]>(0);
        let _ = goro::chan::<[u8; 0]>(1);
        let _ = goro::chan::<()>(0);
        let _ = goro::chan::<()>(1);

        exercise::<[u8; 0]>(0);
        exercise::<[u8; 0]>(1);
        exercise::<()>(0);
        exercise::<()>(1);
    });
}
