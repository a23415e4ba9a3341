//! The global stack pool and the per-P caches in front of it.
//!
//! Invariants:
//! - Every `Stack` in the free list is reset (nothing reserved; its header keeps
//!   the id of the last goroutine that ran on it, see `stack`) and unused.
//! - Free list bookkeeping for trimming: the stacks at indices `< idle_mark` have been
//!   in the list continuously since the previous `trim_idle`, and those at indices
//!   `< trimmed` have had their pages given back already. Pops lower both marks;
//!   pushes never raise them.
//! - `carver`, `free` and `LEFTOVERS` are never held together, so there is no lock
//!   order; carving (mmap, guard installs) never blocks `get`/`put`. The madvise
//!   calls of trimming run under `free`, one syscall per batch of 256 stacks, so a
//!   stack is never trimmed while someone uses it.
//! - A slot belongs to at most one pool, live or left over, for the whole process.

use super::guard::{guard_kind, install_guards, release_ranges};
use super::reserve::{chunk_slots, map_chunk, page_size};
use super::{Stack, StackError, StackStats, MAX_STACK_SIZE, MIN_STACK_SIZE};
use core::sync::atomic::{AtomicUsize, Ordering};
use parking_lot::Mutex;

/// Slots carved at once when `get` finds the free list empty.
const CARVE_BATCH: usize = 32;

/// Guards installed per `process_madvise` call (the kernel's UIO_MAXIOV).
const GUARD_BATCH: usize = 1024;

/// Idle stacks trimmed per hold of the free-list lock (~70 µs of madvise).
const TRIM_BATCH: usize = 256;

/// Stacks a `StackCache` holds at most.
const CACHE_CAP: usize = 64;

/// Stacks a `StackCache` moves to or from the pool at once.
const CACHE_BATCH: usize = 32;

/// The free list and its trimming marks (see the module invariants).
struct FreeList {
    stacks: Vec<Stack>,
    idle_mark: usize,
    trimmed: usize,
}

impl FreeList {
    /// Removes the newest stack. Callers hold the lock.
    fn pop(&mut self) -> Option<Stack> {
        let s = self.stacks.pop()?;
        self.lower_marks();
        Some(s)
    }

    /// Keeps the marks within the list after it shrinks.
    fn lower_marks(&mut self) {
        let len = self.stacks.len();
        self.idle_mark = self.idle_mark.min(len);
        self.trimmed = self.trimmed.min(len);
    }
}

/// The part of the reservation not yet carved into slots.
struct Carver {
    /// Next uncarved slot address of the current chunk, and its end.
    next: usize,
    end: usize,
    /// Chunks mapped by this pool, as `(start, len)`.
    chunks: Vec<(usize, usize)>,
}

impl Carver {
    const fn empty() -> Self {
        Carver {
            next: 0,
            end: 0,
            chunks: Vec::new(),
        }
    }
}

/// What a dropped pool leaves behind (chunks are never unmapped), adopted by the next
/// pool of the same stack size, so runtimes built and dropped in a loop reuse one
/// reservation instead of leaking address space and registry entries.
struct Leftover {
    stack_size: usize,
    free: Vec<Stack>,
    carver: Carver,
    slots_carved: usize,
}

static LEFTOVERS: Mutex<Vec<Leftover>> = parking_lot::const_mutex(Vec::new());

/// The process-global pool of goroutine stacks. The scheduler creates one; a dropped
/// pool's free stacks and uncarved slots go to the next pool of the same stack size
/// (stacks still held elsewhere at that point are leaked, safely).
pub(crate) struct StackPool {
    stack_size: usize,
    page: usize,
    free: Mutex<FreeList>,
    carver: Mutex<Carver>,
    slots_carved: AtomicUsize,
    free_count: AtomicUsize,
}

