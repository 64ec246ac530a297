//! Tests of the XArray against a `BTreeMap` model and the kernel's node-count
//! oracle, with allocation-failure injection (tools/testing/radix-tree style).

use std::collections::BTreeMap;
use std::fmt;

use proptest::prelude::*;

use super::*;
use crate::kmem::{Cpu, NoAccounting};

#[path = "../../benches/support/xarray_keys.rs"]
mod xarray_keys;
use xarray_keys::kernel_nr_nodes;

/// Keys per set in the key-set tests (smaller under miri, which is slow).
const KEYSET_N: u64 = if cfg!(miri) { 120 } else { 100_000 };

/// One step of a model test.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Store(u64),
    Erase(u64),
    Load(u64),
}

/// Prints as Rust, so a failing case pastes into `run_ops(&[...])`.
impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Store(k) => write!(f, "Op::Store({k:#x})"),
            Op::Erase(k) => write!(f, "Op::Erase({k:#x})"),
            Op::Load(k) => write!(f, "Op::Load({k:#x})"),
        }
    }
}

/// Run `ops` on an XArray and a `BTreeMap`, storing `value(i)` at the `i`th
/// store; after every op compare results, contents, counters and the node
/// count with the kernel oracle, and check the invariants. Regression tests
/// call this with a pasted failing sequence.
fn run_ops_with<V: XaEntry + PartialEq + fmt::Debug>(ops: &[Op], value: impl Fn(u64) -> V) {
    let xa = XArray::new();
    let mut model = BTreeMap::new();
    let mut kmem = Cpu::new(0);
    for (step, &op) in ops.iter().enumerate() {
        let at = || format!("after step {step} ({op:?}) of {ops:?}");
        match op {
            Op::Store(k) => {
                let v = value(step as u64);
                let got = xa
                    .store(k, v, &mut kmem)
                    .expect("store cannot fail without injection");
                assert_eq!(got, model.insert(k, v), "store result, {}", at());
            }
            Op::Erase(k) => assert_eq!(
                xa.erase(k, &mut kmem),
                model.remove(&k),
                "erase result, {}",
                at()
            ),
            Op::Load(k) => assert_eq!(xa.load(k), model.get(&k).copied(), "load result, {}", at()),
        }
        assert_eq!(xa.len(), model.len(), "len, {}", at());
        assert_eq!(xa.is_empty(), model.is_empty(), "is_empty, {}", at());
        assert_eq!(
            kmem.live(KObj::XaNode),
            xa.nr_nodes() as i64,
            "Kmem live xa_nodes vs nr_nodes, {}",
            at()
        );
        // Whole-structure checks after every step; under miri (which is
        // there for the unsafe code, and slow) only after the last one.
        if cfg!(miri) && step + 1 != ops.len() {
            continue;
        }
        xa.check_invariants();
        let expected_nodes = kernel_nr_nodes(model.keys().copied());
        assert_eq!(
            xa.nr_nodes(),
            expected_nodes,
            "nr_nodes vs kernel, {}",
            at()
        );
        let expected_height = model.keys().next_back().map_or(0, |&max| levels_for(max));
        assert_eq!(xa.height(), expected_height, "height, {}", at());
        assert!(
            xa.iter().eq(model.iter().map(|(k, v)| (*k, *v))),
            "iter, {}",
            at()
        );
        for &k in model.keys() {
            assert_eq!(
                xa.load(k),
                model.get(&k).copied(),
                "load of stored key {k:#x}, {}",
                at()
            );
        }
    }
    xa.destroy(&mut kmem);
    assert_eq!(kmem.live(KObj::XaNode), 0, "destroy leaked xa_nodes");
    assert_eq!(xa.nr_nodes(), 0);
    xa.check_invariants();
}

fn run_ops(ops: &[Op]) {
    run_ops_with(ops, |i| i);
}

/// Keys at the edges of each level: 0, 1, `64^k - 1`, `64^k`, `64^k + 1`,
/// `u64::MAX` and friends.
fn boundary_keys() -> Vec<u64> {
    let mut keys = vec![0, 1, 2, u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) - 1];
    for k in 1..=10u32 {
        let p = 1u64 << (6 * k);
        keys.extend([p - 1, p, p + 1, 2 * p, 15 * p]);
    }
    keys
}

