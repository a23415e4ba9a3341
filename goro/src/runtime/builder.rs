//! The runtime's configuration and its builder. The runtime is one per
//! process, as Go's is: it starts on first use with the defaults (or the
//! `GOMAXPROCS` environment variable), or once, earlier, from a [`Builder`].

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::runtime::sched::{self, StartError};
use crate::stack::StackError;

/// What happens when a goroutine panics and nobody will ever see the panic
/// (its [`JoinHandle`](crate::JoinHandle) was dropped without joining).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PanicPolicy {
    /// Report it with the goroutine's id and end the program with exit code
    /// 2, as Go does. The default.
    #[default]
    Exit,
    /// Report it with the goroutine's id and carry on.
    Log,
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) gomaxprocs: usize,
    pub(crate) stack_size: usize,
    pub(crate) panic_policy: PanicPolicy,
    pub(crate) max_threads: usize,
    pub(crate) retake_after: Duration,
}

/// Default usable stack size of a goroutine. Only touched pages cost memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Default cap on OS threads, Go's.
pub const DEFAULT_MAX_THREADS: usize = 10_000;

impl Config {
    /// The defaults, with `GOMAXPROCS` from the environment when it is a
    /// positive integer (otherwise it is ignored with a warning, as Go does).
    pub(crate) fn from_env() -> Config {
        Config {
            gomaxprocs: gomaxprocs_from_env().unwrap_or_else(available_cpus),
            stack_size: DEFAULT_STACK_SIZE,
            panic_policy: PanicPolicy::Exit,
            max_threads: DEFAULT_MAX_THREADS,
            retake_after: Duration::from_millis(10),
        }
    }
}

fn gomaxprocs_from_env() -> Option<usize> {
    let raw = std::env::var("GOMAXPROCS").ok()?;
    match raw.trim().parse::<usize>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            eprintln!("goro: ignoring GOMAXPROCS={raw:?}: not a positive integer");
            None
        }
    }
}

/// The CPUs this process may use: affinity mask and cgroup quota included
/// (`std::thread::available_parallelism` reads both on Linux).
fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Configures the process's runtime before its first use.
///
/// ```
/// goro::runtime::Builder::new()
///     .gomaxprocs(2)
///     .start()
///     .ok(); // Err if the runtime was already running
/// assert!(goro::runtime::gomaxprocs() >= 1);
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// The defaults: `GOMAXPROCS` from the environment or the usable CPUs,
    /// 256 KiB stacks, [`PanicPolicy::Exit`], at most 10 000 threads.
    pub fn new() -> Builder {
        Builder {
            config: Config::from_env(),
        }
    }

    /// The number of Ps: how many goroutines run in parallel.
    pub fn gomaxprocs(mut self, n: usize) -> Builder {
        self.config.gomaxprocs = n;
        self
    }

    /// Usable stack bytes per goroutine (rounded up to pages), 16 KiB to
    /// 1 GiB. Address space is reserved for it; memory only as touched.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.config.stack_size = bytes;
        self
    }

    /// What an unobserved goroutine panic does.
    pub fn panic_policy(mut self, policy: PanicPolicy) -> Builder {
        self.config.panic_policy = policy;
        self
    }

    /// The most OS threads the scheduler may run (threads blocked in system
    /// calls count). Past it the program ends, as Go's does.
    pub fn max_threads(mut self, n: usize) -> Builder {
        self.config.max_threads = n;
        self
    }

    /// How long one goroutine may hold its processor without a scheduling
    /// point before sysmon hands the processor to another thread.
    pub fn retake_after(mut self, d: Duration) -> Builder {
        self.config.retake_after = d;
        self
    }

    /// Starts the runtime with this configuration.
    pub fn start(self) -> Result<(), BuildError> {
        let c = &self.config;
        if c.gomaxprocs == 0 {
            return Err(BuildError::ZeroProcs);
        }
        if c.max_threads < c.gomaxprocs {
            return Err(BuildError::TooFewThreads {
                max_threads: c.max_threads,
                gomaxprocs: c.gomaxprocs,
            });
        }
        match sched::start(self.config) {
            Ok(_) => Ok(()),
            Err(StartError::AlreadyStarted) => Err(BuildError::AlreadyStarted),
            Err(StartError::Stack(e)) => Err(BuildError::Stack(e)),
        }
    }
}

/// Why a [`Builder`] could not start the runtime.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The runtime is already running (it starts on first use).
    AlreadyStarted,
    /// `gomaxprocs(0)`.
    ZeroProcs,
    /// `max_threads` below `gomaxprocs`.
    TooFewThreads {
        max_threads: usize,
        gomaxprocs: usize,
    },
    /// The stack size is out of range, or no address space could be had.
    Stack(StackError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::AlreadyStarted => f.write_str(
                "the goro runtime is already running; configure it before its first use",
            ),
            BuildError::ZeroProcs => f.write_str("gomaxprocs must be at least 1"),
            BuildError::TooFewThreads {
                max_threads,
                gomaxprocs,
            } => write!(
                f,
                "max_threads ({max_threads}) must be at least gomaxprocs ({gomaxprocs})"
            ),
            BuildError::Stack(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BuildError {}
