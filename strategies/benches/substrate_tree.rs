//! Speed of the memtype interval tree (`strategies::interval_tree`, modelling
//! arch/x86/mm/pat/memtype_interval.c) against the kernel C figures of
//! docs/design.md section 10 and against `std::collections::BTreeMap`.
//!
//! Key set: `common/tree_workload.rs` (random page-aligned starts below
//! 64 GiB, 4 KiB .. 1 MiB long; seed "pfntrack", Xoshiro256PlusPlus). Values
//! are `CacheMode`, as in `struct memtype`.
//!
//! Criterion's medians suffer when other processes share the machine; the
//! `interval_tree_speed` example reports the minimum over trials instead.
//!
//! Groups (all per operation, tree size held at N):
//! - `tree_vs_btreemap_10k`: insert a new interval and erase the oldest one,
//!   IntervalTree vs BTreeMap keyed by start on the same keys.
//! - `insert/N`: insert into an N-node tree (removed again, untimed).
//! - `remove/N`: remove a random node of an N-node tree (reinserted, untimed).
//! - `stab/N`: `memtype_lookup()`'s query, `iter_first(addr, addr + 4095)`,
//!   at an address inside a random entry.
//! - `fill_drain/{fill,drain}/N`: build an N-node tree from empty, and empty
//!   it in insertion order; reported per fill/drain of N ops.
//!
//! `remove/N` takes long-lived nodes at random, so it pays cache misses on the
//! node, its parent and sibling; `drain` walks the arena in allocation order
//! and is the cheaper, probably kernel-table-like, figure.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use strategies::CacheMode;
use strategies::interval_tree::{IntervalTree, NodeId};

#[path = "common/tree_workload.rs"]
mod tree_workload;
use tree_workload::{PAGE, keys, permutation, stab_point, workload_rng};

fn build(keys: &[(u64, u64)]) -> (IntervalTree<CacheMode>, Vec<NodeId>) {
    let mut tree = IntervalTree::with_capacity(keys.len() + 4096);
    let ids = keys
        .iter()
        .map(|&(s, l)| tree.insert(s, l, CacheMode::UC_MINUS))
        .collect();
    (tree, ids)
}

/// `i + 1`, wrapping to 0 at `len`: cheaper than `%`, which would add a
/// division to every timed operation.
#[inline(always)]
fn wrap_inc(i: usize, len: usize) -> usize {
    if i + 1 == len { 0 } else { i + 1 }
}

/// Insert the next key and erase the one inserted `n` steps earlier; the
/// key ring holds `n` live keys plus `spare` that were erased.
fn tree_vs_btreemap(c: &mut Criterion) {
    let n = 10_000;
    let spare = 10_000;
    let mut rng = workload_rng();
    let ring = keys(&mut rng, n + spare);
    let mut g = c.benchmark_group("tree_vs_btreemap_10k");

    g.bench_function("interval_tree", |b| {
        let mut tree = IntervalTree::with_capacity(n + 1);
        let mut ids: Vec<Option<NodeId>> = vec![None; ring.len()];
        for (i, &(s, l)) in ring[..n].iter().enumerate() {
            ids[i] = Some(tree.insert(s, l, CacheMode::UC_MINUS));
        }
        let (mut old, mut new) = (0, n);
        b.iter(|| {
            let (s, l) = ring[new];
            ids[new] = Some(tree.insert(s, l, CacheMode::UC_MINUS));
            let id = ids[old].take().expect("ring slot live");
            black_box(tree.remove(id));
            old = wrap_inc(old, ring.len());
            new = wrap_inc(new, ring.len());
        });
    });

    g.bench_function("btreemap", |b| {
        let mut map = BTreeMap::new();
        for &(s, l) in &ring[..n] {
            map.insert(s, (l, CacheMode::UC_MINUS));
        }
        let (mut old, mut new) = (0, n);
        b.iter(|| {
            let (s, l) = ring[new];
            map.insert(s, (l, CacheMode::UC_MINUS));
            black_box(map.remove(&ring[old].0));
            old = wrap_inc(old, ring.len());
            new = wrap_inc(new, ring.len());
        });
    });
    g.finish();
}

