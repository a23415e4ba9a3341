//! The `select!` macro: parses the arms, builds one channel operation per
//! arm, runs the select (`select::core::run`) and dispatches to the
//! committed arm. Everything it names lives in `goro::__private`.

/// Waits on several channel operations and runs the one that completes, as
/// Go's `select`. Exactly one arm commits: no value is taken from, or given
/// to, any other arm. Among ready arms the choice is uniformly random.
///
/// Arms:
/// - `recv(rx) -> v => body`: `v` is `Option<T>`, `None` once the channel is
///   closed and drained.
/// - `send(tx, value) -> res => body`: `res` is `Result<(), SendError<T>>`;
///   on a closed channel the value comes back in the error.
/// - `default => body`: runs when no arm is ready (the select does not block).
/// - `timeout(duration) => body`: runs when no arm completed in time.
///
/// `rx`/`tx` may be a `Receiver`/`Sender`, a reference to one, or an
/// `Option` of one: `None` switches the arm off (Go's nil channel).
///
/// ```
/// let (tx, rx) = goro::chan::<i32>(0);
/// let (done_tx, done_rx) = goro::chan::<()>(0);
/// goro::go(move || {
///     tx.send(1).unwrap();
///     drop(done_tx);
/// });
/// let mut got = Vec::new();
/// loop {
///     goro::select! {
///         recv(rx) -> v => got.extend(v),
///         recv(done_rx) -> _ => break,
///     }
/// }
/// assert_eq!(got, [1]);
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__select_parse!([] [] $($tokens)*)
    };
}

/// Parses `select!` arms into `[(kind args... (pat) (body))...] [fallback]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // recv
    ([$($a:tt)*] [$($f:tt)*] recv($rx:expr) -> $p:pat => $b:block , $($rest:tt)*) => {
        $crate::__select_parse!([$($a)* (recv ($rx) ($p) ($b))] [$($f)*] $($rest)*)
    };
    ([$($a:tt)*] [$($f:tt)*] recv($rx:expr) -> $p:pat => $b:block $($rest:tt)*) => {
        $crate::__select_parse!([$($a)* (recv ($rx) ($p) ($b))] [$($f)*] $($rest)*)
    };
    ([$($a:tt)*] [$($f:tt)*] recv($rx:expr) -> $p:pat => $b:expr , $($rest:tt)*) => {
        $crate::__select_parse!([$($a)* (recv ($rx) ($p) ($b))] [$($f)*] $($rest)*)
    };
    ([$($a:tt)*] [$($f:tt)*] recv($rx:expr) -> $p:pat => $b:expr) => {
        $crate::__select_parse!([$($a)* (recv ($rx) ($p) ($b))] [$($f)*])
    };
    // send
    ([$($a:tt)*] [$($f:tt)*] send($tx:expr, $v:expr) -> $p:pat => $b:block , $($rest:tt)*) => {
        $crate::__select_parse!([$($a)* (send ($tx, $v) ($p) ($b))] [$($f)*] $($rest)*)
    };
    ([$($a:tt)*] [$($f:tt)*] send($tx:expr, $v:expr) -> $p:pat => $b:block $($rest:tt)*) => {
        $crate::__select_parse!([$($a)* (send ($tx, $v) ($p) ($b))] [$($f)*] $($rest)*)
    };
    ([$($a:tt)*] [$($f:tt)*] send($tx:expr, $v:expr) -> $p:pat => $b:expr , $($rest:tt)*) => {
        $crate::__select_parse!([$($a)* (send ($tx, $v) ($p) ($b))] [$($f)*] $($rest)*)
    };
    ([$($a:tt)*] [$($f:tt)*] send($tx:expr, $v:expr) -> $p:pat => $b:expr) => {
        $crate::__select_parse!([$($a)* (send ($tx, $v) ($p) ($b))] [$($f)*])
    };
    // default
    ([$($a:tt)*] [] default => $b:block , $($rest:tt)*) => {
        $crate::__select_parse!([$($a)*] [(default ($b))] $($rest)*)
    };
    ([$($a:tt)*] [] default => $b:block $($rest:tt)*) => {
        $crate::__select_parse!([$($a)*] [(default ($b))] $($rest)*)
    };
    ([$($a:tt)*] [] default => $b:expr , $($rest:tt)*) => {
        $crate::__select_parse!([$($a)*] [(default ($b))] $($rest)*)
    };
    ([$($a:tt)*] [] default => $b:expr) => {
        $crate::__select_parse!([$($a)*] [(default ($b))])
    };
    // timeout
    ([$($a:tt)*] [] timeout($d:expr) => $b:block , $($rest:tt)*) => {
        $crate::__select_parse!([$($a)*] [(timeout ($d) ($b))] $($rest)*)
    };
    ([$($a:tt)*] [] timeout($d:expr) => $b:block $($rest:tt)*) => {
        $crate::__select_parse!([$($a)*] [(timeout ($d) ($b))] $($rest)*)
    };
    ([$($a:tt)*] [] timeout($d:expr) => $b:expr , $($rest:tt)*) => {
        $crate::__select_parse!([$($a)*] [(timeout ($d) ($b))] $($rest)*)
    };
    ([$($a:tt)*] [] timeout($d:expr) => $b:expr) => {
        $crate::__select_parse!([$($a)*] [(timeout ($d) ($b))])
    };
    ([$($a:tt)*] [$($f:tt)+] default $($rest:tt)*) => {
        ::core::compile_error!("select!: at most one `default` or `timeout` arm")
    };
    ([$($a:tt)*] [$($f:tt)+] timeout $($rest:tt)*) => {
        ::core::compile_error!("select!: at most one `default` or `timeout` arm")
    };
    // done
    ([$($a:tt)*] [$($f:tt)*]) => {
        $crate::__select_bind!([$($a)*] [] [$($f)*])
    };
}

