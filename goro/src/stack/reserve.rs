//! The reservation: large `MAP_NORESERVE` chunks of address space, and the
//! process-wide registry of them that the overflow handler reads.
//!
//! Invariants:
//! - Chunks are never unmapped, so any address inside a registered chunk stays
//!   mapped for the life of the process (the handler may read any slot header).
//! - A registry entry is written before the chunk's first slot is handed out, and an
//!   entry is complete once its `start` is non-zero (`start` is stored last, with
//!   Release; readers load it first, with Acquire).
//! - Entries are never removed or changed after publication.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::io;

/// Registry capacity. Chunks grow to ~1 GiB, so this covers terabytes of stacks.
const MAX_CHUNKS: usize = 4096;

/// Slots in a pool's first chunk; later chunks double, up to `CHUNK_TARGET_BYTES`.
const FIRST_CHUNK_SLOTS: usize = 1024;

/// Address space a chunk grows to (but always at least one slot).
const CHUNK_TARGET_BYTES: usize = 1 << 30;

/// One published chunk: a row of `len / slot_size` slots, each a guard page of
/// `slot_size - stack_size` bytes followed by `stack_size` usable bytes.
struct ChunkEntry {
    start: AtomicUsize,
    len: AtomicUsize,
    slot_size: AtomicUsize,
    stack_size: AtomicUsize,
}

impl ChunkEntry {
    const fn new() -> Self {
        ChunkEntry {
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            slot_size: AtomicUsize::new(0),
            stack_size: AtomicUsize::new(0),
        }
    }
}

static CHUNKS: [ChunkEntry; MAX_CHUNKS] = [const { ChunkEntry::new() }; MAX_CHUNKS];

/// Entries claimed so far (may exceed MAX_CHUNKS after failed claims; readers clamp).
static CHUNK_COUNT: AtomicUsize = AtomicUsize::new(0);

/// The system page size. Any thread may call it.
pub(super) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf has no preconditions.
            let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let p = usize::try_from(p)
                .ok()
                .filter(|p| p.is_power_of_two())
                .unwrap_or(4096);
            PAGE.store(p, Ordering::Relaxed);
            p
        }
        p => p,
    }
}

/// How many slots the `index`-th chunk of a pool holds. Only the carver calls it.
pub(super) fn chunk_slots(index: usize, slot_size: usize) -> usize {
    let grown = FIRST_CHUNK_SLOTS << index.min(16);
    grown.min(CHUNK_TARGET_BYTES / slot_size).max(1)
}

/// Maps and registers a chunk of up to `slots` slots, halving the request while the
/// kernel refuses it. Returns `(start, slots)`. Only the carver calls it, under its lock.
pub(super) fn map_chunk(
    slots: usize,
    slot_size: usize,
    stack_size: usize,
) -> io::Result<(usize, usize)> {
    let index = CHUNK_COUNT.fetch_add(1, Ordering::Relaxed);
    if index >= MAX_CHUNKS {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            "goroutine stack registry is full (too many stack chunks)",
        ));
    }
    let mut slots = slots;
    let start = loop {
        match mmap_noreserve(slots * slot_size) {
            Ok(start) => break start,
            Err(e) if slots > 1 && e.raw_os_error() == Some(libc::ENOMEM) => slots /= 2,
            Err(e) => return Err(e),
        }
    };
    let entry = &CHUNKS[index];
    entry.len.store(slots * slot_size, Ordering::Relaxed);
    entry.slot_size.store(slot_size, Ordering::Relaxed);
    entry.stack_size.store(stack_size, Ordering::Relaxed);
    entry.start.store(start, Ordering::Release);
    Ok((start, slots))
}

/// One read-write, lazily committed mapping. Never unmapped by this module.
fn mmap_noreserve(len: usize) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    #[cfg(not(target_os = "linux"))]
    let flags = libc::MAP_PRIVATE | libc::MAP_ANON;
    // SAFETY: an anonymous mapping at an address the kernel picks; it aliases nothing.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // Transparent huge pages would turn one touched stack page into 2 MiB of RSS and
    // be split again by every guard; a failure here only costs memory.
    #[cfg(target_os = "linux")]
    // SAFETY: advice on the mapping just created, which nothing else uses yet.
    unsafe {
        libc::madvise(p, len, libc::MADV_NOHUGEPAGE);
    }
    Ok(p as usize)
}

/// A guard page that a fault hit: the overflowed slot's top and its stack size.
pub(super) struct GuardHit {
    pub(super) slot_top: usize,
    pub(super) stack_size: usize,
}

/// Whether `addr` lies in the guard page of a slot of any registered chunk.
/// Async-signal-safe: atomics only, no locks, no allocation.
pub(super) fn guard_hit(addr: usize) -> Option<GuardHit> {
    let count = CHUNK_COUNT.load(Ordering::Acquire).min(MAX_CHUNKS);
    CHUNKS[..count].iter().find_map(|e| {
        let start = e.start.load(Ordering::Acquire);
        if start == 0 || addr < start || addr - start >= e.len.load(Ordering::Relaxed) {
            return None;
        }
        let slot_size = e.slot_size.load(Ordering::Relaxed);
        let stack_size = e.stack_size.load(Ordering::Relaxed);
        let slot_start = start + (addr - start) / slot_size * slot_size;
        (addr - slot_start < slot_size - stack_size).then_some(GuardHit {
            slot_top: slot_start + slot_size,
            stack_size,
        })
    })
}

/// Reads the goroutine id from the header of the slot ending at `slot_top`.
/// Async-signal-safe. Only the overflow handler calls it, with a `GuardHit`'s top.
pub(super) fn header_id(slot_top: usize) -> u64 {
    // SAFETY: `slot_top` comes from `guard_hit`, so it ends a slot of a registered chunk,
    // mapped read-write forever; the header word is 8-aligned and accessed atomically.
    let cell = unsafe { &*((slot_top - super::HEADER_SIZE) as *const AtomicU64) };
    cell.load(Ordering::Relaxed)
}
