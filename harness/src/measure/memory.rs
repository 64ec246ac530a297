//! Kernel bytes: the designs' object counts priced with the slab model
//! (strategies::slab, mm/slub.c) and the `vm_area_struct` layout model
//! (strategies::layout): one model shared with `pfntrack layout`, so the
//! runner and the what-if tool can never disagree.
//!
//! The per-VMA field is priced on every live VMA, pfnmap or not: it is the
//! growth of the `vm_area_struct` slab for the chosen kernel config (zero
//! when the field fits in existing padding, as in the docs/design.md section 7 config).

use std::collections::BTreeMap;

use strategies::Footprint;
use strategies::designs::memtype_ext::MEMTYPE_VMA_LINK_KERNEL_SIZE;
use strategies::kmem::KObj;
use strategies::layout::{FieldCost, VmaConfig};
use strategies::slab::{KmemCache, SlabGeometry};

use crate::results::KernelMemory;

/// Prices for one kernel config and CPU count.
#[derive(Debug, Clone)]
pub struct MemoryModel {
    /// Name of the `vm_area_struct` config (`pfntrack layout --config`).
    pub config_name: String,
    /// CPUs the slab orders are computed for.
    pub nr_cpus: u32,
    field: FieldCost,
    caches: BTreeMap<KObj, SlabGeometry>,
}

impl MemoryModel {
    /// The model for the named `vm_area_struct` config at `nr_cpus`.
    pub fn new(config_name: &str, nr_cpus: u32) -> anyhow::Result<Self> {
        let config = VmaConfig::named(config_name)?;
        let field = config
            .field_cost(nr_cpus)
            .map_err(|e| anyhow::anyhow!("slab model refused nr_cpus={nr_cpus}: {e}"))?;
        let mut caches = BTreeMap::new();
        for obj in [KObj::PfnmapTrackCtx, KObj::Memtype, KObj::XaNode] {
            let cache = KmemCache::for_kobj(obj).expect("fixed-size kernel object");
            caches.insert(obj, cache.geometry(nr_cpus)?);
        }
        let link = KmemCache::kmalloc_for(MEMTYPE_VMA_LINK_KERNEL_SIZE as usize)
            .expect("a kmalloc class fits the link");
        caches.insert(KObj::MemtypeVmaLink, link.geometry(nr_cpus)?);
        Ok(MemoryModel {
            config_name: config_name.to_string(),
            nr_cpus,
            field,
            caches,
        })
    }

    /// The `vm_area_struct` cache a design allocates VMAs from.
    pub fn vma_slab_geometry(&self, with_field: bool) -> SlabGeometry {
        if with_field {
            self.field.with.geometry
        } else {
            self.field.without.geometry
        }
    }

    /// The field's cost: without and with.
    pub fn field_cost(&self) -> &FieldCost {
        &self.field
    }

    /// Total kernel bytes of [`MemoryModel::price`], without building the
    /// breakdown: cheap enough to run after every op.
    #[inline]
    pub fn kernel_bytes(&self, fp: &Footprint, nr_vmas: u64) -> u64 {
        let objects: u64 = self
            .caches
            .iter()
            .map(|(obj, geo)| geo.bytes_for(fp.count(*obj)))
            .sum();
        let field = if fp.vma_field_bytes > 0 {
            self.field.delta_for(nr_vmas).max(0) as u64
        } else {
            0
        };
        objects + field
    }

    /// The footprint the allocator counters of `cpu` show: what that CPU
    /// allocated and has not freed, per kind (net of what other CPUs, such
    /// as the setup's, allocated), with the design's per-VMA field.
    pub fn footprint_of(cpu: &strategies::kmem::Cpu, vma_field_bytes: u64) -> Footprint {
        let live = |k| cpu.live(k).max(0) as u64;
        Footprint {
            pfnmap_track_ctx: live(KObj::PfnmapTrackCtx),
            memtype: live(KObj::Memtype),
            xa_node: live(KObj::XaNode),
            memtype_vma_link: live(KObj::MemtypeVmaLink),
            vma_field_bytes,
        }
    }

    /// Kernel memory for footprint `fp` (already net of any background the
    /// caller does not want counted) with `nr_vmas` live VMAs of which
    /// `nr_tracked` hold a reservation.
    pub fn price(&self, fp: &Footprint, nr_vmas: u64, nr_tracked: u64) -> KernelMemory {
        let mut bytes = BTreeMap::new();
        for (obj, geo) in &self.caches {
            let n = fp.count(*obj);
            if n > 0 {
                bytes.insert(kobj_key(*obj).to_string(), geo.bytes_for(n));
            }
        }
        if fp.vma_field_bytes > 0 {
            let delta = self.field.delta_for(nr_vmas).max(0) as u64;
            bytes.insert("vma_field".to_string(), delta);
        }
        let kernel_bytes = bytes.values().sum();
        debug_assert_eq!(kernel_bytes, self.kernel_bytes(fp, nr_vmas));
        KernelMemory {
            objects: *fp,
            nr_vmas,
            nr_tracked_vmas: nr_tracked,
            bytes,
            kernel_bytes,
            bytes_per_tracked_vma: if nr_tracked == 0 {
                0.0
            } else {
                kernel_bytes as f64 / nr_tracked as f64
            },
        }
    }
}

/// The results key for an object kind.
pub fn kobj_key(obj: KObj) -> &'static str {
    match obj {
        KObj::PfnmapTrackCtx => "pfnmap_track_ctx",
        KObj::Memtype => "memtype",
        KObj::XaNode => "xa_node",
        KObj::MemtypeVmaLink => "memtype_vma_link",
        KObj::PageTable => "page_table",
    }
}

/// `a - b` per object kind, never below zero.
pub fn footprint_minus(a: &Footprint, b: &Footprint) -> Footprint {
    Footprint {
        pfnmap_track_ctx: a.pfnmap_track_ctx.saturating_sub(b.pfnmap_track_ctx),
        memtype: a.memtype.saturating_sub(b.memtype),
        xa_node: a.xa_node.saturating_sub(b.xa_node),
        memtype_vma_link: a.memtype_vma_link.saturating_sub(b.memtype_vma_link),
        vma_field_bytes: a.vma_field_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_field_costs_nothing_and_objects_cost_slabs() {
        let m = MemoryModel::new("default", 4).unwrap();
        assert_eq!(m.vma_slab_geometry(true).size, 192);
        let fp = Footprint {
            pfnmap_track_ctx: 128,
            memtype: 64,
            vma_field_bytes: 8,
            ..Footprint::default()
        };
        let km = m.price(&fp, 1000, 100);
        // 128 ctx in kmalloc-32: one order-0 slab holds 128.
        assert_eq!(km.bytes["pfnmap_track_ctx"], 4096);
        // 64 memtypes in kmalloc-64: one slab.
        assert_eq!(km.bytes["memtype"], 4096);
        assert_eq!(km.bytes["vma_field"], 0);
        assert_eq!(km.kernel_bytes, 8192);
        assert!((km.bytes_per_tracked_vma - 81.92).abs() < 1e-9);
    }

    #[test]
    fn minimal_config_field_costs_a_bigger_stride() {
        let m = MemoryModel::new("minimal", 4).unwrap();
        let fp = Footprint {
            vma_field_bytes: 8,
            ..Footprint::default()
        };
        let km = m.price(&fp, 21 * 32, 0);
        assert!(km.bytes["vma_field"] > 0);
    }
}
