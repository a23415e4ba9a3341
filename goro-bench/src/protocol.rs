//! The one JSON line a worker prints (the Rust workers and `bench/go` alike).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerOutput {
    pub workload: String,
    pub runtime: String,
    pub n: usize,
    pub warmup: usize,
    pub runs: usize,
    /// OS threads running goroutines (GOMAXPROCS, tokio workers, may workers).
    #[serde(default)]
    pub threads: usize,
    /// Wall time of each measured run, in nanoseconds.
    #[serde(default)]
    pub samples_ns: Vec<u64>,
    #[serde(default)]
    pub median_ns: u64,
    /// RSS growth of each measured run, in bytes (empty where not measured).
    #[serde(default)]
    pub rss_delta_bytes: Vec<i64>,
    /// The worker's peak RSS (VmHWM), in KiB.
    #[serde(default)]
    pub max_rss_kib: Option<u64>,
    /// Set when the workload failed in a way the worker could report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The median of `xs` (the mean of the middle two for an even count); `None` if empty.
pub fn median(xs: &[u64]) -> Option<f64> {
    let mut v = xs.to_vec();
    v.sort_unstable();
    let k = v.len();
    match k {
        0 => None,
        _ if k % 2 == 1 => Some(v[k / 2] as f64),
        _ => Some((v[k / 2 - 1] as f64 + v[k / 2] as f64) / 2.0),
    }
}
