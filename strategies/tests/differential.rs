//! Differential test: random valid op sequences run on all three designs
//! and the reference model, and on `legacy` and its own (v6.15) oracle;
//! after every step they must agree on what each hook returned (errors
//! included), on which step untracked which range, on what every VMA
//! holds, and on the memtype tree's multiset.
//!
//! A failure prints the shrunk sequence; paste it into `regressions()`
//! below as `check(&[...], pat_enabled, xa_key_shift)` (with `use Op::*`).

mod common;

use common::*;
use proptest::prelude::*;
use strategies::designs::{
    legacy::Legacy,
    memtype_ext::MemtypeExt,
    per_vma::PerVma,
    reference::{LegacyReference, Reference},
    xarray::XarrayTracker,
};
use strategies::kref::REFCOUNT_MAX;
use strategies::{CacheMode, PfnmapTracking};

/// Run `ops` on every design and the oracle; panic at the first divergence.
fn check(ops: &[Op], pat_enabled: bool, xa_key_shift: u32) {
    let cfg = test_config(pat_enabled, REFCOUNT_MAX, xa_key_shift);
    let mut oracle = World::<Reference>::new(&cfg);
    let mut per_vma = World::<PerVma>::new(&cfg);
    let mut xarray = World::<XarrayTracker>::new(&cfg);
    let mut memtype_ext = World::<MemtypeExt>::new(&cfg);
    for (step, op) in ops.iter().enumerate() {
        let want = oracle.apply(op);
        let want_state = oracle.snapshot();
        let agree = |name: &str, got: Outcome, state: Snapshot| {
            assert_eq!(
                got, want,
                "step {step} ({op:?}): {name} returned differently"
            );
            assert_eq!(
                state.entries, want_state.entries,
                "step {step} ({op:?}): {name}'s memtype tree differs"
            );
            assert_eq!(
                state.lookups, want_state.lookups,
                "step {step} ({op:?}): {name}'s VMAs hold different ranges"
            );
        };
        let got = per_vma.apply(op);
        agree("per-vma", got, per_vma.snapshot());
        let got = xarray.apply(op);
        agree("xarray", got, xarray.snapshot());
        let got = memtype_ext.apply(op);
        agree("memtype-ext", got, memtype_ext.snapshot());
    }
    per_vma.teardown();
    xarray.teardown();
    memtype_ext.teardown();
    assert_no_leaks(&per_vma, "per-vma");
    assert_no_leaks(&xarray, "xarray");
    assert_no_leaks(&memtype_ext, "memtype-ext");
    check_legacy(ops, pat_enabled);
}

/// Run `ops` on `legacy` and its oracle; panic at the first divergence,
/// including in what the teardown leaves behind.
fn check_legacy(ops: &[Op], pat_enabled: bool) {
    let cfg = test_config(pat_enabled, REFCOUNT_MAX, 0);
    let mut oracle = World::<LegacyReference>::new(&cfg);
    let mut legacy = World::<Legacy>::new(&cfg);
    for (step, op) in ops.iter().enumerate() {
        let want = oracle.apply(op);
        let got = legacy.apply(op);
        assert_eq!(
            got, want,
            "step {step} ({op:?}): legacy returned differently"
        );
        let (a, b) = (legacy.snapshot(), oracle.snapshot());
        assert_eq!(
            a.entries, b.entries,
            "step {step} ({op:?}): legacy's memtype tree differs"
        );
        assert_eq!(
            a.lookups, b.lookups,
            "step {step} ({op:?}): legacy's VMAs hold different ranges"
        );
    }
    oracle.teardown();
    legacy.teardown();
    assert_eq!(
        legacy.tracker.memtype_entries(),
        oracle.tracker.memtype_entries(),
        "legacy leaves another tree behind"
    );
    assert_eq!(
        legacy.tracker.reservations_outstanding(),
        oracle.tracker.reservations_outstanding()
    );
    assert_no_leaks(&legacy, "legacy");
    assert_no_leaks(&oracle, "legacy-reference");
}

