//! The SLUB geometry model: how big a slab object really is, which page
//! order a cache's slabs use and how many objects fit in one, so that object
//! counts can be turned into "kernel bytes" (docs/design.md section 8).
//!
//! Models mm/slab_common.c (`calculate_alignment()`, `create_boot_cache()`,
//! `create_cache()`'s free pointer checks, the kmalloc size table) and
//! mm/slub.c (`calculate_sizes()`, `calculate_order()`, `calc_slab_order()`,
//! `oo_make()`) as of Linux v6.15/v6.16 on x86_64, without slab debugging
//! (`slub_debug`, KASAN and redzones all off) and without `CONFIG_SLUB_TINY`.
//!
//! Structure: a [`KmemCache`] is the description a `kmem_cache_create()`
//! caller passes (size, align, flags, constructor, free pointer offset);
//! [`KmemCache::geometry`] runs the kernel's arithmetic for a given number of
//! CPUs and returns a [`SlabGeometry`] (stride, order, objects per slab).
//! Everything here is pure arithmetic: no state, no lock.
//!
//! Invariant of every [`SlabGeometry`]: `align` is a power of two, `size` is a
//! multiple of `align` and at least `object_size`, and
//! `1 <= objects == (PAGE_SIZE << order) / size`.

use std::fmt;

use crate::errno::Errno;
use crate::kmem::KObj;

/// `PAGE_SIZE` on x86_64.
pub const PAGE_SIZE: u32 = 4096;
/// `cache_line_size()` on x86_64 (`L1_CACHE_BYTES`, `X86_L1_CACHE_SHIFT` 6).
pub const CACHE_LINE_SIZE: u32 = 64;
/// `sizeof(void *)`, also `sizeof(freeptr_t)` and `__alignof__(freeptr_t)`.
pub const POINTER_SIZE: u32 = 8;
/// `ARCH_SLAB_MINALIGN` / `arch_slab_minalign()` and `ARCH_KMALLOC_MINALIGN`
/// on x86_64: `__alignof__(unsigned long long)`.
pub const ARCH_SLAB_MINALIGN: u32 = 8;
/// `slub_max_order`'s default: `PAGE_ALLOC_COSTLY_ORDER` (mm/slub.c).
pub const SLUB_MAX_ORDER: u32 = 3;
/// `MAX_OBJS_PER_PAGE` (mm/slub.c): `slab->objects` is a 15-bit field.
pub const MAX_OBJS_PER_PAGE: u32 = 32767;
/// `MAX_PAGE_ORDER` on x86_64 (include/linux/mmzone.h).
pub const MAX_PAGE_ORDER: u32 = 10;
/// `KMALLOC_MAX_SIZE`: the largest object `kmem_cache_create()` accepts
/// (`kmem_cache_sanity_check()`), `1 << (MAX_PAGE_ORDER + PAGE_SHIFT)`.
pub const KMALLOC_MAX_SIZE: u32 = PAGE_SIZE << MAX_PAGE_ORDER;
/// `KMALLOC_MAX_CACHE_SIZE` for SLUB: two pages. Larger `kmalloc()`s go to
/// the page allocator (`kmalloc_large()`), not to a slab.
pub const KMALLOC_MAX_CACHE_SIZE: u32 = 2 * PAGE_SIZE;

/// The x86_64 kmalloc caches, `kmalloc-8` to `kmalloc-8k`
/// (`kmalloc_info[]` in mm/slab_common.c, `KMALLOC_MIN_SIZE` 8).
pub const KMALLOC_SIZES: [u32; 13] = [
    8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
];

/// The kmalloc cache a `kmalloc(n)` is served from: the smallest class in
/// [`KMALLOC_SIZES`] that holds `n` bytes (`kmalloc_slab()` via
/// `kmalloc_size_index[]`: 65..96 goes to kmalloc-96, 129..192 to
/// kmalloc-192). Return: `None` for `n == 0` (`ZERO_SIZE_PTR`, no memory)
/// and for `n > KMALLOC_MAX_CACHE_SIZE` (served by the page allocator, see
/// [`kmalloc_bytes`]).
pub fn kmalloc_size_class(n: usize) -> Option<u32> {
    KMALLOC_SIZES
        .iter()
        .copied()
        .find(|&c| n <= c as usize)
        .filter(|_| n > 0)
}

