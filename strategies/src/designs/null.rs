//! `null`: a design that tracks nothing and touches no shared state. Run
//! through the same harness it measures the harness's own per-hook cost
//! (timer, dispatch, simulator bookkeeping), which is what the other
//! designs' figures must be read against.

use crate::cachemode::CacheMode;
use crate::errno::KResult;
use crate::kmem::Cpu;
use crate::memtype::MemtypeEntry;
use crate::memtype_log::InvalidFreeLog;
use crate::strategy::Strategy;
use crate::tracker::{Footprint, PfnRange, PfnmapTracking, TrackerConfig, Vma};

/// The do-nothing design.
#[derive(Debug, Default)]
pub struct NullTracker {
    /// Never written: nothing is ever freed.
    log: InvalidFreeLog,
}

impl PfnmapTracking for NullTracker {
    type VmaState = ();

    const STRATEGY: Strategy = Strategy::Null;

    fn new(_cfg: &TrackerConfig) -> Self {
        NullTracker::default()
    }

    #[inline]
    fn remap_pfn_range_track(
        &self,
        _cpu: &mut Cpu,
        _vma: &mut Vma<()>,
        _pfn: u64,
        _size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        Ok(prot)
    }

    #[inline]
    fn pfnmap_setup_cachemode(&self, _pfn: u64, _size: u64, prot: CacheMode) -> KResult<CacheMode> {
        Ok(prot)
    }

    #[inline]
    fn vm_area_dup(&self, _cpu: &mut Cpu, _orig: &Vma<()>, _new: &mut Vma<()>) -> KResult<()> {
        Ok(())
    }

    #[inline]
    fn vm_area_free(&self, _cpu: &mut Cpu, _vma: &mut Vma<()>) -> Option<PfnRange> {
        None
    }

    #[inline]
    fn lookup(&self, _vma: &Vma<()>) -> Option<PfnRange> {
        None
    }

    fn memtype_reserve_io(
        &self,
        _cpu: &mut Cpu,
        _start: u64,
        _end: u64,
        req: CacheMode,
    ) -> KResult<CacheMode> {
        Ok(req)
    }

    fn memtype_free_io(&self, _cpu: &mut Cpu, _start: u64, _end: u64) -> KResult<bool> {
        Ok(false)
    }

    fn memtype_entries(&self) -> Vec<MemtypeEntry> {
        Vec::new()
    }

    fn invalid_free_log(&self) -> &InvalidFreeLog {
        &self.log
    }

    fn footprint(&self) -> Footprint {
        Footprint::default()
    }
}
