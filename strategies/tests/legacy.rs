//! The VM_PAT design's behaviour (v6.15), one test per class of what the
//! rewrite ("mm: rewrite pfnmap tracking and remove VM_PAT") removed, run
//! on the `legacy` model and on its oracle. Nothing in either special-cases
//! these: each outcome follows from the kernel paths modelled. Line numbers
//! are Debian's 6.12.117 (the same code as v6.15; 6.1.192 differs only in
//! line numbers for these paths).

mod common;

use common::*;
use strategies::kmem::KObj;
use strategies::kref::REFCOUNT_MAX;
use strategies::memtype::{MemtypeEntry, MemtypeFreed};
use strategies::phys::{PAGE_SIZE, pfn_phys};
use strategies::{CacheMode, Errno, PfnRange, PfnUntrack, PfnmapTracking};

const PFN: u64 = MMIO_UC_PFN + 8;

fn entry(pfn: u64, pages: u64) -> MemtypeEntry {
    MemtypeEntry {
        start: pfn_phys(pfn),
        end: pfn_phys(pfn + pages),
        ty: CacheMode::WC,
    }
}

fn range(pfn: u64, pages: u64) -> PfnRange {
    PfnRange {
        pfn,
        size: pages * PAGE_SIZE,
    }
}

fn untrack(pfn: u64, pages: u64, freed: Result<MemtypeFreed, Errno>) -> Outcome {
    Outcome::Unmapped(
        PfnUntrack {
            range: range(pfn, pages),
            freed,
        },
        None,
    )
}

/// A world with one VMA of `pages` pages remapped whole (WC) at [`PFN`].
fn tracked<T: PfnmapTracking>(pages: u64) -> World<T> {
    let mut w = World::<T>::new(&test_config(true, REFCOUNT_MAX, 0));
    w.apply(&Op::Mmap { pages });
    assert_eq!(
        w.apply(&Op::RemapFull {
            vma: 0,
            pfn: PFN,
            ty: CacheMode::WC
        }),
        Outcome::Remap(Ok(CacheMode::WC))
    );
    w
}

/// Fork reserves the range again: `dup_mmap()` clears VM_PAT on the copy
/// (kernel/fork.c:708), `copy_page_range()` (mm/memory.c:1376) calls
/// `track_pfn_copy()`, which finds the range through the parent's page
/// tables (`get_pat_info()`, memtype.c:955) and reserves it for the child
/// (memtype.c:1001): one more identical entry per fork. Each exit then
/// frees one exactly (mm/memory.c:1832), so nothing leaks.
fn fork_reserves_again<T: PfnmapTracking>() {
    let mut w = tracked::<T>(4);
    for n in 1..=3 {
        assert_eq!(w.apply(&Op::Fork { vma: 0 }), Outcome::Dup(Ok(())));
        assert_eq!(w.tracker.memtype_entries(), vec![entry(PFN, 4); n + 1]);
    }
    if !T::STRATEGY.is_oracle() {
        assert_eq!(w.cpu.live(KObj::Memtype), 4);
    }
    // Children exit (the last VMAs), then the parent: each untrack erases.
    for _ in 0..4 {
        let last = w.vmas.len() - 1;
        assert_eq!(
            w.apply(&Op::Free { vma: last }),
            untrack(PFN, 4, Ok(MemtypeFreed::Erased))
        );
    }
    assert_no_leaks(&w, "fork");
    assert!(w.tracker.memtype_entries().is_empty());
}

/// Fork, then the parent unmaps first: the child's own reservation is
/// still there for the child's exit. Clean.
fn fork_then_parent_unmap_is_clean<T: PfnmapTracking>() {
    let mut w = tracked::<T>(2);
    w.apply(&Op::Fork { vma: 0 });
    assert_eq!(
        w.apply(&Op::Free { vma: 0 }),
        untrack(PFN, 2, Ok(MemtypeFreed::Erased))
    );
    assert_eq!(w.tracker.memtype_entries(), vec![entry(PFN, 2)]);
    assert_eq!(
        w.apply(&Op::Lookup { vma: 0 }),
        Outcome::Lookup(Some(range(PFN, 2)))
    );
    assert_eq!(
        w.apply(&Op::Free { vma: 0 }),
        untrack(PFN, 2, Ok(MemtypeFreed::Erased))
    );
    assert_no_leaks(&w, "fork then parent unmap");
    assert!(w.tracker.memtype_entries().is_empty());
}

