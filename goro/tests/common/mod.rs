//! Child-process helpers shared by the integration tests whose cases need a
//! runtime of their own (GOMAXPROCS, builder options, a crash): the test
//! binary re-executes itself with `GORO_CHILD=<test name>` and the parent
//! half checks what the child printed.

use std::process::{Command, Output};

/// In the child process for `name`, runs `child` and exits; in the parent,
/// returns false so the test runs its parent half.
pub fn child_part(name: &str, child: impl FnOnce()) -> bool {
    if std::env::var("GORO_CHILD").as_deref() == Ok(name) {
        child();
        std::process::exit(0);
    }
    false
}

/// Runs the test `name` alone in a child process with `envs` set (and
/// `GOMAXPROCS` unset unless `envs` sets it).
pub fn spawn_child(name: &str, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
        "--include-ignored",
    ])
    .env("GORO_CHILD", name)
    .env("RUST_BACKTRACE", "0")
    .env_remove("GOMAXPROCS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}