/// Split `iters` operations into batches of at most `batch`: each batch is
/// timed, then undone untimed so the tree stays at its size.
fn batches(iters: u64, batch: usize) -> impl Iterator<Item = usize> {
    let full = iters / batch as u64;
    let rest = (iters % batch as u64) as usize;
    (0..full)
        .map(move |_| batch)
        .chain((rest > 0).then_some(rest))
}

fn sizes() -> [(usize, usize); 2] {
    // (tree size, batch): a batch is at most 1% of the tree.
    [(10_000, 100), (1_000_000, 1_000)]
}

fn insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("insert");
    for (n, batch) in sizes() {
        let mut rng = workload_rng();
        let all = keys(&mut rng, n + 100_000);
        let (base, fresh) = all.split_at(n);
        let (mut tree, _) = build(base);
        let mut new_ids = Vec::with_capacity(batch);
        let mut next = 0;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for k in batches(iters, batch) {
                    let t0 = Instant::now();
                    for _ in 0..k {
                        let (s, l) = fresh[next];
                        next = wrap_inc(next, fresh.len());
                        new_ids.push(tree.insert(s, l, CacheMode::UC_MINUS));
                    }
                    total += t0.elapsed();
                    for id in new_ids.drain(..) {
                        tree.remove(id);
                    }
                }
                total
            });
        });
    }
    g.finish();
}

fn remove(c: &mut Criterion) {
    let mut g = c.benchmark_group("remove");
    for (n, batch) in sizes() {
        let mut rng = workload_rng();
        let base = keys(&mut rng, n);
        let (mut tree, mut ids) = build(&base);
        // Victims in a random order (Fisher-Yates), taken a window at a time
        // so a batch never names a node twice.
        let order = permutation(&mut rng, n);
        let mut next = 0;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for k in batches(iters, batch) {
                    if next + k > n {
                        next = 0;
                    }
                    let victims = &order[next..next + k];
                    next += k;
                    let t0 = Instant::now();
                    for &v in victims {
                        black_box(tree.remove(ids[v]));
                    }
                    total += t0.elapsed();
                    for &v in victims {
                        let (s, l) = base[v];
                        ids[v] = tree.insert(s, l, CacheMode::UC_MINUS);
                    }
                }
                total
            });
        });
    }
    g.finish();
}

fn stab(c: &mut Criterion) {
    let mut g = c.benchmark_group("stab");
    for (n, _) in sizes() {
        let mut rng = workload_rng();
        let base = keys(&mut rng, n);
        let (tree, _) = build(&base);
        let queries: Vec<u64> = (0..65_536).map(|_| stab_point(&mut rng, &base)).collect();
        let mut q = 0;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let addr = queries[q];
                q = wrap_inc(q, queries.len());
                black_box(tree.iter_first(addr, addr + PAGE - 1))
            });
        });
    }
    g.finish();
}

/// Fill an empty tree with N intervals, and drain a full one in insertion
/// (allocation) order: per-op time is the reported time divided by N (the
/// throughput line gives ops/s). This is the pattern of a simple
/// insert-all/remove-all C benchmark, which the table in docs/design.md section 10 most likely
/// used: its 10k insert figure matches `fill`, not `insert`.
fn fill_drain(c: &mut Criterion) {
    let mut g = c.benchmark_group("fill_drain");
    // Ten samples of one fill each: at 1M a fill is most of a second, and
    // the whole suite should stay near a minute.
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    for (n, _) in sizes() {
        let mut rng = workload_rng();
        let base = keys(&mut rng, n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("fill", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut tree = IntervalTree::with_capacity(n);
                    let t0 = Instant::now();
                    for &(s, l) in &base {
                        black_box(tree.insert(s, l, CacheMode::UC_MINUS));
                    }
                    total += t0.elapsed();
                }
                total
            });
        });
        g.bench_function(BenchmarkId::new("drain", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (mut tree, ids) = build(&base);
                    let t0 = Instant::now();
                    for &id in &ids {
                        black_box(tree.remove(id));
                    }
                    total += t0.elapsed();
                }
                total
            });
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = tree_vs_btreemap, insert, remove, stab, fill_drain
}
criterion_main!(benches);
