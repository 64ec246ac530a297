//! The one trait every pfnmap tracking design implements, driven at the
//! kernel's own hook points: `remap_pfn_range()` (mm/memory.c),
//! `vm_area_dup()` and `vm_area_free()` (mm/vma_init.c), and
//! `pfnmap_setup_cachemode()` for partial remaps and `vmf_insert_pfn()`
//! faults (arch/x86/mm/pat/memtype.c). The pre-v6.16 kernel (VM_PAT) also
//! tracked from `copy_page_range()` at fork and `unmap_single_vma()` at
//! every unmap (mm/memory.c), and cleared VM_PAT on the copies fork and
//! mremap make: those are hooks too, no-ops unless a design overrides them.
//!
//! Concurrency follows the kernel: a design's global state (memtype tree,
//! XArray, VMA index) sits behind its own spinlocks and is shared by every
//! worker through `&self`; per-VMA state lives in [`Vma::track`], owned by
//! the VMA's mm and reached through `&mut Vma`, as if under the mmap write
//! lock. Each worker passes its own [`Cpu`] for allocation accounting.

use std::fmt;
use std::sync::Arc;

use crate::cachemode::CacheMode;
use crate::errno::{Errno, KResult};
use crate::kmem::{Cpu, KObj, Kmem};
use crate::kref::REFCOUNT_MAX;
use crate::memtype::{MemtypeEntry, MemtypeFreed, PatConfig};
use crate::memtype_log::InvalidFreeLog;
use crate::phys::{PAGE_SIZE, PhysMap, page_align};
use crate::strategy::Strategy;

/// `VM_PFNMAP` (include/linux/mm.h): page-ranges managed without `struct page`.
pub const VM_PFNMAP: u64 = 0x0000_0400;
/// `VM_IO`.
pub const VM_IO: u64 = 0x0000_4000;
/// `VM_DONTEXPAND`.
pub const VM_DONTEXPAND: u64 = 0x0004_0000;
/// `VM_DONTDUMP`.
pub const VM_DONTDUMP: u64 = 0x0400_0000;
/// `VM_PAT` (`VM_ARCH_1`, include/linux/mm.h up to v6.15): the whole VMA's
/// pfn range is reserved. Only the `legacy` design sets it.
pub const VM_PAT: u64 = 0x0100_0000;
/// `VM_REMAP_FLAGS`: what `remap_pfn_range_internal()` sets on the VMA.
pub const VM_REMAP_FLAGS: u64 = VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;

/// The simulated kernel address of a `struct vm_area_struct`: the key of
/// pointer-keyed designs. Two live VMAs never share one; a freed VMA's
/// address is soon reused (SLUB's LIFO freelist).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct VmaKey(pub u64);

impl fmt::Display for VmaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// What a tracking hook sees of a `vm_area_struct`.
#[derive(Debug)]
pub struct Vma<S> {
    /// Where the struct lives (its kernel address).
    pub key: VmaKey,
    /// `vm_start`.
    pub vm_start: u64,
    /// `vm_end` (exclusive).
    pub vm_end: u64,
    /// `vm_flags`.
    pub vm_flags: u64,
    /// The design's own field in the struct: the `pfnmap_track_ctx`
    /// pointer for `per-vma`, nothing for the global designs.
    pub track: S,
}

impl<S: Default> Vma<S> {
    /// A VMA with no tracking state (fresh from `vm_area_alloc()`).
    pub fn new(key: VmaKey, vm_start: u64, vm_end: u64, vm_flags: u64) -> Self {
        Vma {
            key,
            vm_start,
            vm_end,
            vm_flags,
            track: S::default(),
        }
    }

    /// The copy `vm_area_dup()` starts from: same range and flags at a new
    /// address, tracking state not yet duplicated.
    pub fn dup_shell(&self, key: VmaKey) -> Self {
        Vma::new(key, self.vm_start, self.vm_end, self.vm_flags)
    }
}

impl<S> Vma<S> {
    /// `vma->vm_flags & VM_PFNMAP`.
    #[inline]
    pub fn is_pfnmap(&self) -> bool {
        self.vm_flags & VM_PFNMAP != 0
    }
}

/// A tracked pfn range, as `struct pfnmap_track_ctx` records it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PfnRange {
    /// First page frame.
    pub pfn: u64,
    /// Length in bytes (page aligned).
    pub size: u64,
}

