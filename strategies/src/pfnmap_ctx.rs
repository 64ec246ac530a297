//! `struct pfnmap_track_ctx` (include/linux/mm_types.h) and its lifetime
//! (`pfnmap_track_ctx_alloc()` / `pfnmap_track_ctx_release()` in
//! mm/memory.c): the small refcounted record of one whole-VMA remap that
//! the `per-vma` and `xarray` designs share between duplicated VMAs.
//!
//! The only unsafe code of the designs lives here: a [`CtxRef`] is one
//! counted reference, like a `struct pfnmap_track_ctx *` that owns a kref.

use std::ptr::NonNull;

use crate::cachemode::CacheMode;
use crate::errno::{Errno, KResult};
use crate::kmem::{Cpu, KObj, Kmem};
use crate::kref::Kref;
use crate::memtype::Pat;
use crate::percpu::PercpuCounter;
use crate::tracker::PfnRange;

/// Kernel size of `struct pfnmap_track_ctx`: `kref` (4) + padding (4) +
/// `pfn` (8) + `size` (8); served from kmalloc-32.
pub const PFNMAP_TRACK_CTX_KERNEL_SIZE: u64 = 24;

/// The tracking context of one reservation.
#[derive(Debug)]
pub struct PfnmapTrackCtx {
    /// One reference per VMA that points here; the last put untracks.
    kref: Kref,
    /// First pfn of the reserved range.
    pfn: u64,
    /// Size of the reserved range in bytes.
    size: u64,
}

/// One counted reference to a [`PfnmapTrackCtx`].
///
/// Invariant: the pointee is alive while any `CtxRef` to it exists, because
/// each `CtxRef` owns one count of its `kref`. Dropping a `CtxRef` without
/// [`CtxRef::put`] leaks the reference, so it is `must_use`.
#[must_use = "a CtxRef owns a reference: put() it"]
#[derive(Debug)]
#[repr(transparent)]
pub struct CtxRef(NonNull<PfnmapTrackCtx>);

// SAFETY: the context is shared only through atomic refcount operations and
// immutable fields, like the kernel shares it between CPUs.
unsafe impl Send for CtxRef {}
// SAFETY: as above; `&CtxRef` only reads immutable fields or the atomic kref.
unsafe impl Sync for CtxRef {}

impl CtxRef {
    /// `kmalloc()` + `kref_init()`: a new context holding one reference.
    /// Errors: `ENOMEM` when the allocation fails.
    pub fn alloc(kmem: &mut impl Kmem, pfn: u64, size: u64) -> KResult<CtxRef> {
        kmem.alloc(KObj::PfnmapTrackCtx)?;
        let ctx = Box::new(PfnmapTrackCtx {
            kref: Kref::new(),
            pfn,
            size,
        });
        Ok(CtxRef(NonNull::from(Box::leak(ctx))))
    }

    #[inline]
    fn ctx(&self) -> &PfnmapTrackCtx {
        // SAFETY: `self` owns a reference, so the context is alive (type
        // invariant).
        unsafe { self.0.as_ref() }
    }

    /// The reserved range.
    #[inline]
    pub fn range(&self) -> PfnRange {
        let c = self.ctx();
        PfnRange {
            pfn: c.pfn,
            size: c.size,
        }
    }

    /// `kref_read()`.
    pub fn refcount(&self) -> u32 {
        self.ctx().kref.read()
    }

    /// `vma_pfnmap_track_ctx_dup()`: take another reference, refused with
    /// `ENOMEM` once the count has reached `limit` (`REFCOUNT_MAX`).
    #[inline]
    pub fn dup(&self, limit: u32) -> KResult<CtxRef> {
        self.ctx().kref.get_below(limit)?;
        Ok(CtxRef(self.0))
    }

    /// `kref_put(&ctx->kref, pfnmap_track_ctx_release)`. Return: the range
    /// when this was the last reference: the context is freed and the caller
    /// must `pfnmap_untrack()` the range.
    #[inline]
    pub fn put(self, kmem: &mut impl Kmem) -> Option<PfnRange> {
        if !self.ctx().kref.put() {
            return None;
        }
        let range = self.range();
        // SAFETY: the count reached zero, so this was the only reference
        // and no other `CtxRef` can reach the box allocated in `alloc`.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
        kmem.free(KObj::PfnmapTrackCtx);
        Some(range)
    }

    /// Turn the reference into a raw pointer-sized value (what an XArray
    /// slot holds). The reference stays counted.
    #[inline]
    pub fn into_raw(self) -> CtxPtr {
        CtxPtr(self.0)
    }

