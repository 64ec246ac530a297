//! `reference` and `legacy-reference`: the test oracles. They re-derive
//! the x86 PAT rules (arch/x86/mm/pat/memtype.c) and the tracking semantics
//! in the plainest form available: a list of reservations, and for the
//! merged design (v6.16; mm/memory.c, mm/vma_init.c) a map from VMA to a
//! shared reservation with an explicit holder count, for the VM_PAT design
//! (v6.15) the set of VMAs with VM_PAT and the range each re-derives from
//! its page tables. They share no code with the designs beyond the physical
//! memory map and the cache-mode rule, so a bug in the interval tree, the
//! memtype layer, the XArray or a design shows up as a divergence.
//!
//! The reservation list is indexed so `check` can run a million VMAs: the
//! reservations are kept by length class (class `c` holds lengths up to
//! `2^c`), each class ordered by start. A reservation of length at most
//! `L` overlaps `[start, end)` only if it starts in `(start - L, end)`, so
//! an overlap query scans that window of each class and keeps what
//! overlaps; nothing else is clever.
//!
//! One mutex protects everything; speed matters only as far as `check`
//! needs it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cachemode::{CacheMode, is_new_memtype_allowed};
use crate::errno::{Errno, KResult};
use crate::kmem::Cpu;
use crate::memtype::{MemtypeEntry, MemtypeFreed, MemtypeGeneration};
use crate::memtype_log::InvalidFreeLog;
use crate::phys::{MtrrType, PAGE_SHIFT, PAGE_SIZE, PhysMap, page_align, pfn_phys};
use crate::strategy::Strategy;
use crate::tracker::{
    Footprint, PfnRange, PfnUntrack, PfnmapPte, PfnmapTracking, TrackerConfig, Vma, VmaKey,
    remap_pfn_range_notrack,
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

/// Length classes: lengths up to `2^c` bytes are in class `c`.
const CLASSES: usize = 65;

/// The reservation list, indexed by length class and start.
#[derive(Debug)]
struct Reservations {
    /// `by_class[c]`: reservations of length in `(2^(c-1), 2^c]`, keyed by
    /// `(start, seq)`, valued `(end, type)`.
    by_class: Vec<BTreeMap<(u64, u64), (u64, CacheMode)>>,
    len: usize,
    next_seq: u64,
}

impl Default for Reservations {
    fn default() -> Self {
        Reservations {
            by_class: (0..CLASSES).map(|_| BTreeMap::new()).collect(),
            len: 0,
            next_seq: 0,
        }
    }
}

impl Reservations {
    fn class(len: u64) -> usize {
        (64 - (len - 1).leading_zeros()) as usize
    }

    fn insert(&mut self, start: u64, end: u64, ty: CacheMode) {
        self.next_seq += 1;
        self.by_class[Self::class(end - start)].insert((start, self.next_seq), (end, ty));
        self.len += 1;
    }

    fn remove(&mut self, r: &Reservation) {
        self.by_class[Self::class(r.end - r.start)].remove(&(r.start, r.seq));
        self.len -= 1;
    }

    /// Every reservation overlapping `[start, end)`, lowest start first,
    /// older first among equal starts (the tree's in-order).
    fn overlapping(&self, start: u64, end: u64) -> Vec<Reservation> {
        let mut v = Vec::new();
        for (c, class) in self.by_class.iter().enumerate() {
            if class.is_empty() {
                continue;
            }
            let longest = if c >= 64 { u64::MAX } else { 1u64 << c };
            let from = start.saturating_sub(longest);
            for (&(s, seq), &(e, ty)) in class.range((from, 0)..(end, 0)) {
                if s < end && start < e {
                    v.push(Reservation {
                        start: s,
                        end: e,
                        ty,
                        seq,
                    });
                }
            }
        }
        v.sort_by_key(|r| (r.start, r.seq));
        v
    }

    /// The first reservation overlapping `[start, end)` in the tree's
    /// in-order (what `overlapping(start, end).first()` is): the first
    /// overlapping one of each class's window, the lowest of those.
    fn first_overlapping(&self, start: u64, end: u64) -> Option<Reservation> {
        let mut best: Option<Reservation> = None;
        for (c, class) in self.by_class.iter().enumerate() {
            if class.is_empty() {
                continue;
            }
            let longest = if c >= 64 { u64::MAX } else { 1u64 << c };
            let from = start.saturating_sub(longest);
            let first = class
                .range((from, 0)..(end, 0))
                .find(|&(&(s, _), &(e, _))| s < end && start < e);
            if let Some((&(s, seq), &(e, ty))) = first
                && best.is_none_or(|b| (s, seq) < (b.start, b.seq))
            {
                best = Some(Reservation {
                    start: s,
                    end: e,
                    ty,
                    seq,
                });
            }
        }
        best
    }

    /// The oldest reservation of exactly `[start, end)`.
    fn exact(&self, start: u64, end: u64) -> Option<Reservation> {
        self.by_class[Self::class(end - start)]
            .range((start, 0)..=(start, u64::MAX))
            .find(|&(_, &(e, _))| e == end)
            .map(|(&(s, seq), &(e, ty))| Reservation {
                start: s,
                end: e,
                ty,
                seq,
            })
    }

    fn all(&self) -> impl Iterator<Item = MemtypeEntry> + '_ {
        self.by_class.iter().flat_map(|class| {
            class
                .iter()
                .map(|(&(start, _), &(end, ty))| MemtypeEntry { start, end, ty })
        })
    }
}

