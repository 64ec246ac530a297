//! Per-CPU counters (include/linux/percpu_counter.h): each CPU adds to its
//! own cache line, readers sum. Designs use them for object counts the
//! kernel keeps in slab statistics, so counting never adds a shared atomic
//! to a hot path.

use std::sync::atomic::{AtomicI64, Ordering};

/// CPUs (worker threads) a counter can serve.
pub const MAX_CPUS: usize = 64;

/// One CPU's slot, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(AtomicI64);

/// A counter split into per-CPU slots.
#[derive(Debug)]
pub struct PercpuCounter {
    slots: Box<[Slot]>,
}

impl Default for PercpuCounter {
    fn default() -> Self {
        PercpuCounter {
            slots: (0..MAX_CPUS).map(|_| Slot::default()).collect(),
        }
    }
}

impl PercpuCounter {
    /// `percpu_counter_add()` on CPU `cpu`.
    ///
    /// Only the thread that owns CPU `cpu` (its `kmem::Cpu`) adds to that
    /// slot, so a plain load and store suffice, like the kernel's
    /// `this_cpu_add()`: no locked read-modify-write on a hot path. Relaxed:
    /// readers want a sum, not an ordering with other memory.
    #[inline]
    pub fn add(&self, cpu: usize, delta: i64) {
        let slot = &self.slots[cpu].0;
        slot.store(slot.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    }

    /// `percpu_counter_sum()`: exact when no one is adding concurrently.
    pub fn sum(&self) -> i64 {
        self.slots.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_slots() {
        let c = PercpuCounter::default();
        c.add(0, 3);
        c.add(5, -1);
        assert_eq!(c.sum(), 2);
    }
}
