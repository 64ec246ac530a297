//! Checks of the benchmark workload (`benches/fixture/mod.rs`): every op
//! measures the path it claims to, the state returns to the population
//! after every chunk (so long runs do not drift), slab addresses look like
//! `vm_area_struct` addresses, and the same seed gives the same workload.

#[path = "../benches/fixture/mod.rs"]
mod fixture;

use fixture::{
    CHUNK, Case, ChunkBench, DIRECT_MAP_BASE, DIRECT_MAP_WINDOW, Design, Fixture, Hook, MapFixture,
    MapOp, NR_BACKGROUND, Population, SIZES, StdMap, VMA_OBJ_SIZE, VmaSlab, run_chunks,
};
use strategies::designs::legacy::Legacy;
use strategies::designs::memtype_ext::MemtypeExt;
use strategies::designs::null::NullTracker;
use strategies::designs::per_vma::PerVma;
use strategies::designs::xarray::XarrayTracker;
use strategies::kmem::KObj;
use strategies::memtype::MemtypeEntry;
use strategies::{Footprint, PfnRange, PfnmapTracking};

/// Small enough for debug builds and the brute-force stand-in trees.
const N: usize = 300;
/// Ops per hook: several chunks, the last one partial.
const OPS: u64 = 3 * CHUNK as u64 + 5;

/// Everything a chunk must leave as it found it.
#[derive(Debug, PartialEq, Eq)]
struct State {
    entries: Vec<MemtypeEntry>,
    footprint: Footprint,
    lookups: Vec<Option<PfnRange>>,
    live: Vec<i64>,
}

fn state<T: PfnmapTracking>(fx: &Fixture<T>) -> State {
    State {
        entries: fx.tracker.memtype_entries(),
        footprint: fx.tracker.footprint(),
        lookups: fx
            .vmas
            .iter()
            .zip(&fx.ptes)
            .map(|(v, &p)| fx.tracker.lookup_pfnmap(v, p))
            .collect(),
        live: KObj::ALL.iter().map(|&k| fx.cpu.live(k)).collect(),
    }
}

/// Run every hook on a design; `intended` says whether the design's hooks
/// have the outcomes the benches are named after (not so for `null`).
fn check_design<T: PfnmapTracking>(shift: u32, intended: bool) {
    let mut fx = Fixture::<T>::new(shift, N);
    let before = state(&fx);
    if intended {
        assert_eq!(before.entries.len(), NR_BACKGROUND + N, "{}", T::STRATEGY);
        assert!(before.lookups.iter().all(Option::is_some));
    }
    for hook in Hook::ALL {
        let mut hits = 0;
        run_chunks(&mut fx, hook, OPS, |fx, op, k| hits += fx.measured(op, k));
        if intended {
            assert_eq!(
                hits as u64,
                OPS,
                "{} {}: intended outcomes",
                T::STRATEGY,
                hook.name()
            );
        }
        assert_eq!(
            state(&fx),
            before,
            "{} {}: state drifted",
            T::STRATEGY,
            hook.name()
        );
    }
    fx.teardown();
    assert!(fx.tracker.memtype_entries().is_empty());
    assert_eq!(
        Footprint {
            vma_field_bytes: 0,
            ..fx.tracker.footprint()
        },
        Footprint::default()
    );
    for k in KObj::ALL {
        assert_eq!(
            fx.cpu.live(k),
            0,
            "{}: {} leaked",
            T::STRATEGY,
            k.kernel_name()
        );
    }
}

#[test]
fn per_vma_hooks_measure_their_path_and_restore() {
    check_design::<PerVma>(0, true);
}

#[test]
fn xarray_hooks_measure_their_path_and_restore() {
    check_design::<XarrayTracker>(0, true);
    check_design::<XarrayTracker>(6, true);
}

#[test]
fn memtype_ext_hooks_measure_their_path_and_restore() {
    check_design::<MemtypeExt>(0, true);
}

#[test]
fn legacy_hooks_measure_their_path_and_restore() {
    check_design::<Legacy>(0, true);
}

#[test]
fn null_hooks_restore() {
    check_design::<NullTracker>(0, false);
}

#[test]
fn map_ops_measure_their_path_and_restore() {
    fn check<M: fixture::IndexMap + PartialEq + std::fmt::Debug + Clone>() {
        let mut fx = MapFixture::<M>::new(N);
        let before = fx.map.clone();
        for op in MapOp::ALL {
            let mut hits = 0;
            run_chunks(&mut fx, op, OPS, |fx, op, k| hits += fx.measured(op, k));
            assert_eq!(hits as u64, OPS, "{}", op.name());
            assert!(fx.map == before, "{}: map drifted", op.name());
        }
    }
    check::<std::collections::BTreeMap<u64, u64>>();
    check::<fixture::FixedHashMap>();
}

#[test]
fn slab_addresses_are_vm_area_struct_like() {
    let mut slab = VmaSlab::new(1);
    let keys: Vec<u64> = (0..21 * 50).map(|_| slab.alloc().0).collect();
    assert_eq!(slab.nr_pages(), 50);
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), keys.len(), "an address handed out twice");
    for &k in &keys {
        assert!((DIRECT_MAP_BASE..DIRECT_MAP_BASE + DIRECT_MAP_WINDOW).contains(&k));
        assert_eq!(k % 64, 0, "{k:#x} not 64-byte aligned");
        let off = k % 4096;
        assert!(
            off % VMA_OBJ_SIZE == 0 && off + VMA_OBJ_SIZE <= 4096,
            "{k:#x}"
        );
    }
    // A new slab fills in address order; frees are reused LIFO.
    assert_eq!(keys[1] - keys[0], VMA_OBJ_SIZE);
    let a = slab.alloc();
    slab.free(a);
    let b = slab.alloc();
    assert_eq!(a, b);
}

#[test]
fn the_seed_fixes_the_workload() {
    let (p, q) = (Population::new(500), Population::new(500));
    assert_eq!(p.keys, q.keys);
    assert_eq!(p.ranges, q.ranges);
    assert_eq!(p.background, q.background);
    assert_eq!(p.order, q.order);
    assert_eq!(p.fault_pfns, q.fault_pfns);
    // The first population is a prefix of a larger one: sizes share VMAs.
    let big = Population::new(1000);
    assert_eq!(&big.keys[..500], &p.keys[..]);
}

#[test]
fn case_names_round_trip() {
    let all = Case::all(&SIZES);
    assert_eq!(
        all.len(),
        SIZES.len() * (6 * Design::ALL.len() + 3 * StdMap::ALL.len())
    );
    for case in all {
        let name = case.to_string();
        assert_eq!(name.parse::<Case>(), Ok(case), "{name}");
    }
    assert_eq!(
        "dup/10k/per-vma".parse::<Case>(),
        Ok(Case::Hook {
            hook: Hook::Dup,
            size: 10_000,
            design: Design::PerVma
        })
    );
    for bad in [
        "dup/10k",
        "dup/ten/per-vma",
        "dup/10k/btree",
        "insert/1k/per-vma",
        "x/1k/null",
    ] {
        let err = bad.parse::<Case>().unwrap_err();
        assert!(err.contains(bad), "{bad}: {err}");
    }
}
