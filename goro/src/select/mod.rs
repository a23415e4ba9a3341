//! `select`: wait on several channel operations, commit exactly one.
//!
//! The algorithm is Go's `selectgo`:
//!
//! 1. Visit the enabled arms in a random order (fairness between ready arms)
//!    after locking their channels in address order (no deadlock between two
//!    selects that share channels, whatever order their arms are written in).
//! 2. The first arm that can complete now completes; all locks are released.
//! 3. Otherwise, with `default`, nothing happens. Otherwise one `Waiter`
//!    (the runtime's wait queue, `runtime::wait`) gets a node queued on
//!    every arm's channel, the locks are released, and the goroutine (or
//!    thread) parks until a counterpart claims one arm (the commit protocol
//!    in `runtime::wait`) or the deadline passes.
//! 4. The waiter then takes its other nodes out of their channels.
//!
//! Arms are the channel operations of `chan::op`, each owning the slot its
//! value travels through, so a value is never in two places and never lost:
//! a failed send keeps its value in its arm and gives it back. What the
//! `select!` macro expands to lives in `goro::__private`, which is not API;
//! the arms' trait is crate-private and `unsafe`, so no outside type can
//! take part in the locking. The traits that say what an arm can name are
//! sealed:
//!
//! ```compile_fail
//! struct MyQueue;
//! impl goro::select::RecvSource<u32> for MyQueue {} // sealed: not implementable
//! ```
//!
//! and nothing but goro's own channel operations becomes an arm:
//!
//! ```compile_fail
//! struct MyArm;
//! let arm = goro::__private::ArmRef::from(&MyArm); // no such conversion
//! ```

pub(crate) mod core;
mod dynamic;
mod macros;

pub(crate) use self::core::{run, ArmRef, Mode, Outcome};
pub use crate::chan::op::{RecvSource, SendSource};
pub use dynamic::{RecvToken, Select, SendToken};