/// A split VMA's pieces both keep VM_PAT (`vm_area_dup()` copies the
/// flags). Unmapping the head first frees `[head pfn, head size)`, which
/// matches no entry ("freeing invalid memtype", memtype.c:628); the tail
/// then frees the end of the entry, which the end match
/// (memtype_interval.c:144) shrinks to the head's size: that entry stays
/// for good.
fn split_pieces_free_invalid_ranges_and_leak<T: PfnmapTracking>() {
    let mut w = tracked::<T>(4);
    assert_eq!(w.apply(&Op::Split { vma: 0, at: 0 }), Outcome::Dup(Ok(())));
    // vma 0 is the head [PFN, PFN + 1), vma 1 the tail [PFN + 1, PFN + 4).
    assert_eq!(
        w.apply(&Op::Lookup { vma: 1 }),
        Outcome::Lookup(Some(range(PFN + 1, 3)))
    );
    assert_eq!(
        w.apply(&Op::Free { vma: 0 }),
        untrack(PFN, 1, Err(Errno::EINVAL))
    );
    assert_eq!(w.tracker.memtype_entries(), vec![entry(PFN, 4)]);
    assert_eq!(
        w.apply(&Op::Free { vma: 0 }),
        untrack(
            PFN + 1,
            3,
            Ok(MemtypeFreed::Shrunk {
                start: pfn_phys(PFN),
                end: pfn_phys(PFN + 4),
                new_end: pfn_phys(PFN + 1)
            })
        )
    );
    assert!(w.vmas.is_empty());
    // Every VMA is gone; the shrunk entry is the leak.
    assert_eq!(w.tracker.memtype_entries(), vec![entry(PFN, 1)]);
    assert_eq!(w.tracker.reservations_outstanding(), Some(1));
    assert_no_leaks(&w, "split");
}

/// A piece cut out of the middle frees a range that neither starts nor
/// ends with the entry: invalid; the rest leaks the same way.
fn middle_piece_is_an_invalid_free<T: PfnmapTracking>() {
    let mut w = tracked::<T>(6);
    w.apply(&Op::Split { vma: 0, at: 1 }); // [0, 2) and [2, 6)
    w.apply(&Op::Split { vma: 1, at: 1 }); // [2, 4) and [4, 6)
    assert_eq!(
        w.apply(&Op::Free { vma: 1 }),
        untrack(PFN + 2, 2, Err(Errno::EINVAL))
    );
    w.teardown();
    // The tail shrank the entry to [0, 4), the head [0, 2) matched nothing.
    assert_eq!(w.tracker.memtype_entries(), vec![entry(PFN, 4)]);
    assert_no_leaks(&w, "middle");
}

/// mremap shrink unmaps the tail piece (mm/mremap.c shrink ->
/// `do_vmi_munmap()`): the end match trims it off the entry, so the
/// shrunk VMA's own unmap later frees exactly. The hack works.
fn mremap_shrink_trims_the_entry<T: PfnmapTracking>() {
    let mut w = tracked::<T>(4);
    assert_eq!(
        w.apply(&Op::Shrink { vma: 0, at: 2 }),
        Outcome::Shrunk(
            Ok(()),
            Some(PfnUntrack {
                range: range(PFN + 3, 1),
                freed: Ok(MemtypeFreed::Shrunk {
                    start: pfn_phys(PFN),
                    end: pfn_phys(PFN + 4),
                    new_end: pfn_phys(PFN + 3)
                })
            }),
            None
        )
    );
    assert_eq!(w.tracker.memtype_entries(), vec![entry(PFN, 3)]);
    assert_eq!(
        w.apply(&Op::Free { vma: 0 }),
        untrack(PFN, 3, Ok(MemtypeFreed::Erased))
    );
    assert_no_leaks(&w, "shrink");
    assert!(w.tracker.memtype_entries().is_empty());
}

/// mremap move: the copy keeps VM_PAT and gets the page tables, the old
/// VMA loses VM_PAT (`untrack_pfn_clear()`, mm/mremap.c:820) before it is
/// unmapped, so nothing is freed until the moved VMA goes. Clean.
fn mremap_move_is_clean<T: PfnmapTracking>() {
    let mut w = tracked::<T>(3);
    assert_eq!(
        w.apply(&Op::Mremap { vma: 0 }),
        Outcome::Moved(Ok(()), None)
    );
    assert_eq!(w.tracker.memtype_entries(), vec![entry(PFN, 3)]);
    assert_eq!(
        w.apply(&Op::Lookup { vma: 0 }),
        Outcome::Lookup(Some(range(PFN, 3)))
    );
    assert_eq!(
        w.apply(&Op::Free { vma: 0 }),
        untrack(PFN, 3, Ok(MemtypeFreed::Erased))
    );
    assert_no_leaks(&w, "move");
}

