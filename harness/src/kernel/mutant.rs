//! Models broken on purpose, for showing that `kernel-check` catches a
//! wrong model at the op where its bug first shows (see
//! [`super::model::Mutant`]). Built from the same substrate as the designs
//! (the memtype layer and `struct pfnmap_track_ctx`), each with exactly one
//! deliberate departure from the kernel it imitates.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use strategies::designs::legacy::Legacy;
use strategies::kmem::Cpu;
use strategies::memtype::{MemtypeEntry, MemtypeGeneration, Pat};
use strategies::memtype_log::InvalidFreeLog;
use strategies::pfnmap_ctx::CtxRef;
use strategies::tracker::remap_pfn_range_notrack;
use strategies::tracker::{PfnUntrack, PfnmapPte};
use strategies::{
    CacheMode, Errno, Footprint, KResult, PfnRange, PfnmapTracking, Strategy, TrackerConfig, Vma,
};

/// `per-vma` (mm/memory.c `remap_pfn_range_track()`, mm/vma_init.c), except
/// that the first `vm_area_free()` of any VMA sharing a ctx untracks the
/// range, and the last put only frees the ctx. The merged kernel untracks
/// on the last put (`pfnmap_track_ctx_release()`).
#[derive(Debug)]
pub struct UntrackFirstPut {
    pat: Pat,
    refcount_max: u32,
}

/// The ctx reference of one VMA, plus the flag every VMA sharing the ctx
/// sees: set once the (first) put has untracked.
#[derive(Debug)]
pub struct MutantCtx {
    ctx: CtxRef,
    untracked: Arc<AtomicBool>,
}

impl PfnmapTracking for UntrackFirstPut {
    type VmaState = Option<MutantCtx>;

    /// Reported as the design it imitates.
    const STRATEGY: Strategy = Strategy::PerVma;
    const VMA_FIELD_BYTES: u64 = 8;

    fn new(cfg: &TrackerConfig) -> Self {
        UntrackFirstPut {
            pat: Pat::new(&cfg.pat),
            refcount_max: cfg.refcount_max,
        }
    }

    fn remap_pfn_range_track(
        &self,
        cpu: &mut Cpu,
        vma: &mut Vma<Self::VmaState>,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        if vma.track.is_some() {
            return Err(Errno::EINVAL);
        }
        let pcm = self
            .pat
            .pfnmap_track(cpu, pfn, size, prot)
            .map_err(|_| Errno::EINVAL)?;
        let ctx = match CtxRef::alloc(cpu, pfn, size) {
            Ok(ctx) => ctx,
            Err(e) => {
                self.pat.pfnmap_untrack(cpu, pfn, size);
                return Err(e);
            }
        };
        if let Err(e) = remap_pfn_range_notrack(cpu, vma) {
            let _ = ctx.put(cpu);
            self.pat.pfnmap_untrack(cpu, pfn, size);
            return Err(e);
        }
        vma.track = Some(MutantCtx {
            ctx,
            untracked: Arc::new(AtomicBool::new(false)),
        });
        Ok(pcm)
    }

    fn pfnmap_setup_cachemode(&self, pfn: u64, size: u64, prot: CacheMode) -> KResult<CacheMode> {
        self.pat.pfnmap_setup_cachemode(pfn, size, prot)
    }

    fn vm_area_dup(
        &self,
        _cpu: &mut Cpu,
        orig: &Vma<Self::VmaState>,
        new: &mut Vma<Self::VmaState>,
    ) -> KResult<()> {
        if let Some(m) = &orig.track {
            new.track = Some(MutantCtx {
                ctx: m.ctx.dup(self.refcount_max)?,
                untracked: Arc::clone(&m.untracked),
            });
        }
        Ok(())
    }

