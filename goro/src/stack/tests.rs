//! Tests of the stack module. The crashing checks run in a child process: the test
//! re-executes the test binary on itself with `CHILD_ENV` set, and the parent checks
//! how the child died.

use super::guard::batched_madvise_works;
use super::overflow::has_signal_stack;
use super::*;
use corosensei::{Coroutine, Yielder};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

const KIB: usize = 1024;
const CHILD_ENV: &str = "GORO_STACK_TEST_CHILD";

/// Makes the guard detection choose `mprotect` (read by `guard::detect_guard_kind`).
pub(super) const FORCE_MPROTECT_ENV: &str = "GORO_STACK_TEST_FORCE_MPROTECT";

fn page() -> usize {
    reserve::page_size()
}

/// Runs the test `name` (of this module) in a child process with `CHILD_ENV` set.
fn run_child(name: &str) -> Output {
    run_child_with(name, &[])
}

/// `run_child` with extra environment variables.
fn run_child_with(name: &str, env: &[(&str, &str)]) -> Output {
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", &format!("{module}::{name}"), "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, "1")
        .envs(env.iter().copied())
        .output()
        .expect("spawn child test process")
}

/// A pool with a stack size of 64 KiB plus a number of pages no other test uses, so
/// it adopts no stacks left over by another test's dropped pool.
fn own_pool() -> StackPool {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let extra = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * page();
    StackPool::new(64 * KIB + extra).unwrap()
}

fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Recurses until the stack runs out; `black_box` keeps each frame's array alive.
fn recurse(depth: u64) -> u64 {
    let frame = [depth as u8; 256];
    std::hint::black_box(&frame);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(frame[7] as u64)
}

/// Recursion that stops after `depth` frames of about 256 bytes.
fn recurse_to(depth: u64) -> u64 {
    let frame = [depth as u8; 256];
    std::hint::black_box(&frame);
    if depth == 0 {
        return 1;
    }
    recurse_to(depth - 1).wrapping_add(frame[3] as u64)
}

/// True if reading one byte at `addr` faults: `write` from it fails with EFAULT
/// instead of raising a signal.
fn faults(addr: usize) -> bool {
    let mut fds = [0; 2];
    // SAFETY: a pipe into a valid array; the write copies from `addr` in the kernel,
    // which reports an inaccessible address as EFAULT rather than faulting us.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        let r = libc::write(fds[1], addr as *const libc::c_void, 1);
        let err = std::io::Error::last_os_error().raw_os_error();
        libc::close(fds[0]);
        libc::close(fds[1]);
        r == -1 && err == Some(libc::EFAULT)
    }
}

