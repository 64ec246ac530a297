//! The physical memory map PAT consults: which ranges are System RAM
//! (kernel/resource.c `walk_system_ram_range`), the legacy ISA hole
//! (arch/x86/include/asm/e820/api.h `is_ISA_range`), and the MTRR type of a
//! range (arch/x86/kernel/cpu/mtrr/generic.c `mtrr_type_lookup`).
//!
//! Immutable after construction: the kernel's resource tree changes only on
//! hotplug, which pfntrack does not model, so readers take no lock.

use std::fmt;

/// log2 of the x86 base page size.
pub const PAGE_SHIFT: u32 = 12;
/// The x86 base page size in bytes.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// First byte of the legacy ISA range (arch/x86/include/asm/e820/api.h).
pub const ISA_START_ADDRESS: u64 = 0xa_0000;
/// One past the last byte of the legacy ISA range.
pub const ISA_END_ADDRESS: u64 = 0x10_0000;

/// `PAGE_ALIGN()`: round a byte count up to whole pages.
pub const fn page_align(size: u64) -> u64 {
    (size + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// `PFN_PHYS()`: the physical address of a page frame number.
pub const fn pfn_phys(pfn: u64) -> u64 {
    pfn << PAGE_SHIFT
}

/// What backs a physical range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionKind {
    /// "System RAM" in /proc/iomem: has `struct page`s, memtype kept in page flags.
    Ram,
    /// Device memory (PCI BARs and the like): memtype kept in the memtype tree.
    Mmio,
}

/// The MTRR memory type of a range (arch/x86/include/uapi/asm/mtrr.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtrrType {
    /// `MTRR_TYPE_UNCACHABLE`.
    Uncachable,
    /// `MTRR_TYPE_WRCOMB`.
    WrComb,
    /// `MTRR_TYPE_WRTHROUGH`.
    WrThrough,
    /// `MTRR_TYPE_WRPROT`.
    WrProt,
    /// `MTRR_TYPE_WRBACK`.
    WrBack,
    /// `MTRR_TYPE_INVALID`: MTRRs disabled or absent (common in VMs).
    Invalid,
}

impl MtrrType {
    /// The generic MTRR code's merge of two overlapping types
    /// (`type_merge()` in arch/x86/kernel/cpu/mtrr/generic.c): equal types
    /// stay, WT over WB gives WT, anything else becomes UC.
    fn merge(self, other: MtrrType) -> MtrrType {
        use MtrrType::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Invalid, b) => b,
            (a, Invalid) => a,
            (WrThrough, WrBack) | (WrBack, WrThrough) => WrThrough,
            _ => Uncachable,
        }
    }
}

/// One physical range `[start, end)` of the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PhysRegion {
    /// First byte (page aligned).
    pub start: u64,
    /// One past the last byte (page aligned).
    pub end: u64,
    /// RAM or device memory.
    pub kind: RegionKind,
    /// The MTRR type covering the region.
    pub mtrr: MtrrType,
}

/// A physical memory map could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhysMapError {
    /// A region was empty, inverted, or not page aligned.
    #[error("region {index} [{start:#x}, {end:#x}) is empty or not page aligned")]
    BadRegion {
        /// Position of the region in the input.
        index: usize,
        /// Its start.
        start: u64,
        /// Its end.
        end: u64,
    },
    /// Two regions overlap.
    #[error("regions {first} and {second} overlap")]
    Overlap {
        /// Position of the earlier region (after sorting by start).
        first: usize,
        /// Position of the later one.
        second: usize,
    },
}

/// The physical address space as PAT sees it.
///
/// Invariant: `regions` is sorted by `start`, non-overlapping, page aligned.
/// Addresses not covered by any region are neither RAM nor MMIO and get
/// `default_mtrr` (the MTRR default type, `MTRRdefType`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PhysMap {
    regions: Vec<PhysRegion>,
    default_mtrr: MtrrType,
}

