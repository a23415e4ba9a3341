//! Port of Go's `test/chan/powser1.go`: McIlroy's power series package
//! ("Squinting at Power Series"): a power series is a demand channel pair
//! along which rational coefficients flow, and every operation (add, multiply,
//! differentiate, integrate, exp, substitution, ...) is a network of
//! goroutines. Checks the same coefficients as Go's test mode.
//!
//! Changes from the Go original:
//! - `dch` is a struct of both ends of its two unbuffered channels (a Go
//!   channel is both ends); it is `Clone`, and the channels never close
//!   because every copy holds a `Sender`, so the goroutines block forever
//!   once the test is done, as in Go.
//! - `dch2` is an `Arc<Mutex<[Dch; 2]>>`: `dosplit` swaps `out[0]` and
//!   `out[1]` in the shared pair, and later generations must see the swap.
//!   The lock is held only to read or swap, never across a channel operation.
//! - The racy package-level `seqno` is an atomic; the channel names
//!   (`chnames`/`nam`) are kept for fidelity but unused, as in Go.
//! - A nil channel in `getn`'s select is a `None` arm; the arm bodies return
//!   which arm fired and the channel slots are updated after the select
//!   (the arms borrow them during the select).
//! - Go's print mode (`len(os.Args) > 1`) and the commented-out `Poly`,
//!   `Revert` parts are not ported; `evaln`, `printn`, `eval`, `Recip` and
//!   `Subst` are unused by the test and left out.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use goro::{Receiver, Sender};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rat {
    num: i64, // numerator
    den: i64, // denominator
}

const CHNAMES: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static CHNAMESERIAL: AtomicUsize = AtomicUsize::new(0);
static SEQNO: AtomicI64 = AtomicI64::new(0);

fn next_seqno() -> i64 {
    SEQNO.fetch_add(1, Ordering::Relaxed) + 1
}

#[derive(Clone)]
struct Dch {
    req: (Sender<i64>, Receiver<i64>),
    dat: (Sender<Rat>, Receiver<Rat>),
    #[allow(dead_code)]
    nam: usize,
}

type Dch2 = Arc<Mutex<[Dch; 2]>>;
type Ps = Dch; // power series

fn mkdch() -> Dch {
    let c = CHNAMESERIAL.fetch_add(1, Ordering::Relaxed) % CHNAMES.len();
    Dch {
        req: goro::chan(0),
        dat: goro::chan(0),
        nam: c,
    }
}

fn mkdch2() -> Dch2 {
    Arc::new(Mutex::new([mkdch(), mkdch()]))
}

fn at(d: &Dch2, i: usize) -> Dch {
    d.lock().unwrap()[i].clone()
}

// split reads a single demand channel and replicates its output onto two,
// which may be read at different rates. A process is created at first demand
// for a rat and dies after the rat has been sent to both outputs.
//
// When multiple generations of split exist, the newest will service requests
// on one channel, which is always renamed to be out[0]; the oldest will
// service requests on the other channel, out[1]. All generations but the
// newest hold queued data that has already been sent to out[0]. When data has
// finally been sent to out[1], a signal on the release-wait channel tells the
// next newer generation to begin servicing out[1].
fn dosplit(input: Dch, out: Dch2, wait: Receiver<i32>) {
    let mut both = false; // do not service both channels

    let (o0, o1) = (at(&out, 0), at(&out, 1));
    goro::select! {
        recv(o0.req.1) -> _ => {},
        recv(wait) -> _ => {
            both = true;
            let swap = goro::select! {
                recv(o0.req.1) -> _ => false,
                recv(o1.req.1) -> _ => true,
            };
            if swap {
                out.lock().unwrap().swap(0, 1);
            }
        },
    }

    input.req.0.send(next_seqno()).unwrap();
    let (release, release_rx) = goro::chan::<i32>(0);
    {
        let (input, out) = (input.clone(), out.clone());
        goro::go(move || dosplit(input, out, release_rx));
    }
    let dat = input.dat.1.recv().unwrap();
    at(&out, 0).dat.0.send(dat).unwrap();
    if !both {
        wait.recv().unwrap();
    }
    let o1 = at(&out, 1);
    o1.req.1.recv().unwrap();
    o1.dat.0.send(dat).unwrap();
    release.send(0).unwrap();
}

fn split(input: Dch, out: Dch2) {
    let (release, release_rx) = goro::chan::<i32>(0);
    goro::go(move || dosplit(input, out, release_rx));
    release.send(0).unwrap();
}

