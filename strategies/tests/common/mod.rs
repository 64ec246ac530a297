//! Test driver shared by the conformance, differential and fault-injection
//! suites: a tiny "mm" that applies [`Op`]s to one design through its hooks,
//! the way mm/ would call them, and reports each hook's [`Outcome`].
//!
//! The hooks run at the kernel's points, including those only the VM_PAT
//! design (`legacy`, v6.15) uses: fork is `vm_area_dup()`,
//! `untrack_pfn_clear()` and `copy_page_range()` (`track_pfn_copy()`, then
//! the page-table copy, which can fail); every unmap is `untrack_pfn()`
//! from `unmap_single_vma()` before `vm_area_free()`; an mremap move moves
//! the page tables and clears VM_PAT on the old VMA. The mm keeps each
//! VMA's page-table view (the pfn and cache mode mapped at its start).
//!
//! VMA operands are indexes into the live VMAs taken modulo their count, so
//! any op sequence is valid; ops with no VMA to act on are no-ops. `Op`'s
//! `Debug` output is Rust, so a failing sequence pastes into a test.

#![allow(dead_code)]

use std::sync::Arc;

use strategies::kmem::{Cpu, KObj};
use strategies::memtype::{MemtypeEntry, PatConfig};
use strategies::phys::{MtrrType, PAGE_SIZE, PhysMap, PhysRegion, RegionKind, pfn_phys};
use strategies::{
    CacheMode, Footprint, KResult, PfnRange, PfnUntrack, PfnmapPte, PfnmapTracking, TrackerConfig,
    Vma, VmaKey,
};

/// pfns 0x100..0x140: RAM.
pub const RAM_PFN: u64 = 0x100;
/// pfns 0x140..0x150: a hole (neither RAM nor MMIO).
pub const HOLE_PFN: u64 = 0x140;
/// pfns 0x150..0x190: MMIO under a UC MTRR.
pub const MMIO_UC_PFN: u64 = 0x150;
/// pfns 0x190..0x1d0: MMIO under a WB MTRR (a WB request stays WB).
pub const MMIO_WB_PFN: u64 = 0x190;
/// One past the last pfn of the test map.
pub const END_PFN: u64 = 0x1d0;
/// The legacy ISA range starts at pfn 0xa0 (untracked).
pub const ISA_PFN: u64 = 0xa0;

/// The test's physical map (see the pfn constants).
pub fn test_phys() -> PhysMap {
    let region = |start_pfn: u64, end_pfn: u64, kind, mtrr| PhysRegion {
        start: pfn_phys(start_pfn),
        end: pfn_phys(end_pfn),
        kind,
        mtrr,
    };
    PhysMap::new(
        vec![
            region(RAM_PFN, HOLE_PFN, RegionKind::Ram, MtrrType::WrBack),
            region(
                MMIO_UC_PFN,
                MMIO_WB_PFN,
                RegionKind::Mmio,
                MtrrType::Uncachable,
            ),
            region(MMIO_WB_PFN, END_PFN, RegionKind::Mmio, MtrrType::WrBack),
        ],
        MtrrType::Uncachable,
    )
    .unwrap()
}

/// A design configuration over the test map.
pub fn test_config(pat_enabled: bool, refcount_max: u32, xa_key_shift: u32) -> TrackerConfig {
    TrackerConfig {
        pat: PatConfig {
            enabled: pat_enabled,
            phys: Arc::new(test_phys()),
        },
        refcount_max,
        xa_key_shift,
    }
}

