//! x86 PAT memory type reservations: the memtype tree and its reserve/free
//! policy (arch/x86/mm/pat/memtype.c, arch/x86/mm/pat/memtype_interval.c,
//! `is_new_memtype_allowed()` in arch/x86/include/asm/pgtable.h), as of the
//! v6.16 pfnmap tracking rewrite (`pfnmap_track()`, `pfnmap_untrack()`,
//! `pfnmap_setup_cachemode()`), or, for the `legacy` design, as of v6.15
//! (see [`MemtypeGeneration`]: the only difference is `memtype_erase()`).
//!
//! Structure: an augmented interval rbtree of `struct memtype` entries over
//! half-open physical ranges `[start, end)`, stored in the tree as the
//! inclusive `[start, end - 1]`. Duplicates and overlaps are allowed, but
//! every entry overlapping a range has the same type (enforced by
//! `memtype_check_conflict`). RAM ranges are not in the tree: their type
//! lives in page flags.
//!
//! Lock: `memtype_lock`, one global spinlock, protects the tree (and, for
//! designs that extend it, their extra state: see [`PatExt`]). Page-flag
//! types of RAM pages are updated with cmpxchg in the kernel; here they sit
//! behind their own lock, off every hot path pfntrack measures.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::cachemode::{CacheMode, is_new_memtype_allowed};
use crate::errno::{Errno, KResult};
use crate::interval_tree::{IntervalTree, NodeId};
use crate::kmem::{KObj, Kmem};
use crate::memtype_log::InvalidFreeLog;
use crate::phys::{MtrrType, PAGE_SHIFT, PAGE_SIZE, PhysMap, pfn_phys};
use crate::spinlock::SpinLock;

/// Size of `struct memtype` on x86_64: `start`, `end`, `subtree_max_end`
/// (8 each), `type` (4), 4 bytes of padding, `struct rb_node rb` (24).
pub const MEMTYPE_KERNEL_SIZE: u64 = 56;

/// Extra state a design keeps under `memtype_lock` (see
/// `designs::memtype_ext`); `()` for the unmodified kernel.
pub trait PatExt: Default + Send + 'static {
    /// Per-entry extension, kept in `struct memtype`'s 4 bytes of padding
    /// after `type`, so it must stay at most 4 bytes to be free.
    type Entry: Copy + Default + Send + fmt::Debug + 'static;
}

/// The 4 bytes of padding after `type` in the merged kernel's
/// `struct memtype`. Modelled as a field so every design's tree nodes have
/// the same size, as they do in the kernel (56 bytes either way), and a
/// design that puts something there is not charged a bigger node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemtypePadding(#[allow(dead_code)] u32);

impl PatExt for () {
    type Entry = MemtypePadding;
}

/// The payload of one tree node: `struct memtype` minus the range and the
/// augmented maximum, which the tree keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memtype<E> {
    /// The reserved memory type.
    pub ty: CacheMode,
    /// The design's extension (`()` in the kernel as merged).
    pub ext: E,
}

/// One reservation as `/sys/kernel/debug/x86/pat_memtype_list` prints it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct MemtypeEntry {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Reserved type.
    pub ty: CacheMode,
}

impl fmt::Display for MemtypeEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PAT: [mem {:#018x}-{:#018x}] {}",
            self.start, self.end, self.ty
        )
    }
}

/// Everything `memtype_lock` protects.
#[derive(Default)]
pub struct PatLocked<X: PatExt> {
    /// `memtype_rbroot`: the interval tree of reservations.
    pub tree: IntervalTree<Memtype<X::Entry>>,
    /// The design's extra state (nothing for the merged kernel).
    pub ext: X,
}

impl<X: PatExt> PatLocked<X> {
    /// `memtype_check_conflict()`: the type a new `[start, end)` reservation
    /// of `reqtype` gets. The first overlapping entry (lowest start) decides
    /// the type; every other overlapping entry must agree, else `EBUSY`.
    /// (The kernel's `newtype == NULL` variant, where the first entry must
    /// also agree with `reqtype`, serves callers pfntrack does not model.)
    pub fn memtype_check_conflict(
        &self,
        start: u64,
        end: u64,
        reqtype: CacheMode,
    ) -> KResult<CacheMode> {
        let mut overlaps = self.tree.overlaps(start, end - 1);
        let Some(first) = overlaps.next() else {
            return Ok(reqtype);
        };
        let found = self.tree.value(first).ty;
        if overlaps.any(|id| self.tree.value(id).ty != found) {
            return Err(Errno::EBUSY);
        }
        Ok(found)
    }

    /// `memtype_lookup()`: the lowest-start entry overlapping the page at `addr`.
    pub fn memtype_lookup(&self, addr: u64) -> Option<NodeId> {
        self.tree.iter_first(addr, addr + PAGE_SIZE - 1)
    }

