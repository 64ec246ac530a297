//! Scenario parameters: everything the generator needs to build a workload,
//! the six presets (each modelling a real user of pfnmap tracking), and the
//! two ways to override them: a TOML scenario file and `--param key=value`.
//!
//! Every field is one flat key, so a file line `processes = 64` and the
//! option `--param processes=64` name the same thing and parse the same way
//! (the value is TOML for the field's type). A file must say which preset
//! it starts from (`preset = "fork-storm"`); fields it does not set keep
//! the preset's values. Unknown keys are rejected with file and line.
//!
//! The kernel objects named here (BARs, ioremaps, pfnmap VMAs) are the ones
//! arch/x86/mm/pat/memtype.c and mm/memory.c see; docs/scenarios.md says
//! which real workload each preset stands for.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strategies::CacheMode;
use strategies::phys::{MtrrType, PhysMap, PhysRegion, RegionKind};

use super::layout;

use crate::limits::MAX_ID;
pub use crate::limits::{MAX_MAP_COUNT, MAX_PAGES, MAX_START_VMAS};

/// A physical memory map given in a scenario (the serde shape of
/// [`PhysMap`]); checked and built by [`PhysMapSpec::build`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhysMapSpec {
    /// Regions `[start, end)` in bytes, page aligned, not overlapping.
    pub regions: Vec<PhysRegion>,
    /// MTRR type of addresses no region covers (`MTRRdefType`).
    pub default_mtrr: MtrrType,
}

impl PhysMapSpec {
    /// The spec of an existing map (through its serde form, which is
    /// [`PhysMap`]'s public shape).
    pub fn of(map: &PhysMap) -> Self {
        let value = serde_json::to_value(map).expect("PhysMap serializes");
        serde_json::from_value(value).expect("PhysMap's serde form is a PhysMapSpec")
    }

    /// `PhysMap::typical_server()`, the default.
    pub fn typical_server() -> Self {
        Self::of(&PhysMap::typical_server())
    }

    /// Check and build the map.
    pub fn build(&self) -> Result<PhysMap, strategies::phys::PhysMapError> {
        PhysMap::new(self.regions.clone(), self.default_mtrr)
    }
}

/// One scenario field, for help texts and error messages.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    /// The key (in files and `--param`).
    pub name: &'static str,
    /// Its Rust type, as written in the source.
    pub ty: &'static str,
    /// Its documentation.
    pub doc: &'static str,
}