impl PhysMap {
    /// Build a map; regions may come in any order.
    pub fn new(mut regions: Vec<PhysRegion>, default_mtrr: MtrrType) -> Result<Self, PhysMapError> {
        for (index, r) in regions.iter().enumerate() {
            if r.start >= r.end || r.start % PAGE_SIZE != 0 || r.end % PAGE_SIZE != 0 {
                return Err(PhysMapError::BadRegion {
                    index,
                    start: r.start,
                    end: r.end,
                });
            }
        }
        regions.sort_by_key(|r| r.start);
        for i in 1..regions.len() {
            if regions[i].start < regions[i - 1].end {
                return Err(PhysMapError::Overlap {
                    first: i - 1,
                    second: i,
                });
            }
        }
        Ok(PhysMap {
            regions,
            default_mtrr,
        })
    }

    /// A small x86_64 server: low RAM below the ISA hole, 3 GiB of RAM
    /// from 1 MiB, the 32-bit PCI hole (UC by MTRR) with device BARs, RAM
    /// from 4 GiB to 32 GiB, and a 64-bit BAR window at 64 TiB. The BAR
    /// windows are where the generated workloads map device memory.
    pub fn typical_server() -> Self {
        const GIB: u64 = 1 << 30;
        let ram = |start, end| PhysRegion {
            start,
            end,
            kind: RegionKind::Ram,
            mtrr: MtrrType::WrBack,
        };
        let mmio = |start, end| PhysRegion {
            start,
            end,
            kind: RegionKind::Mmio,
            mtrr: MtrrType::Uncachable,
        };
        PhysMap::new(
            vec![
                ram(0, 0x9_f000),
                ram(ISA_END_ADDRESS, 3 * GIB),
                mmio(3 * GIB, 4 * GIB),
                ram(4 * GIB, 32 * GIB),
                mmio(64 << 40, (64 << 40) + 256 * GIB),
            ],
            MtrrType::Uncachable,
        )
        .expect("the built-in map is well formed")
    }

    /// The regions, sorted by start.
    pub fn regions(&self) -> &[PhysRegion] {
        &self.regions
    }

    /// The MMIO regions, sorted by start: where device BARs live.
    pub fn mmio_regions(&self) -> impl Iterator<Item = &PhysRegion> {
        self.regions.iter().filter(|r| r.kind == RegionKind::Mmio)
    }

    /// `pat_pagerange_is_ram()` (arch/x86/mm/pat/memtype.c): 1 when the
    /// pages of `[start, end)` are all RAM, 0 when none are, -1 when mixed.
    ///
    /// Faithful to the kernel's walk: pages below `ISA_END_ADDRESS` are
    /// skipped (legacy ISA is never RAM to PAT), a gap *before* a RAM chunk
    /// makes the range mixed, but non-RAM *after* the last RAM chunk is not
    /// noticed, so `[RAM][MMIO]` answers 1. That is the kernel's behaviour,
    /// kept on purpose.
    pub fn pat_pagerange_is_ram(&self, start: u64, end: u64) -> i32 {
        let mut start_pfn = start >> PAGE_SHIFT;
        let end_pfn = (end + PAGE_SIZE - 1) >> PAGE_SHIFT;
        let (mut cur_pfn, mut ram, mut not_ram) = (start_pfn, false, false);
        if start_pfn < ISA_END_ADDRESS >> PAGE_SHIFT {
            start_pfn = ISA_END_ADDRESS >> PAGE_SHIFT;
            cur_pfn = start >> PAGE_SHIFT;
        }
        if start_pfn >= end_pfn {
            return 0;
        }
        // walk_system_ram_range() hands the callback each RAM chunk clipped
        // to [start_pfn, end_pfn), in address order.
        let first = self
            .regions
            .partition_point(|r| (r.end >> PAGE_SHIFT) <= start_pfn);
        for r in &self.regions[first..] {
            let r_start = r.start >> PAGE_SHIFT;
            if r_start >= end_pfn {
                break;
            }
            if r.kind != RegionKind::Ram {
                continue;
            }
            let chunk_start = r_start.max(start_pfn);
            let chunk_end = (r.end >> PAGE_SHIFT).min(end_pfn);
            not_ram |= chunk_start > cur_pfn;
            ram |= chunk_end > chunk_start;
            cur_pfn = chunk_end;
            if ram && not_ram {
                return -1;
            }
        }
        i32::from(ram)
    }

