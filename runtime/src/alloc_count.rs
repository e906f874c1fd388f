//! A counting global allocator: the proof that the hot path allocates
//! nothing.
//!
//! The `odex` binary and each zero-allocation test declare [`Counting`] as
//! their `#[global_allocator]`. It counts the allocations (`alloc`,
//! `alloc_zeroed`, `realloc`) made on the current thread while that thread
//! has armed it, so other threads (and tests running in parallel) allocate
//! freely without disturbing the count. When it is not the global
//! allocator, [`count`] stays zero.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to [`System`], counting on armed threads.
pub struct Counting;

thread_local! {
    // const-initialised and without destructors: touching them never allocates
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the thread-locals may already be gone while a thread exits
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged, so `System`'s guarantees carry over; the only extra
// work touches const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as this method's caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as this method's caller.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as this method's caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as this method's caller.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Starts (`true`) or stops counting on this thread.
pub fn arm(on: bool) {
    ARMED.with(|a| a.set(on));
}

/// Allocations counted on this thread so far.
pub fn count() -> u64 {
    COUNT.with(Cell::get)
}

/// Sets this thread's count back to zero.
pub fn reset() {
    COUNT.with(|n| n.set(0));
}

/// Allocations made on this thread while running `f`.
pub fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = count();
    arm(true);
    f();
    arm(false);
    count() - before
}

/// True when [`Counting`] is the process's global allocator (an armed
/// allocation is seen).
pub fn is_global() -> bool {
    allocations_in(|| {
        let probe = std::hint::black_box(Box::new(0u8));
        drop(probe);
    }) > 0
}