/// Bytes one `kmalloc(n)` occupies, counting the unused rest of its size
/// class but not slab-level waste (see [`SlabGeometry::bytes_for`] for that).
/// Above [`KMALLOC_MAX_CACHE_SIZE`] it is a compound page of
/// `get_order(n)`. Return: `0` for `n == 0`.
pub fn kmalloc_bytes(n: usize) -> u64 {
    match kmalloc_size_class(n) {
        Some(class) => u64::from(class),
        None if n == 0 => 0,
        None => u64::from(PAGE_SIZE) << get_order(n as u64),
    }
}

/// `fls()`: 1-based position of the most significant set bit; `fls(0) == 0`.
pub const fn fls(x: u32) -> u32 {
    32 - x.leading_zeros()
}

/// `get_order()`: the smallest order whose block of `PAGE_SIZE << order`
/// bytes holds `size` bytes. `get_order(0)` is undefined in the kernel; here
/// it is 0.
pub fn get_order(size: u64) -> u32 {
    let pages = size.div_ceil(u64::from(PAGE_SIZE)).max(1);
    pages.next_power_of_two().trailing_zeros()
}

/// `ALIGN(x, a)` for any `a >= 1` (the kernel only uses powers of two).
pub const fn align_up(x: u64, a: u64) -> u64 {
    if a <= 1 { x } else { x.div_ceil(a) * a }
}

/// `kmem_cache_create()` flags that change the geometry. Flags with no
/// effect on layout (`SLAB_PANIC`, `SLAB_ACCOUNT`, `SLAB_RECLAIM_ACCOUNT`,
/// `SLAB_NO_MERGE`) are not modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SlabFlags(u32);

impl SlabFlags {
    /// No flags.
    pub const NONE: SlabFlags = SlabFlags(0);
    /// `SLAB_HWCACHE_ALIGN`: align objects to the cache line, halved while
    /// the object fits in half of it (`calculate_alignment()`).
    pub const HWCACHE_ALIGN: SlabFlags = SlabFlags(1 << 0);
    /// `SLAB_TYPESAFE_BY_RCU`: freed objects stay type-stable for RCU
    /// readers, so the free pointer may not overwrite the object unless the
    /// caller names a safe `freeptr_offset`.
    pub const TYPESAFE_BY_RCU: SlabFlags = SlabFlags(1 << 1);
    /// `SLAB_KMALLOC`: a kmalloc cache; `create_boot_cache()` aligns it to
    /// the largest power of two dividing its size.
    pub const KMALLOC: SlabFlags = SlabFlags(1 << 2);