/// Declares [`Scenario`], the all-optional patch a file or `--param`
/// deserializes into, and the field table, from one list, so the three
/// can never disagree.
macro_rules! scenario_fields {
    ($( $(#[doc = $doc:expr])+ $name:ident : $ty:ty, )+) => {
        /// Everything the generator needs, as resolved from a preset, a
        /// scenario file and `--param` overrides. Validate with
        /// [`Scenario::validate`] before generating.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Scenario {
            $( $(#[doc = $doc])+ pub $name: $ty, )+
        }

        /// A scenario file's or `--param`'s fields: what it sets, with where.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ScenarioPatch {
            $( #[serde(default)] $name: Option<toml::Spanned<$ty>>, )+
        }

        impl ScenarioPatch {
            /// Set every field the patch has; return each one's name and
            /// byte span in the source text.
            fn apply(self, sc: &mut Scenario) -> Vec<(&'static str, Range<usize>)> {
                let mut set = Vec::new();
                $(
                    if let Some(v) = self.$name {
                        set.push((stringify!($name), v.span()));
                        sc.$name = v.into_inner();
                    }
                )+
                set
            }
        }

        impl Scenario {
            /// Every field: its key, type and documentation.
            pub const FIELDS: &'static [FieldInfo] = &[
                $( FieldInfo {
                    name: stringify!($name),
                    ty: stringify!($ty),
                    doc: concat!($($doc, "\n"),+),
                }, )+
            ];
        }
    };
}

scenario_fields! {
    /// The preset these values started from (one of [`Scenario::PRESETS`]).
    /// A scenario file must name it; `--param` cannot change it.
    preset: String,

    // --- processes and VMAs (per worker) ---
    /// Processes each worker creates before the churn. They live to the end
    /// of the stream and are the parents of every fork.
    processes: u32,
    /// Device (`VM_PFNMAP`) VMAs each process maps at start ("K").
    pfnmap_vmas_per_process: u32,
    /// Ordinary VMAs each process maps at start ("M").
    ordinary_vmas_per_process: u32,
    /// Smallest pfnmap VMA, pages. At most `bar_pages_min`: a pfnmap VMA
    /// maps a window of one BAR.
    pfnmap_vma_pages_min: u32,
    /// Largest pfnmap VMA, pages (clipped to the BAR it maps).
    pfnmap_vma_pages_max: u32,
    /// Smallest ordinary VMA, pages.
    ordinary_vma_pages_min: u32,
    /// Largest ordinary VMA, pages.
    ordinary_vma_pages_max: u32,

    // --- what the driver does after mmap of a pfnmap VMA ---
    /// Weight of the driver remapping the whole VMA (`remap_pfn_range()` of
    /// the VMA: tracks a reservation). The common case.
    driver_remap_full_weight: u32,
    /// Weight of the driver remapping only part of the VMA (a cache-mode
    /// lookup, nothing reserved).
    driver_remap_partial_weight: u32,
    /// Weight of the driver mapping nothing now and inserting pfns at
    /// fault time (`vmf_insert_pfn()`).
    driver_fault_only_weight: u32,

    // --- the churn (per worker) ---
    /// Ops each worker emits after the start-up population: the churn
    /// stops after the action that reaches this count; the teardown (every
    /// process exits) follows. The main size knob.
    churn_ops: u32,
    /// Probability that a VMA mapped during the churn is a pfnmap VMA.
    churn_pfnmap_probability: f64,
    /// Churn weight: `mmap()` a VMA in a random process (a pfnmap VMA is
    /// followed by its driver's remap, see `driver_*_weight`).
    mmap_weight: u32,
    /// Churn weight: `munmap()` a whole random VMA.
    munmap_weight: u32,
    /// Churn weight: `munmap()` the head, tail or middle of a random VMA
    /// (splits; the pieces left keep the whole reservation).
    munmap_partial_weight: u32,
    /// Churn weight: `mprotect()` splits a random VMA in two.
    split_weight: u32,
    /// Churn weight: `mremap()` a random VMA (see `mremap_*_weight`).
    mremap_weight: u32,
    /// Churn weight: a start-up process forks (every VMA duplicated); when
    /// `max_children` children are alive, a random one exits first.
    fork_weight: u32,
    /// Churn weight: a random forked child exits (every VMA freed).
    exit_weight: u32,
    /// Churn weight: a burst of `vmf_insert_pfn()` faults on consecutive
    /// pages of a random pfnmap VMA (one op per page).
    fault_weight: u32,
    /// Churn weight: a driver remaps part of a random pfnmap VMA
    /// (`pfnmap_setup_cachemode()` over the pages).
    partial_remap_weight: u32,
    /// Churn weight: ask the design which range a random VMA holds.
    lookup_weight: u32,
    /// Churn weight: a driver ioremaps a window of a BAR, or iounmaps one
    /// it made earlier (driver load/unload).
    ioremap_weight: u32,
    /// `mremap()` kind weight: move (`copy_vma()`: one dup, one free).
    mremap_move_weight: u32,
    /// `mremap()` kind weight: shrink in place (split, free the tail).
    mremap_shrink_weight: u32,
    /// `mremap()` kind weight: grow in place (refused for pfnmap VMAs:
    /// `VM_DONTEXPAND`).
    mremap_grow_weight: u32,
    /// Most pages one `mremap()` grow adds.
    mremap_grow_pages_max: u32,
    /// Most pages one fault burst touches.
    fault_burst_pages_max: u32,
    /// Forked children alive at once, per worker.
    max_children: u32,
    /// Worker ioremaps alive at once, per worker.
    max_worker_ioremaps: u32,

    // --- physical layout (shared by all workers) ---
    /// Device BARs: naturally aligned, power-of-two windows in the MMIO
    /// regions that pfnmap VMAs map.
    bars: u32,
    /// Smallest BAR, pages (a power of two).
    bar_pages_min: u32,
    /// Largest BAR, pages (a power of two).
    bar_pages_max: u32,
    /// BAR cache-mode weight: WB.
    bar_wb_weight: u32,
    /// BAR cache-mode weight: WC (prefetchable BARs: GPU VRAM, RDMA).
    bar_wc_weight: u32,
    /// BAR cache-mode weight: UC- (register and doorbell BARs).
    bar_uc_minus_weight: u32,
    /// BAR cache-mode weight: UC.
    bar_uc_weight: u32,
    /// BAR cache-mode weight: WT.
    bar_wt_weight: u32,
    /// BAR cache-mode weight: WP.
    bar_wp_weight: u32,
    /// Probability that a remap or worker ioremap asks for another mode than
    /// its BAR's, reaching the type-conflict paths (`EINVAL`, `EBUSY`).
    conflict_probability: f64,
    /// Setup reserves every BAR whole with its mode, the way GPU drivers
    /// reserve their aperture (`arch_io_reserve_memtype_wc()`), so faults
    /// and partial remaps find a tree entry.
    reserve_bars: bool,
    /// Background ioremaps made in setup (drivers' register mappings
    /// populating the memtype tree); they stay to the end.
    ioremaps: u32,
    /// Smallest background ioremap, pages.
    ioremap_pages_min: u32,
    /// Largest background ioremap, pages; also the largest BAR window a
    /// worker ioremap (`ioremap_weight`) maps.
    ioremap_pages_max: u32,
    /// Background ioremap cache-mode weight: WB (`ioremap_cache()`).
    ioremap_wb_weight: u32,
    /// Background ioremap cache-mode weight: WC (`ioremap_wc()`).
    ioremap_wc_weight: u32,
    /// Background ioremap cache-mode weight: UC- (`ioremap()`).
    ioremap_uc_minus_weight: u32,
    /// Background ioremap cache-mode weight: UC (`ioremap_uc()`).
    ioremap_uc_weight: u32,
    /// Background ioremap cache-mode weight: WT (`ioremap_wt()`).
    ioremap_wt_weight: u32,
    /// Background ioremap cache-mode weight: WP.
    ioremap_wp_weight: u32,
    /// `pat_enabled()`: false models `nopat` (hooks run, nothing reserved).
    pat_enabled: bool,
    /// The physical memory map; absent means `PhysMap::typical_server()`.
    /// BARs and ioremaps are placed in its MMIO regions.
    phys_map: Option<PhysMapSpec>,
}

/// Why a scenario could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not a preset name (nor a scenario file).
    #[error("unknown scenario `{name}`: not a preset ({}) nor a .toml file", Scenario::all_presets().join(", "))]
    UnknownPreset {
        /// What was asked for.
        name: String,
    },
    /// The scenario file could not be read.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        err: std::io::Error,
    },
    /// A problem at a line of a scenario file.
    #[error("{}:{line}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `--param` named no field.
    #[error("unknown scenario parameter `{key}`; valid keys: {}", Scenario::keys().join(", "))]
    UnknownParam {
        /// The key given.
        key: String,
    },
    /// `--param` had no `=`, a bad value, or a key it may not set.
    #[error("--param {param}: {message}")]
    BadParam {
        /// The whole `key=value` text.
        param: String,
        /// What is wrong.
        message: String,
    },
    /// A field has a value the generator cannot use.
    #[error("scenario field `{field}`: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn invalid(field: &'static str, message: impl fmt::Display) -> ScenarioError {
    ScenarioError::Invalid {
        field,
        message: message.to_string(),
    }
}