    /// Take back a reference given away by [`CtxRef::into_raw`].
    ///
    /// # Safety
    /// `ptr` must come from `into_raw` and its reference must not have been
    /// taken back before: each `into_raw` is matched by one `from_raw`.
    #[inline]
    pub unsafe fn from_raw(ptr: CtxPtr) -> CtxRef {
        CtxRef(ptr.0)
    }
}

/// A reference held in a container (an XArray slot): pointer-sized and
/// `Copy`, like the `void *` the kernel stores. Whoever stores one owns the
/// counted reference it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct CtxPtr(NonNull<PfnmapTrackCtx>);

// SAFETY: see `CtxRef`; a `CtxPtr` is a `CtxRef` parked in a container.
unsafe impl Send for CtxPtr {}
// SAFETY: see `CtxRef`.
unsafe impl Sync for CtxPtr {}

// SAFETY: a `CtxPtr` is a non-null pointer to a `PfnmapTrackCtx`, which is
// at least 4-byte aligned, so its word is non-zero with the low two bits
// clear: a plain pointer entry, as the kernel stores `void *`.
unsafe impl crate::xarray::XaEntry for CtxPtr {
    #[inline(always)]
    fn into_word(self) -> usize {
        const { assert!(align_of::<PfnmapTrackCtx>() >= 4) };
        self.0.as_ptr() as usize
    }
    #[inline(always)]
    unsafe fn from_word(w: usize) -> Self {
        // SAFETY: `w` came from `into_word`, a non-null pointer.
        CtxPtr(unsafe { NonNull::new_unchecked(w as *mut PfnmapTrackCtx) })
    }
}

impl CtxPtr {
    /// Borrow the reference the container holds, to read or dup it.
    ///
    /// # Safety
    /// The container must still hold this reference (not yet taken back with
    /// [`CtxRef::from_raw`]) for the lifetime of the returned borrow, e.g.
    /// because the caller holds the container's lock.
    #[inline]
    pub unsafe fn borrow(&self) -> &CtxRef {
        // SAFETY: `CtxRef` is a transparent wrapper of the same pointer, and
        // the caller guarantees the reference is alive for the borrow.
        unsafe { &*(self as *const CtxPtr).cast::<CtxRef>() }
    }
}

/// The lifetime of the contexts of one design that uses them (`per-vma`,
/// `xarray`): mm/memory.c's `pfnmap_track_ctx_alloc()` and
/// `pfnmap_track_ctx_release()`, plus a count of the live ones (what slab
/// statistics would show).
#[derive(Debug, Default)]
pub struct PfnmapTrackCtxs {
    /// Live `pfnmap_track_ctx` objects, per CPU.
    nr_ctx: PercpuCounter,
}

impl PfnmapTrackCtxs {
    /// `pfnmap_track_ctx_alloc()`: reserve the range (`pfnmap_track()`), then
    /// allocate a context holding one reference. Return: the cache mode to
    /// map with and the context.
    ///
    /// Context: takes `memtype_lock`. Errors: `EINVAL` for any tracking
    /// failure (as the kernel converts them); `ENOMEM` if the context cannot
    /// be allocated, after the reservation was dropped again.
    pub fn alloc(
        &self,
        pat: &Pat,
        cpu: &mut Cpu,
        pfn: u64,
        size: u64,
        prot: CacheMode,
    ) -> KResult<(CacheMode, CtxRef)> {
        let pcm = pat
            .pfnmap_track(cpu, pfn, size, prot)
            .map_err(|_| Errno::EINVAL)?;
        match CtxRef::alloc(cpu, pfn, size) {
            Ok(ctx) => {
                self.nr_ctx.add(cpu.id(), 1);
                Ok((pcm, ctx))
            }
            Err(e) => {
                pat.pfnmap_untrack(cpu, pfn, size);
                Err(e)
            }
        }
    }

    /// `kref_put(&ctx->kref, pfnmap_track_ctx_release)`: the last reference
    /// frees the context and untracks. Return: the range when that erased
    /// a reservation from the memtype tree.
    pub fn put(&self, pat: &Pat, cpu: &mut Cpu, ctx: CtxRef) -> Option<PfnRange> {
        let range = ctx.put(cpu)?;
        self.nr_ctx.add(cpu.id(), -1);
        pat.pfnmap_untrack(cpu, range.pfn, range.size)
            .then_some(range)
    }

    /// Live contexts.
    pub fn count(&self) -> u64 {
        self.nr_ctx.sum().max(0) as u64
    }
}