/// One mm-level step.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// mmap an ordinary VMA of `pages` pages.
    Mmap { pages: u64 },
    /// `remap_pfn_range()` over the whole VMA.
    RemapFull { vma: usize, pfn: u64, ty: CacheMode },
    /// `remap_pfn_range()` over part of the VMA.
    RemapPartial {
        vma: usize,
        off: u64,
        pages: u64,
        pfn: u64,
        ty: CacheMode,
    },
    /// fork: `vm_area_dup()` of one VMA into a new one.
    Fork { vma: usize },
    /// mprotect/munmap of a part: split at page `at` (dup, then shrink both;
    /// the original keeps the lower part, the copy is pushed last).
    Split { vma: usize, at: u64 },
    /// mremap shrink: split at page `at`, unmap the upper part.
    Shrink { vma: usize, at: u64 },
    /// mremap move: dup to a new address, then free the old VMA.
    Mremap { vma: usize },
    /// munmap/exit: `vm_area_free()`.
    Free { vma: usize },
    /// Ask the design which range the VMA holds.
    Lookup { vma: usize },
    /// `vmf_insert_pfn()` fault: one cache-mode lookup.
    Fault { pfn: u64 },
    /// A driver's ioremap of `pages` pages: `memtype_reserve_io()`.
    IoReserve { pfn: u64, pages: u64, ty: CacheMode },
    /// Undo the `res`-th live ioremap: `memtype_free_io()`.
    IoFree { res: usize },
}

/// What one op's hooks returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The op had nothing to act on.
    Nop,
    /// mmap always succeeds.
    Mapped,
    /// `remap_pfn_range()`'s result.
    Remap(KResult<CacheMode>),
    /// `vm_area_dup()`'s result (fork, split).
    Dup(KResult<()>),
    /// mremap: the dup's result, then the old VMA's free (if the dup worked).
    Moved(KResult<()>, Option<PfnRange>),
    /// `vm_area_free()`'s untrack event.
    Freed(Option<PfnRange>),
    /// The unmap of a VM_PAT VMA (`untrack_pfn()`, v6.15 only), then
    /// `vm_area_free()`'s untrack event.
    Unmapped(PfnUntrack, Option<PfnRange>),
    /// mremap shrink: the split's dup, then the tail's unmap.
    Shrunk(KResult<()>, Option<PfnUntrack>, Option<PfnRange>),
    /// `lookup()`.
    Lookup(Option<PfnRange>),
    /// The fault's cache mode.
    Fault(CacheMode),
    /// `memtype_reserve_io()`.
    IoReserve(KResult<CacheMode>),
    /// `memtype_free_io()`.
    IoFree(KResult<bool>),
}

/// One design plus the mm state the ops act on.
pub struct World<T: PfnmapTracking> {
    /// The design under test.
    pub tracker: T,
    /// The only CPU.
    pub cpu: Cpu,
    /// Live VMAs, in creation order.
    pub vmas: Vec<Vma<T::VmaState>>,
    /// Each live VMA's page tables: what is mapped at its start (a whole-VMA
    /// remap maps the VMA linearly; pfntrack does not keep partial remaps'
    /// ptes, which no design reads).
    pub ptes: Vec<Option<PfnmapPte>>,
    /// Live ioremaps `[start, end)`.
    pub ios: Vec<(u64, u64)>,
    free_keys: Vec<VmaKey>,
    next_key: u64,
    next_va: u64,
}

/// Base of the simulated `vm_area_struct` slab (a direct-map address).
const KEY_BASE: u64 = 0xffff_8880_1000_0000;

impl<T: PfnmapTracking> World<T> {
    /// An empty mm over `cfg`.
    pub fn new(cfg: &TrackerConfig) -> Self {
        World {
            tracker: T::new(cfg),
            cpu: Cpu::new(0),
            vmas: Vec::new(),
            ptes: Vec::new(),
            ios: Vec::new(),
            free_keys: Vec::new(),
            next_key: 0,
            next_va: 0x7f00_0000_0000,
        }
    }

    /// A VMA address, reusing the most recently freed one first (LIFO,
    /// like SLUB's per-cpu freelist).
    fn alloc_key(&mut self) -> VmaKey {
        self.free_keys.pop().unwrap_or_else(|| {
            self.next_key += 1;
            // 192-byte objects, 64-byte aligned, as in vm_area_cachep.
            VmaKey(KEY_BASE + self.next_key * 192)
        })
    }