/// A key from one of the families the designs produce.
fn key() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..300u64,
        prop::sample::select(boundary_keys()),
        (0..6u64, 0..21u64).prop_map(|(page, slot)| {
            xarray_keys::DIRECT_MAP_BASE + page * 0x1_0000 + slot * xarray_keys::VMA_SIZE
        }),
        (0..6u64, 0..21u64).prop_map(|(page, slot)| {
            (xarray_keys::DIRECT_MAP_BASE + page * 0x1_0000 + slot * xarray_keys::VMA_SIZE) >> 6
        }),
        any::<u64>(),
    ]
}

/// Op sequences over a small pool of keys, so stores, erases and loads hit
/// the same keys often.
fn ops(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(key(), 1..24).prop_flat_map(move |pool| {
        let pick = prop::sample::select(pool);
        prop::collection::vec(
            prop_oneof![
                5 => pick.clone().prop_map(Op::Store),
                4 => pick.clone().prop_map(Op::Erase),
                1 => pick.prop_map(Op::Load),
            ],
            0..max_len,
        )
    })
}

fn config() -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            cases: 5,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    } else {
        ProptestConfig::with_cases(512)
    }
}

const OPS_LEN: usize = if cfg!(miri) { 40 } else { 200 };
const PREFILL_LEN: usize = if cfg!(miri) { 8 } else { 20 };

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matches_btreemap_and_kernel_node_count(ops in ops(OPS_LEN)) {
        run_ops(&ops);
    }

    /// Pointer entries (low bits 00) rather than value entries.
    #[test]
    fn matches_btreemap_with_pointer_entries(ops in ops(OPS_LEN)) {
        let arena = [0u32; OPS_LEN];
        run_ops_with(&ops, |i| std::ptr::NonNull::from(&arena[i as usize]));
    }

    #[test]
    fn store_failure_leaves_array_unchanged(
        prefill in prop::collection::vec(key(), 0..PREFILL_LEN),
        target in key(),
    ) {
        check_store_failures(&prefill, target);
    }
}

/// Store `prefill`, then store `target` with the `n`th node allocation
/// failing, for n = 1, 2, ... until the store succeeds.
fn check_store_failures(prefill: &[u64], target: u64) {
    let mut cpu = Cpu::new(0);
    let xa = XArray::new();
    for &k in prefill {
        xa.store(k, k >> 1, &mut cpu).unwrap();
    }
    let before: Vec<(u64, u64)> = xa.iter().collect();
    let nodes_before = xa.nr_nodes();
    let nodes_after = kernel_nr_nodes(prefill.iter().copied().chain([target]));
    let needed = nodes_after - nodes_before;
    for n in 1.. {
        cpu.fail_nth(n);
        match xa.store(target, i64::MAX as u64, &mut cpu) {
            Err(err) => {
                assert_eq!(err, Errno::ENOMEM);
                assert!(
                    n as usize <= needed,
                    "failed at {n} but only {needed} nodes needed"
                );
                let now: Vec<(u64, u64)> = xa.iter().collect();
                assert_eq!(now, before, "failed store changed the array (fail_nth {n})");
                assert_eq!(xa.nr_nodes(), nodes_before, "failed store changed nr_nodes");
                assert_eq!(
                    cpu.live(KObj::XaNode),
                    nodes_before as i64,
                    "failed store leaked"
                );
                if !cfg!(miri) {
                    xa.check_invariants(); // once at the end under miri
                }
            }
            Ok(old) => {
                assert_eq!(
                    n as usize,
                    needed + 1,
                    "store succeeded at fail_nth {n}, needs {needed}"
                );
                assert_eq!(
                    cpu.attempts_since_armed(),
                    needed as u64,
                    "one alloc per node"
                );
                assert_eq!(
                    old,
                    before.iter().find(|(k, _)| *k == target).map(|(_, v)| *v)
                );
                break;
            }
        }
    }
    cpu.fail_nth(0);
    assert_eq!(xa.nr_nodes(), nodes_after);
    assert_eq!(cpu.live(KObj::XaNode), nodes_after as i64);
    assert_eq!(xa.load(target), Some(i64::MAX as u64));
    xa.check_invariants();
}

#[test]
fn store_failure_cases() {
    // Empty -> full pointer: 11 nodes.
    check_store_failures(&[], u64::MAX);
    // Index 0 in the head -> pointer: 11 wrapping nodes + 10 on the path.
    check_store_failures(&[0], u64::MAX);
    // Expanding a tree, path creation inside one, no allocation at all.
    check_store_failures(&[0, 1, 64, 4095], 1 << 40);
    check_store_failures(&[5, 1 << 30], (1 << 30) + (1 << 20));
    check_store_failures(&[5, 6], 7);
    check_store_failures(&[5, 6], 6);
    check_store_failures(&[0], 0);
}

