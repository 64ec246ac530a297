//! `legacy`: pfnmap tracking as the kernel did it up to v6.15, with the
//! `VM_PAT` flag (arch/x86/mm/pat/memtype.c `track_pfn_remap()`,
//! `track_pfn_copy()`, `untrack_pfn()`, `untrack_pfn_copy()`,
//! `untrack_pfn_clear()`, `get_pat_info()`; cited by line in Debian's
//! 6.12.117, whose VM_PAT code is v6.15's, and the same in 6.1.192).
//!
//! State: no field of its own in the VMA, only the `VM_PAT` bit of
//! `vm_flags`, and the memtype tree with v6.15's `memtype_erase()`
//! ([`MemtypeGeneration::EndMatch`]). Nothing links a reservation to the
//! VMAs using it: whoever needs the range re-derives it from the page
//! tables (`get_pat_info()`: the pfn mapped at `vm_start`, and the VMA's
//! size). That is where the rewrite's bugs come from, and they come out
//! of this model unaided:
//!
//! - fork reserves the range again for the child (`track_pfn_copy()` from
//!   `copy_page_range()`): one more tree entry per fork;
//! - every unmap of a VM_PAT VMA frees the range derived from *that* VMA
//!   (`untrack_pfn()` from `unmap_single_vma()`): a piece of a split VMA
//!   frees a range that matches no entry ("freeing invalid memtype"), or,
//!   if it is the tail, shrinks the entry (the end match); what no piece
//!   frees is left behind;
//! - mremap shrink unmaps the tail piece, which the end match trims off
//!   the entry, so the rest still frees exactly.
//!
//! `vm_area_dup()` copies `vm_flags` (so split halves and mremap's copy
//! keep VM_PAT) and has no reference count to refuse on; `vm_area_free()`
//! does nothing. Lock: `memtype_lock` only.

use crate::cachemode::CacheMode;
use crate::errno::{Errno, KResult};
use crate::kmem::Cpu;
use crate::memtype::{MemtypeEntry, MemtypeFreed, MemtypeGeneration, Pat};
use crate::memtype_log::InvalidFreeLog;
use crate::percpu::PercpuCounter;
use crate::phys::pfn_phys;
use crate::strategy::Strategy;
use crate::tracker::{
    Footprint, PfnRange, PfnUntrack, PfnmapPte, PfnmapTracking, TrackerConfig, VM_PAT, Vma,
    remap_pfn_range_notrack,
};

/// The VM_PAT design.
#[derive(Debug)]
pub struct Legacy {
    pat: Pat,
    /// Tree entries this design inserted (`track_pfn_remap()`,
    /// `track_pfn_copy()`, `memtype_reserve_io()`) minus those the calls
    /// meant to drop them erased (`untrack_pfn()`, `memtype_free_io()`):
    /// the model's own count, not kernel state (see
    /// [`PfnmapTracking::reservations_outstanding`]).
    outstanding: PercpuCounter,
}

/// `get_pat_info()` (memtype.c:955 in 6.12.117): the range of a VM_PAT VMA
/// is the pfn its page tables map at `vm_start` and the VMA's size. Without
/// a pte there (never the case for the shared mappings pfntrack models; a
/// private COW mapping would fall back to `vm_pgoff`) the kernel WARNs and
/// fails with `EINVAL`.
fn get_pat_info(vma: &Vma<()>, pte: Option<PfnmapPte>) -> KResult<(PfnRange, CacheMode)> {
    let pte = pte.ok_or(Errno::EINVAL)?;
    Ok((
        PfnRange {
            pfn: pte.pfn,
            size: vma.vm_end - vma.vm_start,
        },
        pte.pcm,
    ))
}

impl Legacy {
    /// `legacy` over a memtype layer that erases like `generation`: only
    /// for models broken on purpose (pfntrack's `kernel-check` mutants);
    /// [`PfnmapTracking::new`] is v6.15's [`MemtypeGeneration::EndMatch`].
    pub fn with_generation(cfg: &TrackerConfig, generation: MemtypeGeneration) -> Self {
        Legacy {
            pat: Pat::with_generation(&cfg.pat, generation),
            outstanding: PercpuCounter::default(),
        }
    }

    fn vm_pat(vma: &Vma<()>) -> bool {
        vma.vm_flags & VM_PAT != 0
    }

