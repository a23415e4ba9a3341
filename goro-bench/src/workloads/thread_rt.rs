//! std-thread peer: one OS thread per "goroutine". Only `spawn_join`, at a reduced n
//! (the registry says which), as the floor every green-thread runtime must beat.

use std::time::Instant;

use super::{Sample, WorkloadFn};

pub fn find(workload: &str) -> Option<WorkloadFn> {
    Some(match workload {
        "spawn_join" => spawn_join,
        _ => return None,
    })
}

fn spawn_join(n: usize) -> Result<Sample, String> {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let h = std::thread::Builder::new()
            .spawn(|| ())
            .map_err(|e| format!("spawning thread {}: {e}", handles.len()))?;
        handles.push(h);
    }
    for h in handles {
        h.join().map_err(|_| "thread panicked".to_string())?;
    }
    Ok(Sample::since(start))
}