#[test]
fn keys_0_to_4095_take_65_nodes_and_erasing_frees_them() {
    let mut cpu = Cpu::new(0);
    let xa = XArray::new();
    for k in 0..4096 {
        assert_eq!(xa.store(k, k, &mut cpu), Ok(None));
    }
    xa.check_invariants();
    assert_eq!(xa.nr_nodes(), 65);
    assert_eq!(cpu.live(KObj::XaNode), 65);
    assert_eq!(xa.height(), 2);
    assert_eq!(xa.len(), 4096);
    for k in 0..4096 {
        assert_eq!(xa.erase(k, &mut cpu), Some(k));
    }
    xa.check_invariants();
    assert_eq!(xa.nr_nodes(), 0);
    assert_eq!(cpu.live(KObj::XaNode), 0);
    assert_eq!(xa.height(), 0);
    assert!(xa.is_empty());
}

#[test]
fn index_0_lives_in_the_head() {
    let xa = XArray::new();
    let kmem = &mut NoAccounting;
    assert_eq!(xa.store(0, 'a', kmem), Ok(None));
    assert_eq!((xa.nr_nodes(), xa.height()), (0, 0));
    assert_eq!(xa.store(0, 'b', kmem), Ok(Some('a')));
    assert_eq!(xa.store(1, 'c', kmem), Ok(None));
    assert_eq!((xa.nr_nodes(), xa.height()), (1, 1));
    assert_eq!(xa.erase(1, kmem), Some('c'));
    // xas_shrink(): back to the entry in the head.
    assert_eq!((xa.nr_nodes(), xa.height()), (0, 0));
    assert_eq!(xa.load(0), Some('b'));
    assert_eq!(xa.load(1), None);
    xa.check_invariants();
}

#[test]
fn a_full_pointer_needs_11_levels_and_shrinks_to_the_head() {
    let xa = XArray::new();
    let kmem = &mut NoAccounting;
    xa.store(0, 0, kmem).unwrap();
    xa.store(u64::MAX, 1, kmem).unwrap();
    assert_eq!(xa.height(), XA_MAX_HEIGHT);
    assert_eq!(XA_MAX_HEIGHT, 11);
    // Two paths sharing only the root.
    assert_eq!(xa.nr_nodes(), 21);
    assert_eq!(xa.iter().collect::<Vec<_>>(), [(0, 0), (u64::MAX, 1)]);
    assert_eq!(xa.erase(u64::MAX, kmem), Some(1));
    assert_eq!((xa.nr_nodes(), xa.height()), (0, 0));
    xa.check_invariants();
}

#[test]
fn nodes_are_recycled_between_leaf_and_interior_use() {
    // Free a leaf, then need an interior node (and the other way round):
    // the recycled node must come back with slots of the right kind.
    let xa = XArray::new();
    let kmem = &mut NoAccounting;
    for round in 0..3u64 {
        xa.store(64, round, kmem).unwrap();
        xa.erase(64, kmem);
        xa.store(1 << 20, round, kmem).unwrap();
        xa.check_invariants();
        xa.erase(1 << 20, kmem);
    }
    assert!(xa.slab_bytes() > 0);
    xa.check_invariants();
}

#[test]
fn destroy_frees_every_node_and_entry() {
    let mut cpu = Cpu::new(0);
    let xa = XArray::new();
    for k in [0, 1, 63, 64, 1 << 40, u64::MAX] {
        xa.store(k, k >> 1, &mut cpu).unwrap();
    }
    assert!(cpu.live(KObj::XaNode) > 0);
    xa.destroy(&mut cpu);
    assert_eq!(cpu.live(KObj::XaNode), 0);
    assert_eq!((xa.nr_nodes(), xa.len()), (0, 0));
    assert!(xa.is_empty());
    assert_eq!(xa.load(64), None);
    xa.check_invariants();
}

#[test]
fn regression_paste_target() {
    // Failing proptest cases print as `[Op::Store(0x..), ...]`: paste here.
    run_ops(&[
        Op::Store(0x0),
        Op::Store(0x40),
        Op::Erase(0x40),
        Op::Store(0x1000),
        Op::Erase(0x0),
    ]);
}