    /// Unmap VMA `idx`: `unmap_single_vma()` untracks (v6.15), then the
    /// VMA is freed. Return: both events.
    fn unmap(&mut self, idx: usize) -> (Option<PfnUntrack>, Option<PfnRange>) {
        let mut vma = self.vmas.remove(idx);
        let pte = self.ptes.remove(idx);
        let untracked = if vma.is_pfnmap() {
            self.tracker.untrack_pfn(&mut self.cpu, &mut vma, pte)
        } else {
            None
        };
        let ev = self.tracker.vm_area_free(&mut self.cpu, &mut vma);
        self.free_keys.push(vma.key);
        (untracked, ev)
    }

    fn release(&mut self, idx: usize) -> Outcome {
        match self.unmap(idx) {
            (Some(u), ev) => Outcome::Unmapped(u, ev),
            (None, ev) => Outcome::Freed(ev),
        }
    }

    fn pick(&self, vma: usize) -> Option<usize> {
        (!self.vmas.is_empty()).then(|| vma % self.vmas.len())
    }

    fn pages(&self, idx: usize) -> u64 {
        let v = &self.vmas[idx];
        (v.vm_end - v.vm_start) / PAGE_SIZE
    }

    /// Duplicate VMA `idx`; on success the copy is pushed and its index
    /// returned. On failure the copy is discarded (its address goes back).
    fn dup(&mut self, idx: usize) -> KResult<usize> {
        let key = self.alloc_key();
        let mut new = self.vmas[idx].dup_shell(key);
        match self
            .tracker
            .vm_area_dup(&mut self.cpu, &self.vmas[idx], &mut new)
        {
            Ok(()) => {
                self.vmas.push(new);
                self.ptes.push(self.ptes[idx]);
                Ok(self.vmas.len() - 1)
            }
            Err(e) => {
                self.free_keys.push(key);
                Err(e)
            }
        }
    }

    /// `dup_mmap()` of one VMA into a child: `vm_area_dup()`,
    /// `untrack_pfn_clear()` of the copy, `copy_page_range()`. A failure
    /// after the copy exists tears it down as `exit_mmap()` would.
    fn fork(&mut self, idx: usize) -> KResult<()> {
        let j = self.dup(idx)?;
        if !self.vmas[idx].is_pfnmap() {
            return Ok(());
        }
        self.tracker.untrack_pfn_clear(&mut self.vmas[j]);
        let (src, dst) = pair(&mut self.vmas, idx, j);
        let copied = match self
            .tracker
            .track_pfn_copy(&mut self.cpu, dst, src, self.ptes[idx])
        {
            // copy_p4d_range() allocates the child's page tables.
            Ok(pfn) => match strategies::kmem::Kmem::alloc(&mut self.cpu, KObj::PageTable) {
                Ok(()) => Ok(()),
                Err(e) => {
                    if let Some(pfn) = pfn {
                        self.tracker.untrack_pfn_copy(&mut self.cpu, dst, pfn);
                    }
                    Err(e)
                }
            },
            Err(e) => Err(e),
        };
        if let Err(e) = copied {
            self.unmap(j);
            return Err(e);
        }
        Ok(())
    }

