//! Skynet: one million goroutines in a tree, each leaf returning its number
//! and each node summing its ten children (https://github.com/atemerev/skynet).
//!
//! Run: `cargo run --release -p goro --example skynet`

use std::time::Instant;

fn skynet(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let step = size / 10;
    let children: Vec<_> = (0..10)
        .map(|i| goro::go(move || skynet(num + i * step, step)))
        .collect();
    children.into_iter().map(|h| h.join().unwrap()).sum()
}

fn main() {
    let size = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().expect("size: a power of ten"));
    let t0 = Instant::now();
    let sum = goro::run(move || skynet(0, size));
    println!("sum {sum} of {size} goroutines in {:?}", t0.elapsed());
    assert_eq!(sum, size * (size - 1) / 2);
}

#[test]
fn small_tree_sums_right() {
    assert_eq!(goro::run(|| skynet(0, 10_000)), 49_995_000);
}