#[derive(Debug, Default)]
struct State {
    memtypes: Reservations,
    /// RAM pages whose type is not WB.
    ram_types: HashMap<u64, CacheMode>,
    /// v6.16: trackings shared by duplicated VMAs.
    trackings: HashMap<u64, Tracking>,
    next_tracking: u64,
    vmas: HashMap<VmaKey, u64>,
    /// v6.15: the VMAs with VM_PAT.
    vm_pat: HashSet<VmaKey>,
    /// v6.15: entries inserted minus entries erased by the call meant to
    /// drop them (see `PfnmapTracking::reservations_outstanding`).
    outstanding: u64,
}

/// One whole-VMA remap shared by the VMAs duplicated from it (v6.16).
#[derive(Debug, Clone, Copy)]
struct Tracking {
    range: PfnRange,
    holders: u32,
}

/// The PAT rules over the oracle's list, for one kernel generation.
#[derive(Debug)]
struct RefPat {
    enabled: bool,
    phys: Arc<PhysMap>,
    generation: MemtypeGeneration,
    /// "freeing invalid memtype": what `free()` prints when nothing matches.
    log: InvalidFreeLog,
}

impl RefPat {
    fn is_ram(&self, start: u64, end: u64) -> i32 {
        self.phys.pat_pagerange_is_ram(start, end)
    }

    fn untracked(&self, start: u64, end: u64) -> bool {
        self.phys.is_untracked_pat_range(start, end)
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
        st.memtypes
            .first_overlapping(paddr, paddr + PAGE_SIZE)
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
        let over = st.memtypes.overlapping(start, end);
        let ty = over.first().map_or(actual, |r| r.ty);
        if over.iter().any(|r| r.ty != ty) {
            return Err(Errno::EBUSY);
        }
        st.memtypes.insert(start, end, ty);
        Ok((ty, true))
    }