fn put(dat: Rat, out: &Dch) {
    out.req.1.recv().unwrap();
    out.dat.0.send(dat).unwrap();
}

fn get(input: &Dch) -> Rat {
    input.req.0.send(next_seqno()).unwrap();
    input.dat.1.recv().unwrap()
}

// Get one rat from each of n demand channels
fn getn(input: &[&Dch]) -> Vec<Rat> {
    let n = input.len();
    assert_eq!(n, 2, "bad n in getn");
    let mut req: [Option<&Sender<i64>>; 2] = [Some(&input[0].req.0), Some(&input[1].req.0)];
    let mut dat: [Option<&Receiver<Rat>>; 2] = [None, None];
    let mut out = vec![Rat { num: 0, den: 0 }; 2];
    for _ in 0..2 * n {
        let seqno = next_seqno();
        // (arm, received value)
        let (arm, it) = goro::select! {
            send(req[0], seqno) -> r => { r.unwrap(); (0, None) },
            send(req[1], seqno) -> r => { r.unwrap(); (1, None) },
            recv(dat[0]) -> it => (2, it),
            recv(dat[1]) -> it => (3, it),
        };
        match arm {
            0 => {
                dat[0] = Some(&input[0].dat.1);
                req[0] = None;
            }
            1 => {
                dat[1] = Some(&input[1].dat.1);
                req[1] = None;
            }
            2 => {
                out[0] = it.unwrap();
                dat[0] = None;
            }
            _ => {
                out[1] = it.unwrap();
                dat[1] = None;
            }
        }
    }
    out
}

// Get one rat from each of 2 demand channels
fn get2(in0: &Dch, in1: &Dch) -> Vec<Rat> {
    getn(&[in0, in1])
}

fn copy(input: &Dch, out: &Dch) -> ! {
    loop {
        out.req.1.recv().unwrap();
        out.dat.0.send(get(input)).unwrap();
    }
}

fn repeat(dat: Rat, out: &Dch) -> ! {
    loop {
        put(dat, out);
    }
}

fn mk_ps() -> Ps {
    mkdch()
}

fn mk_ps2() -> Dch2 {
    mkdch2()
}

// Conventions
// Upper-case for power series.
// Lower-case for rationals.
// Input variables: U,V,...
// Output variables: ...,Y,Z

// Integer gcd; needed for rational arithmetic
fn gcd(u: i64, v: i64) -> i64 {
    if u < 0 {
        return gcd(-u, v);
    }
    if u == 0 {
        return v;
    }
    gcd(v % u, u)
}

// Make a rational from two ints and from one int
fn i2tor(u: i64, v: i64) -> Rat {
    let g = gcd(u, v);
    if v > 0 {
        Rat {
            num: u / g,
            den: v / g,
        }
    } else {
        Rat {
            num: -u / g,
            den: -v / g,
        }
    }
}

fn itor(u: i64) -> Rat {
    i2tor(u, 1)
}

const ZERO: Rat = Rat { num: 0, den: 1 };
const ONE: Rat = Rat { num: 1, den: 1 };

// End mark and end test
const FINIS: Rat = Rat { num: 1, den: 0 };

fn end(u: Rat) -> i64 {
    if u.den == 0 {
        1
    } else {
        0
    }
}

// Operations on rationals
fn add(u: Rat, v: Rat) -> Rat {
    let g = gcd(u.den, v.den);
    i2tor(
        u.num * (v.den / g) + v.num * (u.den / g),
        u.den * (v.den / g),
    )
}

fn mul(u: Rat, v: Rat) -> Rat {
    let g1 = gcd(u.num, v.den);
    let g2 = gcd(u.den, v.num);
    Rat {
        num: (u.num / g1) * (v.num / g2),
        den: (u.den / g2) * (v.den / g1),
    }
}

fn neg(u: Rat) -> Rat {
    i2tor(-u.num, u.den)
}

fn sub(u: Rat, v: Rat) -> Rat {
    add(u, neg(v))
}

// Power-series constructors return channels on which power series flow.
// They start an encapsulated generator that puts the terms of the series on
// the channel.

// Make a pair of power series identical to a given power series
#[allow(non_snake_case)]
fn Split(u: &Ps) -> Dch2 {
    let uu = mkdch2();
    let (u, uu2) = (u.clone(), uu.clone());
    goro::go(move || split(u, uu2));
    uu
}