    /// Whether every flag in `other` is set.
    pub const fn contains(self, other: SlabFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for SlabFlags {
    type Output = SlabFlags;
    fn bitor(self, rhs: SlabFlags) -> SlabFlags {
        SlabFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for SlabFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (SlabFlags::HWCACHE_ALIGN, "SLAB_HWCACHE_ALIGN"),
            (SlabFlags::TYPESAFE_BY_RCU, "SLAB_TYPESAFE_BY_RCU"),
            (SlabFlags::KMALLOC, "SLAB_KMALLOC"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|&(_, name)| name)
            .collect();
        if set.is_empty() {
            f.write_str("0")
        } else {
            f.write_str(&set.join("|"))
        }
    }
}

/// SLUB's boot-time knobs (`slab_min_order=`, `slab_max_order=`,
/// `slab_min_objects=`); [`Default`] is what a kernel booted without them
/// uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlubParams {
    /// `slub_min_order` (default 0).
    pub min_order: u32,
    /// `slub_max_order` (default [`SLUB_MAX_ORDER`]).
    pub max_order: u32,
    /// `slub_min_objects`; 0 means "derive from the CPU count".
    pub min_objects: u32,
}

impl Default for SlubParams {
    fn default() -> Self {
        SlubParams {
            min_order: 0,
            max_order: SLUB_MAX_ORDER,
            min_objects: 0,
        }
    }
}

/// What a `kmem_cache_create()` caller asks for: the cache's description
/// before SLUB lays it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmemCache {
    /// The name in /proc/slabinfo.
    pub name: String,
    /// `object_size`: `sizeof` the object.
    pub object_size: u32,
    /// `args->align` as the caller passed it (0: none).
    pub align: u32,
    /// Flags that affect the geometry.
    pub flags: SlabFlags,
    /// Whether the cache has a constructor (`args->ctor`): objects must
    /// keep their constructed state while free, so the free pointer goes
    /// after the object.
    pub has_ctor: bool,
    /// `args->freeptr_offset` when `args->use_freeptr_offset` is set: where
    /// inside the object a `SLAB_TYPESAFE_BY_RCU` cache may keep its free
    /// pointer.
    pub freeptr_offset: Option<u32>,
}

/// The laid-out cache: `struct kmem_cache`'s size fields after
/// `calculate_sizes()`, for one CPU count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlabGeometry {
    /// `s->object_size`.
    pub object_size: u32,
    /// `s->inuse`: bytes of the object proper (word-rounded).
    pub inuse: u32,
    /// `s->offset`: where the free pointer lives in a free object.
    pub freeptr_offset: u32,
    /// Whether the free pointer was moved past the object (`s->offset >=
    /// s->inuse`), costing a word per object.
    pub freeptr_outside: bool,
    /// `s->align` after `calculate_alignment()`.
    pub align: u32,
    /// `s->size`: the stride between objects in a slab.
    pub size: u32,
    /// `oo_order(s->oo)`: page order of a slab.
    pub order: u32,
    /// `oo_objects(s->oo)`: objects in one slab.
    pub objects: u32,
    /// `oo_order(s->min)`: the fallback order used when the preferred
    /// order cannot be allocated.
    pub min_order: u32,
    /// `oo_objects(s->min)`.
    pub min_objects_fallback: u32,
    /// The CPU count the order was computed for.
    pub nr_cpus: u32,
    /// `min_objects` as `calculate_order()` used it (after capping).
    pub min_objects: u32,
}

impl KmemCache {
    /// A dedicated cache: `kmem_cache_create(name, object_size, align,
    /// flags, ctor)` with no free pointer offset.
    pub fn new(name: impl Into<String>, object_size: u32, align: u32, flags: SlabFlags) -> Self {
        KmemCache {
            name: name.into(),
            object_size,
            align,
            flags,
            has_ctor: false,
            freeptr_offset: None,
        }
    }

    /// The same cache with a constructor.
    pub fn with_ctor(mut self) -> Self {
        self.has_ctor = true;
        self
    }

    /// The same cache with `args->use_freeptr_offset` and this offset.
    pub fn with_freeptr_offset(mut self, offset: u32) -> Self {
        self.freeptr_offset = Some(offset);
        self
    }

    /// The kmalloc cache of one size class, as `create_kmalloc_cache()`
    /// makes it (`create_boot_cache()` with `SLAB_KMALLOC`). Return: `None`
    /// if `class` is not one of [`KMALLOC_SIZES`].
    pub fn kmalloc(class: u32) -> Option<Self> {
        KMALLOC_SIZES.contains(&class).then(|| {
            let name = if class >= 1024 {
                format!("kmalloc-{}k", class / 1024)
            } else {
                format!("kmalloc-{class}")
            };
            KmemCache::new(name, class, ARCH_SLAB_MINALIGN, SlabFlags::KMALLOC)
        })
    }

    /// The kmalloc cache a `kmalloc(n)` uses (see [`kmalloc_size_class`]).
    pub fn kmalloc_for(n: usize) -> Option<Self> {
        kmalloc_size_class(n).and_then(KmemCache::kmalloc)
    }