    /// `reserve_pfn_range()` for a VMA, counting the entry it inserted.
    fn reserve(
        &self,
        cpu: &mut Cpu,
        range: PfnRange,
        want: CacheMode,
        strict: bool,
    ) -> KResult<CacheMode> {
        let (pcm, id) = self.pat.reserve_pfn_range_strict(
            cpu,
            pfn_phys(range.pfn),
            range.size,
            want,
            strict,
        )?;
        if id.is_some() {
            self.outstanding.add(cpu.id(), 1);
        }
        Ok(pcm)
    }

    /// `untrack_pfn(vma, pfn, size)` with a known range: `free_pfn_range()`,
    /// then clear VM_PAT (memtype.c:574 in 6.12.117).
    fn free_range(&self, cpu: &mut Cpu, vma: &mut Vma<()>, range: PfnRange) -> PfnUntrack {
        let freed = self
            .pat
            .free_pfn_range_ext(cpu, pfn_phys(range.pfn), range.size);
        if freed == Ok(MemtypeFreed::Erased) {
            self.outstanding.add(cpu.id(), -1);
        }
        vma.vm_flags &= !VM_PAT;
        PfnUntrack { range, freed }
    }
}

impl PfnmapTracking for Legacy {
    /// Nothing: VM_PAT is a bit of `vm_flags`.
    type VmaState = ();

    const STRATEGY: Strategy = Strategy::Legacy;

    fn new(cfg: &TrackerConfig) -> Self {
        Self::with_generation(cfg, MemtypeGeneration::EndMatch)
    }

    /// `remap_pfn_range()` of the whole VMA (mm/memory.c:2723 in 6.12.117):
    /// `track_pfn_remap()` reserves (memtype.c:1014, `strict_prot` 0) and
    /// sets VM_PAT; any tracking error is returned as `EINVAL`; if mapping
    /// then fails, `untrack_pfn(vma, pfn, size)` frees the range again.
    ///
    /// A VMA that already has VM_PAT is fully mapped, and the kernel would
    /// reserve a second time and then hit `BUG_ON(!pte_none())` in
    /// `remap_pte_range()` (mm/memory.c:2557). pfntrack cannot model a
    /// BUG; it refuses the remap with `EINVAL` before reserving, as v6.16
    /// does for a VMA that already has a ctx.
    fn remap_pfn_range_track(
        &self,
        cpu: &mut Cpu,
        vma: &mut Vma<()>,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        if Self::vm_pat(vma) {
            return Err(Errno::EINVAL);
        }
        let range = PfnRange { pfn, size };
        let pcm = self
            .reserve(cpu, range, prot, false)
            .map_err(|_| Errno::EINVAL)?;
        vma.vm_flags |= VM_PAT;
        if let Err(e) = remap_pfn_range_notrack(cpu, vma) {
            self.free_range(cpu, vma, range);
            return Err(e);
        }
        Ok(pcm)
    }

    fn pfnmap_setup_cachemode(&self, pfn: u64, size: u64, prot: CacheMode) -> KResult<CacheMode> {
        // track_pfn_remap()'s partial case (memtype.c:1021 in 6.12.117) is
        // the same per-page lookup loop.
        self.pat.pfnmap_setup_cachemode(pfn, size, prot)
    }

    /// `remap_pfn_range()` (mm/memory.c:2723 in 6.12.117): as the default,
    /// except that a failed mapping of part of the VMA also runs
    /// `untrack_pfn(vma, pfn, size)`, which frees the *partial* range and
    /// clears VM_PAT if the VMA had it.
    fn remap_pfn_range(
        &self,
        cpu: &mut Cpu,
        vma: &mut Vma<()>,
        addr: u64,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        let size = crate::phys::page_align(size);
        if addr == vma.vm_start && addr + size == vma.vm_end {
            return self.remap_pfn_range_track(cpu, vma, pfn, size, prot);
        }
        let pcm = self
            .pfnmap_setup_cachemode(pfn, size, prot)
            .map_err(|_| Errno::EINVAL)?;
        if let Err(e) = remap_pfn_range_notrack(cpu, vma) {
            if Self::vm_pat(vma) {
                self.free_range(cpu, vma, PfnRange { pfn, size });
            }
            return Err(e);
        }
        Ok(pcm)
    }

    /// `vm_area_dup()` in v6.15 is a copy of the struct: VM_PAT comes along
    /// (the caller's [`Vma::dup_shell`] copies `vm_flags`). Never refused.
    #[inline]
    fn vm_area_dup(&self, _cpu: &mut Cpu, _orig: &Vma<()>, _new: &mut Vma<()>) -> KResult<()> {
        Ok(())
    }

