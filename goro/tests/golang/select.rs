//! Port of Go's `test/chan/select.go`: a non-blocking select over send arms,
//! with arms switched off (nil channels) once they fired, and a check that
//! every arm's value expression is evaluated on each select, even for the
//! switched-off arms (the `counter == 10` check).
//!
//! Changes from the Go original: the package-level `counter`/`shift` are
//! `Cell`s; a nil channel is `None` as the send arm's target.

use std::cell::Cell;

struct State {
    counter: Cell<u32>,
    shift: Cell<u32>,
}

impl State {
    fn get_value(&self) -> u32 {
        self.counter.set(self.counter.get() + 1);
        1 << self.shift.get()
    }

    fn send(&self, mut a: Option<&goro::Sender<u32>>, mut b: Option<&goro::Sender<u32>>) -> i32 {
        let mut i = 0;
        loop {
            // 0: a fired, 1: b fired, 2: default.
            let which = goro::select! {
                send(a, self.get_value()) -> r => { r.unwrap(); 0 },
                send(b, self.get_value()) -> r => { r.unwrap(); 1 },
                default => 2,
            };
            match which {
                0 => {
                    i += 1;
                    a = None;
                }
                1 => {
                    i += 1;
                    b = None;
                }
                _ => break,
            }
            self.shift.set(self.shift.get() + 1);
        }
        i
    }
}

#[test]
fn select() {
    goro::run(|| {
        let st = State {
            counter: Cell::new(0),
            shift: Cell::new(0),
        };
        let (a, a_rx) = goro::chan::<u32>(1);
        let (b, b_rx) = goro::chan::<u32>(1);
        let v = st.send(Some(&a), Some(&b));
        assert_eq!(v, 2, "Send returned {v} != 2");
        let (av, bv) = (a_rx.recv().unwrap(), b_rx.recv().unwrap());
        assert_eq!(av | bv, 3, "bad values {av} {bv}");
        let v = st.send(Some(&a), None);
        assert_eq!(v, 1, "Send returned {v} != 1");
        assert_eq!(
            st.counter.get(),
            10,
            "counter is {} != 10",
            st.counter.get()
        );
    });
}
