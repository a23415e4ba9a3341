//! The overflow report: a SIGSEGV/SIGBUS handler that recognises a fault in the
//! guard page of any goroutine stack, prints "goroutine N: stack overflow" and aborts.
//!
//! Invariants:
//! - The handler is async-signal-safe: it reads the chunk registry and slot headers
//!   through atomics, formats into a buffer on its own stack, and calls only `write`,
//!   `sigaction` and `abort`.
//! - Any other fault goes to the handler that was installed before ours (Rust's std
//!   installs one for thread stack overflows); a default or ignored disposition is
//!   restored to `SIG_DFL` and the handler returns, so the fault re-raises and kills
//!   the process the normal way.
//! - The handler runs on an alternate signal stack (`SA_ONSTACK`): a thread running
//!   goroutines calls `ensure_signal_stack` first, since the overflowed stack has no
//!   room left.

use super::guard::install_guards;
use super::reserve::{guard_hit, header_id, page_size};
use core::cell::Cell;
use core::ffi::c_void;
use std::sync::{Once, OnceLock};

/// Size of the alternate signal stacks this module allocates (plus a guard page).
const ALT_STACK_SIZE: usize = 64 * 1024;

/// Dispositions found at install time, to chain to.
static PREVIOUS_SEGV: OnceLock<libc::sigaction> = OnceLock::new();
static PREVIOUS_BUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Installs the SIGSEGV and SIGBUS handler. Process-wide and idempotent; the scheduler
/// calls it once before running goroutines, any thread may.
pub(crate) fn install_overflow_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        install(libc::SIGSEGV, &PREVIOUS_SEGV);
        install(libc::SIGBUS, &PREVIOUS_BUS);
    });
}

/// Saves the current disposition of `sig`, then installs ours. Called once per signal.
fn install(sig: libc::c_int, previous: &OnceLock<libc::sigaction>) {
    // SAFETY: `sigaction` is plain data; all-zero is a valid (empty) value.
    let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: querying the disposition into a valid out-pointer.
    unsafe { libc::sigaction(sig, core::ptr::null(), &mut old) };
    // Saved before ours goes in, so the handler always finds it.
    let _ = previous.set(old);
    // SAFETY: as above, plain data.
    let mut new: libc::sigaction = unsafe { core::mem::zeroed() };
    new.sa_sigaction = handler as extern "C" fn(_, _, _) as usize;
    new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: `new` is a valid sigaction whose handler is async-signal-safe (see the
    // module invariants); `sa_mask` is a valid sigset to empty.
    unsafe {
        libc::sigemptyset(&mut new.sa_mask);
        libc::sigaction(sig, &new, core::ptr::null_mut());
    }
}

/// The signal handler. Runs on the alternate signal stack of the faulting thread.
extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t; for SIGSEGV/SIGBUS
    // raised by a fault (si_code > 0, unlike kill/tgkill) si_addr is the faulting address.
    let fault = unsafe { ((*info).si_code > 0).then(|| (*info).si_addr() as usize) };
    if let Some(hit) = fault.and_then(guard_hit) {
        report(header_id(hit.slot_top), hit.stack_size);
        // SAFETY: abort is async-signal-safe and never returns.
        unsafe { libc::abort() };
    }
    chain(sig, info, ctx);
}

/// Hands a fault that is not ours to the previous disposition. Only `handler` calls it.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let previous = match sig {
        libc::SIGSEGV => PREVIOUS_SEGV.get(),
        _ => PREVIOUS_BUS.get(),
    };
    let Some(prev) = previous.filter(|p| p.sa_sigaction > libc::SIG_IGN) else {
        return reset_default(sig);
    };
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous disposition was installed with SA_SIGINFO, so its
        // handler has the three-argument signature; we pass our own arguments on.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { core::mem::transmute(prev.sa_sigaction) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler takes just the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { core::mem::transmute(prev.sa_sigaction) };
        f(sig);
    }
}