    fn vm_area_free(&self, cpu: &mut Cpu, vma: &mut Vma<Self::VmaState>) -> Option<PfnRange> {
        let m = vma.track.take()?;
        let range = m.ctx.range();
        // The deliberate bug: whoever puts first untracks.
        let dropped = !m.untracked.swap(true, Ordering::Relaxed)
            && self.pat.pfnmap_untrack(cpu, range.pfn, range.size);
        let _ = m.ctx.put(cpu);
        dropped.then_some(range)
    }

    fn lookup(&self, vma: &Vma<Self::VmaState>) -> Option<PfnRange> {
        vma.track.as_ref().map(|m| m.ctx.range())
    }

    fn memtype_reserve_io(
        &self,
        cpu: &mut Cpu,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<CacheMode> {
        self.pat.memtype_reserve_io(cpu, start, end, req)
    }

    fn memtype_free_io(&self, cpu: &mut Cpu, start: u64, end: u64) -> KResult<bool> {
        self.pat.memtype_free_io(cpu, start, end)
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
            vma_field_bytes: Self::VMA_FIELD_BYTES,
            ..Footprint::default()
        }
    }
}

/// `legacy` (v6.15, `VM_PAT`) whose `memtype_erase()` only erases an exact
/// match, as v6.16's does: without the end match
/// (`memtype_erase()`, arch/x86/mm/pat/memtype_interval.c:144 in 6.1.192 and
/// 6.12.117) the untrack of an mremap-shrunk VMA, or of the tail piece of
/// a split one, cannot trim the entry that ends where it ends: the kernel
/// shrinks it, this model logs "freeing invalid memtype" and keeps it.
#[derive(Debug)]
pub struct LegacyNoEndMatch(Legacy);

impl PfnmapTracking for LegacyNoEndMatch {
    type VmaState = ();

    /// Reported as the design it imitates.
    const STRATEGY: Strategy = Strategy::Legacy;

    fn new(cfg: &TrackerConfig) -> Self {
        // The deliberate bug.
        LegacyNoEndMatch(Legacy::with_generation(cfg, MemtypeGeneration::ExactMatch))
    }

    fn remap_pfn_range_track(
        &self,
        cpu: &mut Cpu,
        vma: &mut Vma<()>,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        self.0.remap_pfn_range_track(cpu, vma, pfn, size, prot)
    }

    fn remap_pfn_range(
        &self,
        cpu: &mut Cpu,
        vma: &mut Vma<()>,
        addr: u64,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        self.0.remap_pfn_range(cpu, vma, addr, pfn, size, prot)
    }

    fn pfnmap_setup_cachemode(&self, pfn: u64, size: u64, prot: CacheMode) -> KResult<CacheMode> {
        self.0.pfnmap_setup_cachemode(pfn, size, prot)
    }

    fn vm_area_dup(&self, cpu: &mut Cpu, orig: &Vma<()>, new: &mut Vma<()>) -> KResult<()> {
        self.0.vm_area_dup(cpu, orig, new)
    }

    fn vm_area_free(&self, cpu: &mut Cpu, vma: &mut Vma<()>) -> Option<PfnRange> {
        self.0.vm_area_free(cpu, vma)
    }

    fn lookup(&self, vma: &Vma<()>) -> Option<PfnRange> {
        self.0.lookup(vma)
    }

    fn lookup_pfnmap(&self, vma: &Vma<()>, pte: Option<PfnmapPte>) -> Option<PfnRange> {
        self.0.lookup_pfnmap(vma, pte)
    }

    fn untrack_pfn_clear(&self, vma: &mut Vma<()>) {
        self.0.untrack_pfn_clear(vma)
    }

    fn track_pfn_copy(
        &self,
        cpu: &mut Cpu,
        dst: &mut Vma<()>,
        src: &Vma<()>,
        src_pte: Option<PfnmapPte>,
    ) -> KResult<Option<u64>> {
        self.0.track_pfn_copy(cpu, dst, src, src_pte)
    }

    fn untrack_pfn_copy(&self, cpu: &mut Cpu, dst: &mut Vma<()>, pfn: u64) -> Option<PfnUntrack> {
        self.0.untrack_pfn_copy(cpu, dst, pfn)
    }