    /// memtype_free(): erase one exact match; v6.15 then tries the end
    /// match (the lowest-start reservation starting before `start` and
    /// ending at `end`), which it shrinks to end at `start`.
    fn free(&self, st: &mut State, start: u64, end: u64) -> KResult<MemtypeFreed> {
        if !self.enabled || self.untracked(start, end) {
            return Ok(MemtypeFreed::NotInTree);
        }
        match self.is_ram(start, end) {
            1 => {
                for p in (start >> PAGE_SHIFT)..(end >> PAGE_SHIFT) {
                    st.ram_types.remove(&p);
                }
                return Ok(MemtypeFreed::NotInTree);
            }
            -1 => return Err(Errno::EINVAL),
            _ => {}
        }
        if let Some(r) = st.memtypes.exact(start, end) {
            st.memtypes.remove(&r);
            return Ok(MemtypeFreed::Erased);
        }
        let end_match = match self.generation {
            MemtypeGeneration::EndMatch => st
                .memtypes
                .overlapping(start, end)
                .into_iter()
                .find(|r| r.start < start && r.end == end),
            MemtypeGeneration::ExactMatch => None,
        };
        let Some(r) = end_match else {
            self.log.log(start, end);
            return Err(Errno::EINVAL);
        };
        st.memtypes.remove(&r);
        st.memtypes.insert(r.start, start, r.ty);
        Ok(MemtypeFreed::Shrunk {
            start: r.start,
            end,
            new_end: start,
        })
    }

    /// reserve_pfn_range(): `strict` refuses any other type than `want`.
    /// Returns the type and whether a list entry was added.
    fn track(
        &self,
        st: &mut State,
        paddr: u64,
        size: u64,
        want: CacheMode,
        strict: bool,
    ) -> KResult<(CacheMode, bool)> {
        if self.is_ram(paddr, paddr + size) != 0 {
            let ty = if self.enabled {
                self.page_type(st, paddr)
            } else {
                want
            };
            return Ok((ty, false));
        }
        let (got, added) = self.reserve(st, paddr, paddr + size, want)?;
        if got != want
            && (strict
                || (!self.untracked(paddr, paddr + size) && !is_new_memtype_allowed(want, got)))
        {
            self.free(st, paddr, paddr + size)?;
            return Err(Errno::EINVAL);
        }
        Ok((got, added))
    }

    /// free_pfn_range(): only a range that is not RAM at all reaches
    /// memtype_free().
    fn untrack(&self, st: &mut State, range: PfnRange) -> KResult<MemtypeFreed> {
        let paddr = pfn_phys(range.pfn);
        if self.is_ram(paddr, paddr + range.size) != 0 {
            return Ok(MemtypeFreed::NotInTree);
        }
        self.free(st, paddr, paddr + range.size)
    }

