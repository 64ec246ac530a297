//! `memtype-ext`: no field in `vm_area_struct`; x86's memtype tree
//! (arch/x86/mm/pat/memtype.c, memtype_interval.c) is extended so that it
//! knows which VMAs hold each reservation (the direction Peter Xu argued for
//! on the list).
//!
//! Shape, and why:
//! - A reference count in `struct memtype`, in the 4 bytes of padding after
//!   `type`: the entry stays 56 bytes (kmalloc-64), so existing entries cost
//!   nothing more. The last VMA's free erases the entry.
//! - A VMA-keyed rbtree of links `{rb_node, vma, memtype *, pfn, size}`
//!   (56 bytes, kmalloc-64), under the same `memtype_lock`. Something must
//!   map a VMA to its reservation when the VMA is freed: after a split or a
//!   partial munmap the VMA's own range no longer says which pfns were
//!   reserved (that is the bug class the v6.16 rewrite removed), so the link
//!   is keyed by the VMA pointer, not found by walking page tables. An
//!   rbtree is what the kernel would reach for under a spinlock; it needs no
//!   augmentation, so `intrusive-collections` provides it.
//! - One lock for tree, counts and links: a free touches all three, so a
//!   second lock would only add ordering rules.
//! - RAM, `nopat` and the ISA hole reserve nothing in the tree; their links
//!   point at no entry and carry no count, so this design never refuses a
//!   dup of such a mapping at `REFCOUNT_MAX` (the ctx-based designs do).
//! - A driver's `memtype_free_io()` only erases entries no VMA holds, so an
//!   ioremap of the same range cannot free a VMA's entry from under it.
//!
//! Context: every hook takes `memtype_lock` once on its common path (a
//! remap does the reservation and the link in one hold); track and dup
//! allocate before taking it (GFP_KERNEL cannot sleep under a spinlock),
//! which costs a wasted allocation only for a pfnmap VMA that tracks
//! nothing or a remap that fails. Before allocating, a remap of a whole
//! VMA that is `VM_PFNMAP` already (only such a VMA can be tracked) looks
//! it up under `memtype_lock` and refuses a tracked one with EINVAL, the
//! merged design's early test (`remap_pfn_range_track()`, mm/memory.c,
//! v6.16): the error must not depend on whether memory is short. A first
//! remap of a fresh VMA skips that hold.

use intrusive_collections::{KeyAdapter, RBTree, RBTreeLink, intrusive_adapter};

use crate::cachemode::CacheMode;
use crate::errno::{Errno, KResult};
use crate::interval_tree::NodeId;
use crate::kmem::{Cpu, KObj, Kmem};
use crate::memtype::{MemtypeEntry, Pat, PatExt, PatLocked};
use crate::memtype_log::InvalidFreeLog;
use crate::phys::pfn_phys;
use crate::strategy::Strategy;
use crate::tracker::{
    Footprint, PfnRange, PfnmapTracking, TrackerConfig, Vma, VmaKey, remap_pfn_range_notrack,
};

/// Kernel size of a link: `struct rb_node` (24) + VMA pointer, memtype
/// pointer, pfn and size (8 each); served from kmalloc-64.
pub const MEMTYPE_VMA_LINK_KERNEL_SIZE: u64 = 56;

/// VMAs holding a memtype entry, kept in the entry's padding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemtypeRefs(pub u32);

/// One VMA's hold on a reservation.
#[derive(Debug)]
struct MemtypeVmaLink {
    rb: RBTreeLink,
    vma: VmaKey,
    /// The entry this VMA holds a count of; `None` when nothing was
    /// reserved in the tree (RAM, PAT off, ISA).
    memtype: Option<NodeId>,
    range: PfnRange,
}

intrusive_adapter!(LinkAdapter = Box<MemtypeVmaLink>: MemtypeVmaLink { rb => RBTreeLink });

impl<'a> KeyAdapter<'a> for LinkAdapter {
    type Key = VmaKey;

    fn get_key(&self, link: &'a MemtypeVmaLink) -> VmaKey {
        link.vma
    }
}

/// The VMA index kept under `memtype_lock`.
pub struct VmaIndex {
    links: RBTree<LinkAdapter>,
    nr_links: u64,
}

impl Default for VmaIndex {
    fn default() -> Self {
        VmaIndex {
            links: RBTree::new(LinkAdapter::new()),
            nr_links: 0,
        }
    }
}

impl PatExt for VmaIndex {
    type Entry = MemtypeRefs;
}

impl VmaIndex {
    fn find(&self, vma: VmaKey) -> Option<&MemtypeVmaLink> {
        self.links.find(&vma).get()
    }

    fn insert(&mut self, link: Box<MemtypeVmaLink>) {
        debug_assert!(self.find(link.vma).is_none(), "VMA linked twice");
        self.links.insert(link);
        self.nr_links += 1;
    }

    fn remove(&mut self, vma: VmaKey) -> Option<Box<MemtypeVmaLink>> {
        let link = self.links.find_mut(&vma).remove()?;
        self.nr_links -= 1;
        Some(link)
    }
}

/// The extended-memtype design.
pub struct MemtypeExt {
    pat: Pat<VmaIndex>,
    refcount_max: u32,
}

impl std::fmt::Debug for MemtypeExt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemtypeExt")
            .field("pat", &self.pat)
            .field("refcount_max", &self.refcount_max)
            .finish()
    }
}