    /// `memtype_match(..., MEMTYPE_EXACT_MATCH)`: the first entry (in tree
    /// order) whose start and end both match and whose extension is
    /// `eligible`.
    pub fn memtype_match_exact(
        &self,
        start: u64,
        end: u64,
        eligible: impl Fn(&X::Entry) -> bool,
    ) -> Option<NodeId> {
        self.tree
            .overlaps(start, end - 1)
            .take_while(|&id| self.tree.start(id) < end)
            .find(|&id| {
                self.tree.start(id) == start
                    && self.tree.last(id) == end - 1
                    && eligible(&self.tree.value(id).ext)
            })
    }

    /// `memtype_match(..., MEMTYPE_END_MATCH)` (v6.15): the first entry in
    /// tree order that overlaps `[start, end)`, starts below `start` and
    /// ends at `end`.
    pub fn memtype_match_end(&self, start: u64, end: u64) -> Option<NodeId> {
        self.tree
            .overlaps(start, end - 1)
            .take_while(|&id| self.tree.start(id) < end)
            .find(|&id| self.tree.start(id) < start && self.tree.last(id) == end - 1)
    }

    /// The `[start, end)` range of a tree entry.
    pub fn range(&self, id: NodeId) -> (u64, u64) {
        (self.tree.start(id), self.tree.last(id) + 1)
    }
}

/// Which kernel's `memtype_erase()` (arch/x86/mm/pat/memtype_interval.c) a
/// memtype layer runs. A property of the layer instance, chosen by the
/// design that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MemtypeGeneration {
    /// v6.16 and later: erase needs an entry whose start and end both match
    /// (`MEMTYPE_EXACT_MATCH` only; the rewrite removed the end match).
    #[default]
    ExactMatch,
    /// v6.15 and before (6.1.192 and 6.12.117 alike, memtype_interval.c:131):
    /// exact match first; failing that, `MEMTYPE_END_MATCH`, the first entry
    /// in tree order with a lower start and the same end, is shrunk to end
    /// where the freed range starts (the mremap-shrink path).
    EndMatch,
}

/// What `memtype_free()` did to the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MemtypeFreed {
    /// An entry matching start and end exactly was erased.
    Erased,
    /// v6.15's end match: the entry `[start, end)` became `[start, new_end)`
    /// (the freed range was its tail). Nothing was freed.
    Shrunk {
        /// The entry's start.
        start: u64,
        /// Its end before.
        end: u64,
        /// Its end now (the freed range's start).
        new_end: u64,
    },
    /// Not a tree range: PAT off, the ISA range, or RAM (page flags reset).
    NotInTree,
}

/// How PAT is set up: the `nopat` switch and the physical memory map.
#[derive(Debug, Clone)]
pub struct PatConfig {
    /// `pat_enabled()`: false models `nopat` or a CPU without PAT.
    pub enabled: bool,
    /// RAM, MMIO and MTRR types of the physical address space.
    pub phys: Arc<PhysMap>,
}

impl Default for PatConfig {
    fn default() -> Self {
        PatConfig {
            enabled: true,
            phys: Arc::new(PhysMap::typical_server()),
        }
    }
}

/// The x86 PAT memtype layer: one instance per design under test.
pub struct Pat<X: PatExt = ()> {
    enabled: bool,
    /// Which kernel's erase this layer runs.
    generation: MemtypeGeneration,
    phys: Arc<PhysMap>,
    /// `memtype_lock` and what it protects.
    memtype_lock: SpinLock<PatLocked<X>>,
    /// Types of RAM pages that are not WB, by pfn (`_PGMT_*` page flags; WB,
    /// the default, is the absence of an entry).
    ram_page_types: SpinLock<HashMap<u64, CacheMode>>,
    /// What `memtype_free()` printed ("freeing invalid memtype"): written
    /// only by a free that fails, after `memtype_lock` is dropped.
    log: InvalidFreeLog,
}

impl<X: PatExt> fmt::Debug for Pat<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pat")
            .field("enabled", &self.enabled)
            .field("entries", &self.nr_entries())
            .finish_non_exhaustive()
    }
}

impl<X: PatExt> Pat<X> {
    /// An empty memtype tree under `cfg`, with v6.16's exact-match erase.
    pub fn new(cfg: &PatConfig) -> Self {
        Self::with_generation(cfg, MemtypeGeneration::ExactMatch)
    }

    /// An empty memtype tree under `cfg` that erases like `generation`.
    pub fn with_generation(cfg: &PatConfig, generation: MemtypeGeneration) -> Self {
        Pat {
            enabled: cfg.enabled,
            generation,
            phys: Arc::clone(&cfg.phys),
            memtype_lock: SpinLock::new(PatLocked::default()),
            ram_page_types: SpinLock::new(HashMap::new()),
            log: InvalidFreeLog::new(),
        }
    }

    /// This layer's "freeing invalid memtype" log: the design's
    /// `PfnmapTracking::invalid_free_log()`.
    pub fn invalid_free_log(&self) -> &InvalidFreeLog {
        &self.log
    }