    fn setup_cachemode(
        &self,
        st: &State,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<CacheMode> {
        if !self.enabled {
            return Ok(prot);
        }
        let first = self.page_type(st, pfn_phys(pfn));
        let pages = size.div_ceil(PAGE_SIZE).max(1);
        for i in 1..pages {
            if self.page_type(st, pfn_phys(pfn + i)) != first {
                return Err(Errno::EINVAL);
            }
        }
        Ok(first)
    }

    /// memtype_reserve_io(). Returns the type and whether an entry was added.
    fn reserve_io(
        &self,
        st: &mut State,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<(CacheMode, bool)> {
        let (got, added) = self.reserve(st, start, end, req)?;
        if !self.untracked(start, end) && !is_new_memtype_allowed(req, got) {
            self.free(st, start, end)?;
            return Err(Errno::EBUSY);
        }
        Ok((got, added))
    }

    fn entries(st: &State) -> Vec<MemtypeEntry> {
        let mut v: Vec<_> = st.memtypes.all().collect();
        v.sort_unstable();
        v
    }
}

/// The v6.16 oracle.
#[derive(Debug)]
pub struct Reference {
    pat: RefPat,
    refcount_max: u32,
    state: Mutex<State>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Reference {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// free_pfn_range(): returns whether a list entry was erased.
    fn untrack(&self, st: &mut State, range: PfnRange) -> bool {
        self.pat.untrack(st, range) == Ok(MemtypeFreed::Erased)
    }
}

impl PfnmapTracking for Reference {
    type VmaState = ();

    const STRATEGY: Strategy = Strategy::Reference;

    fn new(cfg: &TrackerConfig) -> Self {
        Reference {
            pat: RefPat {
                enabled: cfg.pat.enabled,
                phys: Arc::clone(&cfg.pat.phys),
                generation: MemtypeGeneration::ExactMatch,
                log: InvalidFreeLog::new(),
            },
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
        let (pcm, _) = self
            .pat
            .track(&mut st, pfn_phys(pfn), size, prot, false)
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
        let st = self.state();
        self.pat.setup_cachemode(&st, pfn, size, prot)
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
        self.pat
            .reserve_io(&mut st, start, end, req)
            .map(|(ty, _)| ty)
    }

    fn memtype_free_io(&self, _cpu: &mut Cpu, start: u64, end: u64) -> KResult<bool> {
        let mut st = self.state();
        self.pat
            .free(&mut st, start, end)
            .map(|f| f == MemtypeFreed::Erased)
    }

    fn memtype_entries(&self) -> Vec<MemtypeEntry> {
        RefPat::entries(&self.state())
    }

    fn invalid_free_log(&self) -> &InvalidFreeLog {
        &self.pat.log
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            memtype: self.state().memtypes.len as u64,
            ..Footprint::default()
        }
    }
}

/// The v6.15 (VM_PAT) oracle: `legacy`'s. Every hook does what the
/// kernel's function of that name does, over the plain list.
#[derive(Debug)]
pub struct LegacyReference {
    pat: RefPat,
    state: Mutex<State>,
}

impl LegacyReference {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// `untrack_pfn()` with a known range: free it, clear VM_PAT.
    fn free_range(&self, st: &mut State, key: VmaKey, range: PfnRange) -> PfnUntrack {
        let freed = self.pat.untrack(st, range);
        if freed == Ok(MemtypeFreed::Erased) {
            st.outstanding -= 1;
        }
        st.vm_pat.remove(&key);
        PfnUntrack { range, freed }
    }

    /// `get_pat_info()`: the pte at `vm_start` and the VMA's size.
    fn pat_info(vma: &Vma<()>, pte: Option<PfnmapPte>) -> Option<(PfnRange, CacheMode)> {
        pte.map(|p| {
            (
                PfnRange {
                    pfn: p.pfn,
                    size: vma.vm_end - vma.vm_start,
                },
                p.pcm,
            )
        })
    }
}

impl PfnmapTracking for LegacyReference {
    type VmaState = ();

    const STRATEGY: Strategy = Strategy::LegacyReference;

    fn new(cfg: &TrackerConfig) -> Self {
        LegacyReference {
            pat: RefPat {
                enabled: cfg.pat.enabled,
                phys: Arc::clone(&cfg.pat.phys),
                generation: MemtypeGeneration::EndMatch,
                log: InvalidFreeLog::new(),
            },
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
        if st.vm_pat.contains(&vma.key) {
            return Err(Errno::EINVAL);
        }
        let (pcm, added) = self
            .pat
            .track(&mut st, pfn_phys(pfn), size, prot, false)
            .map_err(|_| Errno::EINVAL)?;
        st.outstanding += u64::from(added);
        st.vm_pat.insert(vma.key);
        if let Err(e) = remap_pfn_range_notrack(cpu, vma) {
            self.free_range(&mut st, vma.key, PfnRange { pfn, size });
            return Err(e);
        }
        Ok(pcm)
    }

    fn pfnmap_setup_cachemode(&self, pfn: u64, size: u64, prot: CacheMode) -> KResult<CacheMode> {
        let st = self.state();
        self.pat.setup_cachemode(&st, pfn, size, prot)
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
        let size = page_align(size);
        if addr == vma.vm_start && addr + size == vma.vm_end {
            return self.remap_pfn_range_track(cpu, vma, pfn, size, prot);
        }
        let pcm = self
            .pfnmap_setup_cachemode(pfn, size, prot)
            .map_err(|_| Errno::EINVAL)?;
        if let Err(e) = remap_pfn_range_notrack(cpu, vma) {
            let mut st = self.state();
            if st.vm_pat.contains(&vma.key) {
                self.free_range(&mut st, vma.key, PfnRange { pfn, size });
            }
            return Err(e);
        }
        Ok(pcm)
    }

    fn vm_area_dup(&self, _cpu: &mut Cpu, orig: &Vma<()>, new: &mut Vma<()>) -> KResult<()> {
        let mut st = self.state();
        if st.vm_pat.contains(&orig.key) {
            st.vm_pat.insert(new.key);
        }
        Ok(())
    }

    fn vm_area_free(&self, _cpu: &mut Cpu, vma: &mut Vma<()>) -> Option<PfnRange> {
        self.state().vm_pat.remove(&vma.key);
        None
    }

    fn lookup(&self, _vma: &Vma<()>) -> Option<PfnRange> {
        None
    }

    fn lookup_pfnmap(&self, vma: &Vma<()>, pte: Option<PfnmapPte>) -> Option<PfnRange> {
        if !self.state().vm_pat.contains(&vma.key) {
            return None;
        }
        Self::pat_info(vma, pte).map(|(range, _)| range)
    }

    fn untrack_pfn_clear(&self, vma: &mut Vma<()>) {
        self.state().vm_pat.remove(&vma.key);
    }

    fn track_pfn_copy(
        &self,
        _cpu: &mut Cpu,
        dst: &mut Vma<()>,
        src: &Vma<()>,
        src_pte: Option<PfnmapPte>,
    ) -> KResult<Option<u64>> {
        let mut st = self.state();
        if !st.vm_pat.contains(&src.key) {
            return Ok(None);
        }
        let (range, pcm) = Self::pat_info(src, src_pte).ok_or(Errno::EINVAL)?;
        let (_, added) = self
            .pat
            .track(&mut st, pfn_phys(range.pfn), range.size, pcm, true)?;
        st.outstanding += u64::from(added);
        st.vm_pat.insert(dst.key);
        Ok(Some(range.pfn))
    }

    fn untrack_pfn_copy(&self, _cpu: &mut Cpu, dst: &mut Vma<()>, pfn: u64) -> Option<PfnUntrack> {
        let mut st = self.state();
        if !st.vm_pat.contains(&dst.key) {
            return None;
        }
        let size = dst.vm_end - dst.vm_start;
        Some(self.free_range(&mut st, dst.key, PfnRange { pfn, size }))
    }

    fn untrack_pfn(
        &self,
        _cpu: &mut Cpu,
        vma: &mut Vma<()>,
        pte: Option<PfnmapPte>,
    ) -> Option<PfnUntrack> {
        let mut st = self.state();
        if !st.vm_pat.contains(&vma.key) {
            return None;
        }
        let (range, _) = Self::pat_info(vma, pte)?;
        Some(self.free_range(&mut st, vma.key, range))
    }

    fn memtype_reserve_io(
        &self,
        _cpu: &mut Cpu,
        start: u64,
        end: u64,
        req: CacheMode,
    ) -> KResult<CacheMode> {
        let mut st = self.state();
        let (ty, added) = self.pat.reserve_io(&mut st, start, end, req)?;
        st.outstanding += u64::from(added);
        Ok(ty)
    }

    fn memtype_free_io(&self, _cpu: &mut Cpu, start: u64, end: u64) -> KResult<bool> {
        let mut st = self.state();
        let erased = self.pat.free(&mut st, start, end)? == MemtypeFreed::Erased;
        if erased {
            st.outstanding -= 1;
        }
        Ok(erased)
    }

    fn memtype_entries(&self) -> Vec<MemtypeEntry> {
        RefPat::entries(&self.state())
    }

    fn invalid_free_log(&self) -> &InvalidFreeLog {
        &self.pat.log
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            memtype: self.state().memtypes.len as u64,
            ..Footprint::default()
        }
    }

    fn reservations_outstanding(&self) -> Option<u64> {
        Some(self.state().outstanding)
    }
}