impl StackPool {
    /// A pool of stacks with `stack_size` usable bytes, rounded up to the page size;
    /// 16 KiB ..= 1 GiB. Maps nothing yet. Called once, by the scheduler's builder.
    pub(crate) fn new(stack_size: usize) -> Result<StackPool, StackError> {
        if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&stack_size) {
            return Err(StackError::InvalidSize {
                requested: stack_size,
                min: MIN_STACK_SIZE,
                max: MAX_STACK_SIZE,
            });
        }
        let page = page_size();
        guard_kind();
        let stack_size = stack_size.next_multiple_of(page);
        let left = adopt_leftover(stack_size);
        Ok(StackPool {
            stack_size,
            page,
            free_count: AtomicUsize::new(left.free.len()),
            free: Mutex::new(FreeList {
                stacks: left.free,
                idle_mark: 0,
                trimmed: 0,
            }),
            carver: Mutex::new(left.carver),
            slots_carved: AtomicUsize::new(left.slots_carved),
        })
    }

    /// Usable bytes per stack (page-rounded). Any thread.
    #[cfg_attr(any(not(test), loom), allow(dead_code))] // used by tests and diagnostics
    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// Guard page plus usable stack.
    fn slot_size(&self) -> usize {
        self.page + self.stack_size
    }

    /// Takes the most recently returned stack, or carves fresh ones. Any thread.
    pub(crate) fn get(&self) -> Result<Stack, StackError> {
        if let Some(s) = self.pop_free() {
            return Ok(s);
        }
        let mut fresh = Vec::with_capacity(CARVE_BATCH);
        let carved = self.carve(&mut fresh, CARVE_BATCH);
        let Some(s) = fresh.pop() else {
            return Err(carved.expect_err("carve delivers all or fails"));
        };
        self.put_many(fresh.drain(..));
        Ok(s)
    }

    /// Pushes `n` stacks onto `out`: fresh ones if the free list runs short, then the
    /// newest free ones, the newest last (so popping `out` stays LIFO). On error, the
    /// stacks obtained so far stay in `out`. Any thread.
    pub(crate) fn get_batch(&self, out: &mut Vec<Stack>, n: usize) -> Result<(), StackError> {
        let start = out.len();
        let take = {
            let mut free = self.free.lock();
            let take = n.min(free.stacks.len());
            let from = free.stacks.len() - take;
            out.extend(free.stacks.drain(from..));
            free.lower_marks();
            self.free_count.store(free.stacks.len(), Ordering::Relaxed);
            take
        };
        if take == n {
            return Ok(());
        }
        let carved = self.carve(out, n - take);
        // Fresh slots first, so the warm ones from the free list are popped first.
        out[start..].rotate_left(take);
        carved
    }

    /// Returns a stack; the next `get` hands it out again. Any thread.
    pub(crate) fn put(&self, s: Stack) {
        self.put_many(core::iter::once(s));
    }

    /// Returns every stack of `stacks`, leaving it empty. Any thread.
    #[cfg_attr(any(not(test), loom), allow(dead_code))] // used by tests and diagnostics
    pub(crate) fn put_batch(&self, stacks: &mut Vec<Stack>) {
        self.put_many(stacks.drain(..));
    }

    /// Resets and pushes stacks under one lock hold. Callers hold no pool lock.
    fn put_many(&self, stacks: impl Iterator<Item = Stack>) {
        let mut free = self.free.lock();
        free.stacks.extend(stacks.map(|mut s| {
            debug_assert_eq!(s.size, self.stack_size, "stack returned to the wrong pool");
            s.reset();
            s
        }));
        self.free_count.store(free.stacks.len(), Ordering::Relaxed);
    }

    /// Pops the newest free stack. Callers hold no pool lock.
    fn pop_free(&self) -> Option<Stack> {
        let mut free = self.free.lock();
        let s = free.pop();
        self.free_count.store(free.stacks.len(), Ordering::Relaxed);
        s
    }

    /// Carves `n` fresh slots onto `out`, installing their guards in batches and
    /// mapping chunks as needed. On error, the slots carved so far stay in `out`.
    /// Callers hold no pool lock.
    fn carve(&self, out: &mut Vec<Stack>, n: usize) -> Result<(), StackError> {
        let slot = self.slot_size();
        let mut carver = self.carver.lock();
        let mut left = n;
        let mut guards = Vec::with_capacity(n.min(GUARD_BATCH));
        while left > 0 {
            if carver.next == carver.end {
                self.map_next_chunk(&mut carver)?;
            }
            let k = left.min((carver.end - carver.next) / slot).min(GUARD_BATCH);
            guards.clear();
            guards.extend((0..k).map(|i| carver.next + i * slot));
            install_guards(&guards, self.page).map_err(StackError::OutOfAddressSpace)?;
            out.extend(
                guards
                    .iter()
                    .map(|&g| Stack::from_slot(g, g + slot, self.stack_size)),
            );
            carver.next += k * slot;
            left -= k;
            self.slots_carved.fetch_add(k, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Maps and registers the pool's next chunk. The caller holds the carver lock.
    fn map_next_chunk(&self, carver: &mut Carver) -> Result<(), StackError> {
        let slot = self.slot_size();
        let want = chunk_slots(carver.chunks.len(), slot);
        let (start, slots) =
            map_chunk(want, slot, self.stack_size).map_err(StackError::OutOfAddressSpace)?;
        carver.next = start;
        carver.end = start + slots * slot;
        carver.chunks.push((start, slots * slot));
        Ok(())
    }

    /// Gives back the pages of stacks that have sat in the free list since the previous
    /// call, except the top `KEEP_PAGES` of each; returns how many were trimmed. Called
    /// by the monitor thread about once a second; any thread may call it.
    pub(crate) fn trim_idle(&self) -> usize {
        let mut count = 0;
        let mut ranges = Vec::new();
        loop {
            let mut free = self.free.lock();
            let (from, to) = (free.trimmed, free.idle_mark.min(free.trimmed + TRIM_BATCH));
            if from >= to {
                free.idle_mark = free.stacks.len();
                return count;
            }
            ranges.clear();
            ranges.extend(
                free.stacks[from..to]
                    .iter()
                    .filter_map(|s| s.trim_range(self.page)),
            );
            // A failure leaves pages resident, which costs memory but never correctness;
            // mark them trimmed anyway so a persistent error is not retried every second.
            let _ = release_ranges(&ranges);
            free.trimmed = to;
            count += to - from;
        }
    }

    /// A snapshot for metrics. Any thread.
    #[cfg_attr(any(not(test), loom), allow(dead_code))] // used by tests and diagnostics
    pub(crate) fn stats(&self) -> StackStats {
        StackStats {
            stack_size: self.stack_size,
            slots_carved: self.slots_carved.load(Ordering::Relaxed),
            free_in_pool: self.free_count.load(Ordering::Relaxed),
            guard: guard_kind(),
        }
    }

    /// Chunks this pool has mapped, as `(start, len)`.
    #[cfg(all(test, not(loom)))]
    pub(super) fn chunks(&self) -> Vec<(usize, usize)> {
        self.carver.lock().chunks.clone()
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        let carver = self.carver.get_mut();
        if carver.chunks.is_empty() {
            return;
        }
        LEFTOVERS.lock().push(Leftover {
            stack_size: self.stack_size,
            free: core::mem::take(&mut self.free.get_mut().stacks),
            carver: core::mem::replace(carver, Carver::empty()),
            slots_carved: *self.slots_carved.get_mut(),
        });
    }
}

/// Takes what an earlier pool of this stack size left behind, or nothing.
/// Only `StackPool::new` calls it.
fn adopt_leftover(stack_size: usize) -> Leftover {
    let mut leftovers = LEFTOVERS.lock();
    match leftovers.iter().position(|l| l.stack_size == stack_size) {
        Some(i) => leftovers.swap_remove(i),
        None => Leftover {
            stack_size,
            free: Vec::new(),
            carver: Carver::empty(),
            slots_carved: 0,
        },
    }
}

/// Per-P cache in front of the pool: owner-only, no locking. Holds up to 64 stacks,
/// refills 32 at a time when empty and spills the 32 oldest when full; LIFO so hot
/// stacks are reused while their pages are warm. Its owner must `drain_into` the pool
/// before dropping it, or the cached slots leak (safely).
pub(crate) struct StackCache {
    stacks: Vec<Stack>,
}

impl StackCache {
    /// An empty cache; allocates nothing until first used.
    pub(crate) const fn new() -> Self {
        StackCache { stacks: Vec::new() }
    }

    /// A stack, from the cache if it has one. Only the owning P calls it.
    pub(crate) fn get(&mut self, pool: &StackPool) -> Result<Stack, StackError> {
        if let Some(s) = self.stacks.pop() {
            return Ok(s);
        }
        let refill = pool.get_batch(&mut self.stacks, CACHE_BATCH);
        match self.stacks.pop() {
            Some(s) => Ok(s),
            None => Err(refill.expect_err("get_batch delivers all or fails")),
        }
    }

    /// Keeps a finished goroutine's stack. Only the owning P calls it.
    pub(crate) fn put(&mut self, pool: &StackPool, mut s: Stack) {
        if self.stacks.len() == CACHE_CAP {
            pool.put_many(self.stacks.drain(..CACHE_BATCH));
        }
        s.reset();
        self.stacks.push(s);
    }

    /// Gives every cached stack back to the pool (P destroyed or idle). Only the owner.
    #[cfg_attr(any(not(test), loom), allow(dead_code))] // used by tests and diagnostics
    pub(crate) fn drain_into(&mut self, pool: &StackPool) {
        pool.put_many(self.stacks.drain(..));
    }

    /// Stacks currently cached.
    #[cfg(all(test, not(loom)))]
    pub(super) fn len(&self) -> usize {
        self.stacks.len()
    }
}
