//! The physical layout every worker shares: device BARs (what pfnmap VMAs
//! map) and the setup ioremaps (background entries in the memtype tree,
//! arch/x86/mm/pat/memtype.c `memtype_reserve_io()`), placed in the MMIO
//! regions of the scenario's physical map (strategies/src/phys.rs).
//!
//! Depends only on (scenario, seed): workers share the memtype tree, so they
//! must agree on it. BARs are PCI-like: power-of-two sizes, naturally
//! aligned, placed largest first; ioremaps follow, page aligned. Placement is
//! first fit over the MMIO regions in address order. Nothing overlaps, so
//! setup never conflicts; each BAR has one cache mode, which every request
//! for it uses unless the scenario asks for conflicts.

use strategies::CacheMode;
use strategies::phys::{PAGE_SHIFT, PAGE_SIZE, PhysMap, RegionKind};

use super::op::{IoId, Op};
use super::rng::{Purpose, Weighted, WorkloadRng};
use super::scenario::{Scenario, ScenarioError, mode_at};

/// A device BAR pfnmap VMAs map windows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// First page frame.
    pub pfn: u64,
    /// Length in pages (a power of two).
    pub pages: u32,
    /// The cache mode its driver maps it with.
    pub mode: CacheMode,
}

/// The shared physical layout of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Every BAR, largest first.
    pub bars: Vec<Bar>,
    /// The setup ops: one `Ioremap` per background ioremap (ids
    /// `0..ioremaps`), then, with `reserve_bars`, one per BAR (ids
    /// following), in a shuffled order (the order drivers happened to
    /// probe in).
    pub setup: Vec<Op>,
}

/// First-fit placement over the MMIO regions.
struct Placer {
    /// `[next free byte, end)` of each MMIO region, in address order.
    free: Vec<(u64, u64)>,
}

impl Placer {
    fn new(phys: &PhysMap) -> Self {
        Placer {
            free: phys
                .regions()
                .iter()
                .filter(|r| r.kind == RegionKind::Mmio)
                .map(|r| (r.start, r.end))
                .collect(),
        }
    }

    /// Place `bytes` at the first `align`-aligned spot that fits. Return:
    /// its address.
    fn place(&mut self, bytes: u64, align: u64) -> Option<u64> {
        for (next, end) in &mut self.free {
            let start = next.checked_next_multiple_of(align)?;
            if start.checked_add(bytes).is_some_and(|e| e <= *end) {
                *next = start + bytes;
                return Some(start);
            }
        }
        None
    }
}

/// Does the worst case (every BAR and ioremap at its largest) fit the MMIO
/// regions? Smaller sizes then fit too: sizes are placed in non-increasing
/// order of alignment, so a smaller item never lands later than the
/// largest one would have.
pub(crate) fn check_fits(sc: &Scenario, phys: &PhysMap) -> Result<(), ScenarioError> {
    let mut placer = Placer::new(phys);
    let bar_bytes = u64::from(sc.bar_pages_max) * PAGE_SIZE;
    for i in 0..sc.bars {
        if placer.place(bar_bytes, bar_bytes).is_none() {
            return Err(ScenarioError::Invalid {
                field: "bars",
                message: format!(
                    "only {i} of {} BARs of up to {} pages fit in the MMIO regions of the physical map",
                    sc.bars, sc.bar_pages_max
                ),
            });
        }
    }
    let io_bytes = u64::from(sc.ioremap_pages_max) * PAGE_SIZE;
    for i in 0..sc.ioremaps {
        if placer.place(io_bytes, PAGE_SIZE).is_none() {
            return Err(ScenarioError::Invalid {
                field: "ioremaps",
                message: format!(
                    "only {i} of {} ioremaps of up to {} pages fit in the MMIO regions after the BARs",
                    sc.ioremaps, sc.ioremap_pages_max
                ),
            });
        }
    }
    Ok(())
}