/// Pages of each `sysfs-bars` BAR: 1 MiB, the size of QEMU's `edu` BAR0.
const SYSFS_BAR_PAGES: u32 = 256;

/// Where `sysfs-bars` puts its BARs: one MMIO region each, exactly the
/// BAR's size, in the 32-bit PCI hole (`kernel-check` maps region k to the
/// guest's BAR k).
const SYSFS_BARS: [u64; 4] = [0xfe00_0000, 0xfe10_0000, 0xfe20_0000, 0xfe30_0000];

/// The physical map of `sysfs-bars`: 511 MiB of RAM above the ISA hole
/// (a small guest) and the BAR regions.
fn sysfs_bars_phys_map() -> PhysMapSpec {
    let bar_bytes = u64::from(SYSFS_BAR_PAGES) << strategies::phys::PAGE_SHIFT;
    let mut regions = vec![PhysRegion {
        start: 0x10_0000,
        end: 0x2000_0000,
        kind: RegionKind::Ram,
        mtrr: MtrrType::WrBack,
    }];
    regions.extend(SYSFS_BARS.iter().map(|&start| PhysRegion {
        start,
        end: start + bar_bytes,
        kind: RegionKind::Mmio,
        mtrr: MtrrType::Uncachable,
    }));
    PhysMapSpec {
        regions,
        default_mtrr: MtrrType::Uncachable,
    }
}

impl Scenario {
    /// The preset names, in `list` order.
    pub const PRESETS: [&'static str; 6] = [
        "driver-mmap",
        "fork-storm",
        "split-churn",
        "mremap",
        "fault-heavy",
        "mixed",
    ];

    /// Presets outside the default suite (`run` without `--scenario`
    /// does not measure them): workloads made for other commands.
    pub const EXTRA_PRESETS: [&'static str; 1] = ["sysfs-bars"];

    /// Every preset name: the suite's, then the extra ones.
    pub fn all_presets() -> Vec<&'static str> {
        Self::PRESETS
            .iter()
            .chain(&Self::EXTRA_PRESETS)
            .copied()
            .collect()
    }

