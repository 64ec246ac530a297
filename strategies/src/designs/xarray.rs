//! `xarray`: no field in `vm_area_struct`; one global XArray (lib/xarray.c)
//! maps each tracked VMA to the same refcounted `pfnmap_track_ctx` the
//! merged design uses (the alternative David Hildenbrand and Lorenzo
//! Stoakes discussed for the v6.16 series).
//!
//! Global state: the memtype tree (`memtype_lock`) and the XArray
//! (`xa_lock`). Keys are the VMA's kernel address, or that address shifted
//! right by `xa_key_shift` (6 drops the always-zero low bits of 64-byte
//! aligned VMAs and makes the tree much denser).
//!
//! Cost model: writers (dup stores, free erases, track inserts) take
//! `xa_lock`; [`PfnmapTracking::lookup`] reads the XArray without it, inside
//! an RCU read-side section, as `xa_load()` reads under `rcu_read_lock()`.
//! The entry a lookup finds stays valid without the lock for the same reason
//! it would in the kernel: the caller owns the VMA (its mm), so nobody can
//! erase that VMA's entry, and the entry holds a reference on the ctx. A
//! remap of a whole VMA first asks, through that same lookup path, whether
//! the VMA is tracked already, and refuses with EINVAL before reserving or
//! allocating anything, as the merged design's early
//! `if (vma->pfnmap_track_ctx) return -EINVAL;` does
//! (`remap_pfn_range_track()`, mm/memory.c, v6.16; 7.3.4 line 3252). Only a
//! VMA that is `VM_PFNMAP` already can be tracked, so a first remap pays
//! just the flag test. The insert then keeps `xa_insert()` semantics (one
//! `xa_lock` hold refuses an entry that appeared meanwhile).

use crate::cachemode::CacheMode;
use crate::errno::{Errno, KResult};
use crate::kmem::Cpu;
use crate::memtype::{MemtypeEntry, Pat};
use crate::memtype_log::InvalidFreeLog;
use crate::pfnmap_ctx::{CtxPtr, CtxRef, PfnmapTrackCtxs};
use crate::rcu::rcu_read_lock;
use crate::strategy::Strategy;
use crate::tracker::{
    Footprint, PfnRange, PfnmapTracking, TrackerConfig, Vma, remap_pfn_range_notrack,
};
use crate::xarray::XArray;

/// The global-XArray design.
pub struct XarrayTracker {
    pat: Pat,
    /// The array, with its `xa_lock`. Each stored [`CtxPtr`] owns one
    /// reference.
    xa: XArray<CtxPtr>,
    key_shift: u32,
    refcount_max: u32,
    ctxs: PfnmapTrackCtxs,
}

impl std::fmt::Debug for XarrayTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let xa = &self.xa;
        f.debug_struct("XarrayTracker")
            .field("pat", &self.pat)
            .field("entries", &xa.len())
            .field("xa_nodes", &xa.nr_nodes())
            .field("key_shift", &self.key_shift)
            .finish_non_exhaustive()
    }
}

impl XarrayTracker {
    #[inline]
    fn key(&self, vma: &Vma<()>) -> u64 {
        vma.key.0 >> self.key_shift
    }

    /// Drop one reference outside `xa_lock`; the last one untracks.
    fn put(&self, cpu: &mut Cpu, ctx: CtxRef) -> Option<PfnRange> {
        self.ctxs.put(&self.pat, cpu, ctx)
    }
}

impl PfnmapTracking for XarrayTracker {
    type VmaState = ();

    const STRATEGY: Strategy = Strategy::Xarray;

