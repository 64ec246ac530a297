//! Allocation-failure injection (`tools/testing/vma` style): for a scenario,
//! fail the Nth allocation of one op for every N the op makes. The op must
//! return the kernel's error, leave every observable bit of state as it was
//! before the call, and, once everything is torn down, nothing may be left.

mod common;

use common::*;
use proptest::prelude::*;
use strategies::designs::{
    legacy::Legacy, memtype_ext::MemtypeExt, per_vma::PerVma, xarray::XarrayTracker,
};
use strategies::kmem::KObj;
use strategies::kref::REFCOUNT_MAX;
use strategies::{CacheMode, Errno, PfnmapTracking};

/// The error the kernel returns when allocation `failed` fails inside `op`.
fn expected(op: &Op, failed: KObj) -> Outcome {
    match op {
        // pfnmap_track_ctx_alloc() turns any pfnmap_track() failure
        // (including memtype_reserve()'s ENOMEM) into EINVAL.
        Op::RemapFull { .. } if failed == KObj::Memtype => Outcome::Remap(Err(Errno::EINVAL)),
        Op::RemapFull { .. } | Op::RemapPartial { .. } => Outcome::Remap(Err(Errno::ENOMEM)),
        Op::Fork { .. } | Op::Split { .. } => Outcome::Dup(Err(Errno::ENOMEM)),
        Op::Mremap { .. } => Outcome::Moved(Err(Errno::ENOMEM), None),
        Op::Shrink { .. } => Outcome::Shrunk(Err(Errno::ENOMEM), None, None),
        Op::IoReserve { .. } => Outcome::IoReserve(Err(Errno::ENOMEM)),
        other => panic!("{other:?} should not allocate (failed {failed:?})"),
    }
}

/// Fail allocation `n` of `ops[at]` after replaying `ops[..at]`. Return:
/// whether the op made at least `n` allocations (the failure fired).
fn inject<T: PfnmapTracking>(ops: &[Op], at: usize, n: u64, shift: u32) -> bool {
    let mut w = World::<T>::new(&test_config(true, REFCOUNT_MAX, shift));
    for op in &ops[..at] {
        w.apply(op);
    }
    let before = w.snapshot();
    w.cpu.fail_nth(n);
    let out = w.apply(&ops[at]);
    let fired = w.cpu.last_failed();
    w.cpu.fail_nth(0);
    let Some(failed) = fired else {
        return false;
    };
    let name = std::any::type_name::<T>();
    assert_eq!(
        out,
        expected(&ops[at], failed),
        "{name}: op {at} ({:?}) with allocation {n} ({failed:?}) failing",
        ops[at]
    );
    assert_eq!(
        w.snapshot(),
        before,
        "{name}: op {at} ({:?}) changed state although allocation {n} ({failed:?}) failed",
        ops[at]
    );
    // The world must still work afterwards: finish the scenario, tear down.
    for op in &ops[at + 1..] {
        w.apply(op);
    }
    w.teardown();
    assert_no_leaks(&w, name);
    true
}

/// Every op of `ops`, every allocation it makes.
fn every_nth<T: PfnmapTracking>(ops: &[Op], shift: u32) -> usize {
    let mut injected = 0;
    for at in 0..ops.len() {
        for n in 1.. {
            if !inject::<T>(ops, at, n, shift) {
                break;
            }
            injected += 1;
        }
    }
    injected
}

fn scenario() -> Vec<Op> {
    use Op::*;
    vec![
        IoReserve {
            pfn: MMIO_UC_PFN + 32,
            pages: 4,
            ty: CacheMode::UC_MINUS,
        },
        Mmap { pages: 4 },
        RemapFull {
            vma: 0,
            pfn: MMIO_UC_PFN,
            ty: CacheMode::WC,
        },
        Fork { vma: 0 },
        Split { vma: 0, at: 1 },
        Mremap { vma: 1 },
        Shrink { vma: 2, at: 1 },
        Mmap { pages: 2 },
        RemapPartial {
            vma: 3,
            off: 0,
            pages: 1,
            pfn: MMIO_UC_PFN + 40,
            ty: CacheMode::UC_MINUS,
        },
        Mmap { pages: 2 },
        RemapFull {
            vma: 4,
            pfn: RAM_PFN,
            ty: CacheMode::WB,
        },
        Fork { vma: 4 },
        Fork { vma: 3 },
        Free { vma: 0 },
        Fault {
            pfn: MMIO_UC_PFN + 1,
        },
        IoReserve {
            pfn: MMIO_WB_PFN,
            pages: 2,
            ty: CacheMode::WB,
        },
        Mmap { pages: 2 },
        RemapFull {
            vma: 6,
            pfn: MMIO_WB_PFN,
            ty: CacheMode::WB,
        },
        Mremap { vma: 6 },
        Free { vma: 2 },
    ]
}