/// Residency of the pages of `addr..addr+len`.
#[cfg(target_os = "linux")]
fn resident(addr: usize, len: usize) -> Vec<bool> {
    let mut v = vec![0u8; len.div_ceil(page())];
    // SAFETY: the range lies in a mapped chunk and `v` has one byte per page.
    let r = unsafe { libc::mincore(addr as *mut libc::c_void, len, v.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore: {}", std::io::Error::last_os_error());
    v.iter().map(|b| b & 1 == 1).collect()
}

/// Writes one byte into each of the `pages` pages just below the header.
fn touch_top(s: &Stack, pages: usize, value: u8) {
    for i in 0..pages {
        let addr = s.top() - (i + 1) * page() + 8;
        // SAFETY: inside the usable area of a stack we own and no coroutine uses.
        unsafe { (addr as *mut u8).write_volatile(value) };
    }
}

fn read_byte(addr: usize) -> u8 {
    // SAFETY: callers pass addresses in the usable area of a stack they own.
    unsafe { (addr as *const u8).read_volatile() }
}

#[test]
fn invalid_sizes_are_refused() {
    for bad in [0, MIN_STACK_SIZE - 1, MAX_STACK_SIZE + 1] {
        let err = StackPool::new(bad).err().expect("size must be refused");
        assert!(matches!(err, StackError::InvalidSize { requested, .. } if requested == bad));
        assert!(err.to_string().contains("invalid goroutine stack size"));
    }
    let pool = StackPool::new(MIN_STACK_SIZE + 1).unwrap();
    assert_eq!(
        pool.stack_size(),
        (MIN_STACK_SIZE + 1).next_multiple_of(page())
    );
}

#[test]
fn get_put_reuses_lifo() {
    let pool = own_pool();
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    assert_ne!(a.top(), b.top());
    assert_eq!(a.size(), pool.stack_size());
    let (ta, tb) = (a.top(), b.top());
    pool.put(a);
    pool.put(b);
    assert_eq!(pool.get().unwrap().top(), tb);
    assert_eq!(pool.get().unwrap().top(), ta);
    let st = pool.stats();
    assert_eq!(st.stack_size, pool.stack_size());
    assert_eq!(st.slots_carved, 32, "get carves one batch");
}

#[test]
fn returned_stack_is_reset() {
    let pool = own_pool();
    let mut s = pool.get().unwrap();
    s.set_goroutine_id(42);
    assert_eq!(s.goroutine_id(), 42);
    let base_before = corosensei::stack::Stack::base(&s).get();
    s.reserve_top(200);
    assert!(corosensei::stack::Stack::base(&s).get() < base_before);
    pool.put(s);
    let mut s = pool.get().unwrap();
    assert_eq!(corosensei::stack::Stack::base(&s).get(), base_before);
    // The id is left for the next holder to set (module docs).
    s.set_goroutine_id(43);
    assert_eq!(s.goroutine_id(), 43);
}

#[test]
fn layout_and_reserve_top() {
    let pool = own_pool();
    let mut s = pool.get().unwrap();
    let base0 = corosensei::stack::Stack::base(&s).get();
    let limit = corosensei::stack::Stack::limit(&s).get();
    assert_eq!(base0, s.top() - HEADER_SIZE);
    assert_eq!(limit, s.top() - s.size() - page());
    assert!(faults(limit), "guard page must fault");
    assert!(!faults(limit + page()), "usable area must not fault");
    let p = s.reserve_top(100).as_ptr() as usize;
    assert_eq!(p % 64, 0);
    assert!(p + 100 <= s.top() - HEADER_SIZE);
    let q = s.reserve_top(1).as_ptr() as usize;
    assert!(q + 64 <= p);
    let base = corosensei::stack::Stack::base(&s).get();
    assert_eq!(base, q);
    assert_eq!(base % 16, 0);
}

#[test]
#[should_panic(expected = "cannot spare")]
fn reserve_top_refuses_to_eat_the_stack() {
    let pool = own_pool();
    let mut s = pool.get().unwrap();
    s.reserve_top(s.size() - 4 * KIB);
}

#[test]
fn batch_get_put() {
    let pool = own_pool();
    let mut v = Vec::new();
    pool.get_batch(&mut v, 100).unwrap();
    assert_eq!(v.len(), 100);
    let mut tops: Vec<usize> = v.iter().map(Stack::top).collect();
    tops.sort_unstable();
    tops.dedup();
    assert_eq!(tops.len(), 100, "every slot is distinct");
    let newest = v.last().unwrap().top();
    pool.put_batch(&mut v);
    assert!(v.is_empty());
    assert_eq!(pool.stats().free_in_pool, 100);
    pool.get_batch(&mut v, 10).unwrap();
    assert_eq!(v.last().unwrap().top(), newest, "newest is popped first");
    assert_eq!(pool.stats().free_in_pool, 90);
    // More than the free list holds: fresh slots first, warm ones last.
    pool.get_batch(&mut v, 95).unwrap();
    assert_eq!(v.len(), 105);
    assert_eq!(pool.stats().free_in_pool, 0);
    assert_eq!(pool.stats().slots_carved, 105);
}

#[test]
fn cache_refills_and_spills() {
    let pool = own_pool();
    let mut cache = StackCache::new();
    let first = cache.get(&pool).unwrap();
    assert_eq!(cache.len(), 31, "refilled by 32");
    let top = first.top();
    cache.put(&pool, first);
    assert_eq!(cache.get(&pool).unwrap().top(), top, "LIFO");
    let mut held = Vec::new();
    pool.get_batch(&mut held, 33).unwrap();
    for s in held.drain(..) {
        cache.put(&pool, s);
    }
    assert_eq!(cache.len(), 64);
    let extra = pool.get().unwrap();
    let before = pool.stats().free_in_pool;
    cache.put(&pool, extra);
    assert_eq!(cache.len(), 33, "spilled 32");
    assert_eq!(pool.stats().free_in_pool, before + 32);
    cache.drain_into(&pool);
    assert_eq!(cache.len(), 0);
}

#[test]
fn pool_is_shared_across_threads() {
    let pool = own_pool();
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                let mut cache = StackCache::new();
                for _ in 0..1000 {
                    let s = cache.get(&pool).unwrap();
                    touch_top(&s, 1, 1);
                    cache.put(&pool, s);
                }
                cache.drain_into(&pool);
            });
        }
    });
    let st = pool.stats();
    assert_eq!(st.free_in_pool, st.slots_carved);
}

