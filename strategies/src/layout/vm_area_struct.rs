//! The built-in x86_64 `struct vm_area_struct` of Linux v6.15/v6.16
//! (include/linux/mm_types.h), its configuration switches, and what the
//! per-vma design's `pfnmap_track_ctx` pointer costs in the
//! `vm_area_struct` slab cache for each configuration.
//!
//! Member order and conditions follow v6.15 (after "mm: reorder
//! vm_area_struct fields" moved `shared`, `anon_name` and
//! `vm_userfaultfd_ctx` behind `vm_refcnt`) and v6.16, which adds
//! `struct pfnmap_track_ctx *pfnmap_track_ctx` under
//! `#ifdef __HAVE_PFNMAP_TRACKING` (always defined on x86) as the last
//! member. `vm_refcnt` is `____cacheline_aligned_in_smp`, i.e.
//! `__aligned__(64)`: `CONFIG_PER_VMA_LOCK` requires `CONFIG_SMP`, so the
//! attribute is always live when the member exists. `vmlock_dep_map`
//! (`struct lockdep_map`, 40 bytes, 48 with `CONFIG_LOCK_STAT`) follows it
//! under `CONFIG_DEBUG_LOCK_ALLOC`. `vm_region` (`#ifndef CONFIG_MMU`) never
//! exists on x86_64 and is left out. Type names are spelled as pahole
//! prints them so the rendering can be diffed against real pahole output.

use std::fmt;
use std::str::FromStr;

use super::engine::{Cond, Kconfig, Layout, Member, StructDef};
use crate::errno::Errno;
use crate::slab::{KmemCache, SlabGeometry};

/// The condition symbol of the per-vma design's field (the header tests
/// `__HAVE_PFNMAP_TRACKING`, which x86 defines).
pub const PFNMAP_TRACKING: &str = "__HAVE_PFNMAP_TRACKING";

/// The Kconfig options `struct vm_area_struct`'s layout depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VmaOption {
    /// `CONFIG_PER_VMA_LOCK`: `vm_lock_seq` and the cacheline-aligned `vm_refcnt`.
    PerVmaLock,
    /// `CONFIG_SWAP`: `swap_readahead_info`.
    Swap,
    /// `CONFIG_NUMA`: `vm_policy`.
    Numa,
    /// `CONFIG_NUMA_BALANCING` (depends on NUMA): `numab_state`.
    NumaBalancing,
    /// `CONFIG_ANON_VMA_NAME`: `anon_name`.
    AnonVmaName,
    /// `CONFIG_USERFAULTFD`: `vm_userfaultfd_ctx` is 8 bytes instead of 0.
    Userfaultfd,
    /// `CONFIG_DEBUG_LOCK_ALLOC` (lockdep): `vmlock_dep_map` under PER_VMA_LOCK.
    DebugLockAlloc,
    /// `CONFIG_LOCK_STAT` (selects DEBUG_LOCK_ALLOC): `lockdep_map` grows to 48.
    LockStat,
}

impl VmaOption {
    /// Every option, in struct order.
    pub const ALL: [VmaOption; 8] = [
        VmaOption::PerVmaLock,
        VmaOption::Swap,
        VmaOption::Numa,
        VmaOption::NumaBalancing,
        VmaOption::AnonVmaName,
        VmaOption::Userfaultfd,
        VmaOption::DebugLockAlloc,
        VmaOption::LockStat,
    ];