macro_rules! per_design {
    ($($name:ident => $T:ty),* $(,)?) => {$(
        #[test]
        fn $name() {
            for shift in [0, 6] {
                let n = every_nth::<$T>(&scenario(), shift);
                assert!(n >= 10, "only {n} injection points: the scenario lost coverage");
            }
        }
    )*};
}

per_design! {
    per_vma_fails_cleanly => PerVma,
    xarray_fails_cleanly => XarrayTracker,
    memtype_ext_fails_cleanly => MemtypeExt,
    legacy_fails_cleanly => Legacy,
}

/// `remap_pfn_range()` of a whole VMA that is tracked already is refused
/// with EINVAL before anything is reserved or allocated
/// (`if (vma->pfnmap_track_ctx) return -EINVAL;`, remap_pfn_range_track(),
/// mm/memory.c, v6.16). So the error cannot depend on memory: with the
/// very first allocation armed to fail, every design (the reference model
/// too) returns EINVAL, attempts no allocation and changes nothing, for
/// the original VMA and for its fork and split copies alike.
fn re_remap_is_einval_before_allocating<T: PfnmapTracking>() {
    use Op::*;
    let name = std::any::type_name::<T>();
    for (shift, pfn, ty) in [
        (0, MMIO_UC_PFN, CacheMode::WC),
        (6, MMIO_UC_PFN, CacheMode::UC_MINUS),
        (0, RAM_PFN, CacheMode::WB),
    ] {
        let mut w = World::<T>::new(&test_config(true, REFCOUNT_MAX, shift));
        for op in [
            Mmap { pages: 4 },
            RemapFull { vma: 0, pfn, ty },
            Fork { vma: 0 },
            Split { vma: 0, at: 2 },
        ] {
            w.apply(&op);
        }
        for vma in 0..3 {
            let before = w.snapshot();
            w.cpu.fail_nth(1);
            let out = w.apply(&RemapFull {
                vma,
                pfn: pfn + 8,
                ty,
            });
            let attempted = w.cpu.last_failed();
            w.cpu.fail_nth(0);
            assert_eq!(
                out,
                Outcome::Remap(Err(Errno::EINVAL)),
                "{name}: re-remap of vma {vma} ({pfn:#x}, shift {shift})"
            );
            assert_eq!(
                attempted, None,
                "{name}: vma {vma}: allocated before the test"
            );
            assert_eq!(w.snapshot(), before, "{name}: vma {vma}");
        }
        w.teardown();
        assert_no_leaks(&w, name);
    }
}

#[test]
fn re_remap_is_einval_before_allocating_in_every_design() {
    re_remap_is_einval_before_allocating::<PerVma>();
    re_remap_is_einval_before_allocating::<XarrayTracker>();
    re_remap_is_einval_before_allocating::<MemtypeExt>();
    re_remap_is_einval_before_allocating::<strategies::designs::reference::Reference>();
}

fn op() -> impl Strategy<Value = Op> {
    let vma = 0usize..8;
    let pfn = prop_oneof![
        MMIO_UC_PFN..MMIO_UC_PFN + 24,
        RAM_PFN..RAM_PFN + 4,
        MMIO_WB_PFN..MMIO_WB_PFN + 8
    ];
    let ty = prop::sample::select(CacheMode::ALL.to_vec());
    prop_oneof![
        (1u64..4).prop_map(|pages| Op::Mmap { pages }),
        (vma.clone(), pfn.clone(), ty.clone()).prop_map(|(vma, pfn, ty)| Op::RemapFull {
            vma,
            pfn,
            ty
        }),
        vma.clone().prop_map(|vma| Op::Fork { vma }),
        (vma.clone(), 0u64..4).prop_map(|(vma, at)| Op::Split { vma, at }),
        (vma.clone(), 0u64..4).prop_map(|(vma, at)| Op::Shrink { vma, at }),
        vma.clone().prop_map(|vma| Op::Mremap { vma }),
        vma.prop_map(|vma| Op::Free { vma }),
        (pfn, 1u64..4, ty).prop_map(|(pfn, pages, ty)| Op::IoReserve { pfn, pages, ty }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 2 } else { 128 },
        ..ProptestConfig::default()
    })]

    /// A random scenario with one random injection point, on every design.
    #[test]
    fn random_injection_points(
        ops in prop::collection::vec(op(), 1..40),
        at in any::<prop::sample::Index>(),
        n in 1u64..4,
    ) {
        let at = at.index(ops.len());
        inject::<PerVma>(&ops, at, n, 0);
        inject::<XarrayTracker>(&ops, at, n, 6);
        inject::<MemtypeExt>(&ops, at, n, 0);
        inject::<Legacy>(&ops, at, n, 0);
    }
}