    /// `struct pfnmap_track_ctx` (24 bytes) comes from kmalloc-32
    /// (mm/memory.c, `kmalloc(sizeof(*ctx), GFP_KERNEL)`).
    pub fn pfnmap_track_ctx() -> Self {
        Self::kmalloc(32).expect("32 is a kmalloc class")
    }

    /// `struct memtype` (56 bytes) comes from kmalloc-64
    /// (arch/x86/mm/pat/memtype.c, `kzalloc(sizeof(struct memtype))`).
    pub fn memtype() -> Self {
        Self::kmalloc(64).expect("64 is a kmalloc class")
    }

    /// `radix_tree_node`, which holds every `struct xa_node` (576 bytes on
    /// x86_64): lib/radix-tree.c `radix_tree_init()` creates it with no
    /// alignment, `SLAB_PANIC | SLAB_RECLAIM_ACCOUNT` and a constructor.
    pub fn radix_tree_node() -> Self {
        KmemCache::new("radix_tree_node", XA_NODE_SIZE, 0, SlabFlags::NONE).with_ctor()
    }

    /// `vm_area_struct` as v6.15 (kernel/fork.c `proc_caches_init()`) and
    /// v6.16 (mm/vma_init.c `vma_state_init()`) create it: no alignment
    /// argument, `SLAB_HWCACHE_ALIGN | SLAB_TYPESAFE_BY_RCU` (plus
    /// `SLAB_PANIC | SLAB_ACCOUNT`) and `freeptr_offset =
    /// offsetof(struct vm_area_struct, vm_freeptr)`, which is 0: `vm_freeptr`
    /// shares a union with `vm_start`/`vm_end`, so the free pointer stays
    /// inside and costs nothing. `object_size` comes from the layout engine
    /// (`layout::vm_area_struct`).
    pub fn vm_area_struct(object_size: u32, freeptr_offset: u32) -> Self {
        KmemCache::new(
            "vm_area_struct",
            object_size,
            0,
            SlabFlags::HWCACHE_ALIGN | SlabFlags::TYPESAFE_BY_RCU,
        )
        .with_freeptr_offset(freeptr_offset)
    }

    /// The cache a modelled kernel object is allocated from, where it is a
    /// fixed kernel cache. Return: `None` for objects whose size depends on
    /// a design (`MemtypeVmaLink`) or that are not slab objects (`PageTable`).
    pub fn for_kobj(obj: KObj) -> Option<Self> {
        match obj {
            KObj::PfnmapTrackCtx => Some(Self::pfnmap_track_ctx()),
            KObj::Memtype => Some(Self::memtype()),
            KObj::XaNode => Some(Self::radix_tree_node()),
            KObj::MemtypeVmaLink | KObj::PageTable => None,
        }
    }

    /// The cache's geometry for `nr_cpus` CPUs with default boot parameters.
    ///
    /// `nr_cpus` is the count `calculate_order()` ends up using:
    /// `num_present_cpus()`, or `nr_cpu_ids` when that is 1 or less.
    ///
    /// Return: `Err(EINVAL)` where `kmem_cache_create()` fails: an object of
    /// 0 bytes or above [`KMALLOC_MAX_SIZE`], an alignment that is not a
    /// power of two, or a bad `freeptr_offset` (not inside the object, not
    /// word aligned, or without `SLAB_TYPESAFE_BY_RCU`), and `nr_cpus == 0`.
    pub fn geometry(&self, nr_cpus: u32) -> Result<SlabGeometry, Errno> {
        self.geometry_with(nr_cpus, SlubParams::default())
    }