/// What `follow_pfnmap_start()` finds at the first page of a pfnmap VMA:
/// the pfn mapped there and the cache mode its pte was written with. The
/// simulator's page tables answer; only `get_pat_info()` (the `legacy`
/// design) asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PfnmapPte {
    /// The page frame the VMA's first page maps.
    pub pfn: u64,
    /// The cache mode of the mapping (`pgprot2cachemode()` of the pte).
    pub pcm: CacheMode,
}

/// What an `untrack_pfn()` (v6.15) did: the range it derived and handed to
/// `free_pfn_range()`, and what `memtype_free()` made of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PfnUntrack {
    /// The range freed: the pfn at `vm_start` and the VMA's size.
    pub range: PfnRange,
    /// Erased, shrunk (v6.15's end match), not a tree range, or `EINVAL`:
    /// "freeing invalid memtype", which the kernel only logs.
    pub freed: KResult<MemtypeFreed>,
}

impl PfnUntrack {
    /// Whether the free matched no reservation ("freeing invalid memtype").
    pub fn invalid(&self) -> bool {
        self.freed.is_err()
    }
}

/// Live kernel objects a design holds, by kind, plus its per-VMA field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Footprint {
    /// `struct pfnmap_track_ctx` objects (kmalloc-32).
    pub pfnmap_track_ctx: u64,
    /// `struct memtype` entries in the tree (kmalloc-64), including any
    /// background reservations.
    pub memtype: u64,
    /// `struct xa_node` objects (`radix_tree_node` cache).
    pub xa_node: u64,
    /// memtype-ext's VMA links.
    pub memtype_vma_link: u64,
    /// Bytes the design adds to every `vm_area_struct` (before layout and
    /// slab rounding, which the layout model applies).
    pub vma_field_bytes: u64,
}

impl Footprint {
    /// Live objects of one kind.
    pub fn count(&self, obj: KObj) -> u64 {
        match obj {
            KObj::PfnmapTrackCtx => self.pfnmap_track_ctx,
            KObj::Memtype => self.memtype,
            KObj::XaNode => self.xa_node,
            KObj::MemtypeVmaLink => self.memtype_vma_link,
            KObj::PageTable => 0,
        }
    }
}

/// What a design is built from.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// PAT on/off and the physical memory map.
    pub pat: PatConfig,
    /// The refcount at which `vm_area_dup()` refuses (`REFCOUNT_MAX`; tests
    /// lower it to reach the limit quickly).
    pub refcount_max: u32,
    /// `xarray` design: key the XArray by the VMA pointer shifted right by
    /// this many bits (0 = the raw pointer, 6 = pointer >> 6).
    pub xa_key_shift: u32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            pat: PatConfig::default(),
            refcount_max: REFCOUNT_MAX,
            xa_key_shift: 0,
        }
    }
}

impl TrackerConfig {
    /// The default configuration over a given physical map.
    pub fn with_phys(phys: PhysMap) -> Self {
        TrackerConfig {
            pat: PatConfig {
                enabled: true,
                phys: Arc::new(phys),
            },
            ..TrackerConfig::default()
        }
    }
}

/// `remap_pfn_range_notrack()`: what pfntrack models of mapping the pfns.
/// `remap_pfn_range_internal()` marks the VMA (`VM_REMAP_FLAGS`), then
/// allocates page tables, which can fail with `ENOMEM` after tracking
/// succeeded, so every design's error path runs (the flags stay, as in
/// the kernel: the driver's mmap fails and the VMA is freed). Writing the
/// page tables costs the same in every design and is not simulated.
#[inline]
pub fn remap_pfn_range_notrack<S>(cpu: &mut Cpu, vma: &mut Vma<S>) -> KResult<()> {
    vma.vm_flags |= VM_REMAP_FLAGS;
    cpu.alloc(KObj::PageTable)
}

/// A pfnmap tracking design.
///
/// Every method documents its `Context:` (which locks it takes) and its
/// errors, which are the kernel's. A failed call leaves the design's state
/// and the memtype tree as they were.
pub trait PfnmapTracking: Send + Sync + Sized {
    /// The design's field in `vm_area_struct`.
    type VmaState: Default + Send + fmt::Debug;

    /// Which design this is.
    const STRATEGY: Strategy;

    /// Bytes the design adds to every `vm_area_struct`.
    const VMA_FIELD_BYTES: u64 = 0;

    /// A design with an empty memtype tree.
    fn new(cfg: &TrackerConfig) -> Self;