    /// `vm_area_free()` in v6.15 knows nothing of PAT: the range was
    /// untracked (or not) when the VMA's pages were unmapped.
    #[inline]
    fn vm_area_free(&self, _cpu: &mut Cpu, _vma: &mut Vma<()>) -> Option<PfnRange> {
        None
    }

    /// Without page tables there is no answer (`get_pat_info()` walks
    /// them): see [`PfnmapTracking::lookup_pfnmap`].
    fn lookup(&self, _vma: &Vma<()>) -> Option<PfnRange> {
        None
    }

    /// `get_pat_info()` of a VM_PAT VMA.
    fn lookup_pfnmap(&self, vma: &Vma<()>, pte: Option<PfnmapPte>) -> Option<PfnRange> {
        if !Self::vm_pat(vma) {
            return None;
        }
        get_pat_info(vma, pte).ok().map(|(range, _)| range)
    }

    /// memtype.c:1110 in 6.12.117.
    #[inline]
    fn untrack_pfn_clear(&self, vma: &mut Vma<()>) {
        vma.vm_flags &= !VM_PAT;
    }

    /// `track_pfn_copy()` (memtype.c:987 in 6.12.117): `get_pat_info()` of
    /// the source, then `reserve_pfn_range(paddr, src size, &pgprot, 1)`:
    /// strict, the copy must get the type the source's ptes have. On
    /// success the copy gets VM_PAT.
    fn track_pfn_copy(
        &self,
        cpu: &mut Cpu,
        dst: &mut Vma<()>,
        src: &Vma<()>,
        src_pte: Option<PfnmapPte>,
    ) -> KResult<Option<u64>> {
        if !Self::vm_pat(src) {
            return Ok(None);
        }
        let (range, pcm) = get_pat_info(src, src_pte)?;
        self.reserve(cpu, range, pcm, true)?;
        dst.vm_flags |= VM_PAT;
        Ok(Some(range.pfn))
    }

    /// `untrack_pfn_copy()` (memtype.c:1008 in 6.12.117):
    /// `untrack_pfn(dst, pfn, dst size)`.
    fn untrack_pfn_copy(&self, cpu: &mut Cpu, dst: &mut Vma<()>, pfn: u64) -> Option<PfnUntrack> {
        if !Self::vm_pat(dst) {
            return None;
        }
        let size = dst.vm_end - dst.vm_start;
        Some(self.free_range(cpu, dst, PfnRange { pfn, size }))
    }

    /// `untrack_pfn(vma, 0, 0)` (memtype.c:1067 in 6.12.117): the range is
    /// whatever `get_pat_info()` derives from this VMA, a piece or not.
    fn untrack_pfn(
        &self,
        cpu: &mut Cpu,
        vma: &mut Vma<()>,
        pte: Option<PfnmapPte>,
    ) -> Option<PfnUntrack> {
        if !Self::vm_pat(vma) {
            return None;
        }
        // get_pat_info() failing: the kernel returns with VM_PAT still set.
        let (range, _) = get_pat_info(vma, pte).ok()?;
        Some(self.free_range(cpu, vma, range))
    }

    fn memtype_reserve_io(
        &self,
        cpu: &mut Cpu,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<CacheMode> {
        let (ty, id) = self.pat.memtype_reserve_io_entry(cpu, start, end, req)?;
        if id.is_some() {
            self.outstanding.add(cpu.id(), 1);
        }
        Ok(ty)
    }

    /// `memtype_free_io()` is `memtype_free()`: on v6.15 it too may shrink
    /// an entry by its end (Return: `false` then, as nothing was erased).
    fn memtype_free_io(&self, cpu: &mut Cpu, start: u64, end: u64) -> KResult<bool> {
        let freed = self.pat.memtype_free_ext(cpu, start, end)?;
        if freed == MemtypeFreed::Erased {
            self.outstanding.add(cpu.id(), -1);
        }
        Ok(freed == MemtypeFreed::Erased)
    }

    fn memtype_entries(&self) -> Vec<MemtypeEntry> {
        self.pat.entries()
    }

    fn invalid_free_log(&self) -> &InvalidFreeLog {
        self.pat.invalid_free_log()
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            memtype: self.pat.nr_entries() as u64,
            ..Footprint::default()
        }
    }

    fn reservations_outstanding(&self) -> Option<u64> {
        Some(self.outstanding.sum().max(0) as u64)
    }
}