    /// [`KmemCache::geometry`] with explicit SLUB boot parameters.
    pub fn geometry_with(&self, nr_cpus: u32, params: SlubParams) -> Result<SlabGeometry, Errno> {
        if nr_cpus == 0
            || self.object_size == 0
            || self.object_size > KMALLOC_MAX_SIZE
            || (self.align != 0 && !self.align.is_power_of_two())
            || params.max_order > MAX_PAGE_ORDER
            || params.min_order > params.max_order
        {
            return Err(Errno::EINVAL);
        }
        // create_cache(): the custom free pointer must be inside the object,
        // freeptr_t aligned, and only RCU caches may ask for one (v6.15/16;
        // later kernels also allow it for caches with a constructor).
        if let Some(off) = self.freeptr_offset
            && (off >= self.object_size
                || off % POINTER_SIZE != 0
                || !self.flags.contains(SlabFlags::TYPESAFE_BY_RCU))
        {
            return Err(Errno::EINVAL);
        }
        let align = self.calculate_alignment();

        // calculate_sizes(): word-round, then decide where the free pointer
        // of a free object goes.
        let inuse = align_up(u64::from(self.object_size), u64::from(POINTER_SIZE));
        let rcu = self.flags.contains(SlabFlags::TYPESAFE_BY_RCU);
        let (freeptr_offset, mut size, freeptr_outside) =
            if (rcu && self.freeptr_offset.is_none()) || self.has_ctor {
                (inuse, inuse + u64::from(POINTER_SIZE), true)
            } else if let (true, Some(off)) = (rcu, self.freeptr_offset) {
                (u64::from(off), inuse, false)
            } else {
                // Middle of the object, away from neighbours' overflows.
                let mid = u64::from(self.object_size / 2);
                (mid - mid % u64::from(POINTER_SIZE), inuse, false)
            };
        size = align_up(size, u64::from(align));
        // Bounded by KMALLOC_MAX_SIZE + a word, rounded to an alignment that
        // is itself at most 2^31: always fits in u32.
        let size = u32::try_from(size).map_err(|_| Errno::EINVAL)?;
        let min_objects = compute_min_objects(size, nr_cpus, params);
        let order = calculate_order(size, min_objects, params).ok_or(Errno::EINVAL)?;
        let objects = order_objects(order, size);
        let min_order = get_order(u64::from(size));
        let geometry = SlabGeometry {
            object_size: self.object_size,
            inuse: inuse as u32,
            freeptr_offset: freeptr_offset as u32,
            freeptr_outside,
            align,
            size,
            order,
            objects,
            min_order,
            min_objects_fallback: order_objects(min_order, size),
            nr_cpus,
            min_objects,
        };
        debug_assert!(geometry.objects >= 1 && geometry.size.is_multiple_of(geometry.align));
        Ok(geometry)
    }

    /// `calculate_alignment()` plus `create_boot_cache()`'s kmalloc rule.
    fn calculate_alignment(&self) -> u32 {
        let mut align = self.align;
        if self.flags.contains(SlabFlags::KMALLOC) {
            // Largest power of two dividing the size: 32 for kmalloc-96.
            align = align.max(1 << self.object_size.trailing_zeros());
        }
        if self.flags.contains(SlabFlags::HWCACHE_ALIGN) {
            let mut ralign = CACHE_LINE_SIZE;
            while self.object_size <= ralign / 2 {
                ralign /= 2;
            }
            align = align.max(ralign);
        }
        align = align.max(ARCH_SLAB_MINALIGN);
        align_up(u64::from(align), u64::from(POINTER_SIZE)) as u32
    }

    /// Kernel bytes that `n` live objects of this cache pin, with every
    /// slab full: see [`SlabGeometry::bytes_for`].
    pub fn kernel_bytes(&self, n: u64, nr_cpus: u32) -> Result<u64, Errno> {
        Ok(self.geometry(nr_cpus)?.bytes_for(n))
    }
}

/// `sizeof(struct xa_node)` on x86_64 (include/linux/xarray.h): 4 bytes of
/// shift/offset/count/nr_values, parent and array pointers, a 16-byte
/// list_head/rcu_head union, 64 slots and 3 mark words.
pub const XA_NODE_SIZE: u32 = 576;

