//! Guard pages, and the batched `madvise` that installs them and trims idle stacks.
//!
//! Invariants:
//! - The guard kind is detected once per process and never changes, so every slot of
//!   every pool is guarded the same way.
//! - `process_madvise` is only ever aimed at our own process: the pidfd is reopened
//!   when `getpid()` changes (after `fork`), and once the kernel refuses the call
//!   (before Linux 6.13 it only accepts a few advices) we use plain `madvise` for good.
//! - Ranges passed here are page-aligned and lie inside a registered chunk.

use super::GuardKind;
use std::io;
use std::sync::OnceLock;

/// `MADV_GUARD_INSTALL` (Linux 6.13): lightweight guard regions, no VMA split.
#[cfg(target_os = "linux")]
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// `UIO_MAXIOV`: the most ranges one `process_madvise` call accepts.
#[cfg(target_os = "linux")]
const MAX_IOVECS: usize = 1024;

/// The guard kind of this process. Any thread may call it; the first call detects it.
pub(super) fn guard_kind() -> GuardKind {
    static KIND: OnceLock<GuardKind> = OnceLock::new();
    *KIND.get_or_init(detect_guard_kind)
}

/// Tries `MADV_GUARD_INSTALL` on a scratch page; kernels before 6.13 say EINVAL.
fn detect_guard_kind() -> GuardKind {
    // Lets the tests exercise the fallback in a child process.
    #[cfg(all(test, not(loom), not(miri)))]
    if std::env::var_os(super::tests::FORCE_MPROTECT_ENV).is_some() {
        return GuardKind::Mprotect;
    }
    #[cfg(target_os = "linux")]
    {
        let page = super::reserve::page_size();
        // SAFETY: a fresh private anonymous page that only this function uses.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            // SAFETY: advice and unmap on the scratch page mapped above, used by no one else.
            let ok = unsafe {
                let ok = libc::madvise(p, page, MADV_GUARD_INSTALL) == 0;
                libc::munmap(p, page);
                ok
            };
            if ok {
                return GuardKind::MadviseGuard;
            }
        }
    }
    GuardKind::Mprotect
}

/// Installs a one-page guard at each address of `guards`. Only the carver calls it, on
/// slots no one else can see yet, and the alternate-signal-stack code on its own mapping.
pub(super) fn install_guards(guards: &[usize], page: usize) -> io::Result<()> {
    match guard_kind() {
        #[cfg(target_os = "linux")]
        GuardKind::MadviseGuard => {
            let ranges: Vec<(usize, usize)> = guards.iter().map(|&g| (g, page)).collect();
            advise_ranges(&ranges, MADV_GUARD_INSTALL)
        }
        _ => guards.iter().try_for_each(|&g| mprotect_none(g, page)),
    }
}