    fn untrack_pfn(
        &self,
        cpu: &mut Cpu,
        vma: &mut Vma<()>,
        pte: Option<PfnmapPte>,
    ) -> Option<PfnUntrack> {
        self.0.untrack_pfn(cpu, vma, pte)
    }

    fn memtype_reserve_io(
        &self,
        cpu: &mut Cpu,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<CacheMode> {
        self.0.memtype_reserve_io(cpu, start, end, req)
    }

    fn memtype_free_io(&self, cpu: &mut Cpu, start: u64, end: u64) -> KResult<bool> {
        self.0.memtype_free_io(cpu, start, end)
    }

    fn memtype_entries(&self) -> Vec<MemtypeEntry> {
        self.0.memtype_entries()
    }

    fn invalid_free_log(&self) -> &InvalidFreeLog {
        self.0.invalid_free_log()
    }

    fn footprint(&self) -> Footprint {
        self.0.footprint()
    }

    fn reservations_outstanding(&self) -> Option<u64> {
        self.0.reservations_outstanding()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strategies::phys::{PAGE_SIZE, PhysMap};

    #[test]
    fn first_put_untracks_while_a_sharer_remains() {
        let cfg = TrackerConfig::with_phys(PhysMap::typical_server());
        let m = UntrackFirstPut::new(&cfg);
        let mut cpu = Cpu::new(0);
        let pfn = (3u64 << 30) / PAGE_SIZE;
        let mut a: Vma<Option<MutantCtx>> = Vma::new(strategies::VmaKey(64), 0, 0x4000, 0);
        m.remap_pfn_range(&mut cpu, &mut a, 0, pfn, 0x4000, CacheMode::UC_MINUS)
            .unwrap();
        let mut b = a.dup_shell(strategies::VmaKey(128));
        m.vm_area_dup(&mut cpu, &a, &mut b).unwrap();
        assert_eq!(m.memtype_entries().len(), 1);
        // The first free already drops the reservation (the per-vma design
        // would keep it until b goes too).
        assert!(m.vm_area_free(&mut cpu, &mut a).is_some());
        assert!(m.memtype_entries().is_empty());
        assert!(m.vm_area_free(&mut cpu, &mut b).is_none());
        assert_eq!(m.invalid_free_log().count(), 0);
    }

    #[test]
    fn without_the_end_match_a_shrink_is_an_invalid_free() {
        let cfg = TrackerConfig::with_phys(PhysMap::typical_server());
        let start = 3u64 << 30;
        let (good, bad) = (Legacy::new(&cfg), LegacyNoEndMatch::new(&cfg));
        let mut cpu = Cpu::new(0);
        for m in [&good as &dyn Reserve, &bad] {
            m.reserve(&mut cpu, start, start + 4 * PAGE_SIZE);
        }
        // Freeing the tail of a reservation: legacy shrinks it, the mutant
        // logs an invalid free and keeps it whole.
        let tail = (start + 2 * PAGE_SIZE, start + 4 * PAGE_SIZE);
        assert_eq!(good.memtype_free_io(&mut cpu, tail.0, tail.1), Ok(false));
        assert_eq!(good.memtype_entries()[0].end, tail.0);
        assert_eq!(good.invalid_free_log().count(), 0);
        assert_eq!(
            bad.memtype_free_io(&mut cpu, tail.0, tail.1),
            Err(Errno::EINVAL)
        );
        assert_eq!(bad.memtype_entries()[0].end, tail.1);
        assert_eq!(bad.invalid_free_log().count(), 1);
    }

    trait Reserve {
        fn reserve(&self, cpu: &mut Cpu, start: u64, end: u64);
    }

    impl<T: PfnmapTracking> Reserve for T {
        fn reserve(&self, cpu: &mut Cpu, start: u64, end: u64) {
            self.memtype_reserve_io(cpu, start, end, CacheMode::UC_MINUS)
                .unwrap();
        }
    }
}