    fn new(cfg: &TrackerConfig) -> Self {
        XarrayTracker {
            pat: Pat::new(&cfg.pat),
            xa: XArray::new(),
            key_shift: cfg.xa_key_shift,
            refcount_max: cfg.refcount_max,
            ctxs: PfnmapTrackCtxs::default(),
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
        // The kernel's early test, before any allocation: a second remap
        // of a tracked VMA is EINVAL whatever memory is left.
        if self.lookup(vma).is_some() {
            return Err(Errno::EINVAL);
        }
        let key = self.key(vma);
        let (pcm, ctx) = self.ctxs.alloc(&self.pat, cpu, pfn, size, prot)?;
        // xa_insert(): refuse a VMA that already has an entry, in the same
        // xa_lock hold as the store. Linking before mapping keeps a mapping
        // failure easy to undo (erasing cannot fail), and nobody else can
        // see the VMA yet.
        let ptr = ctx.into_raw();
        let inserted = {
            let mut xa = self.xa.lock();
            if xa.load(key).is_some() {
                Err(Errno::EINVAL)
            } else {
                xa.store(key, ptr, cpu).map(|_| ())
            }
        };
        if let Err(e) = inserted {
            // SAFETY: the array did not take the reference `into_raw` gave
            // away; it is ours again.
            self.put(cpu, unsafe { CtxRef::from_raw(ptr) });
            return Err(e);
        }
        if let Err(e) = remap_pfn_range_notrack(cpu, vma) {
            let erased = self.xa.lock().erase(key, cpu);
            debug_assert_eq!(erased, Some(ptr));
            // SAFETY: erased from the array, which owned this reference.
            self.put(cpu, unsafe { CtxRef::from_raw(ptr) });
            return Err(e);
        }
        Ok(pcm)
    }

    fn pfnmap_setup_cachemode(&self, pfn: u64, size: u64, prot: CacheMode) -> KResult<CacheMode> {
        self.pat.pfnmap_setup_cachemode(pfn, size, prot)
    }

    fn vm_area_dup(&self, cpu: &mut Cpu, orig: &Vma<()>, new: &mut Vma<()>) -> KResult<()> {
        // The flag test is what keeps ordinary VMAs off the global lock.
        if !orig.is_pfnmap() {
            return Ok(());
        }
        let (orig_key, new_key) = (self.key(orig), self.key(new));
        let mut xa = self.xa.lock();
        let Some(ptr) = xa.load(orig_key) else {
            return Ok(());
        };
        // SAFETY: the array holds this reference and we hold xa_lock, so no
        // one can erase and put it while we borrow it.
        let dup = unsafe { ptr.borrow() }.dup(self.refcount_max)?;
        let dup = dup.into_raw();
        if let Err(e) = xa.store(new_key, dup, cpu) {
            drop(xa);
            // SAFETY: the failed store did not take the reference.
            let ctx = unsafe { CtxRef::from_raw(dup) };
            // Not the last reference: `orig`'s entry still holds one.
            let last = ctx.put(cpu);
            debug_assert!(last.is_none());
            return Err(e);
        }
        Ok(())
    }

    fn vm_area_free(&self, cpu: &mut Cpu, vma: &mut Vma<()>) -> Option<PfnRange> {
        if !vma.is_pfnmap() {
            return None;
        }
        let key = self.key(vma);
        let ptr = self.xa.erase(key, cpu)?;
        // SAFETY: erased from the array, which owned this reference.
        self.put(cpu, unsafe { CtxRef::from_raw(ptr) })
    }

    fn lookup(&self, vma: &Vma<()>) -> Option<PfnRange> {
        if !vma.is_pfnmap() {
            return None;
        }
        // rcu_read_lock(): no xa_lock for a read.
        let guard = rcu_read_lock();
        let ptr = self.xa.load_rcu(self.key(vma), &guard)?;
        // SAFETY: the array holds this reference, and only the caller, who
        // owns `vma`, could erase it (by freeing `vma`); so it stays held
        // while we read the range.
        Some(unsafe { ptr.borrow() }.range())
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
            xa_node: self.xa.nr_nodes() as u64,
            ..Footprint::default()
        }
    }
}

impl Drop for XarrayTracker {
    fn drop(&mut self) {
        // References still in the array belong to VMAs nobody freed (a test
        // that stopped early): release the memory, not the reservations.
        let xa = &self.xa;
        let mut scratch = crate::kmem::NoAccounting;
        let keys: Vec<u64> = xa.iter().map(|(k, _)| k).collect();
        for k in keys {
            if let Some(ptr) = xa.erase(k, &mut scratch) {
                // SAFETY: erased from the array, which owned the reference.
                let _ = unsafe { CtxRef::from_raw(ptr) }.put(&mut scratch);
            }
        }
    }
}