impl Layout {
    /// The layout for `(sc, seed)`. `sc` must have passed
    /// [`Scenario::validate`] (which checks that everything fits).
    pub fn new(sc: &Scenario, seed: u64) -> Layout {
        let mut rng = WorkloadRng::substream(seed, Purpose::Layout, 0);
        let phys = sc.phys_map();
        let mut placer = Placer::new(&phys);

        // BAR sizes uniform in log2 space (BARs span orders of magnitude),
        // each with its mode; then placed largest first.
        let lo = sc.bar_pages_min.trailing_zeros();
        let hi = sc.bar_pages_max.trailing_zeros();
        let bar_modes = Weighted::new(&sc.bar_mode_weights());
        let mut bars: Vec<Bar> = (0..sc.bars)
            .map(|_| {
                let pages = 1u32 << rng.range_u32(lo, hi);
                let mode = bar_modes
                    .as_ref()
                    .map_or(CacheMode::UC_MINUS, |w| mode_at(w.pick(&mut rng)));
                Bar {
                    pfn: 0,
                    pages,
                    mode,
                }
            })
            .collect();
        bars.sort_by_key(|b| std::cmp::Reverse(b.pages));
        for bar in &mut bars {
            let bytes = u64::from(bar.pages) * PAGE_SIZE;
            let addr = placer
                .place(bytes, bytes)
                .expect("validate() checked that the BARs fit");
            bar.pfn = addr >> PAGE_SHIFT;
        }

        let io_modes = Weighted::new(&sc.ioremap_mode_weights());
        let mut setup: Vec<Op> = (0..sc.ioremaps)
            .map(|id| {
                let pages = rng.range_u32(sc.ioremap_pages_min, sc.ioremap_pages_max);
                let mode = io_modes
                    .as_ref()
                    .map_or(CacheMode::UC_MINUS, |w| mode_at(w.pick(&mut rng)));
                let addr = placer
                    .place(u64::from(pages) * PAGE_SIZE, PAGE_SIZE)
                    .expect("validate() checked that the ioremaps fit");
                Op::Ioremap {
                    id,
                    pfn: addr >> PAGE_SHIFT,
                    pages,
                    mode,
                }
            })
            .collect();
        if sc.reserve_bars {
            setup.extend(bars.iter().zip(sc.ioremaps..).map(|(bar, id)| Op::Ioremap {
                id: id as IoId,
                pfn: bar.pfn,
                pages: bar.pages,
                mode: bar.mode,
            }));
        }
        // Fisher-Yates: drivers probe in no particular address order, and
        // the insertion order shapes the tree.
        for i in (1..setup.len()).rev() {
            let j = rng.index(i + 1);
            setup.swap(i, j);
        }
        Layout { bars, setup }
    }

