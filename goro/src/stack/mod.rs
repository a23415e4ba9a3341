//! Goroutine stacks: one lazily grown reservation of address space, carved into
//! guarded slots, recycled through a global pool and per-P caches.
//!
//! What this module protects: every goroutine runs on a stack whose overflow hits a
//! guard page and ends the process with "goroutine N: stack overflow", never by
//! silently writing into a neighbouring goroutine's stack.
//!
//! Layout. Memory comes from large `MAP_NORESERVE` chunks ([`reserve`]), each one VMA,
//! never unmapped. A chunk is a row of slots:
//!
//! ```text
//!  low                                                                  high
//!  | guard | usable stack ......... [ctl block][header] | guard | usable ...
//!  ^limit                            ^reserve_top  top-16^ ^top = next slot's guard
//! ```
//!
//! Invariants that always hold:
//! - A slot handed out as a [`Stack`] has its guard page installed ([`guard`]); guards
//!   are installed once, when the slot is carved, and nothing ever removes them
//!   (trimming only touches the usable part, and guard markers survive
//!   `MADV_DONTNEED`, checked by the tests).
//! - Every chunk is published in the lock-free registry before any slot of it is
//!   handed out, so the fault handler ([`overflow`]) can always tell a guard hit from
//!   any other fault without locks or allocation.
//! - A `Stack` is owned by exactly one holder (pool, cache, or a goroutine); a slot
//!   is never in two places. Dropping a `Stack` instead of returning it leaks the slot,
//!   which is safe: its memory stays mapped for the life of the process.
//! - A `Stack` that leaves the pool has no reserved top area. Its header id is
//!   that of the last goroutine that ran on it (0 if none): every holder that runs
//!   code on a stack sets the id first (`G::spawn_on`), and only code running on a
//!   slot can overflow into its guard page, so the overflow report never shows a
//!   stale id. Clearing it on the way back would cost a write to the header's
//!   cache line per goroutine, mostly on another core than the one that set it
//!   (`docs/decisions/stacks-and-packets.md`).
//!
//! Limits: one guard page catches any Rust frame, because rustc emits stack probes
//! for frames larger than a page; C code reached through FFI and compiled without
//! `-fstack-clash-protection` could step over the guard into the slot below.
//! With the `mprotect` fallback (kernels before 6.13) every guard costs a VMA, so
//! `vm.max_map_count` (65530 by default) caps a process at about 32k stacks.

mod guard;
mod overflow;
mod pool;
mod reserve;

// Not under Miri: the stacks are mmap'ed, guarded with madvise/mprotect and
// reported from a SIGSEGV handler, none of which Miri runs.
#[cfg(all(test, not(loom), not(miri)))]
mod tests;

use core::fmt;
use core::num::NonZeroUsize;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

pub(crate) use overflow::{ensure_signal_stack, install_overflow_handler};
pub(crate) use pool::{StackCache, StackPool};

/// Bytes at the top of every slot owned by this module: the goroutine id (u64) that
/// the overflow report prints, then 8 bytes kept zero.
pub(crate) const HEADER_SIZE: usize = 16;

/// Smallest accepted stack size (before rounding to the page size).
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;

/// Largest accepted stack size.
pub(crate) const MAX_STACK_SIZE: usize = 1 << 30;

/// Pages at the top of an idle stack that trimming keeps (the hot end of a stack).
pub(crate) const KEEP_PAGES: usize = 2;

/// Alignment of areas handed out by [`Stack::reserve_top`] (a cache line).
const RESERVE_ALIGN: usize = 64;

/// Usable bytes that `reserve_top` always leaves to the coroutine.
const MIN_LEFT_FOR_COROUTINE: usize = 8 * 1024;

/// How guard pages are installed; detected once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GuardKind {
    /// `MADV_GUARD_INSTALL` (Linux >= 6.13): a guard costs no VMA, so a million
    /// guarded stacks fit under the default `vm.max_map_count`.
    MadviseGuard,
    /// `mprotect(PROT_NONE)`: every guard splits the chunk's VMA, so only about
    /// `vm.max_map_count / 2` (~32k by default) stacks fit.
    Mprotect,
}

/// A snapshot of the pool, for metrics and tests.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(any(not(test), loom), allow(dead_code))] // used by tests and diagnostics
pub(crate) struct StackStats {
    /// Usable bytes per stack (page-rounded).
    pub(crate) stack_size: usize,
    /// Slots ever carved out of the reservation (each one has its guard installed).
    pub(crate) slots_carved: usize,
    /// Stacks waiting in the global free list (not counting per-P caches).
    pub(crate) free_in_pool: usize,
    /// How the guards of this process are installed.
    pub(crate) guard: GuardKind,
}

/// Why a stack could not be provided.
#[derive(Debug)]
pub enum StackError {
    /// The configured stack size is outside the accepted range.
    InvalidSize {
        requested: usize,
        min: usize,
        max: usize,
    },
    /// The kernel refused more address space, a guard page, or the registry is full.
    OutOfAddressSpace(std::io::Error),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::InvalidSize {
                requested,
                min,
                max,
            } => write!(
                f,
                "invalid goroutine stack size {requested} bytes: must be between {min} and {max} bytes"
            ),
            StackError::OutOfAddressSpace(e) => {
                write!(f, "cannot reserve goroutine stack memory: {e}")
            }
        }
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StackError::InvalidSize { .. } => None,
            StackError::OutOfAddressSpace(e) => Some(e),
        }
    }
}