    /// `pat_enabled()`.
    pub fn pat_enabled(&self) -> bool {
        self.enabled
    }

    /// Which kernel's erase this layer runs.
    pub fn generation(&self) -> MemtypeGeneration {
        self.generation
    }

    /// The physical memory map this layer consults.
    pub fn phys(&self) -> &PhysMap {
        &self.phys
    }

    /// Run `f` with `memtype_lock` held.
    #[inline]
    pub fn with_locked<R>(&self, f: impl FnOnce(&mut PatLocked<X>) -> R) -> R {
        f(&mut self.memtype_lock.lock())
    }

    /// Entries in the tree.
    pub fn nr_entries(&self) -> usize {
        self.memtype_lock.lock().tree.len()
    }

    /// The tree's reservations, sorted (a multiset: duplicates repeat).
    pub fn entries(&self) -> Vec<MemtypeEntry> {
        let locked = self.memtype_lock.lock();
        let mut v: Vec<_> = locked
            .tree
            .iter()
            .map(|id| MemtypeEntry {
                start: locked.tree.start(id),
                end: locked.tree.last(id) + 1,
                ty: locked.tree.value(id).ty,
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// Check the tree's invariants (debug aid for tests).
    pub fn check_invariants(&self) {
        let locked = self.memtype_lock.lock();
        locked.tree.check_invariants();
    }

    /// `pat_x_mtrr_type()`: a WB request over a range whose MTRR type is
    /// not WB becomes UC- (the /dev/mem optimisation); other requests stand.
    fn pat_x_mtrr_type(&self, start: u64, end: u64, req: CacheMode) -> CacheMode {
        if req == CacheMode::WB {
            let mtrr = self.phys.mtrr_type_lookup(start, end);
            if mtrr != MtrrType::WrBack && mtrr != MtrrType::Invalid {
                return CacheMode::UC_MINUS;
            }
        }
        req
    }

    /// `reserve_ram_pages_type()`: RAM keeps its type in page flags, which
    /// know only WB, WC, UC- and WT; every page must still be WB.
    fn reserve_ram_pages_type(&self, start: u64, end: u64, req: CacheMode) -> KResult<CacheMode> {
        let req = match req {
            CacheMode::WP => return Err(Errno::EINVAL),
            // The kernel WARNs: strong UC is not supported for RAM.
            CacheMode::UC => CacheMode::UC_MINUS,
            other => other,
        };
        let mut types = self.ram_page_types.lock();
        let pfns = (start >> PAGE_SHIFT)..(end >> PAGE_SHIFT);
        if pfns.clone().any(|pfn| types.contains_key(&pfn)) {
            return Err(Errno::EBUSY);
        }
        if req != CacheMode::WB {
            for pfn in pfns {
                types.insert(pfn, req);
            }
        }
        Ok(req)
    }

    /// `free_ram_pages_type()`: back to WB.
    fn free_ram_pages_type(&self, start: u64, end: u64) {
        let mut types = self.ram_page_types.lock();
        for pfn in (start >> PAGE_SHIFT)..(end >> PAGE_SHIFT) {
            types.remove(&pfn);
        }
    }

    /// `memtype_reserve()`: reserve `[start, end)` as `req`. Return: the type
    /// the range actually got (the kernel's `new_type`; every caller
    /// pfntrack models passes one).
    ///
    /// Context: takes `memtype_lock`; allocates the entry before taking it.
    /// Errors: `EINVAL` for an empty range, a mixed RAM/non-RAM range, or WP
    /// on RAM; `EBUSY` on a conflicting type; `ENOMEM` if the entry cannot
    /// be allocated.
    pub fn memtype_reserve(
        &self,
        kmem: &mut impl Kmem,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<CacheMode> {
        self.memtype_reserve_entry(kmem, start, end, req)
            .map(|(ty, _)| ty)
    }

    /// [`Pat::memtype_reserve`], also returning the tree entry it inserted
    /// (none for PAT off, the ISA range, or RAM).
    pub fn memtype_reserve_entry(
        &self,
        kmem: &mut impl Kmem,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<(CacheMode, Option<NodeId>)> {
        if start >= end {
            return Err(Errno::EINVAL);
        }
        if !self.enabled {
            return Ok((req, None));
        }
        if self.phys.is_untracked_pat_range(start, end) {
            return Ok((CacheMode::WB, None));
        }
        let actual = self.pat_x_mtrr_type(start, end, req);
        match self.phys.pat_pagerange_is_ram(start, end) {
            1 => {
                return self
                    .reserve_ram_pages_type(start, end, req)
                    .map(|t| (t, None));
            }
            -1 => return Err(Errno::EINVAL),
            _ => {}
        }
        // kzalloc(GFP_KERNEL) happens before memtype_lock is taken.
        kmem.alloc(KObj::Memtype)?;
        let mut locked = self.memtype_lock.lock();
        // memtype_check_insert(): the kernel passes the MTRR-adjusted type
        // as the request.
        match locked.memtype_check_conflict(start, end, actual) {
            Ok(ty) => {
                let id = locked.tree.insert(
                    start,
                    end - 1,
                    Memtype {
                        ty,
                        ext: X::Entry::default(),
                    },
                );
                Ok((ty, Some(id)))
            }
            Err(e) => {
                drop(locked);
                kmem.free(KObj::Memtype);
                Err(e)
            }
        }
    }

    /// `memtype_free()`: drop the reservation of exactly `[start, end)`.
    /// Return: whether a tree entry was erased.
    ///
    /// Context: takes `memtype_lock`. Errors: `EINVAL` for a mixed range or
    /// when no entry matches start and end exactly ("freeing invalid memtype").
    /// On a v6.15 layer an end match shrinks an entry and returns `Ok(false)`.
    pub fn memtype_free(&self, kmem: &mut impl Kmem, start: u64, end: u64) -> KResult<bool> {
        self.memtype_free_matching(kmem, start, end, |_| true)
    }

    /// [`Pat::memtype_free`] that erases only an exact match whose
    /// extension satisfies `eligible` (a design can keep entries it owns
    /// out of reach of a driver's `memtype_free_io()`).
    pub fn memtype_free_matching(
        &self,
        kmem: &mut impl Kmem,
        start: u64,
        end: u64,
        eligible: impl Fn(&X::Entry) -> bool,
    ) -> KResult<bool> {
        self.memtype_free_as(kmem, start, end, eligible)
            .map(|f| f == MemtypeFreed::Erased)
    }

    /// `memtype_free()` (memtype.c:606 in 6.12.117), saying what it did.
    /// RAM goes back to WB in the page flags; a tree range is passed to
    /// `memtype_erase()` of this layer's generation.
    ///
    /// Context: takes `memtype_lock`. Errors: `EINVAL` for a mixed
    /// RAM/non-RAM range, or when `memtype_erase()` finds nothing (the
    /// kernel logs "freeing invalid memtype").
    pub fn memtype_free_ext(
        &self,
        kmem: &mut impl Kmem,
        start: u64,
        end: u64,
    ) -> KResult<MemtypeFreed> {
        self.memtype_free_as(kmem, start, end, |_| true)
    }

    fn memtype_free_as(
        &self,
        kmem: &mut impl Kmem,
        start: u64,
        end: u64,
        eligible: impl Fn(&X::Entry) -> bool,
    ) -> KResult<MemtypeFreed> {
        if !self.enabled || self.phys.is_untracked_pat_range(start, end) {
            return Ok(MemtypeFreed::NotInTree);
        }
        match self.phys.pat_pagerange_is_ram(start, end) {
            1 => {
                self.free_ram_pages_type(start, end);
                return Ok(MemtypeFreed::NotInTree);
            }
            -1 => return Err(Errno::EINVAL),
            _ => {}
        }
        let freed = {
            let mut locked = self.memtype_lock.lock();
            self.memtype_erase(&mut locked, start, end, eligible)
        };
        match freed {
            Ok(MemtypeFreed::Erased) => kmem.free(KObj::Memtype),
            // memtype_free() prints "freeing invalid memtype" when
            // memtype_erase() fails (memtype.c:632 in 6.12.117), after
            // dropping memtype_lock.
            Err(_) => self.log.log(start, end),
            Ok(_) => {}
        }
        freed
    }

    /// `memtype_erase()` (memtype_interval.c:131 in 6.12.117; exact match
    /// only from v6.16): erase the first exact match; on a v6.15 layer,
    /// failing that, shrink the first end match to end at `start`.
    ///
    /// Context: `memtype_lock` held (`locked`). Errors: `EINVAL` when
    /// nothing matches.
    fn memtype_erase(
        &self,
        locked: &mut PatLocked<X>,
        start: u64,
        end: u64,
        eligible: impl Fn(&X::Entry) -> bool,
    ) -> KResult<MemtypeFreed> {
        if let Some(id) = locked.memtype_match_exact(start, end, eligible) {
            locked.tree.remove(id);
            return Ok(MemtypeFreed::Erased);
        }
        if self.generation != MemtypeGeneration::EndMatch {
            return Err(Errno::EINVAL);
        }
        let id = locked.memtype_match_end(start, end).ok_or(Errno::EINVAL)?;
        // interval_remove(), entry->end = start, interval_insert(): the
        // entry goes back in at its start, after any equal start (the
        // kernel's rb insert sends equal keys right).
        let entry_start = locked.tree.start(id);
        let value = locked.tree.remove(id);
        locked.tree.insert(entry_start, start - 1, value);
        Ok(MemtypeFreed::Shrunk {
            start: entry_start,
            end,
            new_end: start,
        })
    }

    /// Erase one specific entry (for designs that know which entry is
    /// theirs). Same effect on the tree's multiset as the kernel's
    /// exact-match erase of an identical entry.
    ///
    /// Context: `memtype_lock` held by the caller (`locked`); the caller
    /// frees the object with `kmem.free(KObj::Memtype)` after unlocking.
    pub fn memtype_erase_entry(locked: &mut PatLocked<X>, id: NodeId) -> MemtypeEntry {
        let (start, end) = locked.range(id);
        let m = locked.tree.remove(id);
        MemtypeEntry {
            start,
            end,
            ty: m.ty,
        }
    }

    /// Undo a reservation this call just inserted: erase entry `id` and
    /// free it. Context: takes `memtype_lock`.
    fn drop_entry(&self, kmem: &mut impl Kmem, id: NodeId) {
        self.with_locked(|l| Self::memtype_erase_entry(l, id));
        kmem.free(KObj::Memtype);
    }

    /// `lookup_memtype()`: the type of the page at `paddr`. Untracked ISA
    /// is WB, RAM answers from page flags, anything else from the tree, and
    /// an address with no reservation is UC-.
    ///
    /// Context: takes `memtype_lock` for non-RAM addresses.
    pub fn lookup_memtype(&self, paddr: u64) -> CacheMode {
        if self.phys.is_untracked_pat_range(paddr, paddr + PAGE_SIZE) {
            return CacheMode::WB;
        }
        if self.phys.pat_pagerange_is_ram(paddr, paddr + PAGE_SIZE) != 0 {
            let types = self.ram_page_types.lock();
            return types
                .get(&(paddr >> PAGE_SHIFT))
                .copied()
                .unwrap_or(CacheMode::WB);
        }
        let locked = self.memtype_lock.lock();
        match locked.memtype_lookup(paddr) {
            Some(id) => locked.tree.value(id).ty,
            None => CacheMode::UC_MINUS,
        }
    }

    /// `reserve_pfn_range()`: reserve `[paddr, paddr + size)` for a mapping
    /// that wants `want`. Return: the type to map with.
    ///
    /// RAM (and, as in the kernel, any range `pat_pagerange_is_ram()` does
    /// not call pure MMIO) is not reserved: the mapping takes the first
    /// page's current type. Otherwise the range is reserved; if it got a
    /// different type, `is_new_memtype_allowed()` decides between silently
    /// using that type and undoing the reservation with `EINVAL`.
    ///
    /// Also returns the inserted tree entry, if any. Context: takes
    /// `memtype_lock`. Errors: those of [`Pat::memtype_reserve`], and
    /// `EINVAL` for a type the caller may not get.
    pub fn reserve_pfn_range(
        &self,
        kmem: &mut impl Kmem,
        paddr: u64,
        size: u64,
        want: CacheMode,
    ) -> KResult<(CacheMode, Option<NodeId>)> {
        self.reserve_pfn_range_strict(kmem, paddr, size, want, false)
    }

    /// `reserve_pfn_range(paddr, size, prot, strict_prot)` (memtype.c:856
    /// in 6.12.117): with `strict`, as `track_pfn_copy()` asks, any type
    /// other than `want` is refused (`EINVAL`, the reservation undone)
    /// rather than adopted. RAM is never strict: it takes the first page's
    /// type whatever was asked.
    pub fn reserve_pfn_range_strict(
        &self,
        kmem: &mut impl Kmem,
        paddr: u64,
        size: u64,
        want: CacheMode,
        strict: bool,
    ) -> KResult<(CacheMode, Option<NodeId>)> {
        if self.phys.pat_pagerange_is_ram(paddr, paddr + size) != 0 {
            if !self.enabled {
                return Ok((want, None));
            }
            return Ok((self.lookup_memtype(paddr), None));
        }
        let (pcm, id) = self.memtype_reserve_entry(kmem, paddr, paddr + size, want)?;
        if pcm != want {
            let allowed = !strict
                && (self.phys.is_untracked_pat_range(paddr, paddr + size)
                    || is_new_memtype_allowed(want, pcm));
            if !allowed {
                // The kernel calls memtype_free(), erasing the first entry
                // matching the range exactly: identical to ours, so erasing
                // ours leaves the same multiset.
                if let Some(id) = id {
                    self.drop_entry(kmem, id);
                }
                return Err(Errno::EINVAL);
            }
        }
        // memtype_kernel_map_sync() only touches RAM in the direct map; this
        // range is not RAM, so it is a no-op here.
        Ok((pcm, id))
    }

    /// [`Pat::reserve_pfn_range`] and the design's own bookkeeping in ONE
    /// `memtype_lock` hold, as a design that extends the tree would write
    /// it: conflict check, type check, insertion of the entry (with `ext`),
    /// then `link(locked, entry)`; if `link` fails the entry is not kept.
    /// The type check happens before insertion rather than as an insert
    /// followed by `memtype_free()`: same end state, one lock round trip.
    ///
    /// Return: the type to map with and the entry inserted (none for RAM,
    /// PAT off or the ISA range, where `link` still runs, with `None`).
    /// Errors: as [`Pat::reserve_pfn_range`], plus whatever `link` returns.
    pub fn reserve_pfn_range_linked(
        &self,
        kmem: &mut impl Kmem,
        paddr: u64,
        size: u64,
        want: CacheMode,
        ext: X::Entry,
        link: impl FnOnce(&mut PatLocked<X>, Option<NodeId>) -> KResult<()>,
    ) -> KResult<(CacheMode, Option<NodeId>)> {
        let (start, end) = (paddr, paddr + size);
        let untracked_result = if self.phys.pat_pagerange_is_ram(start, end) != 0 {
            Some(if self.enabled {
                self.lookup_memtype(paddr)
            } else {
                want
            })
        } else if start >= end {
            return Err(Errno::EINVAL);
        } else if !self.enabled {
            Some(want)
        } else if self.phys.is_untracked_pat_range(start, end) {
            // Always WB, and always allowed (is_new_memtype_allowed()'s
            // first test).
            Some(CacheMode::WB)
        } else {
            None
        };
        if let Some(pcm) = untracked_result {
            self.with_locked(|l| link(l, None))?;
            return Ok((pcm, None));
        }
        let actual = self.pat_x_mtrr_type(start, end, want);
        kmem.alloc(KObj::Memtype)?;
        let inserted = self.with_locked(|l| {
            let ty = l.memtype_check_conflict(start, end, actual)?;
            if ty != want && !is_new_memtype_allowed(want, ty) {
                return Err(Errno::EINVAL);
            }
            let id = l.tree.insert(start, end - 1, Memtype { ty, ext });
            match link(l, Some(id)) {
                Ok(()) => Ok((ty, Some(id))),
                Err(e) => {
                    l.tree.remove(id);
                    Err(e)
                }
            }
        });
        if inserted.is_err() {
            kmem.free(KObj::Memtype);
        }
        inserted
    }

    /// `free_pfn_range()`: release what `reserve_pfn_range()` reserved (non-RAM
    /// only). Return: whether a tree entry was erased. A failing
    /// `memtype_free()` is ignored, as the kernel does (it only logs).
    pub fn free_pfn_range(&self, kmem: &mut impl Kmem, paddr: u64, size: u64) -> bool {
        if self.phys.pat_pagerange_is_ram(paddr, paddr + size) == 0 {
            self.memtype_free(kmem, paddr, paddr + size)
                .unwrap_or(false)
        } else {
            false
        }
    }

    /// `free_pfn_range()` (memtype.c:925 in 6.12.117), saying what the
    /// `memtype_free()` it makes did: only a range that is not RAM at all
    /// reaches it (RAM and mixed ranges were never reserved in the tree).
    /// Errors: `EINVAL` from `memtype_free()` ("freeing invalid memtype",
    /// which the kernel only logs).
    pub fn free_pfn_range_ext(
        &self,
        kmem: &mut impl Kmem,
        paddr: u64,
        size: u64,
    ) -> KResult<MemtypeFreed> {
        if self.phys.pat_pagerange_is_ram(paddr, paddr + size) == 0 {
            self.memtype_free_ext(kmem, paddr, paddr + size)
        } else {
            Ok(MemtypeFreed::NotInTree)
        }
    }

    /// `pfnmap_track()`: reserve the pfn range for a whole-VMA remap.
    /// Return: the cache mode to map with.
    pub fn pfnmap_track(
        &self,
        kmem: &mut impl Kmem,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        self.reserve_pfn_range(kmem, pfn_phys(pfn), size, prot)
            .map(|(pcm, _)| pcm)
    }

    /// `pfnmap_untrack()`. Return: whether a tree entry was erased.
    pub fn pfnmap_untrack(&self, kmem: &mut impl Kmem, pfn: u64, size: u64) -> bool {
        self.free_pfn_range(kmem, pfn_phys(pfn), size)
    }

    /// `pfnmap_setup_cachemode()`: for a partial remap or a fault, look up
    /// the type of every page (one `lookup_memtype()`, so one
    /// `memtype_lock` round trip, per page); all must agree.
    ///
    /// Return: the type to map with (`prot` unchanged when PAT is off).
    /// Errors: `EINVAL` when the pages disagree.
    pub fn pfnmap_setup_cachemode(
        &self,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        if !self.enabled {
            return Ok(prot);
        }
        let mut paddr = pfn_phys(pfn);
        let pcm = self.lookup_memtype(paddr);
        let mut left = size;
        while left > PAGE_SIZE {
            left -= PAGE_SIZE;
            paddr += PAGE_SIZE;
            if self.lookup_memtype(paddr) != pcm {
                return Err(Errno::EINVAL);
            }
        }
        Ok(pcm)
    }

    /// `memtype_reserve_io()`: a driver's `ioremap`-style reservation (the
    /// background entries of a populated tree). Return: the type granted.
    /// Errors: those of `memtype_reserve()`, and `EBUSY` for a type the
    /// caller may not get (undone first).
    pub fn memtype_reserve_io(
        &self,
        kmem: &mut impl Kmem,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<CacheMode> {
        self.memtype_reserve_io_entry(kmem, start, end, req)
            .map(|(ty, _)| ty)
    }

    /// [`Pat::memtype_reserve_io`], also returning the tree entry it
    /// inserted (none for PAT off, the ISA range, or RAM).
    pub fn memtype_reserve_io_entry(
        &self,
        kmem: &mut impl Kmem,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<(CacheMode, Option<NodeId>)> {
        let (new, id) = self.memtype_reserve_entry(kmem, start, end, req)?;
        let allowed =
            self.phys.is_untracked_pat_range(start, end) || is_new_memtype_allowed(req, new);
        if !allowed {
            if let Some(id) = id {
                self.drop_entry(kmem, id);
            } else {
                // RAM: undo the page-flag change like memtype_free() would.
                let _ = self.memtype_free(kmem, start, end);
            }
            return Err(Errno::EBUSY);
        }
        Ok((new, id))
    }

    /// `memtype_free_io()`.
    pub fn memtype_free_io(&self, kmem: &mut impl Kmem, start: u64, end: u64) -> KResult<bool> {
        self.memtype_free(kmem, start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmem::{Cpu, NoAccounting};
    use crate::memtype_log::InvalidFree;
    use crate::phys::{PhysRegion, RegionKind};

    const BAR: u64 = 0x1_0000_0000;

    fn pat() -> Pat {
        let phys = PhysMap::new(
            vec![
                PhysRegion {
                    start: 0x10_0000,
                    end: 0x4000_0000,
                    kind: RegionKind::Ram,
                    mtrr: MtrrType::WrBack,
                },
                PhysRegion {
                    start: BAR,
                    end: BAR + 0x1000_0000,
                    kind: RegionKind::Mmio,
                    mtrr: MtrrType::Uncachable,
                },
            ],
            MtrrType::Uncachable,
        )
        .unwrap();
        Pat::new(&PatConfig {
            enabled: true,
            phys: Arc::new(phys),
        })
    }

    #[test]
    fn wc_over_uc_minus_is_mapped_uc_minus() {
        let p = pat();
        let k = &mut NoAccounting;
        p.memtype_reserve_io(k, BAR, BAR + 0x10000, CacheMode::UC_MINUS)
            .unwrap();
        let got = p.pfnmap_track(k, BAR >> PAGE_SHIFT, 0x4000, CacheMode::WC);
        assert_eq!(got, Ok(CacheMode::UC_MINUS));
        assert_eq!(p.nr_entries(), 2);
    }

    #[test]
    fn wc_over_wb_is_refused_and_undone() {
        let p = pat();
        let mut cpu = Cpu::new(0);
        // A WB request on UC-MTRR MMIO becomes UC-; use an MTRR-WB window.
        p.with_locked(|l| {
            l.tree.insert(
                BAR,
                BAR + 0xffff,
                Memtype {
                    ty: CacheMode::WB,
                    ext: MemtypePadding::default(),
                },
            )
        });
        let got = p.pfnmap_track(&mut cpu, BAR >> PAGE_SHIFT, 0x4000, CacheMode::WC);
        assert_eq!(got, Err(Errno::EINVAL));
        assert_eq!(p.nr_entries(), 1);
        assert_eq!(cpu.live(KObj::Memtype), 0);
    }

    #[test]
    fn conflicting_types_are_ebusy() {
        let p = pat();
        let k = &mut NoAccounting;
        p.memtype_reserve_io(k, BAR, BAR + 0x2000, CacheMode::UC_MINUS)
            .unwrap();
        p.with_locked(|l| {
            l.tree.insert(
                BAR + 0x1000,
                BAR + 0x2fff,
                Memtype {
                    ty: CacheMode::WC,
                    ext: MemtypePadding::default(),
                },
            )
        });
        assert_eq!(
            p.memtype_reserve(k, BAR, BAR + 0x3000, CacheMode::UC_MINUS),
            Err(Errno::EBUSY)
        );
    }

    #[test]
    fn erase_needs_an_exact_match() {
        let p = pat();
        let k = &mut NoAccounting;
        p.memtype_reserve_io(k, BAR, BAR + 0x4000, CacheMode::UC_MINUS)
            .unwrap();
        assert_eq!(p.memtype_free(k, BAR, BAR + 0x2000), Err(Errno::EINVAL));
        assert_eq!(
            p.memtype_free(k, BAR + 0x1000, BAR + 0x4000),
            Err(Errno::EINVAL)
        );
        assert_eq!(p.memtype_free(k, BAR, BAR + 0x4000), Ok(true));
        assert_eq!(p.nr_entries(), 0);
        // The two failed frees were logged, as the kernel's pr_info() does.
        let logged = p.invalid_free_log().take().messages;
        assert_eq!(
            logged,
            [
                InvalidFree {
                    start: BAR,
                    end: BAR + 0x2000
                },
                InvalidFree {
                    start: BAR + 0x1000,
                    end: BAR + 0x4000
                }
            ]
        );
        assert_eq!(
            logged[0].to_string(),
            "freeing invalid memtype [mem 0x100000000-0x100001fff]"
        );
        assert!(p.invalid_free_log().take().messages.is_empty());
        assert_eq!(p.invalid_free_log().count(), 2);
    }

    #[test]
    fn setup_cachemode_needs_agreeing_pages() {
        let p = pat();
        let k = &mut NoAccounting;
        p.memtype_reserve_io(k, BAR, BAR + 0x1000, CacheMode::WC)
            .unwrap();
        // Page 0 is WC, page 1 unreserved (UC-): they disagree.
        assert_eq!(
            p.pfnmap_setup_cachemode(BAR >> PAGE_SHIFT, 0x2000, CacheMode::WB),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            p.pfnmap_setup_cachemode(BAR >> PAGE_SHIFT, 0x1000, CacheMode::WB),
            Ok(CacheMode::WC)
        );
    }

    #[test]
    fn ram_is_not_reserved_and_pat_off_reserves_nothing() {
        let p = pat();
        let k = &mut NoAccounting;
        assert_eq!(
            p.pfnmap_track(k, 0x200, 0x4000, CacheMode::WC),
            Ok(CacheMode::WB)
        );
        assert_eq!(p.nr_entries(), 0);
        let off: Pat = Pat::new(&PatConfig {
            enabled: false,
            ..PatConfig::default()
        });
        assert_eq!(
            off.pfnmap_track(k, BAR >> PAGE_SHIFT, 0x4000, CacheMode::WC),
            Ok(CacheMode::WC)
        );
        assert_eq!(off.nr_entries(), 0);
    }

    fn v6_15() -> Pat {
        Pat::with_generation(
            &PatConfig {
                enabled: true,
                phys: Arc::clone(&pat().phys),
            },
            MemtypeGeneration::EndMatch,
        )
    }

    #[test]
    fn v6_15_end_match_shrinks_the_entry_and_frees_nothing() {
        let p = v6_15();
        let mut cpu = Cpu::new(0);
        p.memtype_reserve_io(&mut cpu, BAR, BAR + 0x4000, CacheMode::UC_MINUS)
            .unwrap();
        // The tail of the entry: shrunk, not erased, nothing freed.
        assert_eq!(
            p.memtype_free_ext(&mut cpu, BAR + 0x3000, BAR + 0x4000),
            Ok(MemtypeFreed::Shrunk {
                start: BAR,
                end: BAR + 0x4000,
                new_end: BAR + 0x3000
            })
        );
        assert_eq!(cpu.live(KObj::Memtype), 1);
        let left = p.entries();
        assert_eq!((left[0].start, left[0].end), (BAR, BAR + 0x3000));
        // The head matches nothing: neither start nor end agree.
        assert_eq!(
            p.memtype_free_ext(&mut cpu, BAR, BAR + 0x1000),
            Err(Errno::EINVAL)
        );
        // What is left now matches exactly.
        assert_eq!(
            p.memtype_free_ext(&mut cpu, BAR, BAR + 0x3000),
            Ok(MemtypeFreed::Erased)
        );
        assert_eq!((p.nr_entries(), cpu.live(KObj::Memtype)), (0, 0));
        p.check_invariants();
    }

    #[test]
    fn exact_match_wins_over_end_match_and_v6_16_has_no_end_match() {
        let p = v6_15();
        let k = &mut NoAccounting;
        p.memtype_reserve_io(k, BAR, BAR + 0x4000, CacheMode::UC_MINUS)
            .unwrap();
        p.memtype_reserve_io(k, BAR + 0x2000, BAR + 0x4000, CacheMode::UC_MINUS)
            .unwrap();
        assert_eq!(
            p.memtype_free_ext(k, BAR + 0x2000, BAR + 0x4000),
            Ok(MemtypeFreed::Erased)
        );
        assert_eq!(p.nr_entries(), 1);
        let merged = pat();
        merged
            .memtype_reserve_io(k, BAR, BAR + 0x4000, CacheMode::UC_MINUS)
            .unwrap();
        assert_eq!(
            merged.memtype_free_ext(k, BAR + 0x2000, BAR + 0x4000),
            Err(Errno::EINVAL)
        );
        assert_eq!(merged.entries()[0].end, BAR + 0x4000);
    }

    #[test]
    fn wb_on_uc_mtrr_becomes_uc_minus() {
        let p = pat();
        let k = &mut NoAccounting;
        assert_eq!(
            p.pfnmap_track(k, BAR >> PAGE_SHIFT, 0x1000, CacheMode::WB),
            Ok(CacheMode::UC_MINUS)
        );
    }
}