#[test]
fn coroutine_runs_on_pooled_stack() {
    let pool = own_pool();
    let mut s = pool.get().unwrap();
    s.set_goroutine_id(3);
    let ctl = s.reserve_top(128).as_ptr() as usize;
    let top = s.top();
    let mut co = Coroutine::with_stack(s, move |y: &Yielder<u64, u64>, x: u64| {
        let local = 0u8;
        let sp = &local as *const u8 as usize;
        assert!(sp < ctl, "the coroutine runs below the reserved area");
        let n = y.suspend(recurse_to(x));
        recurse_to(n)
    });
    let first = co.resume(32); // ~8 KiB of frames
    assert!(matches!(first, corosensei::CoroutineResult::Yield(_)));
    let done = co.resume(48);
    assert!(matches!(done, corosensei::CoroutineResult::Return(_)));
    let s = co.into_stack();
    assert_eq!(s.top(), top);
    assert_eq!(s.goroutine_id(), 3);
    pool.put(s);
}

#[test]
fn signal_stack_is_ensured() {
    std::thread::spawn(|| {
        ensure_signal_stack();
        assert!(has_signal_stack());
        ensure_signal_stack();
        assert!(has_signal_stack());
    })
    .join()
    .unwrap();
}

#[test]
fn overflow_reports_goroutine_and_aborts() {
    if in_child() {
        install_overflow_handler();
        ensure_signal_stack();
        let pool = StackPool::new(64 * KIB).unwrap();
        let mut s = pool.get().unwrap();
        s.set_goroutine_id(7);
        let mut co = Coroutine::with_stack(s, |_: &Yielder<(), ()>, ()| recurse(0));
        co.resume(());
        std::process::exit(0);
    }
    let out = run_child("overflow_reports_goroutine_and_aborts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("goroutine 7: stack overflow (stack size 64 KiB)"),
        "stderr: {stderr}"
    );
}