/// Fork failing part way: `track_pfn_copy()` reserved, then copying the
/// page tables fails (`copy_p4d_range()` -> `ENOMEM`), so
/// `copy_page_range()` calls `untrack_pfn_copy()` (mm/memory.c:1423),
/// which frees the child's reservation and clears its VM_PAT; the child
/// copy is then unmapped by `exit_mmap()` without untracking again.
fn fork_failing_after_track_pfn_copy_is_clean<T: PfnmapTracking>() {
    let mut w = tracked::<T>(2);
    let before = w.snapshot();
    // Fail each allocation of the fork in turn: the child's memtype entry
    // (the oracle does not model that one), then its page tables.
    let mut seen = Vec::new();
    for n in 1.. {
        w.cpu.fail_nth(n);
        let out = w.apply(&Op::Fork { vma: 0 });
        let failed = w.cpu.last_failed();
        w.cpu.fail_nth(0);
        let Some(kind) = failed else {
            // Nothing left to fail: the fork went through.
            assert_eq!(out, Outcome::Dup(Ok(())));
            break;
        };
        assert_eq!(out, Outcome::Dup(Err(Errno::ENOMEM)), "{kind:?}");
        assert_eq!(w.snapshot(), before, "{kind:?}");
        seen.push(kind);
    }
    assert_eq!(seen.last(), Some(&KObj::PageTable));
    w.teardown();
    assert_no_leaks(&w, "fork failure");
}

/// No reference count, so nothing refuses a dup: v6.16's `REFCOUNT_MAX`
/// limit does not exist in v6.15.
fn dup_is_never_refused<T: PfnmapTracking>() {
    let mut w = World::<T>::new(&test_config(true, 2, 0));
    w.apply(&Op::Mmap { pages: 4 });
    w.apply(&Op::RemapFull {
        vma: 0,
        pfn: PFN,
        ty: CacheMode::WC,
    });
    for _ in 0..3 {
        // The copy, pushed last, holds the upper pages.
        let last = w.vmas.len() - 1;
        assert_eq!(
            w.apply(&Op::Split { vma: last, at: 0 }),
            Outcome::Dup(Ok(()))
        );
    }
}

/// A driver's `memtype_free_io()` is `memtype_free()` too: the end match
/// shrinks an ioremap whose tail it frees.
fn iounmap_of_a_tail_shrinks<T: PfnmapTracking>() {
    let w = World::<T>::new(&test_config(true, REFCOUNT_MAX, 0));
    let mut cpu = strategies::kmem::Cpu::new(0);
    let (start, end) = pfn_range_bytes(MMIO_UC_PFN, 4);
    w.tracker
        .memtype_reserve_io(&mut cpu, start, end, CacheMode::UC_MINUS)
        .unwrap();
    assert_eq!(
        w.tracker.memtype_free_io(&mut cpu, start + PAGE_SIZE, end),
        Ok(false)
    );
    let left = w.tracker.memtype_entries();
    assert_eq!((left[0].start, left[0].end), (start, start + PAGE_SIZE));
}

macro_rules! v6_15 {
    ($($name:ident => $T:ty),* $(,)?) => {$(
        mod $name {
            type T = $T;
            #[test] fn fork_reserves_again() { super::fork_reserves_again::<T>() }
            #[test] fn fork_then_parent_unmap_is_clean() { super::fork_then_parent_unmap_is_clean::<T>() }
            #[test] fn split_pieces_free_invalid_ranges_and_leak() { super::split_pieces_free_invalid_ranges_and_leak::<T>() }
            #[test] fn middle_piece_is_an_invalid_free() { super::middle_piece_is_an_invalid_free::<T>() }
            #[test] fn mremap_shrink_trims_the_entry() { super::mremap_shrink_trims_the_entry::<T>() }
            #[test] fn mremap_move_is_clean() { super::mremap_move_is_clean::<T>() }
            #[test] fn fork_failing_after_track_pfn_copy_is_clean() { super::fork_failing_after_track_pfn_copy_is_clean::<T>() }
            #[test] fn dup_is_never_refused() { super::dup_is_never_refused::<T>() }
            #[test] fn iounmap_of_a_tail_shrinks() { super::iounmap_of_a_tail_shrinks::<T>() }
        }
    )*};
}

v6_15! {
    legacy => strategies::designs::legacy::Legacy,
    legacy_reference => strategies::designs::reference::LegacyReference,
}