    /// One line saying what a preset models, for `pfntrack list`.
    pub fn summary(preset: &str) -> Option<&'static str> {
        Some(match preset {
            "driver-mmap" => {
                "device BARs mmapped, remapped and unmapped (GPU/RDMA/VFIO drivers): track/untrack heavy"
            }
            "fork-storm" => {
                "processes with pfnmap and ordinary VMAs fork, children exit (preforking server): dup/free heavy"
            }
            "split-churn" => {
                "mprotect/munmap pieces of tracked VMAs; the pieces share the whole reservation"
            }
            "mremap" => {
                "tracked and ordinary VMAs moved, shrunk and grown (pfnmap grow refused: VM_DONTEXPAND)"
            }
            "fault-heavy" => {
                "vmf_insert_pfn() faults (cache-mode lookups) over a tree of thousands of ioremaps"
            }
            "mixed" => "a weighted mix of all the above",
            "sysfs-bars" => {
                "only system calls (mmap of PCI BAR sysfs files, fork, mprotect, munmap, mremap, exit): replayable by kernel-check"
            }
            _ => return None,
        })
    }

    /// Every field key, in declaration order.
    pub fn keys() -> Vec<&'static str> {
        Self::FIELDS.iter().map(|f| f.name).collect()
    }

    /// Values shared by the presets; each preset changes what it is about.
    fn base(preset: &str) -> Scenario {
        Scenario {
            preset: preset.to_string(),
            processes: 16,
            pfnmap_vmas_per_process: 8,
            ordinary_vmas_per_process: 24,
            pfnmap_vma_pages_min: 1,
            pfnmap_vma_pages_max: 256,
            ordinary_vma_pages_min: 1,
            ordinary_vma_pages_max: 64,
            driver_remap_full_weight: 90,
            driver_remap_partial_weight: 5,
            driver_fault_only_weight: 5,
            churn_ops: 200_000,
            churn_pfnmap_probability: 0.5,
            mmap_weight: 0,
            munmap_weight: 0,
            munmap_partial_weight: 0,
            split_weight: 0,
            mremap_weight: 0,
            fork_weight: 0,
            exit_weight: 0,
            fault_weight: 0,
            partial_remap_weight: 0,
            lookup_weight: 0,
            ioremap_weight: 0,
            mremap_move_weight: 50,
            mremap_shrink_weight: 30,
            mremap_grow_weight: 20,
            mremap_grow_pages_max: 64,
            fault_burst_pages_max: 16,
            max_children: 4,
            max_worker_ioremaps: 64,
            bars: 16,
            bar_pages_min: 256,
            bar_pages_max: 65_536,
            bar_wb_weight: 0,
            bar_wc_weight: 60,
            bar_uc_minus_weight: 30,
            bar_uc_weight: 10,
            bar_wt_weight: 0,
            bar_wp_weight: 0,
            conflict_probability: 0.0,
            reserve_bars: true,
            ioremaps: 1_000,
            ioremap_pages_min: 1,
            ioremap_pages_max: 16,
            ioremap_wb_weight: 0,
            ioremap_wc_weight: 15,
            ioremap_uc_minus_weight: 80,
            ioremap_uc_weight: 5,
            ioremap_wt_weight: 0,
            ioremap_wp_weight: 0,
            pat_enabled: true,
            phys_map: None,
        }
    }

    /// A preset by name (docs/scenarios.md explains each).
    pub fn preset(name: &str) -> Result<Scenario, ScenarioError> {
        let mut s = Scenario::base(name);
        match name {
            // GPU/RDMA/VFIO: processes mmap device memory, the driver
            // remaps it whole (track), and unmap it later (untrack).
            "driver-mmap" => {
                s.churn_pfnmap_probability = 0.9;
                s.mmap_weight = 45;
                s.munmap_weight = 45;
                s.lookup_weight = 7;
                s.fault_weight = 1;
                s.partial_remap_weight = 2;
                s.churn_ops = 1_000_000;
            }
            // A preforking server holding device mappings: each fork dups
            // every VMA, each child exit frees them. Ordinary VMAs dominate,
            // as in real processes, which is what the per-VMA field costs.
            "fork-storm" => {
                s.processes = 64;
                s.pfnmap_vmas_per_process = 10;
                s.ordinary_vmas_per_process = 90;
                s.fork_weight = 40;
                s.exit_weight = 30;
                s.fault_weight = 10;
                s.lookup_weight = 10;
                s.mmap_weight = 5;
                s.munmap_weight = 5;
                s.churn_ops = 60_000;
            }
            // mprotect() and partial munmap() of tracked VMAs: every split
            // is a dup sharing the whole reservation, which is freed only
            // when the last piece goes.
            "split-churn" => {
                s.pfnmap_vmas_per_process = 16;
                s.ordinary_vmas_per_process = 16;
                s.pfnmap_vma_pages_min = 16;
                s.pfnmap_vma_pages_max = 256;
                s.ordinary_vma_pages_min = 16;
                s.split_weight = 30;
                s.munmap_partial_weight = 30;
                s.mmap_weight = 20;
                s.munmap_weight = 15;
                s.lookup_weight = 5;
                s.churn_ops = 800_000;
            }
            // mremap() of tracked and ordinary VMAs: moves dup and free,
            // shrinks split off the tail, pfnmap grows are refused.
            "mremap" => {
                s.pfnmap_vmas_per_process = 16;
                s.ordinary_vmas_per_process = 16;
                s.mremap_weight = 60;
                s.mmap_weight = 15;
                s.munmap_weight = 15;
                s.lookup_weight = 10;
                s.churn_ops = 800_000;
            }
            // Fault-driven drivers (GPU buffer objects): pfns inserted at
            // fault time, each fault a memtype_lookup() in a tree that
            // thousands of driver ioremaps populate.
            "fault-heavy" => {
                s.processes = 8;
                s.pfnmap_vmas_per_process = 16;
                s.ordinary_vmas_per_process = 16;
                s.driver_remap_full_weight = 10;
                s.driver_remap_partial_weight = 10;
                s.driver_fault_only_weight = 80;
                s.ioremaps = 5_000;
                s.fault_weight = 80;
                s.partial_remap_weight = 10;
                s.mmap_weight = 3;
                s.munmap_weight = 3;
                s.lookup_weight = 4;
                s.churn_ops = 1_000_000;
            }
            // Everything at once, for a design's overall figure.
            "mixed" => {
                s.ordinary_vmas_per_process = 56;
                s.ioremaps = 2_000;
                s.mmap_weight = 15;
                s.munmap_weight = 15;
                s.munmap_partial_weight = 8;
                s.split_weight = 8;
                s.mremap_weight = 10;
                s.fork_weight = 4;
                s.exit_weight = 3;
                s.fault_weight = 20;
                s.partial_remap_weight = 5;
                s.lookup_weight = 10;
                s.ioremap_weight = 2;
                s.churn_ops = 800_000;
            }
            // A process and nothing else: every op is one a process can
            // make with system calls, with BARs shaped like the guest's PCI
            // devices, so `kernel-check` can replay the stream on a real
            // kernel (docs/kernel-check.md). Each pfnmap VMA is an mmap()
            // of a BAR's sysfs resource file, which remaps the whole VMA
            // (drivers/pci/mmap.c), UC- or, for WC BARs, through
            // resourceN_wc; no faults, partial remaps, lookups or ioremaps.
            "sysfs-bars" => {
                s.processes = 4;
                s.pfnmap_vmas_per_process = 3;
                s.ordinary_vmas_per_process = 3;
                s.pfnmap_vma_pages_max = 64;
                s.ordinary_vma_pages_max = 16;
                s.driver_remap_full_weight = 1;
                s.driver_remap_partial_weight = 0;
                s.driver_fault_only_weight = 0;
                s.churn_ops = 600;
                s.churn_pfnmap_probability = 0.6;
                s.mmap_weight = 15;
                s.munmap_weight = 10;
                s.munmap_partial_weight = 15;
                s.split_weight = 15;
                s.mremap_weight = 15;
                s.mremap_move_weight = 40;
                s.mremap_shrink_weight = 40;
                s.mremap_grow_weight = 20;
                s.mremap_grow_pages_max = 16;
                s.fork_weight = 12;
                s.exit_weight = 8;
                s.max_children = 3;
                s.bars = SYSFS_BARS.len() as u32;
                s.bar_pages_min = SYSFS_BAR_PAGES;
                s.bar_pages_max = SYSFS_BAR_PAGES;
                s.bar_wc_weight = 50;
                s.bar_uc_minus_weight = 50;
                s.bar_uc_weight = 0;
                s.reserve_bars = false;
                s.ioremaps = 0;
                s.phys_map = Some(sysfs_bars_phys_map());
            }
            _ => {
                return Err(ScenarioError::UnknownPreset {
                    name: name.to_string(),
                });
            }
        }
        Ok(s)
    }

    /// The `--quick` variant: a tenth of the churn (structure unchanged).
    pub fn quick(&self) -> Scenario {
        Scenario {
            churn_ops: (self.churn_ops / 10).max(1),
            ..self.clone()
        }
    }

    /// `--scenario NAME|FILE.toml`: a preset by name, or a scenario file
    /// (anything ending in `.toml` or naming an existing file).
    pub fn resolve(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        let path = Path::new(name_or_path);
        if name_or_path.ends_with(".toml") || (path.is_file() && !Self::is_preset(name_or_path)) {
            Scenario::from_toml_file(path)
        } else {
            Scenario::preset(name_or_path)
        }
    }

    fn is_preset(name: &str) -> bool {
        Self::PRESETS.contains(&name) || Self::EXTRA_PRESETS.contains(&name)
    }

    /// Read a scenario file: `preset = "NAME"` plus fields to override.
    /// The result is validated; errors name the file and line.
    pub fn from_toml_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|err| ScenarioError::Io {
            path: path.to_path_buf(),
            err,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// [`Scenario::from_toml_file`] on text already read; `path` names it
    /// in errors.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let at = |line: usize, message: String| ScenarioError::File {
            path: path.to_path_buf(),
            line,
            message,
        };
        let patch: ScenarioPatch = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            at(line, e.message().trim_end().to_string())
        })?;
        let Some(preset) = &patch.preset else {
            return Err(at(
                1,
                format!(
                    "no `preset = \"NAME\"` line; a scenario file starts from one of: {}",
                    Self::all_presets().join(", ")
                ),
            ));
        };
        let mut sc = Scenario::preset(preset.get_ref())
            .map_err(|e| at(line_of(text, preset.span().start), e.to_string()))?;
        let set = patch.apply(&mut sc);
        sc.validate().map_err(|e| match &e {
            ScenarioError::Invalid { field, message } => {
                match set.iter().find(|(name, _)| name == field) {
                    Some((_, span)) => {
                        at(line_of(text, span.start), format!("`{field}`: {message}"))
                    }
                    None => at(1, e.to_string()),
                }
            }
            _ => e,
        })?;
        Ok(sc)
    }

    /// Apply one `--param key=value`: the value is parsed as TOML for the
    /// field's type (`processes=64`, `reserve_bars=true`,
    /// `conflict_probability=0.01`). Does not validate; call
    /// [`Scenario::validate`] after the last one.
    pub fn apply_param(&mut self, param: &str) -> Result<(), ScenarioError> {
        let bad = |message: String| ScenarioError::BadParam {
            param: param.to_string(),
            message,
        };
        let Some((key, value)) = param.split_once('=') else {
            return Err(bad("expected key=value".to_string()));
        };
        let key = key.trim();
        let Some(field) = Self::FIELDS.iter().find(|f| f.name == key) else {
            return Err(ScenarioError::UnknownParam {
                key: key.to_string(),
            });
        };
        if field.name == "preset" {
            return Err(bad(
                "the preset is chosen with --scenario NAME (or `preset =` in a scenario file)"
                    .to_string(),
            ));
        }
        let value = value.trim();
        let patch: ScenarioPatch = toml::from_str(&format!("{key} = {value}\n")).or_else(|e| {
            // A bare word is not TOML; as a quoted string the error names
            // the type that was expected instead.
            let quoted = toml::Value::String(value.to_string()).to_string();
            toml::from_str(&format!("{key} = {quoted}\n")).map_err(|e2| {
                let e = if value.starts_with(['"', '\'']) {
                    e
                } else {
                    e2
                };
                bad(format!(
                    "bad value for `{key}` (type {}): {}",
                    field.ty,
                    e.message().trim_end()
                ))
            })
        })?;
        patch.apply(self);
        Ok(())
    }

    /// The scenario as JSON, for the results document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("scenario serializes")
    }

    /// The physical memory map (the override, or the typical server).
    /// Call after [`Scenario::validate`]; a bad override falls back to the
    /// default here.
    pub fn phys_map(&self) -> PhysMap {
        self.phys_map
            .as_ref()
            .and_then(|s| s.build().ok())
            .unwrap_or_else(PhysMap::typical_server)
    }

    /// Weights of the churn actions, in the order of the generator's `Action`.
    pub(crate) fn action_weights(&self) -> [u32; 11] {
        [
            self.mmap_weight,
            self.munmap_weight,
            self.munmap_partial_weight,
            self.split_weight,
            self.mremap_weight,
            self.fork_weight,
            self.exit_weight,
            self.fault_weight,
            self.partial_remap_weight,
            self.lookup_weight,
            self.ioremap_weight,
        ]
    }

    /// BAR cache-mode weights, in [`CacheMode::ALL`] order.
    pub(crate) fn bar_mode_weights(&self) -> [u32; 6] {
        [
            self.bar_wb_weight,
            self.bar_wc_weight,
            self.bar_uc_minus_weight,
            self.bar_uc_weight,
            self.bar_wt_weight,
            self.bar_wp_weight,
        ]
    }

    /// Background ioremap cache-mode weights, in [`CacheMode::ALL`] order.
    pub(crate) fn ioremap_mode_weights(&self) -> [u32; 6] {
        [
            self.ioremap_wb_weight,
            self.ioremap_wc_weight,
            self.ioremap_uc_minus_weight,
            self.ioremap_uc_weight,
            self.ioremap_wt_weight,
            self.ioremap_wp_weight,
        ]
    }

    /// Can this scenario create a pfnmap VMA at all?
    pub(crate) fn makes_pfnmap_vmas(&self) -> bool {
        // Any churn may mmap, whatever mmap_weight says: an action with
        // nothing to act on maps something instead.
        self.pfnmap_vmas_per_process > 0
            || (self.churn_ops > 0 && self.churn_pfnmap_probability > 0.0)
    }

    /// Most VMAs the generator lets one process have: room to grow to
    /// twice its start-up size (at least 64), never past `MAX_MAP_COUNT`.
    pub fn vmas_per_process_cap(&self) -> u32 {
        let start = self.pfnmap_vmas_per_process + self.ordinary_vmas_per_process;
        start.saturating_mul(2).clamp(64, MAX_MAP_COUNT)
    }

    /// Check every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if !Self::is_preset(&self.preset) {
            return Err(invalid(
                "preset",
                format!(
                    "`{}` is not a preset ({})",
                    self.preset,
                    Self::all_presets().join(", ")
                ),
            ));
        }
        if self.processes == 0 {
            return Err(invalid("processes", "must be at least 1"));
        }
        let per_process =
            u64::from(self.pfnmap_vmas_per_process) + u64::from(self.ordinary_vmas_per_process);
        if per_process > u64::from(MAX_MAP_COUNT) {
            return Err(invalid(
                "ordinary_vmas_per_process",
                format!(
                    "pfnmap + ordinary VMAs per process is {per_process}, over max_map_count {MAX_MAP_COUNT}"
                ),
            ));
        }
        let start_vmas = per_process * u64::from(self.processes);
        if start_vmas > MAX_START_VMAS {
            return Err(invalid(
                "processes",
                format!(
                    "{} processes x {per_process} VMAs = {start_vmas} VMAs, over the limit of {MAX_START_VMAS}",
                    self.processes
                ),
            ));
        }
        let range = |min_field: &'static str, min: u32, max_field: &'static str, max: u32| {
            if min == 0 {
                Err(invalid(min_field, "must be at least 1 page"))
            } else if min > max {
                Err(invalid(
                    min_field,
                    format!("{min} is more than {max_field} ({max})"),
                ))
            } else if max > MAX_PAGES {
                Err(invalid(
                    max_field,
                    format!("{max} is over the limit of {MAX_PAGES} pages"),
                ))
            } else {
                Ok(())
            }
        };
        range(
            "pfnmap_vma_pages_min",
            self.pfnmap_vma_pages_min,
            "pfnmap_vma_pages_max",
            self.pfnmap_vma_pages_max,
        )?;
        range(
            "ordinary_vma_pages_min",
            self.ordinary_vma_pages_min,
            "ordinary_vma_pages_max",
            self.ordinary_vma_pages_max,
        )?;
        range(
            "bar_pages_min",
            self.bar_pages_min,
            "bar_pages_max",
            self.bar_pages_max,
        )?;
        range(
            "ioremap_pages_min",
            self.ioremap_pages_min,
            "ioremap_pages_max",
            self.ioremap_pages_max,
        )?;
        for (field, v) in [
            ("bar_pages_min", self.bar_pages_min),
            ("bar_pages_max", self.bar_pages_max),
        ] {
            if !v.is_power_of_two() {
                return Err(invalid(
                    field,
                    format!("{v} is not a power of two (PCI BAR sizes are)"),
                ));
            }
        }
        for (field, p) in [
            ("churn_pfnmap_probability", self.churn_pfnmap_probability),
            ("conflict_probability", self.conflict_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(invalid(
                    field,
                    format!("{p} is not a probability in [0, 1]"),
                ));
            }
        }
        if self.makes_pfnmap_vmas() {
            if self.bars == 0 {
                return Err(invalid("bars", "pfnmap VMAs need at least one BAR to map"));
            }
            if self.pfnmap_vma_pages_min > self.bar_pages_min {
                return Err(invalid(
                    "pfnmap_vma_pages_min",
                    format!(
                        "{} is more than bar_pages_min ({}): a pfnmap VMA maps a window of one BAR",
                        self.pfnmap_vma_pages_min, self.bar_pages_min
                    ),
                ));
            }
            // Each weight may be up to u32::MAX: test for all-zero rather
            // than summing (the generator sums them in u64).
            if [
                self.driver_remap_full_weight,
                self.driver_remap_partial_weight,
                self.driver_fault_only_weight,
            ]
            .iter()
            .all(|&w| w == 0)
            {
                return Err(invalid(
                    "driver_remap_full_weight",
                    "driver_remap_full/partial_weight and driver_fault_only_weight are all 0",
                ));
            }
        }
        if self.churn_ops > 0 && self.action_weights().iter().all(|&w| w == 0) {
            return Err(invalid(
                "churn_ops",
                "the churn has ops but every action weight (mmap_weight, ...) is 0",
            ));
        }
        if self.mremap_weight > 0
            && [
                self.mremap_move_weight,
                self.mremap_shrink_weight,
                self.mremap_grow_weight,
            ]
            .iter()
            .all(|&w| w == 0)
        {
            return Err(invalid(
                "mremap_move_weight",
                "mremap_weight is set but every mremap kind weight is 0",
            ));
        }
        if self.mremap_weight > 0 && self.mremap_grow_weight > 0 && self.mremap_grow_pages_max == 0
        {
            return Err(invalid(
                "mremap_grow_pages_max",
                "must be at least 1 to grow",
            ));
        }
        if self.fault_burst_pages_max == 0 {
            return Err(invalid("fault_burst_pages_max", "must be at least 1"));
        }
        if self.fork_weight > 0 && self.max_children == 0 {
            return Err(invalid(
                "max_children",
                "must be at least 1 when fork_weight is set",
            ));
        }
        if self.ioremap_weight > 0 {
            if self.max_worker_ioremaps == 0 {
                return Err(invalid(
                    "max_worker_ioremaps",
                    "must be at least 1 when ioremap_weight is set",
                ));
            }
            if self.bars == 0 {
                return Err(invalid(
                    "bars",
                    "worker ioremaps map BAR windows: need a BAR",
                ));
            }
        }
        if self.bars > 0 && self.bar_mode_weights().iter().all(|&w| w == 0) {
            return Err(invalid("bar_wc_weight", "every BAR cache-mode weight is 0"));
        }
        if self.ioremaps > 0 && self.ioremap_mode_weights().iter().all(|&w| w == 0) {
            return Err(invalid(
                "ioremap_uc_minus_weight",
                "every ioremap cache-mode weight is 0",
            ));
        }
        // Ids of processes and ioremaps share the trace's id limit.
        for (field, v) in [
            ("bars", self.bars),
            ("ioremaps", self.ioremaps),
            ("max_worker_ioremaps", self.max_worker_ioremaps),
            ("max_children", self.max_children),
        ] {
            if v >= MAX_ID {
                return Err(invalid(
                    field,
                    format!("{v} is over the id limit of {MAX_ID}"),
                ));
            }
        }
        let ioremap_ids =
            u64::from(self.ioremaps) + u64::from(self.bars) + u64::from(self.max_worker_ioremaps);
        if ioremap_ids >= u64::from(MAX_ID) {
            return Err(invalid(
                "ioremaps",
                format!(
                    "ioremaps + bars + max_worker_ioremaps = {ioremap_ids} ioremap ids, over the id limit of {MAX_ID}"
                ),
            ));
        }
        let pids = u64::from(self.processes) + u64::from(self.max_children);
        if pids >= u64::from(MAX_ID) {
            return Err(invalid(
                "processes",
                format!(
                    "processes + max_children = {pids} process ids, over the id limit of {MAX_ID}"
                ),
            ));
        }
        let phys = match &self.phys_map {
            None => PhysMap::typical_server(),
            Some(spec) => spec.build().map_err(|e| invalid("phys_map", e))?,
        };
        if (self.bars > 0 || self.ioremaps > 0)
            && !phys.regions().iter().any(|r| r.kind == RegionKind::Mmio)
        {
            return Err(invalid(
                "phys_map",
                "no MMIO region to place BARs and ioremaps in",
            ));
        }
        layout::check_fits(self, &phys)
    }
}

