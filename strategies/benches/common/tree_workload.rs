//! The memtype-like key set shared by `benches/substrate_tree.rs` and
//! `examples/interval_tree_speed.rs`, so both time the same workload.
//!
//! Starts are random 4 KiB-aligned physical addresses below 64 GiB, distinct
//! (so a `BTreeMap` keyed by start holds the same set); lengths are `2^k`
//! pages with `k` uniform in `0..=8` (4 KiB .. 1 MiB); each is stored as
//! `[start, start + len - 1]`, like `memtype_interval.c`'s `end - 1`.

use std::collections::HashSet;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Seed of every generator here: "pfntrack" in ASCII.
pub const SEED: u64 = 0x7066_6e74_7261_636b;
/// x86 `PAGE_SIZE`.
pub const PAGE: u64 = 4096;
/// 64 GiB of physical address space, in pages.
const NR_PFNS: u64 = 1 << 24;

/// The generator every workload draws from, at [`SEED`].
pub fn workload_rng() -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(SEED)
}

/// `n` intervals `(start, last)` with distinct starts.
pub fn keys(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<(u64, u64)> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let start = (rng.next_u64() % NR_PFNS) * PAGE;
        if !seen.insert(start) {
            continue;
        }
        let pages = 1u64 << (rng.next_u64() % 9);
        out.push((start, start + pages * PAGE - 1));
    }
    out
}

/// A point inside a random entry of `base`, page-aligned: what
/// `memtype_lookup()` is asked on a fault.
pub fn stab_point(rng: &mut Xoshiro256PlusPlus, base: &[(u64, u64)]) -> u64 {
    let (s, l) = base[(rng.next_u64() % base.len() as u64) as usize];
    s + (rng.next_u64() % (l - s + 1)) / PAGE * PAGE
}

/// `0..n` in a random order (Fisher-Yates).
pub fn permutation(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    order
}
