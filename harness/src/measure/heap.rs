//! The counting global allocator: the simulator's own heap (current and
//! peak bytes), a cross-check on the kernel-bytes model, not a kernel
//! figure. The `pfntrack` binary installs it with `#[global_allocator]`.
//!
//! Structure: each thread keeps its not-yet-published byte delta in a
//! `thread_local!` `Cell` (const-initialised, no destructor, so touching it
//! never allocates and never fails on native TLS). When the delta passes
//! ±[`FLUSH_THRESHOLD_BYTES`], or at [`sample`], it is added to the global
//! `CURRENT` and `PEAK` is raised to match. So an allocation costs a TLS
//! add and compare, and the shared cache line is written about once per
//! 64 KiB of traffic per thread, not on every call. No lock: two relaxed
//! atomics (the counts order nothing else).
//!
//! Precision: bytes are the sizes asked for (`Layout::size`), not what the
//! system allocator rounds them to, and exclude its headers. At any moment
//! `current_bytes` is off by less than `FLUSH_THRESHOLD_BYTES` for each
//! thread that has allocated since its last flush (the caller's own thread
//! is flushed first, so it is exact); `peak_bytes` is the largest value
//! `CURRENT` took at a flush or sample point, so it may miss a short spike
//! by the same bound. A thread that exits with a pending delta loses it
//! (up to 64 KiB per thread): workers should call [`sample`] before they
//! return. With 2 workers plus the main thread the error is under 192 KiB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

/// A thread publishes its byte delta once it exceeds this in either
/// direction (64 KiB).
pub const FLUSH_THRESHOLD_BYTES: u64 = 64 * 1024;

/// Published bytes in use. Signed: one thread may free what another
/// allocated before the allocating thread has published it.
static CURRENT: AtomicI64 = AtomicI64::new(0);
/// Largest `CURRENT` seen at a flush or sample point (or since
/// `reset_peak`).
static PEAK: AtomicI64 = AtomicI64::new(0);

thread_local! {
    /// This thread's unpublished delta; |value| <= FLUSH_THRESHOLD_BYTES between calls.
    static PENDING: Cell<i64> = const { Cell::new(0) };
}

/// A [`GlobalAlloc`] over [`System`] that counts the simulator's heap.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

#[inline]
fn publish(delta: i64) {
    let now = CURRENT.fetch_add(delta, Relaxed) + delta;
    // Read before write: the peak line stays shared while it is not raised.
    if delta > 0 && now > PEAK.load(Relaxed) {
        PEAK.fetch_max(now, Relaxed);
    }
}

#[inline]
fn account(delta: i64) {
    let kept = PENDING.try_with(|pending| {
        let d = pending.get() + delta;
        if d.unsigned_abs() > FLUSH_THRESHOLD_BYTES {
            pending.set(0);
            publish(d);
        } else {
            pending.set(d);
        }
    });
    if kept.is_err() {
        // TLS already torn down (allocations in thread exit): count it
        // directly rather than lose it.
        publish(delta);
    }
}

/// A size as a signed delta. Layout sizes are at most `isize::MAX`.
#[inline]
fn bytes(size: usize) -> i64 {
    size as i64
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System` upholds the GlobalAlloc contract; the counting
// around it only touches a const thread-local `Cell` and atomics, never
// allocates, and never unwinds.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` (non-zero size) is
        // passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            account(bytes(layout.size()));
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            account(bytes(layout.size()));
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator with
        // `layout`, and this allocator hands out only `System` blocks.
        unsafe { System.dealloc(ptr, layout) };
        account(-bytes(layout.size()));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, plus the caller's guarantee that
        // `new_size` is non-zero and does not overflow when rounded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // On failure the old block is untouched and still counted.
            account(bytes(new_size) - bytes(layout.size()));
        }
        p
    }
}

/// Publish this thread's pending delta.
fn flush_this_thread() {
    let pending = PENDING.try_with(|p| p.replace(0)).unwrap_or(0);
    if pending != 0 {
        publish(pending);
    }
}

/// Whether [`CountingAlloc`] is the global allocator of this process (false
/// in library unit tests and in programs that do not install it, where the
/// other functions here report 0).
pub fn installed() -> bool {
    flush_this_thread();
    // After the flush this thread's delta is 0; a 4 KiB allocation through
    // the global allocator moves it to exactly 4096 (below the threshold,
    // so it stays pending) only if the global allocator is ours.
    let probe: Vec<u8> = Vec::with_capacity(4096);
    std::hint::black_box(&probe);
    let seen = PENDING.try_with(Cell::get).unwrap_or(0) == 4096;
    drop(probe);
    seen
}

/// Bytes of heap in use now (this thread flushed first; see the module
/// header for the bound on other threads' unpublished bytes).
pub fn current_bytes() -> u64 {
    flush_this_thread();
    u64::try_from(CURRENT.load(Relaxed)).unwrap_or(0)
}

/// Largest heap in use at any flush or sample point since the start or the
/// last [`reset_peak`], bytes. Samples first.
pub fn peak_bytes() -> u64 {
    sample();
    u64::try_from(PEAK.load(Relaxed)).unwrap_or(0)
}

/// Start a new peak from the current heap (e.g. before each repeat).
pub fn reset_peak() {
    flush_this_thread();
    PEAK.store(CURRENT.load(Relaxed), Relaxed);
}

/// Publish this thread's pending bytes and raise the peak to the current
/// heap. Call at points where the heap is likely largest, and at the end of
/// each worker thread.
pub fn sample() {
    flush_this_thread();
    PEAK.fetch_max(CURRENT.load(Relaxed), Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_installed_in_library_tests() {
        // Library unit tests run on the default allocator; the counting
        // behaviour is tested in tests/heap_counting.rs, which installs it.
        assert!(!installed());
    }

    #[test]
    fn direct_calls_count_and_forward() {
        let a = CountingAlloc;
        let layout = Layout::from_size_align(256, 16).expect("valid layout");
        let before = PENDING.with(Cell::get);
        // SAFETY: non-zero size; the block is freed below with the same
        // layout and not used otherwise.
        let p = unsafe { a.alloc(layout) };
        assert!(!p.is_null());
        assert_eq!(p.align_offset(16), 0);
        assert_eq!(PENDING.with(Cell::get), before + 256);
        // SAFETY: `p` came from `a.alloc(layout)`; 512 is non-zero.
        let q = unsafe { a.realloc(p, layout, 512) };
        assert!(!q.is_null());
        assert_eq!(PENDING.with(Cell::get), before + 512);
        let grown = Layout::from_size_align(512, 16).expect("valid layout");
        // SAFETY: `q` is the live block of size 512 returned by realloc.
        unsafe { a.dealloc(q, grown) };
        assert_eq!(PENDING.with(Cell::get), before);
    }
}
