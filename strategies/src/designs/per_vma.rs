//! `per-vma`: the merged design (v6.16, "mm: rewrite pfnmap tracking and
//! remove VM_PAT"): every `vm_area_struct` gets a `pfnmap_track_ctx`
//! pointer; dup takes a kref, free puts it, the last put untracks
//! (mm/memory.c `remap_pfn_range_track()`, mm/vma_init.c
//! `vma_pfnmap_track_ctx_dup()` / `vma_pfnmap_track_ctx_release()`).
//!
//! Global state: only the memtype tree (`memtype_lock`). Per-VMA state: the
//! ctx pointer, owned by the VMA's mm. The cost is 8 bytes in every VMA,
//! pfnmap or not.

use crate::cachemode::CacheMode;
use crate::errno::{Errno, KResult};
use crate::kmem::Cpu;
use crate::memtype::{MemtypeEntry, Pat};
use crate::memtype_log::InvalidFreeLog;
use crate::pfnmap_ctx::{CtxRef, PfnmapTrackCtxs};
use crate::strategy::Strategy;
use crate::tracker::{
    Footprint, PfnRange, PfnmapTracking, TrackerConfig, Vma, remap_pfn_range_notrack,
};

/// The merged design.
#[derive(Debug)]
pub struct PerVma {
    pat: Pat,
    refcount_max: u32,
    ctxs: PfnmapTrackCtxs,
}

impl PfnmapTracking for PerVma {
    /// `vma->pfnmap_track_ctx`.
    type VmaState = Option<CtxRef>;

    const STRATEGY: Strategy = Strategy::PerVma;
    const VMA_FIELD_BYTES: u64 = 8;

    fn new(cfg: &TrackerConfig) -> Self {
        PerVma {
            pat: Pat::new(&cfg.pat),
            refcount_max: cfg.refcount_max,
            ctxs: PfnmapTrackCtxs::default(),
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
        let (pcm, ctx) = self.ctxs.alloc(&self.pat, cpu, pfn, size, prot)?;
        if let Err(e) = remap_pfn_range_notrack(cpu, vma) {
            // kref_put() of the only reference: untracks.
            self.ctxs.put(&self.pat, cpu, ctx);
            return Err(e);
        }
        vma.track = Some(ctx);
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
        debug_assert!(new.track.is_none(), "vm_area_init_from() clears the ctx");
        if let Some(ctx) = &orig.track {
            new.track = Some(ctx.dup(self.refcount_max)?);
        }
        Ok(())
    }

    fn vm_area_free(&self, cpu: &mut Cpu, vma: &mut Vma<Self::VmaState>) -> Option<PfnRange> {
        let ctx = vma.track.take()?;
        self.ctxs.put(&self.pat, cpu, ctx)
    }

    fn lookup(&self, vma: &Vma<Self::VmaState>) -> Option<PfnRange> {
        vma.track.as_ref().map(CtxRef::range)
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
            pfnmap_track_ctx: self.ctxs.count(),
            memtype: self.pat.nr_entries() as u64,
            vma_field_bytes: Self::VMA_FIELD_BYTES,
            ..Footprint::default()
        }
    }
}