/// One goroutine stack: a slot of the reservation. Owns the slot until it is given
/// back to the pool (see the module invariants).
#[derive(Debug)]
pub(crate) struct Stack {
    /// Lowest address of the slot: the start of its guard page.
    limit: usize,
    /// Highest address of the slot (exclusive).
    top: usize,
    /// Usable bytes (the configured stack size).
    size: usize,
    /// Bytes below the header given out by `reserve_top`.
    reserved: usize,
}

impl Stack {
    /// Wraps a freshly carved slot. Only the pool calls this, once per slot, after the
    /// slot's guard page is installed.
    fn from_slot(limit: usize, top: usize, size: usize) -> Stack {
        Stack {
            limit,
            top,
            size,
            reserved: 0,
        }
    }

    /// Highest address of the slot (exclusive). The top [`HEADER_SIZE`] bytes are the
    /// stack module's header. Any holder may call it.
    #[cfg_attr(any(not(test), loom), allow(dead_code))] // used by tests and diagnostics
    pub(crate) fn top(&self) -> usize {
        self.top
    }

    /// Usable size in bytes (the configured stack size), excluding the guard page.
    /// Any holder may call it.
    #[cfg_attr(any(not(test), loom), allow(dead_code))] // used by tests and diagnostics
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Lowest usable address (just above the guard page).
    fn usable_low(&self) -> usize {
        self.top - self.size
    }

    /// The header word holding the goroutine id.
    fn id_cell(&self) -> &AtomicU64 {
        // SAFETY: the slot is mapped read-write for the life of the process (chunks are
        // never unmapped); top is page-aligned, so top - 16 is 8-aligned; the header
        // lies above `base()`, so the coroutine running on this stack never writes it;
        // all accesses are atomic, including the signal handler's read.
        unsafe { &*((self.top - HEADER_SIZE) as *const AtomicU64) }
    }

    /// Records the goroutine id that the overflow report prints. The holder calls it,
    /// normally right after getting the stack and before handing it to corosensei.
    pub(crate) fn set_goroutine_id(&mut self, id: u64) {
        self.id_cell().store(id, Ordering::Relaxed);
    }

    /// The goroutine id in the header: the last one set (0 if never).
    #[cfg_attr(not(all(test, not(loom))), allow(dead_code))]
    pub(crate) fn goroutine_id(&self) -> u64 {
        self.id_cell().load(Ordering::Relaxed)
    }

    /// Reserves `size` bytes (rounded up to 64, aligned to 64) just below the header,
    /// or below the previous reservation, for the caller's control block; the
    /// coroutine's stack base moves down below it. Only the holder calls it, before
    /// the stack is handed to corosensei; the pool resets it when the stack comes back.
    ///
    /// Panics if the reservation would leave the coroutine less than 8 KiB.
    pub(crate) fn reserve_top(&mut self, size: usize) -> NonNull<u8> {
        let below = self.top - HEADER_SIZE - self.reserved;
        let rounded = size
            .checked_next_multiple_of(RESERVE_ALIGN)
            .expect("reserve_top: size overflows");
        let ptr = below
            .checked_sub(rounded)
            .map(|p| p & !(RESERVE_ALIGN - 1))
            .filter(|&p| p >= self.usable_low() + MIN_LEFT_FOR_COROUTINE)
            .unwrap_or_else(|| {
                panic!(
                    "reserve_top({size}): a {} KiB stack cannot spare it",
                    self.size / 1024
                )
            });
        self.reserved = self.top - HEADER_SIZE - ptr;
        NonNull::new(ptr as *mut u8).expect("slot addresses are never null")
    }

    /// Gives up the reserved top area (the header id stays, see the module
    /// docs). Only the pool calls it, on the way in.
    fn reset(&mut self) {
        self.reserved = 0;
    }

    /// The part that trimming may give back: the usable area minus the top
    /// `KEEP_PAGES` pages. Never includes the guard page. `None` if nothing is left.
    fn trim_range(&self, page: usize) -> Option<(usize, usize)> {
        let keep = KEEP_PAGES * page;
        (self.size > keep).then(|| (self.usable_low(), self.size - keep))
    }
}

// SAFETY: `limit` is the start of the slot's guard page, which is installed before the
// slot is wrapped in a `Stack` and never removed, so an overflow faults instead of
// running into the slot below; corosensei requires `limit` to include guard pages.
// `base` is below the header and any `reserve_top` area, 16-aligned because `top` is
// page-aligned and both HEADER_SIZE and `reserved` are multiples of 16. The usable
// area between them is at least MIN_LEFT_FOR_COROUTINE (8 KiB) >=
// corosensei::stack::MIN_STACK_SIZE, and stays mapped read-write while the `Stack`
// exists (chunks are never unmapped).
unsafe impl corosensei::stack::Stack for Stack {
    #[inline]
    fn base(&self) -> corosensei::stack::StackPointer {
        NonZeroUsize::new(self.top - HEADER_SIZE - self.reserved).expect("stack base is non-null")
    }

    #[inline]
    fn limit(&self) -> corosensei::stack::StackPointer {
        NonZeroUsize::new(self.limit).expect("stack limit is non-null")
    }
}
