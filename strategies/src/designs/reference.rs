//! `reference`: the test oracle. It re-derives the x86 PAT rules
//! (arch/x86/mm/pat/memtype.c) and the merged tracking semantics (mm/memory.c,
//! mm/vma_init.c) in the plainest form available: a list of reservations
//! scanned linearly, and a map from VMA to a shared reservation with an
//! explicit holder count. It shares no code with the designs beyond the
//! physical memory map and the cache-mode rule, so a bug in the interval
//! tree, the memtype layer, the XArray or a design shows up as a divergence.
//!
//! One mutex protects everything; speed is irrelevant here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cachemode::{CacheMode, is_new_memtype_allowed};
use crate::errno::{Errno, KResult};
use crate::kmem::Cpu;
use crate::memtype::MemtypeEntry;
use crate::phys::{MtrrType, PAGE_SHIFT, PAGE_SIZE, PhysMap, pfn_phys};
use crate::strategy::Strategy;
use crate::tracker::{
    Footprint, PfnRange, PfnmapTracking, TrackerConfig, Vma, VmaKey, remap_pfn_range_notrack,
};

/// A reservation in the oracle's memtype list.
#[derive(Debug, Clone, Copy)]
struct Reservation {
    start: u64,
    end: u64,
    ty: CacheMode,
    /// Insertion order: ties between equal starts go to the older entry,
    /// as in the kernel's tree (equal starts go right).
    seq: u64,
}

/// One whole-VMA remap shared by the VMAs duplicated from it.
#[derive(Debug, Clone, Copy)]
struct Tracking {
    range: PfnRange,
    holders: u32,
}

#[derive(Debug, Default)]
struct State {
    memtypes: Vec<Reservation>,
    next_seq: u64,
    /// RAM pages whose type is not WB.
    ram_types: HashMap<u64, CacheMode>,
    trackings: HashMap<u64, Tracking>,
    next_tracking: u64,
    vmas: HashMap<VmaKey, u64>,
}

/// The oracle.
#[derive(Debug)]
pub struct Reference {
    enabled: bool,
    phys: Arc<PhysMap>,
    refcount_max: u32,
    state: Mutex<State>,
}

impl Reference {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_ram(&self, start: u64, end: u64) -> i32 {
        self.phys.pat_pagerange_is_ram(start, end)
    }

    fn untracked(&self, start: u64, end: u64) -> bool {
        self.phys.is_untracked_pat_range(start, end)
    }

    /// Overlapping reservations, oldest-lowest first (the tree's in-order).
    fn overlapping(st: &State, start: u64, end: u64) -> Vec<Reservation> {
        let mut v: Vec<_> = st
            .memtypes
            .iter()
            .filter(|r| r.start < end && start < r.end)
            .copied()
            .collect();
        v.sort_by_key(|r| (r.start, r.seq));
        v
    }

    /// The page's type: ISA is WB, RAM from page flags, else the
    /// lowest-start overlapping reservation, else UC-.
    fn page_type(&self, st: &State, paddr: u64) -> CacheMode {
        if self.untracked(paddr, paddr + PAGE_SIZE) {
            return CacheMode::WB;
        }
        if self.is_ram(paddr, paddr + PAGE_SIZE) != 0 {
            return st
                .ram_types
                .get(&(paddr >> PAGE_SHIFT))
                .copied()
                .unwrap_or(CacheMode::WB);
        }
        Self::overlapping(st, paddr, paddr + PAGE_SIZE)
            .first()
            .map_or(CacheMode::UC_MINUS, |r| r.ty)
    }

    /// memtype_reserve(); returns the type and whether a list entry was added.
    fn reserve(
        &self,
        st: &mut State,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<(CacheMode, bool)> {
        if start >= end {
            return Err(Errno::EINVAL);
        }
        if !self.enabled {
            return Ok((req, false));
        }
        if self.untracked(start, end) {
            return Ok((CacheMode::WB, false));
        }
        let mtrr = self.phys.mtrr_type_lookup(start, end);
        let actual =
            if req == CacheMode::WB && mtrr != MtrrType::WrBack && mtrr != MtrrType::Invalid {
                CacheMode::UC_MINUS
            } else {
                req
            };
        match self.is_ram(start, end) {
            1 => {
                let req = match req {
                    CacheMode::WP => return Err(Errno::EINVAL),
                    CacheMode::UC => CacheMode::UC_MINUS,
                    r => r,
                };
                let pfns = (start >> PAGE_SHIFT)..(end >> PAGE_SHIFT);
                if pfns.clone().any(|p| st.ram_types.contains_key(&p)) {
                    return Err(Errno::EBUSY);
                }
                if req != CacheMode::WB {
                    for p in pfns {
                        st.ram_types.insert(p, req);
                    }
                }
                return Ok((req, false));
            }
            -1 => return Err(Errno::EINVAL),
            _ => {}
        }
        let over = Self::overlapping(st, start, end);
        let ty = over.first().map_or(actual, |r| r.ty);
        if over.iter().any(|r| r.ty != ty) {
            return Err(Errno::EBUSY);
        }
        st.next_seq += 1;
        let seq = st.next_seq;
        st.memtypes.push(Reservation {
            start,
            end,
            ty,
            seq,
        });
        Ok((ty, true))
    }

    /// memtype_free(): erase one exact match. Returns whether one was erased.
    fn free(&self, st: &mut State, start: u64, end: u64) -> KResult<bool> {
        if !self.enabled || self.untracked(start, end) {
            return Ok(false);
        }
        match self.is_ram(start, end) {
            1 => {
                for p in (start >> PAGE_SHIFT)..(end >> PAGE_SHIFT) {
                    st.ram_types.remove(&p);
                }
                return Ok(false);
            }
            -1 => return Err(Errno::EINVAL),
            _ => {}
        }
        let pos = st
            .memtypes
            .iter()
            .position(|r| r.start == start && r.end == end)
            .ok_or(Errno::EINVAL)?;
        st.memtypes.swap_remove(pos);
        Ok(true)
    }

    /// reserve_pfn_range().
    fn track(&self, st: &mut State, paddr: u64, size: u64, want: CacheMode) -> KResult<CacheMode> {
        if self.is_ram(paddr, paddr + size) != 0 {
            return Ok(if self.enabled {
                self.page_type(st, paddr)
            } else {
                want
            });
        }
        let (got, _) = self.reserve(st, paddr, paddr + size, want)?;
        if got != want && !self.untracked(paddr, paddr + size) && !is_new_memtype_allowed(want, got)
        {
            self.free(st, paddr, paddr + size)?;
            return Err(Errno::EINVAL);
        }
        Ok(got)
    }

    /// free_pfn_range(): returns whether a list entry was erased.
    fn untrack(&self, st: &mut State, range: PfnRange) -> bool {
        let paddr = pfn_phys(range.pfn);
        self.is_ram(paddr, paddr + range.size) == 0
            && self.free(st, paddr, paddr + range.size).unwrap_or(false)
    }
}

impl PfnmapTracking for Reference {
    type VmaState = ();