    /// The Kconfig symbol without `CONFIG_`.
    pub const fn symbol(self) -> &'static str {
        match self {
            VmaOption::PerVmaLock => "PER_VMA_LOCK",
            VmaOption::Swap => "SWAP",
            VmaOption::Numa => "NUMA",
            VmaOption::NumaBalancing => "NUMA_BALANCING",
            VmaOption::AnonVmaName => "ANON_VMA_NAME",
            VmaOption::Userfaultfd => "USERFAULTFD",
            VmaOption::DebugLockAlloc => "DEBUG_LOCK_ALLOC",
            VmaOption::LockStat => "LOCK_STAT",
        }
    }

    /// A one-letter column label for tables.
    pub const fn letter(self) -> char {
        match self {
            VmaOption::PerVmaLock => 'V',
            VmaOption::Swap => 'S',
            VmaOption::Numa => 'N',
            VmaOption::NumaBalancing => 'B',
            VmaOption::AnonVmaName => 'A',
            VmaOption::Userfaultfd => 'U',
            VmaOption::DebugLockAlloc => 'L',
            VmaOption::LockStat => 'T',
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for VmaOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl FromStr for VmaOption {
    type Err = ConfigError;
    /// Accepts `SWAP` or `CONFIG_SWAP`, any case.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("CONFIG_").unwrap_or(&upper);
        VmaOption::ALL
            .into_iter()
            .find(|o| o.symbol() == bare)
            .ok_or_else(|| ConfigError::UnknownOption(s.to_owned()))
    }
}

/// A bad configuration request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not one of [`VmaOption::ALL`].
    #[error(
        "unknown option `{0}` (known: PER_VMA_LOCK SWAP NUMA NUMA_BALANCING \
         ANON_VMA_NAME USERFAULTFD DEBUG_LOCK_ALLOC LOCK_STAT)"
    )]
    UnknownOption(String),
    /// Not `OPTION=y` or `OPTION=n`.
    #[error("`{0}`: expected OPTION=y or OPTION=n")]
    BadAssignment(String),
    /// Not one of the named configurations.
    #[error("unknown config `{0}` (known: {known})", known = VmaConfig::NAMED.iter().map(|n| n.0).collect::<Vec<_>>().join(", "))]
    UnknownConfig(String),
    /// Kconfig would not allow it.
    #[error("{option}=y needs {needs}=y (Kconfig: {why})")]
    Dependency {
        /// The option turned on.
        option: VmaOption,
        /// What it needs.
        needs: VmaOption,
        /// `depends on` or `select`.
        why: &'static str,
    },
}

/// Which of the [`VmaOption`]s are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VmaConfig {
    bits: u8,
}

impl VmaConfig {
    /// docs/design.md section 7's configuration, the one in the linux-mm pahole output:
    /// PER_VMA_LOCK, SWAP, NUMA, NUMA_BALANCING, ANON_VMA_NAME on,
    /// USERFAULTFD and lockdep off.
    pub const DEFAULT: VmaConfig = VmaConfig::from_options(&[
        VmaOption::PerVmaLock,
        VmaOption::Swap,
        VmaOption::Numa,
        VmaOption::NumaBalancing,
        VmaOption::AnonVmaName,
    ]);

    /// The named configurations `pfntrack layout --config` knows, with a
    /// description.
    pub const NAMED: [(&'static str, VmaConfig, &'static str); 5] = [
        (
            "default",
            VmaConfig::DEFAULT,
            "docs/design.md section 7 and the linux-mm pahole output: PER_VMA_LOCK SWAP NUMA \
             NUMA_BALANCING ANON_VMA_NAME",
        ),
        (
            "userfaultfd",
            VmaConfig::DEFAULT.with(VmaOption::Userfaultfd),
            "default + USERFAULTFD, as most distribution kernels are built",
        ),
        (
            "debug",
            VmaConfig::DEFAULT.with(VmaOption::DebugLockAlloc),
            "default + DEBUG_LOCK_ALLOC (lockdep): adds vmlock_dep_map",
        ),
        (
            "lockstat",
            VmaConfig::DEFAULT
                .with(VmaOption::DebugLockAlloc)
                .with(VmaOption::LockStat),
            "debug + LOCK_STAT: a 48-byte lockdep_map",
        ),
        (
            "minimal",
            VmaConfig::from_options(&[]),
            "allnoconfig-like: every option off (no SMP, so no PER_VMA_LOCK)",
        ),
    ];

    /// A configuration with exactly `options` on.
    pub const fn from_options(options: &[VmaOption]) -> VmaConfig {
        let mut bits = 0;
        let mut i = 0;
        while i < options.len() {
            bits |= options[i].bit();
            i += 1;
        }
        VmaConfig { bits }
    }

    /// The same configuration with `option` on.
    pub const fn with(self, option: VmaOption) -> VmaConfig {
        VmaConfig {
            bits: self.bits | option.bit(),
        }
    }

    /// Whether `option` is on.
    pub const fn has(self, option: VmaOption) -> bool {
        self.bits & option.bit() != 0
    }

    /// Turn `option` on or off.
    pub fn set(&mut self, option: VmaOption, on: bool) {
        if on {
            self.bits |= option.bit();
        } else {
            self.bits &= !option.bit();
        }
    }