fn cache_mode() -> impl Strategy<Value = CacheMode> {
    prop::sample::select(CacheMode::ALL.to_vec())
}

/// pfns biased to where things collide: a dense MMIO window under each MTRR
/// type, RAM running into the hole (mixed ranges), and the ISA hole.
fn pfn() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => MMIO_UC_PFN..MMIO_UC_PFN + 16,
        3 => MMIO_WB_PFN..MMIO_WB_PFN + 16,
        1 => HOLE_PFN - 8..HOLE_PFN + 4,
        1 => RAM_PFN..RAM_PFN + 8,
        1 => ISA_PFN..ISA_PFN + 8,
        1 => MMIO_UC_PFN - 4..MMIO_UC_PFN + 2,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let vma = 0usize..16;
    prop_oneof![
        3 => (1u64..6).prop_map(|pages| Op::Mmap { pages }),
        4 => (vma.clone(), pfn(), cache_mode()).prop_map(|(vma, pfn, ty)| Op::RemapFull { vma, pfn, ty }),
        2 => (vma.clone(), 0u64..6, 1u64..6, pfn(), cache_mode())
            .prop_map(|(vma, off, pages, pfn, ty)| Op::RemapPartial { vma, off, pages, pfn, ty }),
        3 => vma.clone().prop_map(|vma| Op::Fork { vma }),
        2 => (vma.clone(), 0u64..6).prop_map(|(vma, at)| Op::Split { vma, at }),
        1 => (vma.clone(), 0u64..6).prop_map(|(vma, at)| Op::Shrink { vma, at }),
        2 => vma.clone().prop_map(|vma| Op::Mremap { vma }),
        3 => vma.clone().prop_map(|vma| Op::Free { vma }),
        2 => vma.prop_map(|vma| Op::Lookup { vma }),
        2 => pfn().prop_map(|pfn| Op::Fault { pfn }),
        2 => (pfn(), 1u64..6, cache_mode()).prop_map(|(pfn, pages, ty)| Op::IoReserve { pfn, pages, ty }),
        1 => (0usize..8).prop_map(|res| Op::IoFree { res }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 512 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn designs_agree_with_the_reference(
        ops in prop::collection::vec(op(), 1..80),
        pat_enabled in prop::bool::weighted(0.85),
        shift in prop::sample::select(vec![0u32, 6]),
    ) {
        check(&ops, pat_enabled, shift);
    }
}

/// Sequences that once failed, or that pin down a tricky interaction.
#[test]
fn regressions() {
    use Op::*;
    // An ioremap identical to a tracked range: freeing the ioremap must not
    // take the VMA's reservation with it (memtype-ext keeps owned entries
    // out of memtype_free_io's reach; the multiset stays the same).
    check(
        &[
            Mmap { pages: 2 },
            IoReserve {
                pfn: MMIO_UC_PFN,
                pages: 2,
                ty: CacheMode::UC_MINUS,
            },
            RemapFull {
                vma: 0,
                pfn: MMIO_UC_PFN,
                ty: CacheMode::UC_MINUS,
            },
            IoFree { res: 0 },
            Fork { vma: 0 },
            Free { vma: 0 },
            Free { vma: 0 },
        ],
        true,
        0,
    );
    // WB asked on a UC MTRR becomes UC-; a later WC request over it maps UC-.
    check(
        &[
            Mmap { pages: 1 },
            Mmap { pages: 1 },
            RemapFull {
                vma: 0,
                pfn: MMIO_UC_PFN,
                ty: CacheMode::WB,
            },
            RemapFull {
                vma: 1,
                pfn: MMIO_UC_PFN,
                ty: CacheMode::WC,
            },
            Mremap { vma: 0 },
            Split { vma: 0, at: 0 },
        ],
        true,
        6,
    );
}