/// The four key sets of docs/design.md section 10 (the calibration's) end
/// with exactly the kernel's node count, and back to nothing when erased in
/// the same order.
#[test]
fn design_key_sets_match_kernel_node_counts() {
    for set in xarray_keys::all(KEYSET_N) {
        let mut cpu = Cpu::new(0);
        let xa = XArray::new();
        for &k in &set.hits {
            xa.store(k, k >> 1, &mut cpu).unwrap();
        }
        xa.check_invariants();
        let expected = kernel_nr_nodes(set.hits.iter().copied());
        assert_eq!(xa.nr_nodes(), expected, "{}", set.name);
        assert_eq!(cpu.live(KObj::XaNode), expected as i64, "{}", set.name);
        assert!(
            set.hits.iter().all(|&k| xa.load(k) == Some(k >> 1)),
            "{}",
            set.name
        );
        assert!(
            set.misses.iter().all(|&k| xa.load(k).is_none()),
            "{}",
            set.name
        );
        for &k in &set.hits {
            assert_eq!(xa.erase(k, &mut cpu), Some(k >> 1));
        }
        assert_eq!(
            (xa.nr_nodes(), xa.height(), xa.len()),
            (0, 0, 0),
            "{}",
            set.name
        );
        assert_eq!(cpu.live(KObj::XaNode), 0, "{}", set.name);
    }
}

#[test]
#[cfg_attr(miri, ignore = "covered at a smaller size by the key-set test")]
fn dense_100k_has_the_kernels_1589_nodes() {
    let xa = XArray::new();
    for k in 0..100_000 {
        xa.store(k, k, &mut NoAccounting).unwrap();
    }
    assert_eq!(xa.nr_nodes(), 1589);
    assert_eq!(kernel_nr_nodes(0..100_000), 1589);
}

#[test]
#[cfg_attr(miri, ignore = "no unsafe code involved; slow under miri")]
fn oracle_agrees_with_hand_counts() {
    assert_eq!(kernel_nr_nodes([]), 0);
    assert_eq!(kernel_nr_nodes([0]), 0);
    assert_eq!(kernel_nr_nodes([1]), 1);
    assert_eq!(kernel_nr_nodes(0..4096), 65);
    assert_eq!(kernel_nr_nodes([4096]), 3);
    assert_eq!(kernel_nr_nodes([u64::MAX]), 11);
}

/// Readers walk without `xa_lock` while writers store and erase, growing,
/// shrinking and freeing nodes under them: every load must return either
/// nothing or the entry stored for exactly that index (a reader inside a
/// freed or recycled node would return another index's entry, or garbage;
/// miri reports the use after free itself). One reader is online and
/// reports a quiescent state between loads, as the runner's workers do; the
/// other reads from the extended quiescent state; the writer is online too.
#[test]
fn lockless_readers_race_writers() {
    use crate::rcu::{Online, quiescent_state};
    use std::sync::atomic::{AtomicBool, Ordering};
    let rounds = if cfg!(miri) { 3 } else { 300 };
    // Keys spanning several levels, so stores expand and erases shrink.
    let keys: Vec<u64> = (0..if cfg!(miri) { 12 } else { 200 })
        .map(|i: u64| i * 0x3f1 + (i % 3) * (1 << 20))
        .collect();
    let xa = XArray::new();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for online in [true, false] {
            let (xa, keys, stop) = (&xa, &keys, &stop);
            s.spawn(move || {
                let _reg = online.then(|| Online::new().expect("a new thread is offline"));
                let mut seen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for &k in keys {
                        if let Some(v) = xa.load(k) {
                            assert_eq!(v, k >> 1, "load({k:#x}) returned another index's entry");
                            seen += 1;
                        }
                        quiescent_state();
                    }
                    if cfg!(miri) {
                        break;
                    }
                }
                seen
            });
        }
        s.spawn(|| {
            let _reg = Online::new().expect("a new thread is offline");
            let mut cpu = Cpu::new(1);
            for round in 0..rounds {
                for &k in &keys {
                    xa.store(k, k >> 1, &mut cpu).unwrap();
                    quiescent_state();
                }
                // Erase in a round-dependent order so different nodes empty
                // first.
                for i in 0..keys.len() {
                    let k = keys[(i * 7 + round) % keys.len()];
                    assert_eq!(xa.erase(k, &mut cpu), Some(k >> 1));
                    quiescent_state();
                }
                assert_eq!(cpu.live(KObj::XaNode), 0);
            }
            stop.store(true, Ordering::Relaxed);
        });
    });
    xa.check_invariants();
    assert!(xa.is_empty());
}