// Add two power series
#[allow(non_snake_case)]
fn Add(u: &Ps, v: &Ps) -> Ps {
    let z = mk_ps();
    let (u, v, z2) = (u.clone(), v.clone(), z.clone());
    goro::go(move || loop {
        let z = &z2;
        z.req.1.recv().unwrap();
        let uv = get2(&u, &v);
        match end(uv[0]) + 2 * end(uv[1]) {
            0 => z.dat.0.send(add(uv[0], uv[1])).unwrap(),
            1 => {
                z.dat.0.send(uv[1]).unwrap();
                copy(&v, z);
            }
            2 => {
                z.dat.0.send(uv[0]).unwrap();
                copy(&u, z);
            }
            _ => z.dat.0.send(FINIS).unwrap(),
        }
    });
    z
}

// Multiply a power series by a constant
#[allow(non_snake_case)]
fn Cmul(c: Rat, u: &Ps) -> Ps {
    let z = mk_ps();
    let (u, z2) = (u.clone(), z.clone());
    goro::go(move || {
        let z = &z2;
        let mut done = false;
        while !done {
            z.req.1.recv().unwrap();
            let u = get(&u);
            if end(u) != 0 {
                done = true;
            } else {
                z.dat.0.send(mul(c, u)).unwrap();
            }
        }
        z.dat.0.send(FINIS).unwrap();
    });
    z
}

// Subtract
#[allow(non_snake_case)]
fn Sub(u: &Ps, v: &Ps) -> Ps {
    Add(u, &Cmul(neg(ONE), v))
}

#[allow(non_snake_case)]
fn Rep(c: Rat) -> Ps {
    let z = mk_ps();
    let z2 = z.clone();
    goro::go(move || repeat(c, &z2));
    z
}

#[allow(non_snake_case, dead_code)] // used only by Recip in Go
fn Shift(c: Rat, u: &Ps) -> Ps {
    let z = mk_ps();
    let (u, z2) = (u.clone(), z.clone());
    goro::go(move || {
        put(c, &z2);
        copy(&u, &z2);
    });
    z
}

// Multiply. The algorithm is
//	let U = u + x*UU
//	let V = v + x*VV
//	then UV = u*v + x*(u*VV+v*UU) + x*x*UU*VV
#[allow(non_snake_case)]
fn Mul(u: &Ps, v: &Ps) -> Ps {
    let z = mk_ps();
    let (u, v, z2) = (u.clone(), v.clone(), z.clone());
    goro::go(move || {
        let z = &z2;
        z.req.1.recv().unwrap();
        let uv = get2(&u, &v);
        if end(uv[0]) != 0 || end(uv[1]) != 0 {
            z.dat.0.send(FINIS).unwrap();
        } else {
            z.dat.0.send(mul(uv[0], uv[1])).unwrap();
            let uu = Split(&u);
            let vv = Split(&v);
            let w = Add(&Cmul(uv[0], &at(&vv, 0)), &Cmul(uv[1], &at(&uu, 0)));
            z.req.1.recv().unwrap();
            z.dat.0.send(get(&w)).unwrap();
            copy(&Add(&w, &Mul(&at(&uu, 1), &at(&vv, 1))), z);
        }
    });
    z
}

// Differentiate
#[allow(non_snake_case)]
fn Diff(u: &Ps) -> Ps {
    let z = mk_ps();
    let (u, z2) = (u.clone(), z.clone());
    goro::go(move || {
        let z = &z2;
        z.req.1.recv().unwrap();
        let mut uu = get(&u);
        if end(uu) == 0 {
            let mut done = false;
            let mut i = 1;
            while !done {
                uu = get(&u);
                if end(uu) != 0 {
                    done = true;
                } else {
                    z.dat.0.send(mul(itor(i), uu)).unwrap();
                    z.req.1.recv().unwrap();
                }
                i += 1;
            }
        }
        z.dat.0.send(FINIS).unwrap();
    });
    z
}

// Integrate, with const of integration
#[allow(non_snake_case)]
fn Integ(c: Rat, u: &Ps) -> Ps {
    let z = mk_ps();
    let (u, z2) = (u.clone(), z.clone());
    goro::go(move || {
        let z = &z2;
        put(c, z);
        let mut done = false;
        let mut i = 1;
        while !done {
            z.req.1.recv().unwrap();
            let uu = get(&u);
            if end(uu) != 0 {
                done = true;
            }
            z.dat.0.send(mul(i2tor(1, i), uu)).unwrap();
            i += 1;
        }
        z.dat.0.send(FINIS).unwrap();
    });
    z
}