    const STRATEGY: Strategy = Strategy::Reference;

    fn new(cfg: &TrackerConfig) -> Self {
        Reference {
            enabled: cfg.pat.enabled,
            phys: Arc::clone(&cfg.pat.phys),
            refcount_max: cfg.refcount_max,
            state: Mutex::new(State::default()),
        }
    }

    fn remap_pfn_range_track(
        &self,
        cpu: &mut Cpu,
        vma: &mut Vma<()>,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        let mut st = self.state();
        if st.vmas.contains_key(&vma.key) {
            return Err(Errno::EINVAL);
        }
        let pcm = self
            .track(&mut st, pfn_phys(pfn), size, prot)
            .map_err(|_| Errno::EINVAL)?;
        let range = PfnRange { pfn, size };
        if let Err(e) = remap_pfn_range_notrack(cpu, vma) {
            self.untrack(&mut st, range);
            return Err(e);
        }
        st.next_tracking += 1;
        let id = st.next_tracking;
        st.trackings.insert(id, Tracking { range, holders: 1 });
        st.vmas.insert(vma.key, id);
        Ok(pcm)
    }

    fn pfnmap_setup_cachemode(&self, pfn: u64, size: u64, prot: CacheMode) -> KResult<CacheMode> {
        if !self.enabled {
            return Ok(prot);
        }
        let st = self.state();
        let first = self.page_type(&st, pfn_phys(pfn));
        let pages = size.div_ceil(PAGE_SIZE).max(1);
        for i in 1..pages {
            if self.page_type(&st, pfn_phys(pfn + i)) != first {
                return Err(Errno::EINVAL);
            }
        }
        Ok(first)
    }

    fn vm_area_dup(&self, _cpu: &mut Cpu, orig: &Vma<()>, new: &mut Vma<()>) -> KResult<()> {
        let mut st = self.state();
        let Some(&id) = st.vmas.get(&orig.key) else {
            return Ok(());
        };
        let t = st.trackings.get_mut(&id).expect("tracking of a linked VMA");
        if t.holders >= self.refcount_max {
            return Err(Errno::ENOMEM);
        }
        t.holders += 1;
        st.vmas.insert(new.key, id);
        Ok(())
    }

    fn vm_area_free(&self, _cpu: &mut Cpu, vma: &mut Vma<()>) -> Option<PfnRange> {
        let mut st = self.state();
        let id = st.vmas.remove(&vma.key)?;
        let t = st.trackings.get_mut(&id).expect("tracking of a linked VMA");
        t.holders -= 1;
        if t.holders > 0 {
            return None;
        }
        let range = t.range;
        st.trackings.remove(&id);
        self.untrack(&mut st, range).then_some(range)
    }

    fn lookup(&self, vma: &Vma<()>) -> Option<PfnRange> {
        let st = self.state();
        st.vmas.get(&vma.key).map(|id| st.trackings[id].range)
    }

    fn memtype_reserve_io(
        &self,
        _cpu: &mut Cpu,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<CacheMode> {
        let mut st = self.state();
        let (got, _) = self.reserve(&mut st, start, end, req)?;
        if !self.untracked(start, end) && !is_new_memtype_allowed(req, got) {
            self.free(&mut st, start, end)?;
            return Err(Errno::EBUSY);
        }
        Ok(got)
    }

    fn memtype_free_io(&self, _cpu: &mut Cpu, start: u64, end: u64) -> KResult<bool> {
        let mut st = self.state();
        self.free(&mut st, start, end)
    }

    fn memtype_entries(&self) -> Vec<MemtypeEntry> {
        let st = self.state();
        let mut v: Vec<_> = st
            .memtypes
            .iter()
            .map(|r| MemtypeEntry {
                start: r.start,
                end: r.end,
                ty: r.ty,
            })
            .collect();
        v.sort_unstable();
        v
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            memtype: self.state().memtypes.len() as u64,
            ..Footprint::default()
        }
    }
}