    /// The first id a worker may use for its own ioremaps (above every
    /// setup id).
    pub fn first_worker_ioremap_id(&self) -> IoId {
        self.setup.len() as IoId
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(layout: &Layout) -> Vec<(u64, u64)> {
        let mut r: Vec<(u64, u64)> = layout
            .bars
            .iter()
            .map(|b| (b.pfn, b.pfn + u64::from(b.pages)))
            .chain(layout.setup.iter().filter_map(|op| match *op {
                Op::Ioremap { pfn, pages, .. } => Some((pfn, pfn + u64::from(pages))),
                _ => None,
            }))
            .collect();
        r.sort_unstable();
        r
    }

    #[test]
    fn bars_are_aligned_inside_mmio_and_disjoint() {
        let mut sc = Scenario::preset("mixed").unwrap();
        // BAR reservations cover their BARs exactly; here only the
        // background ioremaps.
        sc.reserve_bars = false;
        let phys = sc.phys_map();
        let layout = Layout::new(&sc, 9);
        assert_eq!(layout.bars.len(), sc.bars as usize);
        assert_eq!(layout.setup.len(), sc.ioremaps as usize);
        for b in &layout.bars {
            assert!(b.pages.is_power_of_two());
            assert_eq!(b.pfn % u64::from(b.pages), 0, "{b:?}");
            let (s, e) = (
                b.pfn << PAGE_SHIFT,
                (b.pfn + u64::from(b.pages)) << PAGE_SHIFT,
            );
            assert!(
                phys.regions()
                    .iter()
                    .any(|r| r.kind == RegionKind::Mmio && r.start <= s && e <= r.end),
                "{b:?}"
            );
            assert_eq!(phys.pat_pagerange_is_ram(s, e), 0);
        }
        let r = ranges(&layout);
        for w in r.windows(2) {
            assert!(w[0].1 <= w[1].0, "overlap {w:?}");
        }
    }

    #[test]
    fn reserve_bars_adds_one_ioremap_per_bar_with_its_mode() {
        let sc = Scenario::preset("fault-heavy").unwrap();
        let layout = Layout::new(&sc, 3);
        assert_eq!(layout.setup.len(), (sc.ioremaps + sc.bars) as usize);
        for b in &layout.bars {
            assert!(layout.setup.iter().any(|op| *op
                == Op::Ioremap {
                    id: match op {
                        Op::Ioremap { id, .. } => *id,
                        _ => unreachable!(),
                    },
                    pfn: b.pfn,
                    pages: b.pages,
                    mode: b.mode,
                }));
        }
        let mut ids: Vec<IoId> = layout
            .setup
            .iter()
            .map(|op| match op {
                Op::Ioremap { id, .. } => *id,
                _ => unreachable!(),
            })
            .collect();
        ids.sort_unstable();
        assert!(ids.iter().copied().eq(0..layout.first_worker_ioremap_id()));
    }

    #[test]
    fn same_seed_same_layout() {
        let sc = Scenario::preset("driver-mmap").unwrap();
        assert_eq!(Layout::new(&sc, 5), Layout::new(&sc, 5));
        assert_ne!(Layout::new(&sc, 5), Layout::new(&sc, 6));
    }

    proptest::proptest! {
        /// `check_fits` tests the largest sizes; every smaller draw must
        /// then fit too, on any map.
        #[test]
        fn validated_layouts_always_place(
            regions in proptest::collection::vec((1u64..64, 0u64..40), 1..4),
            (bars, lo, hi) in (0u32..12, 0u32..6, 0u32..6),
            (ioremaps, io_max) in (0u32..40, 1u32..64),
            seed in proptest::prelude::any::<u64>(),
        ) {
            use strategies::phys::{MtrrType, PhysRegion};
            // MMIO regions of `len` pages at `gap` pages after the previous.
            let mut at = 0x1_0000u64;
            let regions = regions
                .iter()
                .map(|&(len, gap)| {
                    let start = at + gap * PAGE_SIZE;
                    at = start + len * PAGE_SIZE * 7;
                    PhysRegion {
                        start,
                        end: at,
                        kind: RegionKind::Mmio,
                        mtrr: MtrrType::Uncachable,
                    }
                })
                .collect();
            let mut sc = Scenario::preset("mixed").unwrap();
            sc.phys_map = Some(crate::workload::scenario::PhysMapSpec {
                regions,
                default_mtrr: MtrrType::Uncachable,
            });
            sc.bars = bars;
            sc.bar_pages_min = 1 << lo.min(hi);
            sc.bar_pages_max = 1 << lo.max(hi);
            sc.pfnmap_vma_pages_min = 1;
            sc.pfnmap_vma_pages_max = 1;
            sc.ioremaps = ioremaps;
            sc.ioremap_pages_max = io_max;
            sc.pfnmap_vmas_per_process = u32::from(bars > 0);
            sc.mmap_weight = u32::from(bars > 0);
            sc.ioremap_weight = 0;
            if sc.validate().is_ok() {
                let l = Layout::new(&sc, seed);
                proptest::prop_assert_eq!(l.bars.len(), bars as usize);
            }
        }
    }
}
