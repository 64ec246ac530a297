//! Key sets for the XArray tests, benchmark and calibration (docs/design.md
//! section 10, scripts/calibrate.sh), and the
//! test oracle for how many `xa_node`s the kernel's lib/xarray.c holds for a
//! key set. Shared by `benches/substrate_xarray.rs` and the unit tests in
//! `src/xarray/tests.rs` through `#[path]`, so both measure the same keys.
#![allow(dead_code)] // each includer uses part of it

use std::collections::{BTreeSet, HashSet};

use rand_core::Rng;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Seed of every key set (recorded so runs are reproducible).
pub const SEED: u64 = 0x7066_6e74_7261_636b; // "pfntrack"

/// Start of the simulated direct map the VMA slab pages come from (x86_64
/// `PAGE_OFFSET` without KASLR).
pub const DIRECT_MAP_BASE: u64 = 0xffff_8880_0000_0000;
/// Span of direct-map memory the slab pages are drawn from.
pub const SLAB_RANGE: u64 = 64 << 30;
/// `sizeof(struct vm_area_struct)` on the reference config (docs/design.md section 7).
pub const VMA_SIZE: u64 = 192;
/// VMAs in one order-0 slab of `vm_area_struct` (docs/design.md section 8).
pub const VMAS_PER_SLAB: u64 = 21;
/// Page size.
pub const PAGE_SIZE: u64 = 4096;

/// The generator every key set is drawn from.
pub fn rng() -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(SEED)
}

/// The generator of trial `trial`'s key sets: trial 0 is [`rng`], later
/// trials draw fresh keys so no loop sees the same batch twice.
pub fn trial_rng(trial: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(SEED.wrapping_add(trial))
}

/// Fisher-Yates shuffle. Modulo bias is irrelevant here; determinism is
/// what matters.
pub fn shuffle(keys: &mut [u64], rng: &mut impl Rng) {
    for i in (1..keys.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        keys.swap(i, j);
    }
}

/// Keys present and keys absent, in the order operations use them.
pub struct KeySet {
    /// Short name for reports.
    pub name: &'static str,
    /// Keys stored, in operation order.
    pub hits: Vec<u64>,
    /// Keys never stored, for load misses.
    pub misses: Vec<u64>,
}

/// `0..n` in order; misses `n..2n`.
pub fn dense(n: u64) -> KeySet {
    KeySet {
        name: "dense",
        hits: (0..n).collect(),
        misses: (n..2 * n).collect(),
    }
}

/// `0..n` shuffled; misses `n..2n` shuffled.
pub fn dense_shuffled(n: u64) -> KeySet {
    dense_shuffled_from(n, &mut rng())
}

/// [`dense_shuffled`] drawn from `rng`.
pub fn dense_shuffled_from(n: u64, rng: &mut impl Rng) -> KeySet {
    let mut set = dense(n);
    shuffle(&mut set.hits, rng);
    shuffle(&mut set.misses, rng);
    set.name = "dense_shuffled";
    set
}

/// Addresses of `n` VMAs as SLUB would hand them out: 21 192-byte objects a
/// 4 KiB page, pages at random over [`SLAB_RANGE`] from
/// [`DIRECT_MAP_BASE`], each page filled before the next (operation order).
/// Misses: as many VMA addresses in other random pages.
pub fn slab_pointers(n: u64) -> KeySet {
    slab_pointers_from(n, &mut rng())
}

/// [`slab_pointers`] drawn from `rng`.
pub fn slab_pointers_from(n: u64, rng: &mut impl Rng) -> KeySet {
    let mut pages = HashSet::new();
    let mut draw = |count: u64| {
        let mut keys = Vec::with_capacity(count as usize);
        while (keys.len() as u64) < count {
            let page = rng.next_u64() % (SLAB_RANGE / PAGE_SIZE);
            if !pages.insert(page) {
                continue;
            }
            for slot in 0..VMAS_PER_SLAB.min(count - keys.len() as u64) {
                keys.push(DIRECT_MAP_BASE + page * PAGE_SIZE + slot * VMA_SIZE);
            }
        }
        keys
    };
    let hits = draw(n);
    let misses = draw(n);
    KeySet {
        name: "slab_pointers",
        hits,
        misses,
    }
}

/// [`slab_pointers`] shifted right by 6 (`ptr >> 6`, docs/design.md section 6).
pub fn slab_pointers_shifted(n: u64) -> KeySet {
    shifted(slab_pointers(n))
}

/// `set`'s keys shifted right by 6, renamed as [`slab_pointers_shifted`].
pub fn shifted(set: KeySet) -> KeySet {
    KeySet {
        name: "slab_pointers_shr6",
        hits: set.hits.iter().map(|k| k >> 6).collect(),
        misses: set.misses.iter().map(|k| k >> 6).collect(),
    }
}

/// The four key sets of trial `trial`, `n` keys each: trial 0 is [`all`];
/// the shuffles and slab pages of later trials are drawn afresh.
pub fn all_for_trial(n: u64, trial: u64) -> [KeySet; 4] {
    let mut rng = trial_rng(trial);
    let shuffled = dense_shuffled_from(n, &mut rng);
    let mut rng = trial_rng(trial);
    let pointers = slab_pointers_from(n, &mut rng);
    let mut rng = trial_rng(trial);
    let shifted = shifted(slab_pointers_from(n, &mut rng));
    [dense(n), shuffled, pointers, shifted]
}

/// The four key sets of docs/design.md section 10 and the calibration
/// (scripts/calibrate.sh), `n` keys each.
pub fn all(n: u64) -> [KeySet; 4] {
    [
        dense(n),
        dense_shuffled(n),
        slab_pointers(n),
        slab_pointers_shifted(n),
    ]
}

/// Test oracle: the `xa_node`s lib/xarray.c holds for `keys` once every
/// store and erase is done. The tree has the fewest levels `L` with
/// `max < 64^L` (none when only index 0 is stored: it lives in the head);
/// level `l` (leaves are 1) holds one node per distinct `key >> 6l`, since a
/// node at that level covers `64^l` indices.
pub fn kernel_nr_nodes(keys: impl IntoIterator<Item = u64>) -> usize {
    let keys: BTreeSet<u64> = keys.into_iter().collect();
    let Some(&max) = keys.last() else { return 0 };
    let mut levels = 0u32;
    while u128::from(max) >= 1u128 << (6 * levels) {
        levels += 1;
    }
    (1..=levels)
        .map(|level| {
            // Keys are sorted, so equal prefixes are adjacent.
            let mut prefixes: Vec<u64> = keys
                .iter()
                .map(|&k| k.checked_shr(6 * level).unwrap_or(0))
                .collect();
            prefixes.dedup();
            prefixes.len()
        })
        .sum()
}