    /// A named configuration (see [`VmaConfig::NAMED`]).
    pub fn named(name: &str) -> Result<VmaConfig, ConfigError> {
        VmaConfig::NAMED
            .iter()
            .find(|n| n.0 == name)
            .map(|n| n.1)
            .ok_or_else(|| ConfigError::UnknownConfig(name.to_owned()))
    }

    /// Apply `OPTION=y` / `OPTION=n` (also `CONFIG_OPTION=y`).
    pub fn apply(&mut self, assignment: &str) -> Result<(), ConfigError> {
        let (opt, val) = assignment
            .split_once('=')
            .ok_or_else(|| ConfigError::BadAssignment(assignment.to_owned()))?;
        let on = match val.trim() {
            "y" | "Y" => true,
            "n" | "N" => false,
            _ => return Err(ConfigError::BadAssignment(assignment.to_owned())),
        };
        self.set(opt.parse()?, on);
        Ok(())
    }

    /// Check the Kconfig dependencies among the options.
    pub fn validate(self) -> Result<(), ConfigError> {
        if self.has(VmaOption::NumaBalancing) && !self.has(VmaOption::Numa) {
            return Err(ConfigError::Dependency {
                option: VmaOption::NumaBalancing,
                needs: VmaOption::Numa,
                why: "depends on NUMA",
            });
        }
        if self.has(VmaOption::LockStat) && !self.has(VmaOption::DebugLockAlloc) {
            return Err(ConfigError::Dependency {
                option: VmaOption::LockStat,
                needs: VmaOption::DebugLockAlloc,
                why: "LOCK_STAT selects DEBUG_LOCK_ALLOC",
            });
        }
        Ok(())
    }

    /// Every valid configuration that gives a distinct `vm_area_struct`:
    /// lockdep options only matter with PER_VMA_LOCK, so they are only
    /// varied there. PER_VMA_LOCK on first, otherwise in option order.
    pub fn all_distinct() -> Vec<VmaConfig> {
        let mut out: Vec<VmaConfig> = (0u16..256)
            .map(|bits| VmaConfig { bits: bits as u8 })
            .filter(|c| c.validate().is_ok())
            .filter(|c| {
                c.has(VmaOption::PerVmaLock)
                    || !(c.has(VmaOption::DebugLockAlloc) || c.has(VmaOption::LockStat))
            })
            .collect();
        out.sort_by_key(|c| {
            VmaOption::ALL
                .iter()
                .map(|&o| !c.has(o))
                .collect::<Vec<bool>>()
        });
        out
    }

    /// The Kconfig for the layout engine; `with_ctx` adds the per-vma
    /// design's `pfnmap_track_ctx` pointer.
    pub fn kconfig(self, with_ctx: bool) -> Kconfig {
        let mut k = Kconfig::new();
        for o in VmaOption::ALL {
            k.set(o.symbol(), self.has(o));
        }
        k.set(PFNMAP_TRACKING, with_ctx);
        k
    }

    /// `struct vm_area_struct` laid out for this configuration.
    pub fn layout(self, with_ctx: bool) -> Layout {
        vm_area_struct().layout(&self.kconfig(with_ctx))
    }

    /// The name in [`VmaConfig::NAMED`], if this is one of them.
    pub fn name(self) -> Option<&'static str> {
        VmaConfig::NAMED.iter().find(|n| n.1 == self).map(|n| n.0)
    }

    /// `OPTION=y ...` for every option, as one line.
    pub fn describe(self) -> String {
        VmaOption::ALL
            .iter()
            .map(|&o| format!("{}={}", o.symbol(), if self.has(o) { 'y' } else { 'n' }))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// One letter per option, `-` when off (`VSNBA---`).
    pub fn letters(self) -> String {
        VmaOption::ALL
            .iter()
            .map(|&o| if self.has(o) { o.letter() } else { '-' })
            .collect()
    }

    /// The slab cost of one VMA for this configuration.
    ///
    /// Return: `Err(EINVAL)` only for `nr_cpus == 0`.
    pub fn slab_cost(self, with_ctx: bool, nr_cpus: u32) -> Result<VmaSlabCost, Errno> {
        let layout = self.layout(with_ctx);
        let size = u32::try_from(layout.size).map_err(|_| Errno::EINVAL)?;
        let geometry = KmemCache::vm_area_struct(size, VM_FREEPTR_OFFSET).geometry(nr_cpus)?;
        Ok(VmaSlabCost {
            struct_size: layout.size,
            geometry,
        })
    }

    /// What adding `pfnmap_track_ctx` costs for this configuration.
    pub fn field_cost(self, nr_cpus: u32) -> Result<FieldCost, Errno> {
        Ok(FieldCost {
            without: self.slab_cost(false, nr_cpus)?,
            with: self.slab_cost(true, nr_cpus)?,
        })
    }
}

