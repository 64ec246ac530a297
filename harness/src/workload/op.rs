//! The workload language: mm-level operations, the way a process and its
//! drivers exercise VMAs. The simulator (`crate::sim`) turns each op into
//! the hook calls the kernel makes (mm/mmap.c, mm/vma.c, mm/mremap.c,
//! kernel/fork.c, mm/memory.c).
//!
//! Identifiers are logical and chosen by whoever writes the op stream: a
//! process id, a VMA id, an ioremap id. An op that creates a VMA names its
//! id; a VMA keeps its id across splits (it keeps the lower part) and
//! moves. Page counts and offsets are in 4 KiB pages.

use serde::{Deserialize, Serialize};
use strategies::CacheMode;

/// A process (one `mm_struct`).
pub type Pid = u32;
/// A VMA, unique among live VMAs of the whole workload.
pub type VmaId = u32;
/// A driver's ioremap (a background memtype reservation).
pub type IoId = u32;

/// What an `mremap()` does to a VMA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MremapKind {
    /// Shrink in place to `pages`: the tail is split off and freed.
    Shrink {
        /// New length in pages (less than the current one).
        pages: u32,
    },
    /// Grow in place to `pages`. A pfnmap VMA cannot grow
    /// (`VM_DONTEXPAND`: mremap fails with EFAULT, no hook runs); an
    /// ordinary VMA grows without any tracking hook.
    Grow {
        /// New length in pages (more than the current one).
        pages: u32,
    },
    /// Move to a new address (`MREMAP_MAYMOVE`): `copy_vma()` duplicates
    /// the VMA, then the old one is unmapped and freed. The id follows the
    /// moved VMA.
    Move,
}

/// One mm-level operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// A new process with an empty mm.
    Proc {
        /// Its id (not live before).
        pid: Pid,
    },
    /// `mmap()` a new VMA of `pages` pages in `pid`. A `pfnmap` VMA is a
    /// device mapping (`VM_PFNMAP | VM_IO`): its driver then remaps or
    /// faults pfns into it; an ordinary one never reaches a tracking hook
    /// except dup/free.
    Mmap {
        /// Owner.
        pid: Pid,
        /// The new VMA's id (not live before).
        vma: VmaId,
        /// Length in pages (at least 1).
        pages: u32,
        /// Device mapping?
        pfnmap: bool,
    },
    /// The driver's `remap_pfn_range()` of `pages` pages at page `off` of a
    /// pfnmap VMA. Covering the whole VMA tracks; anything less only looks
    /// up the cache mode.
    Remap {
        /// A live pfnmap VMA.
        vma: VmaId,
        /// First page of the VMA to map.
        off: u32,
        /// Pages to map (`off + pages` within the VMA).
        pages: u32,
        /// First pfn.
        pfn: u64,
        /// Requested cache mode.
        mode: CacheMode,
    },
    /// A `vmf_insert_pfn()` fault at page `off` of a pfnmap VMA: one
    /// cache-mode lookup of `pfn`.
    Fault {
        /// A live pfnmap VMA.
        vma: VmaId,
        /// Faulting page (within the VMA).
        off: u32,
        /// The pfn inserted.
        pfn: u64,
    },
    /// Ask the design which range `vma` holds (what a VMA walker or debug
    /// interface would ask; also the remap path's "already tracked?").
    Lookup {
        /// A live VMA.
        vma: VmaId,
    },
    /// `fork()`: `child` gets a copy of every VMA of `parent` (one
    /// `vm_area_dup()` each, in the parent's VMA order), with ids
    /// `first_vma`, `first_vma + 1`, ...
    ///
    /// The parent's VMA order: `Mmap` appends; `Split` and a middle
    /// `Munmap` insert the upper piece right after the lower one; removals
    /// keep the others' order; an `Mremap` move keeps the VMA's place; a
    /// child starts in its parent's order (see `workload::validate`).
    Fork {
        /// A live process.
        parent: Pid,
        /// The child's id (not live before).
        child: Pid,
        /// Id of the child's first VMA; ids up to `first_vma + n - 1` must
        /// not be live.
        first_vma: VmaId,
    },
    /// `mprotect()` of `[at, end)`: `__split_vma()` (one dup); `vma` keeps
    /// `[0, at)`, `new_vma` gets `[at, end)`.
    Split {
        /// A live VMA of at least 2 pages.
        vma: VmaId,
        /// Split point, `1..pages`.
        at: u32,
        /// Id of the upper part (not live before).
        new_vma: VmaId,
    },
    /// `munmap()` of `pages` pages at page `off`: the whole VMA (free),
    /// its head or tail (split, free the part), or a middle part (two
    /// splits, free the middle; the tail becomes `new_vma`).
    Munmap {
        /// A live VMA.
        vma: VmaId,
        /// First page to unmap.
        off: u32,
        /// Pages to unmap (`off + pages` within the VMA).
        pages: u32,
        /// Id for the tail piece of a middle unmap (ignored otherwise; write 0).
        new_vma: VmaId,
    },
    /// `mremap()` of a VMA.
    Mremap {
        /// A live VMA.
        vma: VmaId,
        /// What happens.
        kind: MremapKind,
    },
    /// `exit()`: every VMA of `pid` is freed, and the process is gone.
    Exit {
        /// A live process.
        pid: Pid,
    },
    /// A driver's `ioremap()` of `pages` pages at `pfn`
    /// (`memtype_reserve_io()`): a background entry in the memtype tree.
    Ioremap {
        /// Its id (not live before).
        id: IoId,
        /// First pfn.
        pfn: u64,
        /// Length in pages.
        pages: u32,
        /// Requested cache mode.
        mode: CacheMode,
    },
    /// `iounmap()` of a live ioremap (`memtype_free_io()`).
    Iounmap {
        /// A live ioremap.
        id: IoId,
    },
}

impl Op {
    /// The op's keyword in trace files (docs/trace-format.md).
    pub const fn name(&self) -> &'static str {
        match self {
            Op::Proc { .. } => "proc",
            Op::Mmap { .. } => "mmap",
            Op::Remap { .. } => "remap",
            Op::Fault { .. } => "fault",
            Op::Lookup { .. } => "lookup",
            Op::Fork { .. } => "fork",
            Op::Split { .. } => "split",
            Op::Munmap { .. } => "munmap",
            Op::Mremap { .. } => "mremap",
            Op::Exit { .. } => "exit",
            Op::Ioremap { .. } => "ioremap",
            Op::Iounmap { .. } => "iounmap",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_stay_small() {
        // Streams hold millions of ops (a 1M-VMA fork storm); a variant
        // that grows the enum grows every stream.
        assert!(
            std::mem::size_of::<Op>() <= 24,
            "{}",
            std::mem::size_of::<Op>()
        );
    }
}