    /// Apply one op.
    pub fn apply(&mut self, op: &Op) -> Outcome {
        match *op {
            Op::Mmap { pages } => {
                let pages = pages.max(1);
                let start = self.next_va;
                self.next_va += (pages + 1) * PAGE_SIZE;
                let key = self.alloc_key();
                self.vmas
                    .push(Vma::new(key, start, start + pages * PAGE_SIZE, 0));
                self.ptes.push(None);
                Outcome::Mapped
            }
            Op::RemapFull { vma, pfn, ty } => {
                let Some(i) = self.pick(vma) else {
                    return Outcome::Nop;
                };
                let v = &mut self.vmas[i];
                let (addr, size) = (v.vm_start, v.vm_end - v.vm_start);
                let r = self
                    .tracker
                    .remap_pfn_range(&mut self.cpu, v, addr, pfn, size, ty);
                if let Ok(pcm) = r
                    && self.ptes[i].is_none()
                {
                    self.ptes[i] = Some(PfnmapPte { pfn, pcm });
                }
                Outcome::Remap(r)
            }
            Op::RemapPartial {
                vma,
                off,
                pages,
                pfn,
                ty,
            } => {
                let Some(i) = self.pick(vma) else {
                    return Outcome::Nop;
                };
                let total = self.pages(i);
                if total < 2 {
                    return Outcome::Nop;
                }
                // A strict sub-range: at most total - 1 pages.
                let pages = pages.clamp(1, total - 1);
                let off = off % (total - pages + 1);
                let v = &mut self.vmas[i];
                let addr = v.vm_start + off * PAGE_SIZE;
                Outcome::Remap(self.tracker.remap_pfn_range(
                    &mut self.cpu,
                    v,
                    addr,
                    pfn,
                    pages * PAGE_SIZE,
                    ty,
                ))
            }
            Op::Fork { vma } => match self.pick(vma) {
                None => Outcome::Nop,
                Some(i) => Outcome::Dup(self.fork(i)),
            },
            Op::Split { vma, at } => {
                let Some(i) = self.pick(vma) else {
                    return Outcome::Nop;
                };
                let total = self.pages(i);
                if total < 2 {
                    return Outcome::Nop;
                }
                let at = 1 + at % (total - 1);
                Outcome::Dup(self.split(i, at).map(|_| ()))
            }
            Op::Shrink { vma, at } => {
                let Some(i) = self.pick(vma) else {
                    return Outcome::Nop;
                };
                let total = self.pages(i);
                if total < 2 {
                    return Outcome::Nop;
                }
                let at = 1 + at % (total - 1);
                match self.split(i, at) {
                    Ok(j) => {
                        let (u, ev) = self.unmap(j);
                        Outcome::Shrunk(Ok(()), u, ev)
                    }
                    Err(e) => Outcome::Shrunk(Err(e), None, None),
                }
            }
            Op::Mremap { vma } => {
                let Some(i) = self.pick(vma) else {
                    return Outcome::Nop;
                };
                match self.dup(i) {
                    Ok(j) => {
                        // move_page_tables() took the ptes along (dup copied
                        // the view); the old VMA loses VM_PAT, then goes.
                        let len = self.vmas[j].vm_end - self.vmas[j].vm_start;
                        let start = self.next_va;
                        self.next_va += len + PAGE_SIZE;
                        self.vmas[j].vm_start = start;
                        self.vmas[j].vm_end = start + len;
                        self.tracker.untrack_pfn_clear(&mut self.vmas[i]);
                        self.ptes[i] = None;
                        let (u, ev) = self.unmap(i);
                        assert!(u.is_none(), "the old VMA of a move untracked: {u:?}");
                        Outcome::Moved(Ok(()), ev)
                    }
                    Err(e) => Outcome::Moved(Err(e), None),
                }
            }
            Op::Free { vma } => match self.pick(vma) {
                None => Outcome::Nop,
                Some(i) => self.release(i),
            },
            Op::Lookup { vma } => match self.pick(vma) {
                None => Outcome::Nop,
                Some(i) => Outcome::Lookup(self.lookup(i)),
            },
            Op::Fault { pfn } => Outcome::Fault(self.tracker.vmf_insert_pfn(pfn, CacheMode::WB)),
            Op::IoReserve { pfn, pages, ty } => {
                let (start, end) = (pfn_phys(pfn), pfn_phys(pfn + pages.max(1)));
                let r = self
                    .tracker
                    .memtype_reserve_io(&mut self.cpu, start, end, ty);
                if r.is_ok() {
                    self.ios.push((start, end));
                }
                Outcome::IoReserve(r)
            }
            Op::IoFree { res } => {
                if self.ios.is_empty() {
                    return Outcome::Nop;
                }
                let (start, end) = self.ios.remove(res % self.ios.len());
                Outcome::IoFree(self.tracker.memtype_free_io(&mut self.cpu, start, end))
            }
        }
    }