/// `offsetof(struct vm_area_struct, vm_freeptr)`: the first member's union.
pub const VM_FREEPTR_OFFSET: u32 = 0;

/// One `vm_area_struct` in its slab cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VmaSlabCost {
    /// `sizeof(struct vm_area_struct)`.
    pub struct_size: u64,
    /// The `vm_area_struct` cache's geometry.
    pub geometry: SlabGeometry,
}

impl VmaSlabCost {
    /// Slab object size (stride).
    pub fn slab_object_size(&self) -> u32 {
        self.geometry.size
    }

    /// Amortised slab bytes per VMA (slab size / objects per slab).
    pub fn bytes_per_vma(&self) -> f64 {
        self.geometry.bytes_per_object()
    }

    /// Kernel bytes for `n` VMAs in full slabs.
    pub fn bytes_for(&self, n: u64) -> u64 {
        self.geometry.bytes_for(n)
    }
}

/// The per-vma design's field, without and with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldCost {
    /// Without `pfnmap_track_ctx`.
    pub without: VmaSlabCost,
    /// With it.
    pub with: VmaSlabCost,
}

impl FieldCost {
    /// Whether the field pushes the slab object into a larger stride.
    pub fn crosses_stride(&self) -> bool {
        self.with.slab_object_size() > self.without.slab_object_size()
    }

    /// Extra amortised slab bytes per VMA.
    pub fn delta_bytes_per_vma(&self) -> f64 {
        self.with.bytes_per_vma() - self.without.bytes_per_vma()
    }

    /// Extra kernel bytes at `n` VMAs (slab rounding included).
    pub fn delta_for(&self, n: u64) -> i128 {
        i128::from(self.with.bytes_for(n)) - i128::from(self.without.bytes_for(n))
    }
}