/// Binds one arm variable per operation (each expansion's `arm` is a fresh
/// identifier), then runs the select and dispatches.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_bind {
    ([(recv ($rx:expr) ($p:pat) ($b:expr)) $($rest:tt)*] [$($bound:tt)*] $f:tt) => {{
        // `let x = &temp;` extends the temporary's life (e.g. `never()`).
        let source = &$rx;
        let arm = $crate::__private::RecvOp::new(source);
        $crate::__select_bind!([$($rest)*] [$($bound)* (arm ($p) ($b))] $f)
    }};
    ([(send ($tx:expr, $v:expr) ($p:pat) ($b:expr)) $($rest:tt)*] [$($bound:tt)*] $f:tt) => {{
        let target = &$tx;
        let arm = $crate::__private::SendOp::new(target, $v);
        $crate::__select_bind!([$($rest)*] [$($bound)* (arm ($p) ($b))] $f)
    }};
    ([] [$(($arm:ident ($p:pat) ($b:expr)))*] [$($f:tt)*]) => {{
        let outcome = {
            let arms: &[$crate::__private::ArmRef<'_>] =
                &[$($crate::__private::ArmRef::from(&$arm)),*];
            $crate::__private::run(arms, $crate::__select_mode!($($f)*))
        };
        $crate::__select_dispatch!(outcome (0usize) [$(($arm ($p) ($b)))*] [$($f)*])
    }};
}

/// An `if`/`else` chain over the arms (no labelled block, so a `break` or
/// `continue` in an arm's body reaches the user's loop).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_dispatch {
    ($o:ident ($i:expr) [($arm:ident ($p:pat) ($b:expr)) $($rest:tt)*] $f:tt) => {
        if $o == $crate::__private::Outcome::Arm($i) {
            let $p = $arm.into_result();
            $b
        } else {
            $crate::__select_dispatch!($o ($i + 1) [$($rest)*] $f)
        }
    };
    ($o:ident ($i:expr) [] [$($f:tt)*]) => {
        $crate::__select_fallback!($($f)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_mode {
    () => {
        $crate::__private::Mode::Block
    };
    ((default ($b:expr))) => {
        $crate::__private::Mode::NonBlock
    };
    ((timeout ($d:expr) ($b:expr))) => {
        $crate::__private::Mode::Deadline(::std::time::Instant::now() + $d)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_fallback {
    () => {
        ::core::unreachable!("select! without default or timeout returned no arm")
    };
    ((default ($b:expr))) => {
        $b
    };
    ((timeout ($d:expr) ($b:expr))) => {
        $b
    };
}