    /// `__split_vma()`: the copy takes pages `at..` (and the ptes there).
    /// Return: the copy's index.
    fn split(&mut self, i: usize, at: u64) -> KResult<usize> {
        let j = self.dup(i)?;
        let mid = self.vmas[i].vm_start + at * PAGE_SIZE;
        self.vmas[i].vm_end = mid;
        self.vmas[j].vm_start = mid;
        if let Some(p) = &mut self.ptes[j] {
            p.pfn += at;
        }
        Ok(j)
    }

    /// What the design says VMA `i` holds (through its page tables when it
    /// asks for them).
    pub fn lookup(&self, i: usize) -> Option<PfnRange> {
        self.tracker.lookup_pfnmap(&self.vmas[i], self.ptes[i])
    }

    /// Free every VMA and ioremap (exit of everything).
    pub fn teardown(&mut self) {
        while !self.vmas.is_empty() {
            self.unmap(self.vmas.len() - 1);
        }
        let leaky = self.tracker.reservations_outstanding().is_some();
        while let Some((start, end)) = self.ios.pop() {
            let r = self.tracker.memtype_free_io(&mut self.cpu, start, end);
            // v6.15: an untrack may have shrunk or taken this ioremap's entry.
            assert!(leaky || r.is_ok(), "a live ioremap frees: {r:?}");
        }
    }

    /// Everything observable about the design's state, for before/after
    /// comparisons.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            entries: self.tracker.memtype_entries(),
            footprint: self.tracker.footprint(),
            lookups: (0..self.vmas.len()).map(|i| self.lookup(i)).collect(),
            live: KObj::ALL.map(|k| self.cpu.live(k)),
        }
    }
}

/// Observable state of a [`World`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The memtype tree's multiset.
    pub entries: Vec<MemtypeEntry>,
    /// The design's own object counts.
    pub footprint: Footprint,
    /// What every live VMA holds.
    pub lookups: Vec<Option<PfnRange>>,
    /// The allocator's live counts per kind.
    pub live: [i64; 5],
}

/// Two distinct elements of `v`, the first shared, the second mutable.
fn pair<T>(v: &mut [T], a: usize, b: usize) -> (&T, &mut T) {
    assert_ne!(a, b);
    if a < b {
        let (lo, hi) = v.split_at_mut(b);
        (&lo[a], &mut hi[0])
    } else {
        let (lo, hi) = v.split_at_mut(a);
        (&hi[0], &mut lo[b])
    }
}

/// A physical range in pfns, for building ops.
pub fn pfn_range_bytes(pfn: u64, pages: u64) -> (u64, u64) {
    (pfn_phys(pfn), pfn_phys(pfn + pages))
}

/// Assert that nothing is left but what the design's kernel leaks by its
/// own count (none, unless it keeps one): no other tree entries, objects
/// or counts.
pub fn assert_no_leaks<T: PfnmapTracking>(w: &World<T>, what: &str) {
    let leaked = w.tracker.reservations_outstanding().unwrap_or(0);
    assert_eq!(
        w.tracker.memtype_entries().len() as u64,
        leaked,
        "{what}: memtype entries left: {:?}",
        w.tracker.memtype_entries()
    );
    let fp = w.tracker.footprint();
    assert_eq!(
        Footprint {
            vma_field_bytes: 0,
            memtype: 0,
            ..fp
        },
        Footprint::default(),
        "{what}: footprint not empty"
    );
    assert_eq!(fp.memtype, leaked, "{what}: footprint disagrees");
    for k in KObj::ALL {
        // The oracles do not allocate through the accounting.
        let want = if k == KObj::Memtype && !T::STRATEGY.is_oracle() {
            leaked as i64
        } else {
            0
        };
        assert_eq!(w.cpu.live(k), want, "{what}: {} leaked", k.kernel_name());
    }
}
