//! `struct kref` over `refcount_t` (include/linux/kref.h,
//! include/linux/refcount.h), with the `REFCOUNT_MAX` check that the merged
//! `vm_area_dup()` makes before taking a reference (mm/vma_init.c,
//! `vma_pfnmap_track_ctx_dup()`).

use std::sync::atomic::{AtomicU32, Ordering};

use crate::errno::Errno;

/// `REFCOUNT_MAX`: `INT_MAX`.
pub const REFCOUNT_MAX: u32 = i32::MAX as u32;

/// A reference count: 4 bytes, like `refcount_t`.
///
/// Invariant: the count is at least 1 while the object is reachable; the
/// `put` that takes it to 0 is the one that releases the object.
#[derive(Debug)]
pub struct Kref(AtomicU32);

impl Kref {
    /// `kref_init()`: one reference, held by the caller.
    pub const fn new() -> Self {
        Kref(AtomicU32::new(1))
    }

    /// A count of `n` (tests that start near the limit).
    pub const fn with_count(n: u32) -> Self {
        Kref(AtomicU32::new(n))
    }

    /// `kref_read()`.
    #[inline]
    pub fn read(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// `vma_pfnmap_track_ctx_dup()`'s guarded `kref_get()`: refuse with
    /// `ENOMEM` when the count already is `limit` (the kernel uses
    /// `REFCOUNT_MAX`; a smaller limit lets tests reach it).
    ///
    /// Like the kernel, the check and the increment are two steps: racing
    /// getters may overshoot `limit` by the number of racers, which is
    /// harmless far below `u32::MAX`.
    #[inline]
    pub fn get_below(&self, limit: u32) -> Result<(), Errno> {
        if self.read() >= limit {
            return Err(Errno::ENOMEM);
        }
        // Relaxed is enough for an increment (refcount_inc()): the caller
        // already holds a reference, so the object cannot go away.
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `kref_put()`: drop one reference. Return: `true` when it was the last
    /// one and the caller must release the object.
    #[inline]
    #[must_use]
    pub fn put(&self) -> bool {
        // Release orders this owner's writes before the decrement; the
        // final owner's Acquire fence pairs with every other owner's release
        // (refcount_dec_and_test()).
        let old = self.0.fetch_sub(1, Ordering::Release);
        debug_assert!(old >= 1, "kref underflow");
        if old == 1 {
            std::sync::atomic::fence(Ordering::Acquire);
            true
        } else {
            false
        }
    }
}

impl Default for Kref {
    fn default() -> Self {
        Kref::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_refused_at_refcount_max() {
        let k = Kref::with_count(REFCOUNT_MAX - 1);
        assert_eq!(k.get_below(REFCOUNT_MAX), Ok(()));
        assert_eq!(k.read(), REFCOUNT_MAX);
        assert_eq!(k.get_below(REFCOUNT_MAX), Err(Errno::ENOMEM));
        assert_eq!(k.read(), REFCOUNT_MAX);
    }

    #[test]
    fn last_put_reports_release() {
        let k = Kref::new();
        k.get_below(REFCOUNT_MAX).unwrap();
        assert!(!k.put());
        assert!(k.put());
    }
}