/// Turns one page into a guard by removing all access (splits the VMA).
fn mprotect_none(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: `addr..addr+len` is a guard page of a slot not yet handed out (see
    // `install_guards`); removing access to it cannot invalidate any live reference.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_NONE) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Gives back the pages of every range (`MADV_DONTNEED`). Only the pool calls it, on
/// the usable parts of stacks that sit in its free list, under the free-list lock.
pub(super) fn release_ranges(ranges: &[(usize, usize)]) -> io::Result<()> {
    advise_ranges(ranges, libc::MADV_DONTNEED)
}

/// Applies `advice` to every `(addr, len)` range: up to 1024 ranges per
/// `process_madvise` where the kernel allows it, else one `madvise` per range.
fn advise_ranges(ranges: &[(usize, usize)], advice: libc::c_int) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    let ranges = &ranges[batched::advise(ranges, advice)..];
    ranges.iter().try_for_each(|&(addr, len)| {
        // SAFETY: the caller guarantees the range is page-aligned, inside a registered
        // chunk, and holds no live data (a fresh guard page or an idle stack's pages).
        let r = unsafe { libc::madvise(addr as *mut libc::c_void, len, advice) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    })
}

/// `process_madvise(pidfd_of_self, ...)`, Linux >= 6.13 for arbitrary advice.
#[cfg(target_os = "linux")]
mod batched {
    use super::MAX_IOVECS;
    use core::sync::atomic::{AtomicU8, Ordering};
    use parking_lot::Mutex;

    const UNKNOWN: u8 = 0;
    const WORKS: u8 = 1;
    const REFUSED: u8 = 2;

    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// `(pid, pidfd)` of the process that opened it.
    static PIDFD: Mutex<Option<(libc::pid_t, libc::c_int)>> = parking_lot::const_mutex(None);

    /// Advises a prefix of `ranges` in as few syscalls as possible and returns how
    /// many ranges are done; the caller advises the rest one by one.
    pub(super) fn advise(ranges: &[(usize, usize)], advice: libc::c_int) -> usize {
        if STATE.load(Ordering::Relaxed) == REFUSED {
            return 0;
        }
        let Some(pidfd) = self_pidfd() else {
            STATE.store(REFUSED, Ordering::Relaxed);
            return 0;
        };
        let mut iovs: Vec<libc::iovec> = Vec::with_capacity(ranges.len().min(MAX_IOVECS));
        let mut done = 0;
        for batch in ranges.chunks(MAX_IOVECS) {
            iovs.clear();
            iovs.extend(batch.iter().map(|&(addr, len)| libc::iovec {
                iov_base: addr as *mut libc::c_void,
                iov_len: len,
            }));
            let n = advise_iovecs(pidfd, &mut iovs, advice);
            done += n;
            if n < batch.len() {
                break;
            }
        }
        done
    }

    /// One batch: loops over partial results (the kernel caps a call at ~2 GiB) and
    /// returns how many whole iovecs were advised.
    fn advise_iovecs(pidfd: libc::c_int, iovs: &mut [libc::iovec], advice: libc::c_int) -> usize {
        let mut first = 0;
        while first < iovs.len() {
            let rest = &mut iovs[first..];
            // SAFETY: `rest` is a valid iovec array of at most UIO_MAXIOV entries that
            // lives across the call; the pidfd is our own process (checked by
            // `self_pidfd`); the ranges obey `advise_ranges`'s contract.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_process_madvise,
                    pidfd,
                    rest.as_ptr(),
                    rest.len(),
                    advice,
                    0,
                )
            };
            if r < 0 {
                let err = std::io::Error::last_os_error().raw_os_error();
                if err == Some(libc::EINTR) {
                    continue;
                }
                if STATE.load(Ordering::Relaxed) == UNKNOWN {
                    STATE.store(REFUSED, Ordering::Relaxed);
                }
                return first;
            }
            STATE.store(WORKS, Ordering::Relaxed);
            first += skip_advised(rest, r as usize);
        }
        first
    }

    /// Consumes `bytes` advised bytes from the front of `iovs`: whole iovecs are
    /// counted (returned), a partly advised one is shrunk to its remainder.
    fn skip_advised(iovs: &mut [libc::iovec], mut bytes: usize) -> usize {
        let mut whole = 0;
        for iov in iovs.iter_mut() {
            if bytes >= iov.iov_len {
                bytes -= iov.iov_len;
                whole += 1;
            } else {
                iov.iov_base = (iov.iov_base as usize + bytes) as *mut libc::c_void;
                iov.iov_len -= bytes;
                break;
            }
        }
        whole
    }

    /// A pidfd for the current process, reopened after `fork`.
    fn self_pidfd() -> Option<libc::c_int> {
        let mut slot = PIDFD.lock();
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        match *slot {
            Some((p, fd)) if p == pid => return Some(fd),
            // SAFETY: an fd we opened in the parent before fork; the copy is ours to close.
            Some((_, fd)) => unsafe {
                libc::close(fd);
            },
            None => {}
        }
        // SAFETY: pidfd_open(pid, flags) takes two integers; the fd is close-on-exec.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = libc::c_int::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        *slot = Some((pid, fd));
        Some(fd)
    }

    /// Whether the batched path has been seen to work (for tests and reports).
    #[cfg_attr(not(all(test, not(loom))), allow(dead_code))]
    pub(crate) fn works() -> bool {
        STATE.load(Ordering::Relaxed) == WORKS
    }
}

/// Whether `process_madvise` on our own process has worked here.
#[cfg(all(test, not(loom)))]
pub(super) fn batched_madvise_works() -> bool {
    #[cfg(target_os = "linux")]
    return batched::works();
    #[cfg(not(target_os = "linux"))]
    false
}
