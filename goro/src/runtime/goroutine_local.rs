//! Goroutine-local storage: `thread_local!` for goroutines.
//!
//! A goroutine moves between threads, so `thread_local!` values are the
//! wrong home for per-goroutine state; [`goroutine_local!`](crate::goroutine_local)
//! values follow the goroutine instead. Off the runtime, a plain thread
//! counts as its own goroutine.
//!
//! Storage: a lazily allocated list of `(key, Box<value>)` owned by the G
//! (or by a thread-local for plain threads). Invariants: only the owning
//! goroutine touches its list; an entry is never removed or moved while the
//! goroutine lives (boxes keep the values' addresses stable even when the
//! list grows), so `&T` handed out stays valid; the values are dropped on the
//! goroutine when its function returns.

use std::any::Any;
use std::cell::UnsafeCell;

use crate::runtime::g::Locals;
use crate::runtime::m::current_g_ref;

/// A key to a goroutine-local value; made by [`goroutine_local!`](crate::goroutine_local).
pub struct LocalKey<T: Send + 'static> {
    init: fn() -> T,
}

impl<T: Send + 'static> LocalKey<T> {
    /// A key whose values start as `init()`. Only `goroutine_local!`, through
    /// `goro::__private`.
    pub(crate) const fn new(init: fn() -> T) -> Self {
        LocalKey { init }
    }

    /// Calls `f` with this goroutine's value, creating it on first use.
    ///
    /// ```
    /// use std::cell::Cell;
    /// goro::goroutine_local!(static COUNT: Cell<u32> = Cell::new(0));
    ///
    /// let h = goro::go(|| {
    ///     COUNT.with(|c| c.set(c.get() + 1));
    ///     goro::yield_now(); // may resume on another thread: the value follows
    ///     COUNT.with(Cell::get)
    /// });
    /// assert_eq!(h.join().unwrap(), 1);
    /// ```
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let value = match current_g_ref() {
            Some(g) => self.get_or_init(&g.locals),
            None => THREAD_LOCALS.with(|l| self.get_or_init(&l.0)),
        };
        // SAFETY: entries live, unmoved, until the goroutine (or thread)
        // ends, which cannot happen during `f`.
        f(unsafe { &*value })
    }

    fn key(&'static self) -> usize {
        self as *const Self as usize
    }

    /// Only the owner of `cell` (the running goroutine, or this thread).
    fn get_or_init(&'static self, cell: &UnsafeCell<Option<Box<Locals>>>) -> *const T {
        if let Some(v) = find(cell, self.key()) {
            return downcast::<T>(v);
        }
        // `init` may use other goroutine-locals: no borrow is held across it.
        let value: Box<dyn Any + Send> = Box::new((self.init)());
        let ptr = downcast::<T>(&*value as *const (dyn Any + Send));
        // SAFETY: only the owner reaches `cell`, and no reference into the
        // list itself (only into boxed values) is alive here.
        let list = unsafe { &mut *cell.get() };
        list.get_or_insert_with(Default::default)
            .push((self.key(), value));
        ptr
    }
}

fn find(cell: &UnsafeCell<Option<Box<Locals>>>, key: usize) -> Option<*const (dyn Any + Send)> {
    // SAFETY: only the owner reaches `cell`; the shared borrow ends here.
    let list = unsafe { &*cell.get() }.as_deref()?;
    list.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| &**v as *const (dyn Any + Send))
}

fn downcast<T: 'static>(v: *const (dyn Any + Send)) -> *const T {
    // SAFETY: `v` points to a live boxed value (see `with`).
    let any = unsafe { &*v };
    any.downcast_ref::<T>()
        .expect("goroutine-local key with a mismatched type") as *const T
}

/// Drops the goroutine's locals, on the goroutine, as it ends (before its
/// result is published). Destructors that touch goroutine-locals again get
/// fresh values, dropped in turn.
pub(crate) fn drop_current_goroutine_locals() {
    if let Some(g) = current_g_ref() {
        drop_all(&g.locals);
    }
}

fn drop_all(cell: &UnsafeCell<Option<Box<Locals>>>) {
    for _ in 0..8 {
        // SAFETY: only the owner reaches `cell`; no reference into it is live.
        let Some(list) = (unsafe { &mut *cell.get() }).take() else {
            return;
        };
        drop(list);
    }
}

struct ThreadLocals(UnsafeCell<Option<Box<Locals>>>);

impl Drop for ThreadLocals {
    fn drop(&mut self) {
        // A destructor that re-enters a goroutine-local during thread exit
        // would find THREAD_LOCALS gone and panic, like `thread_local!`.
        drop(self.0.get_mut().take());
    }
}

thread_local! {
    static THREAD_LOCALS: ThreadLocals = const { ThreadLocals(UnsafeCell::new(None)) };
}

/// Declares goroutine-local values, like `thread_local!` but per goroutine.
///
/// ```
/// goro::goroutine_local! {
///     static NAME: std::cell::RefCell<String> = std::cell::RefCell::new(String::new());
/// }
/// NAME.with(|n| n.borrow_mut().push_str("main"));
/// ```
#[macro_export]
macro_rules! goroutine_local {
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty = $init:expr $(;)?) => {
        $(#[$attr])*
        $vis static $name: $crate::runtime::LocalKey<$t> = {
            fn __goro_init() -> $t {
                $init
            }
            $crate::__private::local_key(__goro_init)
        };
    };
}