#[test]
fn mprotect_fallback_guards_and_reports() {
    if in_child() {
        assert_eq!(super::guard::guard_kind(), GuardKind::Mprotect);
        install_overflow_handler();
        ensure_signal_stack();
        let pool = StackPool::new(32 * KIB).unwrap();
        let mut v = Vec::new();
        pool.get_batch(&mut v, 40).unwrap();
        for s in &v {
            assert!(faults(s.top() - s.size() - page()));
            assert!(!faults(s.top() - s.size()));
        }
        let mut s = v.pop().unwrap();
        pool.put_batch(&mut v);
        s.set_goroutine_id(11);
        let mut co = Coroutine::with_stack(s, |_: &Yielder<(), ()>, ()| recurse(0));
        co.resume(());
        std::process::exit(0);
    }
    let out = run_child_with(
        "mprotect_fallback_guards_and_reports",
        &[(FORCE_MPROTECT_ENV, "1")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("goroutine 11: stack overflow (stack size 32 KiB)"),
        "stderr: {stderr}"
    );
}

#[test]
fn dropped_pool_is_adopted_by_the_next() {
    // A stack size no other test uses, so no other pool adopts it first.
    let size = 16 * KIB + 777 * page();
    let pool = StackPool::new(size).unwrap();
    let s = pool.get().unwrap();
    let top = s.top();
    pool.put(s);
    let carved = pool.stats().slots_carved;
    drop(pool);
    let pool = StackPool::new(size).unwrap();
    assert_eq!(pool.stats().slots_carved, carved);
    assert_eq!(pool.stats().free_in_pool, carved);
    assert_eq!(
        pool.get().unwrap().top(),
        top,
        "the warm stack comes back first"
    );
    let mut v = Vec::new();
    pool.get_batch(&mut v, carved).unwrap();
    assert_eq!(
        pool.stats().slots_carved,
        carved + 1,
        "carving continues in the old chunk"
    );
    assert_eq!(pool.chunks().len(), 1);
}

#[test]
fn other_faults_are_chained() {
    if in_child() {
        install_overflow_handler();
        // SAFETY: a fresh inaccessible page that the write below faults on, on purpose.
        unsafe {
            let p = libc::mmap(
                core::ptr::null_mut(),
                page(),
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANON,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            (p as *mut u8).write_volatile(1);
        }
        std::process::exit(0);
    }
    let out = run_child("other_faults_are_chained");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "stderr: {stderr}");
    assert!(!stderr.contains("stack overflow"), "stderr: {stderr}");
}

#[test]
fn std_thread_overflow_still_reported_by_std() {
    if in_child() {
        install_overflow_handler();
        let t = std::thread::Builder::new()
            .stack_size(64 * KIB)
            .spawn(|| recurse(0))
            .unwrap();
        let _ = t.join();
        std::process::exit(0);
    }
    let out = run_child("std_thread_overflow_still_reported_by_std");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("has overflowed its stack"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("goroutine"), "stderr: {stderr}");
}

#[cfg(target_os = "linux")]
fn maps_lines_in(ranges: &[(usize, usize)]) -> (usize, usize) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let inside = maps
        .lines()
        .filter(|l| {
            let (lo, hi) = l.split(' ').next().unwrap().split_once('-').unwrap();
            let lo = usize::from_str_radix(lo, 16).unwrap();
            let hi = usize::from_str_radix(hi, 16).unwrap();
            ranges.iter().any(|&(s, len)| lo < s + len && s < hi)
        })
        .count();
    (maps.lines().count(), inside)
}

#[cfg(target_os = "linux")]
#[test]
fn many_guarded_stacks_cost_few_vmas() {
    if super::guard::guard_kind() != GuardKind::MadviseGuard {
        eprintln!("MADV_GUARD_INSTALL unsupported here: guards split VMAs, skipping");
        return;
    }
    let pool = own_pool();
    let (total_before, _) = maps_lines_in(&[]);
    let mut v = Vec::new();
    let t = std::time::Instant::now();
    pool.get_batch(&mut v, 100_000).unwrap();
    let took = t.elapsed();
    let chunks = pool.chunks();
    let (total_after, inside) = maps_lines_in(&chunks);
    eprintln!(
        "100k stacks: {took:?}, {} chunks, {inside} maps lines inside them, total {total_before} -> {total_after}, process_madvise batched: {}",
        chunks.len(),
        batched_madvise_works()
    );
    assert!(inside <= chunks.len(), "guards must not split VMAs");
    // As many chunks as the growth schedule needs for 100k slots of this pool's
    // size (which `own_pool` varies per test), plus one in case the kernel
    // halved a mapping.
    let slot = page() + pool.stack_size();
    let (mut needed, mut slots) = (0, 0);
    while slots < 100_000 {
        slots += super::reserve::chunk_slots(needed, slot);
        needed += 1;
    }
    assert!(
        chunks.len() <= needed + 1,
        "{} chunks, {needed} planned",
        chunks.len()
    );
    for s in [&v[0], &v[50_000], &v[99_999]] {
        assert!(faults(s.top() - s.size() - page()));
        assert!(!faults(s.top() - s.size()));
    }
    pool.put_batch(&mut v);
}