/// `order_objects()`.
fn order_objects(order: u32, size: u32) -> u32 {
    ((u64::from(PAGE_SIZE) << order) / u64::from(size)) as u32
}

/// The `min_objects` `calculate_order()` aims for: `4 * (fls(nr_cpus) + 1)`
/// unless overridden, capped by what fits in a `slub_max_order` slab (and
/// never below 1, since `get_order(0)` is undefined).
fn compute_min_objects(size: u32, nr_cpus: u32, params: SlubParams) -> u32 {
    let wanted = if params.min_objects != 0 {
        params.min_objects
    } else {
        4 * (fls(nr_cpus) + 1)
    };
    let max_objects = order_objects(params.max_order, size).max(1);
    wanted.min(max_objects)
}

/// `calc_slab_order()`: the smallest order in `min_order..=max_order` whose
/// leftover is at most `1/fract_leftover` of the slab; `max_order + 1` if
/// none is.
fn calc_slab_order(size: u32, min_order: u32, max_order: u32, fract_leftover: u32) -> u32 {
    (min_order..=max_order)
        .find(|&order| {
            let slab_size = PAGE_SIZE << order;
            slab_size % size <= slab_size / fract_leftover
        })
        .unwrap_or(max_order + 1)
}

/// `calculate_order()` (v6.7+): start at the order that holds
/// `min_objects`, accept a leftover of 1/16 of the slab, then 1/8, 1/4 and
/// finally 1/2; if even that fails within `slub_max_order`, use the order
/// of a single object. Return: `None` where the kernel returns `-ENOSYS`.
fn calculate_order(size: u32, min_objects: u32, params: SlubParams) -> Option<u32> {
    let min_order = params
        .min_order
        .max(get_order(u64::from(min_objects) * u64::from(size)));
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE {
        return Some(get_order(u64::from(size) * u64::from(MAX_OBJS_PER_PAGE)) - 1);
    }
    let mut fraction = 16;
    while fraction > 1 {
        let order = calc_slab_order(size, min_order, params.max_order, fraction);
        if order <= params.max_order {
            return Some(order);
        }
        fraction /= 2;
    }
    let order = get_order(u64::from(size));
    (order <= MAX_PAGE_ORDER).then_some(order)
}

impl SlabGeometry {
    /// Bytes of one slab: `PAGE_SIZE << order`.
    pub fn slab_bytes(&self) -> u64 {
        u64::from(PAGE_SIZE) << self.order
    }

    /// Slabs needed to hold `n` objects with every slab full.
    pub fn slabs_for(&self, n: u64) -> u64 {
        n.div_ceil(u64::from(self.objects))
    }

    /// Kernel bytes for `n` objects: slabs needed times the slab size. A
    /// lower bound for a real system, where partially filled slabs and
    /// per-CPU slabs add more.
    pub fn bytes_for(&self, n: u64) -> u64 {
        self.slabs_for(n) * self.slab_bytes()
    }

    /// Amortised bytes per object in full slabs: slab size over objects per
    /// slab, so the stride padding and each slab's leftover are included.
    pub fn bytes_per_object(&self) -> f64 {
        self.slab_bytes() as f64 / f64::from(self.objects)
    }

    /// Bytes at the end of each slab that no object uses.
    pub fn leftover_per_slab(&self) -> u64 {
        self.slab_bytes() - u64::from(self.objects) * u64::from(self.size)
    }