/// Restores the default disposition; returning then re-raises the fault, which kills
/// the process with the usual signal.
fn reset_default(sig: libc::c_int) {
    // SAFETY: plain data, then installing SIG_DFL, which is always valid.
    unsafe {
        let mut dfl: libc::sigaction = core::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &dfl, core::ptr::null_mut());
    }
}

/// Writes "goroutine N: stack overflow (stack size K KiB)\n" to stderr without
/// allocating. Only `handler` calls it.
fn report(id: u64, stack_size: usize) {
    let mut buf = Buf::new();
    buf.push(b"goroutine ");
    buf.push_u64(id);
    buf.push(b": stack overflow (stack size ");
    buf.push_u64((stack_size / 1024) as u64);
    buf.push(b" KiB)\n");
    // SAFETY: writing initialised bytes of a live buffer to fd 2; short writes or
    // errors are ignored, as we are about to abort anyway.
    unsafe { libc::write(2, buf.bytes.as_ptr().cast(), buf.len) };
}

/// A fixed-size text buffer for the signal handler.
struct Buf {
    bytes: [u8; 128],
    len: usize,
}

impl Buf {
    fn new() -> Self {
        Buf {
            bytes: [0; 128],
            len: 0,
        }
    }

    /// Appends as much of `s` as fits.
    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    /// Appends `v` in decimal.
    fn push_u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

/// This thread's alternate signal stack, if this module allocated it; freed when the
/// thread exits.
struct AltStack {
    map: Cell<usize>,
    len: Cell<usize>,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let (map, len) = (self.map.get(), self.len.get());
        if map == 0 {
            return;
        }
        // SAFETY: query, then (if it is still ours) disable the alternate stack before
        // unmapping it; we are not running on it (this is a TLS destructor).
        unsafe {
            let mut cur: libc::stack_t = core::mem::zeroed();
            libc::sigaltstack(core::ptr::null(), &mut cur);
            if cur.ss_sp as usize == map + page_size() {
                let off = libc::stack_t {
                    ss_sp: core::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&off, core::ptr::null_mut());
            }
            libc::munmap(map as *mut c_void, len);
        }
    }
}

thread_local! {
    static ALT_STACK: AltStack = const {
        AltStack { map: Cell::new(0), len: Cell::new(0) }
    };
}

/// Gives this thread an alternate signal stack if it has none (std's threads already
/// have one; it is kept). Per OS thread and idempotent; each thread that runs
/// goroutines calls it before the first one. Best effort: without one, an overflow
/// still kills the process, just without the report.
pub(crate) fn ensure_signal_stack() {
    // SAFETY: querying into a valid out-pointer.
    let cur = unsafe {
        let mut cur: libc::stack_t = core::mem::zeroed();
        libc::sigaltstack(core::ptr::null(), &mut cur);
        cur
    };
    if cur.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    let page = page_size();
    let size = ALT_STACK_SIZE.max(libc::SIGSTKSZ).next_multiple_of(page);
    let len = size + page;
    // SAFETY: a fresh private anonymous mapping that aliases nothing.
    let map = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANON,
            -1,
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return;
    }
    let map = map as usize;
    let _ = install_guards(&[map], page);
    let recorded = ALT_STACK.try_with(|a| {
        a.map.set(map);
        a.len.set(len);
    });
    let st = libc::stack_t {
        ss_sp: (map + page) as *mut c_void,
        ss_flags: 0,
        ss_size: size,
    };
    // SAFETY: `st` describes the mapping above, owned by this thread's `ALT_STACK`
    // until the thread exits; if TLS is already gone we unmap it instead.
    unsafe {
        if recorded.is_ok() {
            libc::sigaltstack(&st, core::ptr::null_mut());
        } else {
            libc::munmap(map as *mut c_void, len);
        }
    }
}

/// Whether this thread currently has an alternate signal stack.
#[cfg(all(test, not(loom)))]
pub(super) fn has_signal_stack() -> bool {
    // SAFETY: querying into a valid out-pointer.
    unsafe {
        let mut cur: libc::stack_t = core::mem::zeroed();
        libc::sigaltstack(core::ptr::null(), &mut cur);
        cur.ss_flags & libc::SS_DISABLE == 0
    }
}
