//! Where simulated `vm_area_struct`s live: a model of one CPU's view of the
//! `vm_area_struct` kmem_cache (mm/slub.c), so that designs keyed by VMA
//! pointer see realistic keys: objects `stride` bytes apart inside slabs of
//! `PAGE_SIZE << order` bytes, slabs scattered over the direct map, and
//! freed objects reused last-in first-out, as SLUB's per-cpu freelist does.
//!
//! Simplifications: a slab is never given back to the page allocator, and
//! objects freed on one worker are reused only by that worker (each worker
//! forks and exits its own processes, so cross-CPU frees do not arise).

use std::collections::HashSet;

use strategies::VmaKey;
use strategies::phys::PAGE_SIZE;
use strategies::slab::SlabGeometry;

use crate::workload::rng::WorkloadRng;

/// `PAGE_OFFSET` with 4-level paging: the start of the direct map.
pub const DIRECT_MAP_BASE: u64 = 0xffff_8880_0000_0000;
/// Physical memory slab pages are drawn from (64 GiB).
pub const SLAB_PHYS_SPAN: u64 = 64 << 30;

/// One CPU's `vm_area_struct` allocator.
#[derive(Debug)]
pub struct VmaSlab {
    geo: SlabGeometry,
    rng: WorkloadRng,
    /// Freed objects, most recent last.
    freelist: Vec<u64>,
    /// Next never-used object of the current slab, and its end.
    cursor: u64,
    slab_end: u64,
    /// First pfns of slabs handed out, so two never overlap.
    used_slabs: HashSet<u64>,
    live: u64,
}

impl VmaSlab {
    /// An empty cache whose slab pages come from `rng`.
    pub fn new(geo: SlabGeometry, rng: WorkloadRng) -> Self {
        assert!(geo.size > 0 && geo.objects > 0, "bad slab geometry");
        VmaSlab {
            geo,
            rng,
            freelist: Vec::new(),
            cursor: 0,
            slab_end: 0,
            used_slabs: HashSet::new(),
            live: 0,
        }
    }

    /// `kmem_cache_alloc(vm_area_cachep)`: the address of a free object.
    #[inline]
    pub fn alloc(&mut self) -> VmaKey {
        self.live += 1;
        if let Some(addr) = self.freelist.pop() {
            return VmaKey(addr);
        }
        if self.cursor >= self.slab_end {
            self.new_slab();
        }
        let addr = self.cursor;
        self.cursor += u64::from(self.geo.size);
        VmaKey(addr)
    }

    /// `kmem_cache_free()`: the object goes to the head of the freelist.
    #[inline]
    pub fn free(&mut self, key: VmaKey) {
        debug_assert!(self.live > 0);
        self.live -= 1;
        self.freelist.push(key.0);
    }

    /// Objects allocated and not freed.
    pub fn live(&self) -> u64 {
        self.live
    }

    fn new_slab(&mut self) {
        let slab_bytes = PAGE_SIZE << self.geo.order;
        let nr_slots = SLAB_PHYS_SPAN / slab_bytes;
        let slot = loop {
            let s = self.rng.below(nr_slots);
            if self.used_slabs.insert(s) {
                break s;
            }
        };
        self.cursor = DIRECT_MAP_BASE + slot * slab_bytes;
        self.slab_end = self.cursor + u64::from(self.geo.objects) * u64::from(self.geo.size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slab() -> VmaSlab {
        let geo = strategies::layout::VmaConfig::DEFAULT
            .slab_cost(true, 4)
            .unwrap()
            .geometry;
        assert_eq!((geo.size, geo.objects, geo.order), (192, 21, 0));
        VmaSlab::new(geo, WorkloadRng::seed_from_u64(1))
    }

    #[test]
    fn objects_are_stride_apart_within_a_slab_and_reused_lifo() {
        let mut s = slab();
        let keys: Vec<_> = (0..21).map(|_| s.alloc().0).collect();
        for w in keys.windows(2) {
            assert_eq!(w[1] - w[0], 192);
        }
        assert_eq!(keys[0] % PAGE_SIZE, 0);
        let next = s.alloc().0;
        assert_ne!(
            next / PAGE_SIZE,
            keys[0] / PAGE_SIZE,
            "a 22nd object needs a new slab"
        );
        s.free(VmaKey(keys[3]));
        s.free(VmaKey(keys[7]));
        assert_eq!(s.alloc().0, keys[7]);
        assert_eq!(s.alloc().0, keys[3]);
        assert_eq!(s.live(), 22);
    }

    #[test]
    fn live_objects_never_share_an_address() {
        let mut s = slab();
        let mut live = HashSet::new();
        for i in 0..5000u64 {
            let k = s.alloc();
            assert!(live.insert(k.0));
            if i % 3 == 0 {
                let victim = *live.iter().next().unwrap();
                live.remove(&victim);
                s.free(VmaKey(victim));
            }
        }
    }
}
