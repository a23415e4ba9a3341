//! Port of Go's `test/chan/select4.go`: the left-hand side of a receive case
//! (`*f() = <-c1`) is evaluated only if that case is chosen.
//!
//! Changes from the Go original: Rust has no assignment target in a
//! `select!` arm; the assignment happens in the arm body, so the port checks
//! the observable rule — `f` is never called and `x.a` receives 42 — with a
//! flag where Go prints "BUG: called f" (and asserts where Go only prints).

use std::cell::Cell;

struct X {
    a: i32,
}

#[test]
fn select4() {
    goro::run(|| {
        let called = Cell::new(false);
        let mut slot = Box::new(0);
        let mut f = || -> &mut i32 {
            called.set(true);
            Box::leak(std::mem::take(&mut slot)) // Go's new(int)
        };
        let mut x = X { a: 0 };
        let (c, c_rx) = goro::chan::<i32>(1);
        let (_c1, c1) = goro::chan::<i32>(0);
        c.send(42).unwrap();
        goro::select! {
            recv(c1) -> v => *f() = v.unwrap(),
            recv(c_rx) -> v => {
                x.a = v.unwrap();
                assert_eq!(x.a, 42, "BUG: {}", x.a);
            },
        }
        assert!(!called.get(), "BUG: called f");
        assert_eq!(x.a, 42);
    });
}