    /// The whole-VMA case of `remap_pfn_range()`: reserve the pfn range
    /// (`pfnmap_track()`), remember that `vma` holds it, and map. Return:
    /// the cache mode the mapping got.
    ///
    /// Context: mmap write lock (`&mut vma`); takes the design's locks.
    /// Errors: `EINVAL` if `vma` already tracks a range or the reservation
    /// fails for any reason; `ENOMEM` if remembering or mapping fails (the
    /// reservation is dropped again).
    fn remap_pfn_range_track(
        &self,
        cpu: &mut Cpu,
        vma: &mut Vma<Self::VmaState>,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode>;

    /// `pfnmap_setup_cachemode()`: the cache mode for mapping part of a
    /// range without reserving it (partial remap, or one page for a fault).
    ///
    /// Context: takes `memtype_lock` once per page. Errors: `EINVAL` when
    /// the pages' types disagree.
    fn pfnmap_setup_cachemode(&self, pfn: u64, size: u64, prot: CacheMode) -> KResult<CacheMode>;

    /// `vm_area_dup()`: `new` (a copy of `orig` at another address, from
    /// fork, split or mremap) shares `orig`'s reservation.
    ///
    /// Context: mmap write lock of `orig`'s mm; takes the design's locks.
    /// Errors: `ENOMEM` when the reference count is at its limit or an
    /// allocation fails; `new` is then untouched and the caller discards it
    /// without calling [`PfnmapTracking::vm_area_free`].
    fn vm_area_dup(
        &self,
        cpu: &mut Cpu,
        orig: &Vma<Self::VmaState>,
        new: &mut Vma<Self::VmaState>,
    ) -> KResult<()>;

    /// `vm_area_free()`: `vma` is gone; drop its reference. Return: the range
    /// when this dropped a reservation from the memtype tree (the last
    /// reference of a tracked non-RAM range went away), else `None`.
    ///
    /// Context: the VMA is detached; takes the design's locks. Never fails.
    fn vm_area_free(&self, cpu: &mut Cpu, vma: &mut Vma<Self::VmaState>) -> Option<PfnRange>;

    /// The range `vma` holds a reservation for, if any.
    ///
    /// Context: mmap lock (read is enough); takes the design's lock if the
    /// state is global.
    fn lookup(&self, vma: &Vma<Self::VmaState>) -> Option<PfnRange>;

    /// `memtype_reserve_io()`: a driver's ioremap-style reservation (the
    /// background entries of a populated tree). Return: the type granted.
    ///
    /// Context: takes `memtype_lock`. Errors: as `memtype_reserve()`, plus
    /// `EBUSY` for a type the caller may not get.
    fn memtype_reserve_io(
        &self,
        cpu: &mut Cpu,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<CacheMode>;

    /// `memtype_free_io()`. Return: whether a tree entry was erased.
    ///
    /// Context: takes `memtype_lock`. Errors: `EINVAL` without an exact match.
    fn memtype_free_io(&self, cpu: &mut Cpu, start: u64, end: u64) -> KResult<bool>;

    /// The memtype tree's entries, sorted (debugfs `pat_memtype_list`).
    ///
    /// Context: takes `memtype_lock`.
    fn memtype_entries(&self) -> Vec<MemtypeEntry>;

    /// The design's "freeing invalid memtype" log: every `memtype_free()`
    /// that matched no entry, written where the modelled kernel prints it
    /// (designs on [`crate::memtype::Pat`] return the layer's log). The
    /// benchmark's `invalid_frees` figure, `check` and `kernel-check` all
    /// read this log and nothing else, so it has no default: a design
    /// cannot go unheard by forgetting it, and the conformance suite
    /// checks that each one's log hears an invalid free.
    ///
    /// Context: the log takes its own lock.
    fn invalid_free_log(&self) -> &InvalidFreeLog;

    /// The kernel objects the design holds now.
    ///
    /// Context: takes the design's locks; exact only when no hook runs
    /// concurrently.
    fn footprint(&self) -> Footprint;

    /// Memtype entries this design inserted (for VMAs or drivers' ioremaps)
    /// that the call meant to drop each of them did not erase, by the
    /// design's own count; `None` for a design that keeps no count
    /// because its kernel pairs every reservation with exactly one free.
    /// Once every VMA and ioremap is gone, the count is the leak its kernel
    /// would have (v6.15: `untrack_pfn()` of a split piece frees a range
    /// that matches no entry); with `None`, nothing may be left.
    ///
    /// Context: exact only when no hook runs concurrently.
    fn reservations_outstanding(&self) -> Option<u64> {
        None
    }

    /// [`PfnmapTracking::lookup`] for a VMA whose page tables the caller can
    /// read (`pte`: what is mapped at `vm_start`, if anything). A design
    /// that finds its range through the page tables (`get_pat_info()`,
    /// v6.15) answers from `pte`; the others ignore it.
    #[inline]
    fn lookup_pfnmap(
        &self,
        vma: &Vma<Self::VmaState>,
        _pte: Option<PfnmapPte>,
    ) -> Option<PfnRange> {
        self.lookup(vma)
    }

    /// `untrack_pfn_clear()` (arch/x86/mm/pat/memtype.c up to v6.15): clear
    /// VM_PAT on the child's copy in `dup_mmap()` (kernel/fork.c:708 in
    /// 6.12.117) and on the old VMA of an mremap move (mm/mremap.c:820).
    ///
    /// Context: mmap write lock. Default: nothing (no VM_PAT after v6.15).
    #[inline]
    fn untrack_pfn_clear(&self, _vma: &mut Vma<Self::VmaState>) {}

    /// `track_pfn_copy()`, called by `copy_page_range()` (mm/memory.c:1376
    /// in 6.12.117) for a VM_PFNMAP VMA at fork, before its page tables
    /// are copied: reserve `src`'s range again for `dst`. `src_pte` is what
    /// `src`'s page tables map at `vm_start`. Return: the pfn to pass to
    /// [`PfnmapTracking::untrack_pfn_copy`] if copying the page tables
    /// fails afterwards (`None`: nothing was tracked).
    ///
    /// Context: mmap write locks of both mms; takes `memtype_lock`. Errors:
    /// `EINVAL` if the range cannot be found or gets another type;
    /// `memtype_reserve()`'s errors. Default: nothing to do.
    #[inline]
    fn track_pfn_copy(
        &self,
        _cpu: &mut Cpu,
        _dst: &mut Vma<Self::VmaState>,
        _src: &Vma<Self::VmaState>,
        _src_pte: Option<PfnmapPte>,
    ) -> KResult<Option<u64>> {
        Ok(None)
    }

    /// `untrack_pfn_copy()` (mm/memory.c:1423 in 6.12.117): copying the
    /// page tables failed after [`PfnmapTracking::track_pfn_copy`] reserved
    /// `pfn`'s range for `dst`; drop it again.
    ///
    /// Context: as `track_pfn_copy`. Default: nothing to do.
    #[inline]
    fn untrack_pfn_copy(
        &self,
        _cpu: &mut Cpu,
        _dst: &mut Vma<Self::VmaState>,
        _pfn: u64,
    ) -> Option<PfnUntrack> {
        None
    }

    /// `untrack_pfn(vma, 0, 0)` from `unmap_single_vma()` (mm/memory.c:1832
    /// in 6.12.117): a VM_PFNMAP VMA's pages are being unmapped (munmap of
    /// it or of a piece split off it, mremap, exit). `pte` is what its page
    /// tables map at `vm_start`. Return: what was freed, if anything.
    ///
    /// Context: mmap lock; takes `memtype_lock`. Never fails (the kernel
    /// only logs). Default: nothing (after v6.15 zap never untracks).
    #[inline]
    fn untrack_pfn(
        &self,
        _cpu: &mut Cpu,
        _vma: &mut Vma<Self::VmaState>,
        _pte: Option<PfnmapPte>,
    ) -> Option<PfnUntrack> {
        None
    }

    /// `remap_pfn_range()` (mm/memory.c): a whole-VMA remap is tracked, a
    /// partial one only looks up the cache mode. Return: the cache mode the
    /// mapping got.
    ///
    /// Context: mmap write lock. Errors: as
    /// [`PfnmapTracking::remap_pfn_range_track`]; a partial remap whose pages
    /// disagree on their type is `EINVAL`; a failed mapping is `ENOMEM`.
    fn remap_pfn_range(
        &self,
        cpu: &mut Cpu,
        vma: &mut Vma<Self::VmaState>,
        addr: u64,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        let size = page_align(size);
        if addr == vma.vm_start && addr + size == vma.vm_end {
            self.remap_pfn_range_track(cpu, vma, pfn, size, prot)
        } else {
            let pcm = self
                .pfnmap_setup_cachemode(pfn, size, prot)
                .map_err(|_| Errno::EINVAL)?;
            remap_pfn_range_notrack(cpu, vma)?;
            Ok(pcm)
        }
    }

    /// The cache-mode lookup of a `vmf_insert_pfn()` fault: one page.
    ///
    /// Context: takes `memtype_lock` once.
    fn vmf_insert_pfn(&self, pfn: u64, prot: CacheMode) -> CacheMode {
        // A single page cannot disagree with itself.
        self.pfnmap_setup_cachemode(pfn, PAGE_SIZE, prot)
            .unwrap_or(prot)
    }
}