impl MemtypeExt {
    /// Drop one count of `id`. Return: the erased entry on the last one.
    fn put_locked(locked: &mut PatLocked<VmaIndex>, id: NodeId) -> Option<MemtypeEntry> {
        let refs = &mut locked.tree.value_mut(id).ext.0;
        debug_assert!(*refs > 0, "memtype refcount underflow");
        *refs -= 1;
        (*refs == 0).then(|| Pat::memtype_erase_entry(locked, id))
    }
}

impl PfnmapTracking for MemtypeExt {
    type VmaState = ();

    const STRATEGY: Strategy = Strategy::MemtypeExt;

    fn new(cfg: &TrackerConfig) -> Self {
        MemtypeExt {
            pat: Pat::new(&cfg.pat),
            refcount_max: cfg.refcount_max,
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
        // The kernel's early test, before any allocation.
        if self.lookup(vma).is_some() {
            return Err(Errno::EINVAL);
        }
        // GFP_KERNEL allocations first, then one memtype_lock hold does the
        // reservation and the link (still refusing a tracked VMA, should
        // one appear between the two holds).
        cpu.alloc(KObj::MemtypeVmaLink)?;
        let link = Box::new(MemtypeVmaLink {
            rb: RBTreeLink::new(),
            vma: vma.key,
            memtype: None,
            range: PfnRange { pfn, size },
        });
        let key = vma.key;
        let reserved = self.pat.reserve_pfn_range_linked(
            cpu,
            pfn_phys(pfn),
            size,
            prot,
            MemtypeRefs(1),
            move |l, entry| {
                if l.ext.find(key).is_some() {
                    return Err(Errno::EINVAL);
                }
                let mut link = link;
                link.memtype = entry;
                l.ext.insert(link);
                Ok(())
            },
        );
        let (pcm, entry) = match reserved {
            Ok(r) => r,
            Err(_) => {
                cpu.free(KObj::MemtypeVmaLink);
                // remap_pfn_range(): any tracking failure is EINVAL.
                return Err(Errno::EINVAL);
            }
        };
        if let Err(e) = remap_pfn_range_notrack(cpu, vma) {
            let link = self.pat.with_locked(|l| {
                if let Some(id) = entry {
                    Pat::memtype_erase_entry(l, id);
                }
                l.ext.remove(key)
            });
            debug_assert!(link.is_some());
            cpu.free(KObj::MemtypeVmaLink);
            if entry.is_some() {
                cpu.free(KObj::Memtype);
            }
            return Err(e);
        }
        Ok(pcm)
    }

    fn pfnmap_setup_cachemode(&self, pfn: u64, size: u64, prot: CacheMode) -> KResult<CacheMode> {
        self.pat.pfnmap_setup_cachemode(pfn, size, prot)
    }

    fn vm_area_dup(&self, cpu: &mut Cpu, orig: &Vma<()>, new: &mut Vma<()>) -> KResult<()> {
        if !orig.is_pfnmap() {
            return Ok(());
        }
        cpu.alloc(KObj::MemtypeVmaLink)?;
        let mut link = Box::new(MemtypeVmaLink {
            rb: RBTreeLink::new(),
            vma: new.key,
            memtype: None,
            range: PfnRange { pfn: 0, size: 0 },
        });
        let limit = self.refcount_max;
        let linked = self.pat.with_locked(|l| {
            let Some(held) = l.ext.find(orig.key) else {
                return Ok(false);
            };
            let (memtype, range) = (held.memtype, held.range);
            if let Some(id) = memtype {
                let refs = &mut l.tree.value_mut(id).ext.0;
                if *refs >= limit {
                    return Err(Errno::ENOMEM);
                }
                *refs += 1;
            }
            link.memtype = memtype;
            link.range = range;
            l.ext.insert(link);
            Ok(true)
        });
        match linked {
            Ok(true) => Ok(()),
            Ok(false) => {
                cpu.free(KObj::MemtypeVmaLink);
                Ok(())
            }
            Err(e) => {
                cpu.free(KObj::MemtypeVmaLink);
                Err(e)
            }
        }
    }

    fn vm_area_free(&self, cpu: &mut Cpu, vma: &mut Vma<()>) -> Option<PfnRange> {
        if !vma.is_pfnmap() {
            return None;
        }
        let (link, erased) = self.pat.with_locked(|l| {
            let link = l.ext.remove(vma.key)?;
            let erased = link.memtype.and_then(|id| Self::put_locked(l, id));
            Some((link, erased))
        })?;
        cpu.free(KObj::MemtypeVmaLink);
        erased.map(|_| {
            cpu.free(KObj::Memtype);
            link.range
        })
    }

    fn lookup(&self, vma: &Vma<()>) -> Option<PfnRange> {
        if !vma.is_pfnmap() {
            return None;
        }
        self.pat
            .with_locked(|l| l.ext.find(vma.key).map(|link| link.range))
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
        self.pat
            .memtype_free_matching(cpu, start, end, |refs| refs.0 == 0)
    }

    fn memtype_entries(&self) -> Vec<MemtypeEntry> {
        self.pat.entries()
    }

    fn invalid_free_log(&self) -> &InvalidFreeLog {
        self.pat.invalid_free_log()
    }

    fn footprint(&self) -> Footprint {
        self.pat.with_locked(|l| Footprint {
            memtype: l.tree.len() as u64,
            memtype_vma_link: l.ext.nr_links,
            ..Footprint::default()
        })
    }
}