    /// `x86_platform.is_untracked_pat_range()`, which is `is_ISA_range()`:
    /// the legacy ISA range is always mapped WB and never tracked.
    pub fn is_untracked_pat_range(&self, start: u64, end: u64) -> bool {
        start >= ISA_START_ADDRESS && end <= ISA_END_ADDRESS
    }

    /// `mtrr_type_lookup()`: the effective MTRR type over `[start, end)`,
    /// merging the types of every region (and of uncovered gaps) it touches.
    pub fn mtrr_type_lookup(&self, start: u64, end: u64) -> MtrrType {
        let mut ty: Option<MtrrType> = None;
        let mut cur = start;
        let add = |t: MtrrType, ty: &mut Option<MtrrType>| {
            *ty = Some(ty.map_or(t, |old| old.merge(t)));
        };
        let first = self.regions.partition_point(|r| r.end <= start);
        for r in &self.regions[first..] {
            if r.start >= end {
                break;
            }
            if r.start > cur {
                add(self.default_mtrr, &mut ty);
            }
            add(r.mtrr, &mut ty);
            cur = r.end;
        }
        if cur < end {
            add(self.default_mtrr, &mut ty);
        }
        ty.unwrap_or(self.default_mtrr)
    }
}

impl fmt::Display for PhysMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.regions {
            writeln!(
                f,
                "{:#014x}-{:#014x} {:?} mtrr={:?}",
                r.start,
                r.end - 1,
                r.kind,
                r.mtrr
            )?;
        }
        write!(f, "default mtrr={:?}", self.default_mtrr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> PhysMap {
        PhysMap::new(
            vec![
                PhysRegion {
                    start: 0x10_0000,
                    end: 0x20_0000,
                    kind: RegionKind::Ram,
                    mtrr: MtrrType::WrBack,
                },
                PhysRegion {
                    start: 0x20_0000,
                    end: 0x30_0000,
                    kind: RegionKind::Mmio,
                    mtrr: MtrrType::Uncachable,
                },
                PhysRegion {
                    start: 0x40_0000,
                    end: 0x50_0000,
                    kind: RegionKind::Ram,
                    mtrr: MtrrType::WrBack,
                },
            ],
            MtrrType::Uncachable,
        )
        .unwrap()
    }

    #[test]
    fn ram_mmio_and_mixed() {
        let m = map();
        assert_eq!(m.pat_pagerange_is_ram(0x10_0000, 0x10_1000), 1);
        assert_eq!(m.pat_pagerange_is_ram(0x20_0000, 0x30_0000), 0);
        // MMIO then RAM: the gap before the RAM chunk is seen.
        assert_eq!(m.pat_pagerange_is_ram(0x30_0000, 0x41_0000), -1);
        // RAM then MMIO: the kernel's walk does not see trailing non-RAM.
        assert_eq!(m.pat_pagerange_is_ram(0x1f_f000, 0x20_1000), 1);
        // Below ISA_END nothing is RAM to PAT.
        assert_eq!(m.pat_pagerange_is_ram(0xa_0000, 0xb_0000), 0);
    }

    #[test]
    fn mtrr_merge() {
        let m = map();
        assert_eq!(m.mtrr_type_lookup(0x10_0000, 0x11_0000), MtrrType::WrBack);
        assert_eq!(
            m.mtrr_type_lookup(0x1f_0000, 0x21_0000),
            MtrrType::Uncachable
        );
        assert_eq!(
            m.mtrr_type_lookup(0x60_0000, 0x61_0000),
            MtrrType::Uncachable
        );
    }

    #[test]
    fn rejects_bad_maps() {
        let r = |start, end| PhysRegion {
            start,
            end,
            kind: RegionKind::Ram,
            mtrr: MtrrType::WrBack,
        };
        assert!(matches!(
            PhysMap::new(vec![r(0, 0x1001)], MtrrType::Invalid),
            Err(PhysMapError::BadRegion { .. })
        ));
        assert!(matches!(
            PhysMap::new(vec![r(0, 0x2000), r(0x1000, 0x3000)], MtrrType::Invalid),
            Err(PhysMapError::Overlap { .. })
        ));
    }
}
