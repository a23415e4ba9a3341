//! Cells: fixed-size, cache-line-aligned memory blocks for join packets, kept
//! in per-M caches in front of one process-wide pool (Go keeps its `g`
//! structs on per-P and global free lists the same way).
//!
//! # Why not `malloc`
//!
//! A program that starts a million goroutines and keeps their handles holds
//! a million packets at once. Freed, they shrink the allocator's heap, and the
//! next burst grows it again page fault by page fault (figures:
//! `docs/decisions/stacks-and-packets.md`). Kept here, a burst reuses the
//! memory of the last one, and taking or giving back a cell is a `Vec` push
//! or pop on the M's own thread.
//!
//! # What it protects and what must hold
//!
//! - A cell is in exactly one place: in use (owned by one packet), in one M's
//!   [`CellCache`], or in the pool's free list of its class. Only its owner
//!   touches its memory.
//! - Every cell of class `c` is `CLASS_SIZES[c]` bytes, aligned to
//!   [`CELL_ALIGN`], and came from a chunk carved here. Chunks are never freed:
//!   the memory of the largest burst stays for reuse, as Go's free `g`s do
//!   (64 bytes per packet of a `()` goroutine: 64 MiB after a million).
//! - A `CellCache` belongs to one M and is touched only by that M's thread;
//!   the M gives its cells back to the pool before it sleeps (`stop_m`), so
//!   sleeping Ms hold none.
//! - Layouts larger than the largest class, or more aligned than a cell, go
//!   to the global allocator instead ([`alloc`] and [`dealloc`] decide the
//!   same way from the layout alone).

use std::alloc::Layout;
use std::ptr::NonNull;

use parking_lot::Mutex;

/// The cell sizes: a packet takes the smallest that fits it.
const CLASS_SIZES: [usize; 3] = [64, 128, 256];

/// Every cell starts on a cache line of its own: a packet completed on one
/// core never shares a line with one being set up on another.
const CELL_ALIGN: usize = 64;

/// Bytes carved into cells at once when a class's free list is empty.
const CHUNK_BYTES: usize = 64 * 1024;

/// Cells of one class an M keeps at most.
#[cfg_attr(loom, allow(dead_code))] // the loom build never frees a packet
const CACHE_CAP: usize = 256;

/// Cells moved between a cache and the pool at once.
const CACHE_BATCH: usize = 128;

/// A free cell. Plain memory, owned by whoever holds the value.
struct FreeCell(NonNull<u8>);

// SAFETY: a free cell is unaliased memory that no thread uses; moving the
// pointer to another thread moves that ownership with it.
unsafe impl Send for FreeCell {}

/// The process-wide free lists, one per class.
static POOL: [Mutex<Vec<FreeCell>>; CLASS_SIZES.len()] = [
    parking_lot::const_mutex(Vec::new()),
    parking_lot::const_mutex(Vec::new()),
    parking_lot::const_mutex(Vec::new()),
];

/// The class a value of `layout` is kept in, or `None` for the allocator.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > CELL_ALIGN {
        return None;
    }
    CLASS_SIZES.iter().position(|&size| layout.size() <= size)
}

/// Memory for a value of `layout`: a cell if one fits, else from the global
/// allocator. Any thread. Aborts (`handle_alloc_error`) if memory runs out.
pub(crate) fn alloc(layout: Layout) -> NonNull<u8> {
    let Some(class) = class_of(layout) else {
        return alloc_from_system(layout);
    };
    let cached = crate::runtime::m::with_cells(|cache| cache.get(class));
    cached.unwrap_or_else(|| pool_take_one(class))
}

/// Gives back memory from [`alloc`] with the same `layout`. Any thread.
///
/// # Safety
/// `ptr` came from `alloc(layout)`, nothing uses it any more, and it is given
/// back once.
#[cfg_attr(loom, allow(dead_code))] // the loom build never frees a packet
pub(crate) unsafe fn dealloc(ptr: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        if layout.size() == 0 {
            return; // `alloc` made up the address.
        }
        // SAFETY: by the contract, `ptr` came from the global allocator
        // with this layout (`alloc` chose it from the layout alone).
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
        return;
    };
    // Off an M (no cache), the closure does not run and the cell goes to
    // the pool.
    let mut cell = Some(FreeCell(ptr));
    crate::runtime::m::with_cells(|cache| cache.put(class, cell.take().expect("cell")));
    if let Some(cell) = cell {
        POOL[class].lock().push(cell);
    }
}