/// The v6.15/v6.16 x86_64 `struct vm_area_struct` with every conditional
/// member, `pfnmap_track_ctx` under [`PFNMAP_TRACKING`].
pub fn vm_area_struct() -> StructDef {
    let long = "long unsigned int";
    let start_end = StructDef::new_struct(None)
        .member(Member::opaque(long, "vm_start", 8, 8))
        .member(Member::opaque(long, "vm_end", 8, 8));
    let first = StructDef::new_union(None)
        .member(Member::aggregate(start_end, None))
        .member(Member::opaque("freeptr_t", "vm_freeptr", 8, 8));
    let flags = StructDef::new_union(None)
        .member(Member::opaque("const vm_flags_t", "vm_flags", 8, 8))
        .member(Member::opaque("vm_flags_t", "__vm_flags", 8, 8));
    // struct rb_node carries __attribute__((aligned(sizeof(long))))
    // (include/linux/rbtree_types.h), so gcc marks `rb`, and through it
    // `shared` and the whole struct, as user-aligned: pahole prints the
    // attributes the source never spells on them.
    let shared = StructDef::new_struct(None)
        .member(Member::opaque("struct rb_node", "rb", 24, 8).aligned(8))
        .member(Member::opaque(long, "rb_subtree_last", 8, 8));
    let lock = Cond::on("PER_VMA_LOCK");
    let lockdep = lock.clone().and_on("DEBUG_LOCK_ALLOC");
    StructDef::new_struct(Some("vm_area_struct"))
        .member(Member::aggregate(first, None))
        .member(Member::opaque("struct mm_struct *", "vm_mm", 8, 8))
        .member(Member::opaque("pgprot_t", "vm_page_prot", 8, 8))
        .member(Member::aggregate(flags, None))
        .member(Member::opaque("unsigned int", "vm_lock_seq", 4, 4).when(lock.clone()))
        .member(Member::opaque("struct list_head", "anon_vma_chain", 16, 8))
        .member(Member::opaque("struct anon_vma *", "anon_vma", 8, 8))
        .member(Member::opaque(
            "const struct vm_operations_struct  *",
            "vm_ops",
            8,
            8,
        ))
        .member(Member::opaque(long, "vm_pgoff", 8, 8))
        .member(Member::opaque("struct file *", "vm_file", 8, 8))
        .member(Member::opaque("void *", "vm_private_data", 8, 8))
        .member(Member::opaque("atomic_long_t", "swap_readahead_info", 8, 8).when(Cond::on("SWAP")))
        .member(Member::opaque("struct mempolicy *", "vm_policy", 8, 8).when(Cond::on("NUMA")))
        .member(
            Member::opaque("struct vma_numab_state *", "numab_state", 8, 8)
                .when(Cond::on("NUMA_BALANCING")),
        )
        .member(
            Member::opaque("refcount_t", "vm_refcnt", 4, 4)
                .aligned(64)
                .when(lock),
        )
        // struct lockdep_map (include/linux/lockdep_types.h): key, two
        // class_cache pointers, name, three u8s; LOCK_STAT adds int cpu
        // and unsigned long ip.
        .member(
            Member::opaque("struct lockdep_map", "vmlock_dep_map", 40, 8)
                .inner_padding(5)
                .when(lockdep.clone().and_off("LOCK_STAT")),
        )
        .member(
            Member::opaque("struct lockdep_map", "vmlock_dep_map", 48, 8)
                .when(lockdep.and_on("LOCK_STAT")),
        )
        .member(Member::aggregate(shared, Some("shared")))
        .member(
            Member::opaque("struct anon_vma_name *", "anon_name", 8, 8)
                .when(Cond::on("ANON_VMA_NAME")),
        )
        .member(
            Member::opaque("struct vm_userfaultfd_ctx", "vm_userfaultfd_ctx", 8, 8)
                .when(Cond::on("USERFAULTFD")),
        )
        .member(
            Member::opaque("struct vm_userfaultfd_ctx", "vm_userfaultfd_ctx", 0, 1)
                .when(Cond::off("USERFAULTFD")),
        )
        .member(
            Member::opaque("struct pfnmap_track_ctx *", "pfnmap_track_ctx", 8, 8)
                .when(Cond::on(PFNMAP_TRACKING)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_config_is_192_with_and_without_the_field() {
        let without = VmaConfig::DEFAULT.layout(false);
        assert_eq!(
            (without.size, without.padding, without.align),
            (192, 16, 64)
        );
        let with = VmaConfig::DEFAULT.layout(true);
        assert_eq!((with.size, with.padding), (192, 8));
        assert_eq!(with.find("pfnmap_track_ctx").unwrap().offset, 176);
        assert_eq!(with.find("vm_refcnt").unwrap().offset, 128);
        assert_eq!(with.find("rb_subtree_last").unwrap().offset, 160);
    }

    #[test]
    fn other_configs() {
        let size = |c: VmaConfig, w| c.layout(w).size;
        let uffd = VmaConfig::named("userfaultfd").unwrap();
        assert_eq!((size(uffd, false), size(uffd, true)), (192, 192));
        let debug = VmaConfig::named("debug").unwrap();
        assert_eq!((size(debug, false), size(debug, true)), (256, 256));
        let min = VmaConfig::named("minimal").unwrap();
        assert_eq!((size(min, false), size(min, true)), (128, 136));
        // HWCACHE_ALIGN turns the 8 bytes into a third cache line.
        let cost = min.field_cost(4).unwrap();
        assert!(cost.crosses_stride());
        assert_eq!(
            (
                cost.without.slab_object_size(),
                cost.with.slab_object_size()
            ),
            (128, 192)
        );
        assert!(!VmaConfig::DEFAULT.field_cost(4).unwrap().crosses_stride());
    }

    #[test]
    fn options_parse_and_validate() {
        let mut c = VmaConfig::named("minimal").unwrap();
        c.apply("CONFIG_numa_balancing=y").unwrap();
        assert!(matches!(c.validate(), Err(ConfigError::Dependency { .. })));
        c.apply("NUMA=y").unwrap();
        assert_eq!(c.validate(), Ok(()));
        assert!(matches!(
            c.apply("NUMA"),
            Err(ConfigError::BadAssignment(_))
        ));
        assert!(matches!(
            c.apply("NUMA=m"),
            Err(ConfigError::BadAssignment(_))
        ));
        assert!(matches!(
            c.apply("FOO=y"),
            Err(ConfigError::UnknownOption(_))
        ));
        assert!(VmaConfig::named("nope").is_err());
        // 24 configurations without PER_VMA_LOCK, 3 lockdep variants of 24 with.
        assert_eq!(VmaConfig::all_distinct().len(), 96);
        assert_eq!(VmaConfig::all_distinct()[0].letters(), "VSNBAULT");
    }
}
