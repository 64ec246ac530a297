//! A userspace stand-in for the kernel's `spinlock_t`
//! (include/linux/spinlock.h), used for `memtype_lock` and `xa_lock`.
//!
//! Uncontended, it costs what a kernel `spin_lock()` costs: one atomic
//! exchange to take and one release store to drop. Contended, a kernel
//! spinner cannot be preempted by the holder (preemption is off); in
//! userspace the holder *can* be descheduled, so after a bounded spin the
//! waiter yields its CPU instead of burning the time slice the holder needs.
//! That keeps `--threads N` runs on a 2-core machine meaningful.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// Spins before a waiter starts yielding: long enough to cover a typical
/// memtype or XArray critical section (well under a microsecond).
const SPINS_BEFORE_YIELD: u32 = 256;

/// A test-and-test-and-set spinlock protecting a `T`.
pub struct SpinLock<T> {
    locked: AtomicBool,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one thread at a time, so sharing
// the lock between threads is sound exactly when `T` may be sent between them.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the `T` it owns.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// An unlocked lock around `data` (`DEFINE_SPINLOCK`).
    pub const fn new(data: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            data: UnsafeCell::new(data),
        }
    }

    /// `spin_lock()`: take the lock, waiting as long as it takes. Out of
    /// line, as x86's `_raw_spin_lock()` is (kernel/locking/spinlock.c;
    /// x86 does not inline spinlocks).
    #[inline(never)]
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        SpinLockGuard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            // Test before test-and-set: spin on a shared cache line, not on
            // an exclusive one.
            while self.locked.load(Ordering::Relaxed) {
                if spins < SPINS_BEFORE_YIELD {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Exclusive access without locking: `&mut self` proves no one else holds it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The protected data, consuming the lock.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: Default> Default for SpinLock<T> {
    fn default() -> Self {
        SpinLock::new(T::default())
    }
}

impl<T> std::fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpinLock")
            .field("locked", &self.locked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Holds the lock; `spin_unlock()` happens on drop.
pub struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while `locked` is held by this
        // thread, so no other reference to the data is live.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow
        // through the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    /// `spin_unlock()`: out of line, as x86's `_raw_spin_unlock()` is.
    #[inline(never)]
    fn drop(&mut self) {
        debug_assert!(self.lock.locked.load(Ordering::Relaxed));
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_under_contention() {
        let lock = Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for _ in 0..if cfg!(miri) { 50 } else { 20_000 } {
                        *lock.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let per_thread = if cfg!(miri) { 50 } else { 20_000 };
        assert_eq!(*lock.lock(), 4 * per_thread);
    }
}
