//! Resident set size from `/proc` (Linux). Every peer reads it the same way:
//! resident pages from `/proc/self/statm` times the page size.

use std::sync::OnceLock;

/// The page size, from the `AT_PAGESZ` entry of `/proc/self/auxv`; 4096 if unreadable.
pub fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| {
        const AT_PAGESZ: u64 = 6;
        let Ok(auxv) = std::fs::read("/proc/self/auxv") else {
            return 4096;
        };
        auxv.chunks_exact(16)
            .map(|pair| {
                let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8]));
                (word(&pair[..8]), word(&pair[8..]))
            })
            .find(|&(key, _)| key == AT_PAGESZ)
            .map_or(4096, |(_, value)| value)
    })
}

/// The current resident set size in bytes.
pub fn current() -> Result<u64, String> {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .map_err(|e| format!("reading /proc/self/statm: {e}"))?;
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| format!("unexpected /proc/self/statm: {statm:?}"))?;
    Ok(resident * page_size())
}

/// The peak resident set size (`VmHWM`) in KiB, if readable.
pub fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
