//! CI smoke test: the harness runs every workload at tiny sizes, exits 0 and writes
//! a report.json with every workload in it, with Go on PATH or without.

use std::path::{Path, PathBuf};
use std::process::Command;

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run_quick(out: &Path, extra: &[&str], path_env: Option<&str>) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_goro-bench"));
    cmd.args(["--quick", "--runs", "2", "--out"])
        .arg(out)
        .args(extra);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    let res = cmd.output().expect("running goro-bench");
    let stdout = String::from_utf8_lossy(&res.stdout);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(
        res.status.success(),
        "goro-bench failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        res.status
    );
    for f in ["report.json", "report.md"] {
        assert!(out.join(f).is_file(), "{f} not written\nstdout:\n{stdout}");
    }
    let text = std::fs::read_to_string(out.join("report.json")).expect("reading report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn workload<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["results"]
        .as_array()
        .expect("results array")
        .iter()
        .find(|r| r["workload"] == name)
        .unwrap_or_else(|| panic!("workload {name} missing from report.json"))
}

fn cell<'a>(row: &'a serde_json::Value, runtime: &str) -> &'a serde_json::Value {
    row["cells"]
        .as_array()
        .expect("cells array")
        .iter()
        .find(|c| c["runtime"] == runtime)
        .unwrap_or_else(|| panic!("{} has no {runtime} cell", row["workload"]))
}

/// Every workload, and the runtimes that must produce a figure for it (goro is
/// checked separately: it is optional).
const EXPECTED: &[(&str, &[&str])] = &[
    ("spawn_join", &["tokio", "std-thread"]),
    ("skynet", &["tokio"]),
    ("rss_parked", &["tokio"]),
    ("pingpong", &["tokio", "may", "std-thread"]),
    ("spsc_unbuffered", &["std-thread"]),
    ("spsc_buffered", &["tokio", "std-thread"]),
    ("mpmc_4x4", &["std-thread"]),
    ("select4", &["tokio", "std-thread"]),
    ("sieve", &["tokio"]),
    ("thread_ring", &["tokio", "may"]),
    ("worker_pool", &["std-thread"]),
    ("sleepers", &["tokio", "may"]),
];

#[test]
fn quick_run_reports_every_workload() {
    let out = out_dir("smoke-all");
    // --all: also anything marked off by default.
    let report = run_quick(&out, &["--all"], None);
    let mut names: Vec<String> = EXPECTED.iter().map(|(n, _)| n.to_string()).collect();
    for (name, peers) in EXPECTED {
        let row = workload(&report, name);
        for rt in *peers {
            let c = cell(row, rt);
            assert_eq!(c["status"], "ok", "{name}/{rt}: {c}");
            assert!(c["figure"].as_f64().is_some(), "{name}/{rt} has no figure");
        }
    }
    // crossbeam-channel's set: every shape on every channel, with crossbeam itself.
    for kind in ["spsc", "mpsc", "mpmc", "select_rx", "select_both"] {
        for cap in ["bounded0", "bounded1", "boundedN", "unbounded"] {
            names.push(format!("cb_{kind}_{cap}"));
        }
    }
    names.extend([
        "cb_seq_boundedN".to_string(),
        "cb_seq_unbounded".to_string(),
    ]);
    for name in names.iter().filter(|n| n.starts_with("cb_")) {
        let c = cell(workload(&report, name), "std-thread");
        assert_eq!(c["status"], "ok", "{name}/std-thread: {c}");
    }
    if cfg!(feature = "goro") {
        for name in &names {
            let c = cell(workload(&report, name), "goro");
            assert_eq!(c["status"], "ok", "{name}/goro: {c}");
        }
    }
    if std::process::Command::new("go")
        .arg("version")
        .output()
        .is_ok()
    {
        for name in &names {
            let c = cell(workload(&report, name), "go");
            assert_eq!(c["status"], "ok", "{name}/go: {c}");
        }
    }
    let spawn = workload(&report, "spawn_join");
    assert_eq!(cell(spawn, "std-thread")["status"], "ok");
    assert_eq!(cell(spawn, "std-thread")["n"], 100);
}

#[test]
fn only_takes_a_group_prefix() {
    let out = out_dir("smoke-group");
    let report = run_quick(
        &out,
        &["--only", "spsc", "--runtimes", "std-thread"],
        Some(""),
    );
    let names: Vec<&str> = report["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(|r| r["workload"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["spsc_unbuffered", "spsc_buffered"]);
}

#[test]
fn quick_run_without_go_skips_the_go_column() {
    let out = out_dir("smoke-no-go");
    // An empty PATH: no `go`. The harness re-executes itself by absolute path.
    let report = run_quick(
        &out,
        &["--only", "spawn_join", "--runtimes", "go,tokio"],
        Some(""),
    );
    let row = workload(&report, "spawn_join");
    let go = cell(row, "go");
    assert_eq!(go["status"], "skipped");
    assert_eq!(go["message"], "skipped (no go on PATH)");
    assert_eq!(cell(row, "tokio")["status"], "ok");
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(md.contains("skipped (no go on PATH)"), "{md}");
}