    /// Bytes of `n` objects' slabs that hold no object data: stride padding
    /// (`size - object_size` per object) plus slab leftovers and the unused
    /// slots of the last slab.
    pub fn waste_for(&self, n: u64) -> u64 {
        self.bytes_for(n) - n * u64::from(self.object_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vma(size: u32, cpus: u32) -> SlabGeometry {
        KmemCache::vm_area_struct(size, 0).geometry(cpus).unwrap()
    }

    #[test]
    fn kmalloc_classes_follow_the_size_index_table() {
        assert_eq!(kmalloc_size_class(0), None);
        assert_eq!(kmalloc_size_class(1), Some(8));
        assert_eq!(kmalloc_size_class(24), Some(32));
        assert_eq!(kmalloc_size_class(56), Some(64));
        assert_eq!(kmalloc_size_class(65), Some(96));
        assert_eq!(kmalloc_size_class(97), Some(128));
        assert_eq!(kmalloc_size_class(129), Some(192));
        assert_eq!(kmalloc_size_class(193), Some(256));
        assert_eq!(kmalloc_size_class(8192), Some(8192));
        assert_eq!(kmalloc_size_class(8193), None);
        assert_eq!(kmalloc_bytes(8193), 16384);
        assert_eq!(kmalloc_bytes(0), 0);
    }

    #[test]
    fn get_order_and_fls_match_the_kernel() {
        assert_eq!(get_order(1), 0);
        assert_eq!(get_order(4096), 0);
        assert_eq!(get_order(4097), 1);
        assert_eq!(get_order(9344), 2);
        assert_eq!(fls(0), 0);
        assert_eq!(fls(1), 1);
        assert_eq!(fls(4), 3);
        assert_eq!(fls(16), 5);
    }

    #[test]
    fn design_examples_192_bytes() {
        // docs/design.md section 8: 192-byte objects, order 0 with 21 per slab on 4
        // CPUs, order 1 with 42 per slab on 16 CPUs.
        let g = vma(192, 4);
        assert_eq!(
            (g.size, g.order, g.objects, g.min_objects),
            (192, 0, 21, 16)
        );
        let g = vma(192, 16);
        assert_eq!(
            (g.size, g.order, g.objects, g.min_objects),
            (192, 1, 42, 24)
        );
        // kmalloc-192 agrees: aligned to 64, the largest power of two in 192.
        let k = KmemCache::kmalloc(192).unwrap().geometry(4).unwrap();
        assert_eq!((k.align, k.size, k.order, k.objects), (64, 192, 0, 21));
    }

    #[test]
    fn xa_node_from_radix_tree_node() {
        // Constructor: free pointer after the object, stride 584, order 2.
        let g = KmemCache::radix_tree_node().geometry(4).unwrap();
        assert_eq!((g.align, g.inuse, g.freeptr_offset), (8, 576, 576));
        assert!(g.freeptr_outside);
        assert_eq!((g.size, g.order, g.objects), (584, 2, 28));
        assert_eq!(g.leftover_per_slab(), 16384 - 28 * 584);
        // Up to 63 CPUs the order stays 2; from 64 CPUs min_objects 32
        // needs order 3.
        assert_eq!(KmemCache::radix_tree_node().geometry(63).unwrap().order, 2);
        let big = KmemCache::radix_tree_node().geometry(64).unwrap();
        assert_eq!((big.order, big.objects), (3, 56));
    }

    #[test]
    fn vm_area_struct_keeps_its_free_pointer_inside() {
        let g = vma(192, 4);
        assert_eq!(
            (g.freeptr_offset, g.freeptr_outside, g.align),
            (0, false, 64)
        );
        // Without a freeptr_offset an RCU cache moves it out: 200 -> 256.
        let plain = KmemCache::new(
            "x",
            192,
            0,
            SlabFlags::HWCACHE_ALIGN | SlabFlags::TYPESAFE_BY_RCU,
        )
        .geometry(4)
        .unwrap();
        assert_eq!((plain.inuse, plain.size), (192, 256));
        // HWCACHE_ALIGN rounds a 128-byte struct with an extra pointer up to
        // three cache lines.
        assert_eq!(vma(136, 4).size, 192);
        assert_eq!(vma(128, 4).size, 128);
    }

    #[test]
    fn hwcache_align_halves_for_small_objects() {
        let g = KmemCache::new("s", 24, 0, SlabFlags::HWCACHE_ALIGN)
            .geometry(4)
            .unwrap();
        assert_eq!((g.align, g.size), (32, 32));
        let g = KmemCache::new("s", 8, 0, SlabFlags::HWCACHE_ALIGN)
            .geometry(4)
            .unwrap();
        assert_eq!((g.align, g.size), (8, 8));
    }

    #[test]
    fn the_ctx_and_memtype_caches() {
        let ctx = KmemCache::pfnmap_track_ctx().geometry(4).unwrap();
        assert_eq!((ctx.size, ctx.order, ctx.objects), (32, 0, 128));
        let mt = KmemCache::memtype().geometry(4).unwrap();
        assert_eq!((mt.size, mt.order, mt.objects), (64, 0, 64));
        let k96 = KmemCache::kmalloc(96).unwrap().geometry(4).unwrap();
        assert_eq!((k96.align, k96.size, k96.objects), (32, 96, 42));
        assert_eq!(mt.bytes_for(65), 8192);
        // Waste is counted against the cache's object size (64 for
        // kmalloc-64, whatever the caller asked for).
        assert_eq!(mt.waste_for(64), 0);
        assert_eq!(mt.waste_for(1), 4096 - 64);
    }

    #[test]
    fn falls_back_to_half_a_slab_of_waste_then_one_object() {
        // 11000 bytes: only two fit in order 3, which leaves 10768 bytes:
        // more than 1/4 of the slab, accepted at 1/2.
        let g = KmemCache::new("s", 11000, 0, SlabFlags::NONE)
            .geometry(1)
            .unwrap();
        assert_eq!(g.min_objects, 2);
        assert_eq!((g.order, g.objects), (3, 2));
        // Bigger than an order-3 slab: a single object's order.
        let g = KmemCache::new("s", 40000, 0, SlabFlags::NONE)
            .geometry(4)
            .unwrap();
        assert_eq!((g.order, g.objects), (4, 1));
    }

    #[test]
    fn create_cache_rejects_what_the_kernel_rejects() {
        let ok = KmemCache::vm_area_struct(192, 0);
        assert_eq!(
            ok.clone().with_freeptr_offset(192).geometry(4),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ok.clone().with_freeptr_offset(4).geometry(4),
            Err(Errno::EINVAL)
        );
        let no_rcu = KmemCache::new("s", 64, 0, SlabFlags::NONE).with_freeptr_offset(0);
        assert_eq!(no_rcu.geometry(4), Err(Errno::EINVAL));
        assert_eq!(
            KmemCache::new("s", 0, 0, SlabFlags::NONE).geometry(4),
            Err(Errno::EINVAL)
        );
        assert_eq!(ok.geometry(0), Err(Errno::EINVAL));
        assert_eq!(
            KmemCache::new("s", 8, 24, SlabFlags::NONE).geometry(4),
            Err(Errno::EINVAL)
        );
    }

    proptest::proptest! {
        #[test]
        fn geometry_invariants(size in 1u32..=70000, align_shift in 0u32..=7,
                               hw in proptest::bool::ANY, ctor in proptest::bool::ANY,
                               cpus in 1u32..=4096) {
            let flags = if hw { SlabFlags::HWCACHE_ALIGN } else { SlabFlags::NONE };
            let mut cache = KmemCache::new("p", size, 1 << align_shift, flags);
            cache.has_ctor = ctor;
            let g = cache.geometry(cpus).unwrap();
            proptest::prop_assert!(g.align.is_power_of_two());
            proptest::prop_assert_eq!(g.size % g.align, 0);
            proptest::prop_assert!(g.size >= g.object_size);
            proptest::prop_assert!(g.objects >= 1);
            proptest::prop_assert_eq!(u64::from(g.objects), g.slab_bytes() / u64::from(g.size));
            proptest::prop_assert!(g.order <= MAX_PAGE_ORDER);
            // Within slub_max_order, the chosen order never wastes more than
            // half a slab.
            if g.order <= SLUB_MAX_ORDER {
                proptest::prop_assert!(g.leftover_per_slab() * 2 <= g.slab_bytes());
            }
        }
    }
}