#[cfg(target_os = "linux")]
#[test]
fn guards_survive_dontneed() {
    let pool = own_pool();
    let s = pool.get().unwrap();
    let guard = s.top() - s.size() - page();
    touch_top(&s, 16, 9);
    // SAFETY: the whole slot, guard included, belongs to `s`, which holds no live data.
    let r = unsafe {
        libc::madvise(
            guard as *mut libc::c_void,
            s.top() - guard,
            libc::MADV_DONTNEED,
        )
    };
    assert_eq!(r, 0);
    assert!(faults(guard), "the guard survives MADV_DONTNEED");
    assert_eq!(read_byte(s.top() - page() + 8), 0, "pages were dropped");
    pool.put(s);
}

#[cfg(target_os = "linux")]
#[test]
fn trim_idle_gives_back_all_but_the_top_pages() {
    let pool = own_pool();
    let s = pool.get().unwrap();
    let top = s.top();
    let guard = top - s.size() - page();
    touch_top(&s, 8, 5);
    assert!(resident(top - 8 * page(), 8 * page()).iter().all(|&r| r));
    pool.put(s);
    assert_eq!(
        pool.trim_idle(),
        0,
        "nothing has been idle a whole period yet"
    );
    assert_eq!(pool.trim_idle(), pool.stats().free_in_pool);
    assert_eq!(pool.trim_idle(), 0, "already trimmed");
    let res = resident(top - 8 * page(), 8 * page());
    assert!(res[..8 - KEEP_PAGES].iter().all(|&r| !r), "{res:?}");
    assert!(res[8 - KEEP_PAGES..].iter().all(|&r| r), "{res:?}");
    assert!(faults(guard), "trimming keeps the guard");
    let s = pool.get().unwrap();
    assert_eq!(s.top(), top);
    assert_eq!(read_byte(top - page() + 8), 5, "kept page keeps its data");
    assert_eq!(
        read_byte(top - 8 * page() + 8),
        0,
        "trimmed page reads as zero"
    );
    touch_top(&s, 8, 6);
    pool.put(s);
}

#[test]
fn trim_skips_stacks_taken_in_between() {
    let pool = own_pool();
    let mut v = Vec::new();
    pool.get_batch(&mut v, 10).unwrap();
    pool.put_batch(&mut v);
    assert_eq!(pool.trim_idle(), 0);
    pool.get_batch(&mut v, 4).unwrap();
    pool.put_batch(&mut v);
    assert_eq!(
        pool.trim_idle(),
        6,
        "only the six never taken were idle all along"
    );
    assert_eq!(pool.trim_idle(), 4);
}

/// Per-call costs; run with `cargo test --release -p goro --lib stack_timings -- --ignored --nocapture`.
#[test]
#[ignore]
fn stack_timings() {
    use std::time::Instant;
    const N: usize = 100_000;
    let pool = StackPool::new(64 * KIB).unwrap();
    let mut held = Vec::with_capacity(N);
    let t = Instant::now();
    for _ in 0..N {
        held.push(pool.get().unwrap());
    }
    let fresh = t.elapsed() / N as u32;
    let t = Instant::now();
    for s in held.drain(..) {
        pool.put(s);
    }
    let put = t.elapsed() / N as u32;
    let t = Instant::now();
    for _ in 0..N {
        let s = pool.get().unwrap();
        pool.put(std::hint::black_box(s));
    }
    let reuse = t.elapsed() / N as u32;
    let mut cache = StackCache::new();
    let t = Instant::now();
    for _ in 0..N {
        let s = cache.get(&pool).unwrap();
        cache.put(&pool, std::hint::black_box(s));
    }
    let cached = t.elapsed() / N as u32;
    cache.drain_into(&pool);
    let t = Instant::now();
    let trimmed = pool.trim_idle() + pool.trim_idle();
    let trim = t.elapsed();
    eprintln!(
        "guard {:?}; batched madvise {}; get fresh {fresh:?}/stack, put {put:?}, get+put reused {reuse:?}, cache get+put {cached:?}, trim of {trimmed} idle stacks {trim:?}",
        pool.stats().guard,
        batched_madvise_works()
    );
}