// Binomial theorem (1+x)^c
#[allow(non_snake_case, dead_code)]
fn Binom(mut c: Rat) -> Ps {
    let z = mk_ps();
    let z2 = z.clone();
    goro::go(move || {
        let mut n = 1;
        let mut t = itor(1);
        while c.num != 0 {
            put(t, &z2);
            t = mul(mul(t, c), i2tor(1, n));
            c = sub(c, ONE);
            n += 1;
        }
        put(FINIS, &z2);
    });
    z
}

// Exponential of a power series with constant term 0
// (nonzero constant term would make nonrational coefficients)
// bug: the constant term is simply ignored
//	Z = exp(U)
//	DZ = Z*DU
//	integrate to get Z
#[allow(non_snake_case)]
fn Exp(u: &Ps) -> Ps {
    let zz = mk_ps2();
    split(Integ(ONE, &Mul(&at(&zz, 0), &Diff(u))), zz.clone());
    at(&zz, 1)
}

// Monomial Substitution: U(c x^n)
// Each Ui is multiplied by c^i and followed by n-1 zeros
#[allow(non_snake_case)]
fn MonSubst(u: &Ps, c0: Rat, n: usize) -> Ps {
    let z = mk_ps();
    let (u, z2) = (u.clone(), z.clone());
    goro::go(move || {
        let z = &z2;
        let mut c = ONE;
        loop {
            z.req.1.recv().unwrap();
            let uu = get(&u);
            z.dat.0.send(mul(uu, c)).unwrap();
            c = mul(c, c0);
            if end(uu) != 0 {
                z.dat.0.send(FINIS).unwrap();
                break;
            }
            for _ in 1..n {
                z.req.1.recv().unwrap();
                z.dat.0.send(ZERO).unwrap();
            }
        }
    });
    z
}

fn check(u: &Ps, c: Rat, count: usize, s: &str) {
    for _ in 0..count {
        let r = get(u);
        assert_eq!(r, c, "{s}: got {r:?}, should get {c:?}");
    }
}

const N: usize = 10;

fn checka(u: &Ps, a: &[Rat], s: &str) {
    for &ai in a.iter().take(N) {
        check(u, ai, 1, s);
    }
}

#[test]
fn powser1() {
    goro::run(|| {
        let ones = Rep(ONE);
        let twos = Rep(itor(2));
        check(&ones, ONE, 5, "Ones");
        check(&Add(&ones, &ones), itor(2), 0, "Add Ones Ones"); // 1 1 1 1 1
        check(&Add(&ones, &twos), itor(3), 0, "Add Ones Twos"); // 3 3 3 3 3
        let mut a = [ZERO; N];
        let d = Diff(&ones);
        for (i, ai) in a.iter_mut().enumerate() {
            *ai = itor(i as i64 + 1);
        }
        checka(&d, &a, "Diff"); // 1 2 3 4 5
        let inn = Integ(ZERO, &ones);
        a[0] = ZERO; // integration constant
        for (i, ai) in a.iter_mut().enumerate().skip(1) {
            *ai = i2tor(1, i as i64);
        }
        checka(&inn, &a, "Integ"); // 0 1 1/2 1/3 1/4 1/5
        check(&Cmul(neg(ONE), &twos), itor(-2), 10, "CMul"); // -1 -1 -1 -1 -1
        check(&Sub(&ones, &twos), itor(-1), 0, "Sub Ones Twos"); // -1 -1 -1 -1 -1
        let m = Mul(&ones, &ones);
        for (i, ai) in a.iter_mut().enumerate() {
            *ai = itor(i as i64 + 1);
        }
        checka(&m, &a, "Mul"); // 1 2 3 4 5
        let e = Exp(&ones);
        a[0] = itor(1);
        a[1] = itor(1);
        a[2] = i2tor(3, 2);
        a[3] = i2tor(13, 6);
        a[4] = i2tor(73, 24);
        a[5] = i2tor(167, 40);
        a[6] = i2tor(4051, 720);
        a[7] = i2tor(37633, 5040);
        a[8] = i2tor(43817, 4480);
        a[9] = i2tor(4596553, 362880);
        checka(&e, &a, "Exp"); // 1 1 3/2 13/6 73/24
        let at = Integ(ZERO, &MonSubst(&ones, neg(ONE), 2));
        let mut c = 1;
        for (i, ai) in a.iter_mut().enumerate() {
            if i % 2 == 0 {
                *ai = ZERO;
            } else {
                *ai = i2tor(c, i as i64);
                c *= -1;
            }
        }
        checka(&at, &a, "ATan"); // 0 -1 0 -1/3 0 -1/5
    });
}