/// The cache mode at `index` of [`CacheMode::ALL`].
pub(crate) fn mode_at(index: usize) -> CacheMode {
    CacheMode::ALL[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_validates_and_has_a_summary() {
        for name in Scenario::all_presets() {
            let s = Scenario::preset(name).unwrap();
            assert_eq!(s.preset, name);
            s.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            s.quick().validate().unwrap();
            assert!(Scenario::summary(name).is_some());
        }
        assert!(matches!(
            Scenario::preset("nope"),
            Err(ScenarioError::UnknownPreset { .. })
        ));
    }

    #[test]
    fn fields_table_matches_serialized_keys() {
        let json = Scenario::preset("mixed").unwrap().to_json();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut fields = Scenario::keys();
        fields.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, fields);
        assert!(Scenario::FIELDS.iter().all(|f| !f.doc.trim().is_empty()));
    }

    #[test]
    fn json_round_trip() {
        let mut s = Scenario::preset("fault-heavy").unwrap();
        s.phys_map = Some(PhysMapSpec::typical_server());
        let back: Scenario = serde_json::from_value(s.to_json()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn params_parse_with_the_field_type() {
        let mut s = Scenario::preset("fork-storm").unwrap();
        s.apply_param("processes=1000").unwrap();
        s.apply_param(" reserve_bars = true").unwrap();
        s.apply_param("conflict_probability=0.25").unwrap();
        s.apply_param("bar_pages_max=0x10000").unwrap();
        assert_eq!(s.processes, 1000);
        assert!(s.reserve_bars);
        assert_eq!(s.conflict_probability, 0.25);
        assert_eq!(s.bar_pages_max, 0x10000);

        let e = s.apply_param("procs=3").unwrap_err().to_string();
        assert!(e.contains("unknown scenario parameter `procs`"), "{e}");
        assert!(e.contains("processes"), "{e}");
        let e = s.apply_param("processes=many").unwrap_err().to_string();
        assert!(e.contains("processes") && e.contains("u32"), "{e}");
        let e = s.apply_param("processes=-1").unwrap_err().to_string();
        assert!(e.contains("processes"), "{e}");
        let e = s.apply_param("processes").unwrap_err().to_string();
        assert!(e.contains("key=value"), "{e}");
        let e = s.apply_param("preset=mixed").unwrap_err().to_string();
        assert!(e.contains("--scenario"), "{e}");
        assert_eq!(s.processes, 1000);
    }

    #[test]
    fn integer_probability_is_accepted() {
        let mut s = Scenario::preset("mixed").unwrap();
        s.apply_param("conflict_probability=1").unwrap();
        assert_eq!(s.conflict_probability, 1.0);
    }

    #[test]
    fn the_largest_weights_validate_without_overflow() {
        for name in Scenario::PRESETS.iter().chain(&Scenario::EXTRA_PRESETS) {
            let mut s = Scenario::preset(name).unwrap();
            s.driver_remap_full_weight = u32::MAX;
            s.driver_remap_partial_weight = u32::MAX;
            s.driver_fault_only_weight = u32::MAX;
            s.mremap_move_weight = u32::MAX;
            s.mremap_shrink_weight = u32::MAX;
            s.mremap_grow_weight = u32::MAX;
            // Valid or refused with a field named: never a panic.
            let _ = s.validate();
        }
    }

    #[test]
    fn validate_names_the_field() {
        let check = |param: &str, field: &str| {
            let mut s = Scenario::preset("mixed").unwrap();
            s.apply_param(param).unwrap();
            match s.validate() {
                Err(ScenarioError::Invalid { field: f, .. }) => assert_eq!(f, field, "{param}"),
                other => panic!("{param}: {other:?}"),
            }
        };
        check("processes=0", "processes");
        check("ordinary_vma_pages_min=100", "ordinary_vma_pages_min");
        check("conflict_probability=1.5", "conflict_probability");
        check("churn_pfnmap_probability=-0.1", "churn_pfnmap_probability");
        check("bar_pages_max=1000", "bar_pages_max");
        check("bars=0", "bars");
        check("pfnmap_vma_pages_min=512", "pfnmap_vma_pages_min");
        check("fault_burst_pages_max=0", "fault_burst_pages_max");
        check(
            "ordinary_vmas_per_process=70000",
            "ordinary_vmas_per_process",
        );
        // 4096 BARs of 256 MiB do not fit in 257 GiB of MMIO.
        check("bars=4096", "bars");
        check(
            "phys_map={regions=[{start=0,end=4097,kind=\"mmio\",mtrr=\"uncachable\"}],default_mtrr=\"uncachable\"}",
            "phys_map",
        );
        check(
            "phys_map={regions=[{start=0,end=0x100000,kind=\"ram\",mtrr=\"wrback\"}],default_mtrr=\"uncachable\"}",
            "phys_map",
        );
    }

    #[test]
    fn toml_file_overrides_and_errors_have_lines() {
        let p = Path::new("s.toml");
        let s = Scenario::from_toml_str(
            "# a comment\npreset = \"fork-storm\"\nprocesses = 1000\npfnmap_vmas_per_process = 100\nordinary_vmas_per_process = 900\n",
            p,
        )
        .unwrap();
        assert_eq!(
            (
                s.processes,
                s.pfnmap_vmas_per_process,
                s.ordinary_vmas_per_process
            ),
            (1000, 100, 900)
        );
        assert_eq!(
            s.fork_weight,
            Scenario::preset("fork-storm").unwrap().fork_weight
        );

        let e = Scenario::from_toml_str("preset = \"mixed\"\n\nprocs = 3\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:3: unknown field `procs`"), "{e}");
        let e = Scenario::from_toml_str("preset = \"mixed\"\nprocesses = \"x\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:2:"), "{e}");
        let e = Scenario::from_toml_str("processes = 3\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("preset"), "{e}");
        let e = Scenario::from_toml_str("\npreset = \"nope\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:2: unknown scenario `nope`"), "{e}");
        let e = Scenario::from_toml_str("preset = \"mixed\"\n\n\nprocesses = 0\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:4: `processes`"), "{e}");
        let e = Scenario::from_toml_str("preset = \"mixed\"\nprocesses = = 3\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:2:"), "{e}");
    }
}
