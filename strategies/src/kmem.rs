//! Allocation points of the modelled kernel objects: every `kmalloc()` /
//! `kmem_cache_alloc()` a design makes goes through a [`Kmem`], which counts
//! objects per CPU (like SLUB's per-cpu statistics) and can fail the Nth
//! allocation (like `/proc/self/fail-nth`, see
//! Documentation/fault-injection/fault-injection.rst).
//!
//! Counting per CPU rather than in one global atomic keeps the accounting out
//! of the way when several worker threads run: no cache line bounces between
//! them because of bookkeeping the kernel would not do.

use crate::errno::Errno;

/// The kernel objects whose allocation pfntrack models.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum KObj {
    /// `struct pfnmap_track_ctx` (include/linux/mm_types.h): 24 bytes, kmalloc-32.
    PfnmapTrackCtx,
    /// `struct memtype` (arch/x86/mm/pat/memtype.h): 56 bytes, kmalloc-64.
    Memtype,
    /// `struct xa_node` (include/linux/xarray.h): 576 bytes, `radix_tree_node` cache.
    XaNode,
    /// memtype-ext's VMA-to-memtype link (see `designs::memtype_ext`).
    MemtypeVmaLink,
    /// Page-table pages `remap_pfn_range_internal()` may allocate. A failure
    /// point only: their memory is the same for every design, so it is
    /// neither counted nor freed.
    PageTable,
}

impl KObj {
    /// Every kind, in a fixed order (the index into per-kind arrays).
    pub const ALL: [KObj; 5] = [
        KObj::PfnmapTrackCtx,
        KObj::Memtype,
        KObj::XaNode,
        KObj::MemtypeVmaLink,
        KObj::PageTable,
    ];

    /// Position in [`KObj::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The kernel's name for the object.
    pub const fn kernel_name(self) -> &'static str {
        match self {
            KObj::PfnmapTrackCtx => "struct pfnmap_track_ctx",
            KObj::Memtype => "struct memtype",
            KObj::XaNode => "struct xa_node",
            KObj::MemtypeVmaLink => "struct memtype_vma_link",
            KObj::PageTable => "page table page",
        }
    }
}

/// Where a design allocates and frees kernel objects.
///
/// Context: called with or without the design's locks held, exactly where
/// the kernel would call the allocator.
pub trait Kmem {
    /// Allocate one `obj`. Return: `Err(ENOMEM)` when fault injection fails
    /// this allocation; nothing is counted then.
    fn alloc(&mut self, obj: KObj) -> Result<(), Errno>;
    /// Free one `obj` allocated earlier (possibly on another CPU).
    fn free(&mut self, obj: KObj);
}

/// A [`Kmem`] that never fails and counts nothing: for using the substrate
/// structures on their own (benchmarks, model tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAccounting;

impl Kmem for NoAccounting {
    #[inline]
    fn alloc(&mut self, _obj: KObj) -> Result<(), Errno> {
        Ok(())
    }

    #[inline]
    fn free(&mut self, _obj: KObj) {}
}

/// One CPU's (one worker thread's) view of the allocator: object counts and
/// the fail-nth injector. Each worker owns its `Cpu`; nothing here is shared.
#[derive(Debug, Clone, Default)]
pub struct Cpu {
    id: usize,
    /// Objects allocated minus objects freed on this CPU, per [`KObj`]. May
    /// go negative on one CPU when another allocated what this one freed;
    /// the sum over all CPUs is the live count.
    live: [i64; KObj::ALL.len()],
    /// Allocations made on this CPU, per kind.
    allocs: [u64; KObj::ALL.len()],
    /// `0`: injection off. Otherwise the allocation attempt that will fail,
    /// counted from 1 at the moment it was armed (fail-nth semantics).
    fail_countdown: u64,
    /// Allocation attempts since the injector was last armed.
    attempts_since_armed: u64,
    /// The kind of object whose allocation the injector last failed.
    last_failed: Option<KObj>,
}

impl Cpu {
    /// A fresh CPU context with id `id` (the index designs use for per-CPU
    /// counters; must be below [`crate::percpu::MAX_CPUS`]).
    pub fn new(id: usize) -> Self {
        assert!(id < crate::percpu::MAX_CPUS, "cpu id {id} out of range");
        Cpu {
            id,
            ..Cpu::default()
        }
    }

    /// This CPU's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Make the `n`th allocation attempt from now fail with `ENOMEM`
    /// (`n >= 1`), as writing `n` to `/proc/self/fail-nth` does. `n == 0`
    /// disarms.
    pub fn fail_nth(&mut self, n: u64) {
        self.fail_countdown = n;
        self.attempts_since_armed = 0;
        self.last_failed = None;
    }

    /// What the injector failed since it was last armed, if it fired.
    pub fn last_failed(&self) -> Option<KObj> {
        self.last_failed
    }

    /// Whether an armed failure is still pending (it did not fire yet).
    pub fn fail_pending(&self) -> bool {
        self.fail_countdown != 0
    }

    /// Allocation attempts made since [`Cpu::fail_nth`] was last called.
    pub fn attempts_since_armed(&self) -> u64 {
        self.attempts_since_armed
    }

    /// Live objects of `obj` as counted on this CPU (see `live`).
    pub fn live(&self, obj: KObj) -> i64 {
        self.live[obj.index()]
    }

    /// Allocations of `obj` made on this CPU.
    pub fn allocs(&self, obj: KObj) -> u64 {
        self.allocs[obj.index()]
    }

    /// Live objects of `obj` summed over several CPUs.
    pub fn live_total<'a>(cpus: impl IntoIterator<Item = &'a Cpu>, obj: KObj) -> i64 {
        cpus.into_iter().map(|c| c.live(obj)).sum()
    }
}

impl Kmem for Cpu {
    #[inline]
    fn alloc(&mut self, obj: KObj) -> Result<(), Errno> {
        self.attempts_since_armed += 1;
        if self.fail_countdown != 0 {
            self.fail_countdown -= 1;
            if self.fail_countdown == 0 {
                self.last_failed = Some(obj);
                return Err(Errno::ENOMEM);
            }
        }
        if obj != KObj::PageTable {
            self.live[obj.index()] += 1;
            self.allocs[obj.index()] += 1;
        }
        Ok(())
    }

    #[inline]
    fn free(&mut self, obj: KObj) {
        debug_assert!(obj != KObj::PageTable, "page tables are not counted");
        self.live[obj.index()] -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_nth_fails_exactly_the_nth() {
        let mut cpu = Cpu::new(0);
        cpu.fail_nth(3);
        assert!(cpu.alloc(KObj::Memtype).is_ok());
        assert!(cpu.alloc(KObj::XaNode).is_ok());
        assert_eq!(cpu.alloc(KObj::XaNode), Err(Errno::ENOMEM));
        assert!(!cpu.fail_pending());
        assert!(cpu.alloc(KObj::XaNode).is_ok());
        assert_eq!(cpu.live(KObj::XaNode), 2);
        assert_eq!(cpu.attempts_since_armed(), 4);
    }
}