fn alloc_from_system(layout: Layout) -> NonNull<u8> {
    if layout.size() == 0 {
        // A zero-sized value needs no memory, only a well-aligned address
        // (one without provenance: nothing is ever read through it).
        let addr = std::ptr::null_mut::<u8>().wrapping_add(layout.align());
        return NonNull::new(addr).expect("alignment is non-zero");
    }
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { std::alloc::alloc(layout) };
    NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

/// Moves `n` free cells of `class` from the pool into `out`, carving a new
/// chunk if the pool has fewer. Any thread.
fn pool_take(class: usize, out: &mut Vec<FreeCell>, n: usize) {
    {
        let mut free = POOL[class].lock();
        let from = free.len().saturating_sub(n);
        out.extend(free.drain(from..));
    }
    if out.len() < n {
        carve(class, out, n);
    }
}

/// One free cell of `class` for a thread without a cache. Any thread.
fn pool_take_one(class: usize) -> NonNull<u8> {
    let pooled = POOL[class].lock().pop();
    let cell = pooled.unwrap_or_else(|| {
        let mut one = Vec::with_capacity(1);
        carve(class, &mut one, 1);
        one.pop().expect("carve delivers")
    });
    cell.0
}

/// Carves one chunk into cells of `class`: tops `out` up to `n` and puts the
/// rest in the pool. Any thread; takes the pool lock only for the rest.
fn carve(class: usize, out: &mut Vec<FreeCell>, n: usize) {
    let size = CLASS_SIZES[class];
    let chunk =
        alloc_from_system(Layout::from_size_align(CHUNK_BYTES, CELL_ALIGN).expect("chunk layout"));
    let mut cells = (0..CHUNK_BYTES / size).map(|i| {
        // SAFETY: `i * size` stays inside the chunk just allocated.
        FreeCell(unsafe { chunk.add(i * size) })
    });
    while out.len() < n {
        match cells.next() {
            Some(cell) => out.push(cell),
            None => return carve(class, out, n),
        }
    }
    POOL[class].lock().extend(cells);
}

/// An M's cells, one LIFO stack per class (the last freed is the warmest).
/// Only the M's own thread touches it (see the module docs).
pub(crate) struct CellCache {
    free: [Vec<FreeCell>; CLASS_SIZES.len()],
}

impl CellCache {
    pub(crate) const fn new() -> Self {
        CellCache {
            free: [Vec::new(), Vec::new(), Vec::new()],
        }
    }

    /// A cell of `class`, refilling a batch from the pool when empty. Only
    /// the owning M.
    fn get(&mut self, class: usize) -> NonNull<u8> {
        let free = &mut self.free[class];
        if free.is_empty() {
            pool_take(class, free, CACHE_BATCH);
        }
        free.pop().expect("pool_take delivers").0
    }

    /// Keeps a free cell, spilling the oldest batch to the pool when full.
    /// Only the owning M.
    #[cfg_attr(loom, allow(dead_code))] // the loom build never frees a packet
    fn put(&mut self, class: usize, cell: FreeCell) {
        let free = &mut self.free[class];
        if free.len() >= CACHE_CAP {
            POOL[class].lock().extend(free.drain(..CACHE_BATCH));
        }
        free.push(cell);
    }

    /// Gives every cell back to the pool (the M is about to sleep). Only the
    /// owning M.
    pub(crate) fn drain(&mut self) {
        for (class, free) in self.free.iter_mut().enumerate() {
            if !free.is_empty() {
                POOL[class].lock().append(free);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn layouts_pick_the_smallest_class_that_fits() {
        assert_eq!(class_of(Layout::from_size_align(1, 1).unwrap()), Some(0));
        assert_eq!(class_of(Layout::from_size_align(64, 8).unwrap()), Some(0));
        assert_eq!(class_of(Layout::from_size_align(65, 8).unwrap()), Some(1));
        assert_eq!(class_of(Layout::from_size_align(256, 64).unwrap()), Some(2));
        assert_eq!(class_of(Layout::from_size_align(257, 8).unwrap()), None);
        assert_eq!(class_of(Layout::from_size_align(64, 128).unwrap()), None);
    }

    #[test]
    fn cells_are_aligned_distinct_and_writable() {
        let layout = Layout::from_size_align(100, 16).unwrap();
        let cells: Vec<_> = (0..3 * CHUNK_BYTES / 128).map(|_| alloc(layout)).collect();
        let addrs: HashSet<usize> = cells.iter().map(|c| c.as_ptr() as usize).collect();
        assert_eq!(addrs.len(), cells.len(), "a cell was handed out twice");
        for c in &cells {
            assert_eq!(c.as_ptr() as usize % CELL_ALIGN, 0);
            // SAFETY: the cell is ours and 128 bytes long.
            unsafe { c.as_ptr().write_bytes(0xA5, 128) };
        }
        for c in cells {
            // SAFETY: from `alloc(layout)`, given back once.
            unsafe { dealloc(c, layout) };
        }
    }

    #[test]
    fn a_cache_hands_back_the_cell_freed_last() {
        // A private cache: the shared pool may be used by other tests meanwhile.
        let mut cache = CellCache::new();
        let a = cache.get(1);
        let b = cache.get(1);
        assert_ne!(a, b);
        cache.put(1, FreeCell(a));
        assert_eq!(cache.get(1), a, "LIFO: the warmest cell first");
        cache.put(1, FreeCell(a));
        cache.put(1, FreeCell(b));
        cache.drain();
    }

    #[test]
    fn large_and_overaligned_layouts_use_the_allocator() {
        for layout in [
            Layout::from_size_align(4096, 8).unwrap(),
            Layout::from_size_align(32, 4096).unwrap(),
            Layout::from_size_align(0, 128).unwrap(),
        ] {
            let p = alloc(layout);
            assert_eq!(p.as_ptr() as usize % layout.align(), 0);
            // SAFETY: from `alloc(layout)`, given back once.
            unsafe { dealloc(p, layout) };
        }
    }

    #[test]
    fn a_cache_spills_and_refills_in_batches() {
        let mut cache = CellCache::new();
        let got: Vec<_> = (0..CACHE_CAP + 10).map(|_| cache.get(0)).collect();
        for cell in got {
            cache.put(0, FreeCell(cell));
            assert!(cache.free[0].len() <= CACHE_CAP);
        }
        cache.drain();
        assert!(cache.free.iter().all(Vec::is_empty));
    }
}
