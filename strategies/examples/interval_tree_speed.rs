//! Per-operation speed of `strategies::interval_tree` as the minimum over
//! repeated trials, next to docs/design.md section 10's kernel figures.
//!
//! The criterion suite (`benches/substrate_tree.rs`) reports medians, which
//! a busy machine (parallel builds, other benchmarks) inflates; the fastest
//! of several trials is what the code costs when it has the core and the
//! caches to itself, which is how the kernel figures were taken. Same key set
//! as the suite (`benches/common/tree_workload.rs`).
//!
//! Run: `cargo run --release -p strategies --example interval_tree_speed [TRIALS]`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use strategies::CacheMode;
use strategies::interval_tree::{IntervalTree, NodeId};

#[path = "../benches/common/tree_workload.rs"]
mod tree_workload;
use tree_workload::{PAGE, keys, permutation, stab_point, workload_rng};

const V: CacheMode = CacheMode::UC_MINUS;

/// Nanoseconds per op of `f`, which does `ops` operations.
fn ns_per_op(ops: usize, f: impl FnOnce()) -> f64 {
    let t0 = Instant::now();
    f();
    t0.elapsed().as_nanos() as f64 / ops as f64
}

/// The fastest of `trials` runs of `f`.
fn best(trials: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..trials).map(|_| f()).fold(f64::INFINITY, f64::min)
}

fn main() {
    let trials: usize = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 10,
        Some(Ok(t)) if t > 0 => t,
        Some(_) => {
            eprintln!("usage: interval_tree_speed [TRIALS > 0]");
            std::process::exit(2);
        }
    };
    println!("ns/op, fastest of {trials} trials; kernel C figures from docs/design.md section 10");
    println!(
        "{:>9} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "entries", "fill", "drain", "insert@N", "remove@N", "stab@N"
    );
    for (n, kernel) in [
        (10_000usize, [82.0, 33.0, 87.0]),
        (1_000_000, [754.0, 166.0, 880.0]),
    ] {
        let mut rng = workload_rng();
        // Single operations come in batches of 1% of the tree, undone
        // untimed, so the tree stays near N.
        let batch = n / 100;
        let all = keys(&mut rng, n + batch);
        let (base, fresh) = all.split_at(n);

        // Fill an empty tree, drain it in insertion order.
        let mut fill = f64::INFINITY;
        let drain = best(trials, || {
            let mut tree = IntervalTree::with_capacity(n);
            let mut ids = Vec::with_capacity(n);
            fill = fill.min(ns_per_op(n, || {
                ids.extend(base.iter().map(|&(s, l)| tree.insert(s, l, V)));
            }));
            ns_per_op(n, || {
                for &id in &ids {
                    black_box(tree.remove(id));
                }
            })
        });

        // Single operations on a tree held at N.
        let mut tree = IntervalTree::with_capacity(n + batch);
        let mut ids: Vec<NodeId> = base.iter().map(|&(s, l)| tree.insert(s, l, V)).collect();
        let insert = best(trials, || {
            let mut new = Vec::with_capacity(batch);
            let t = ns_per_op(batch, || {
                new.extend(fresh.iter().map(|&(s, l)| tree.insert(s, l, V)));
            });
            for id in new {
                tree.remove(id);
            }
            t
        });
        // Fresh long-lived victims every trial: a node just reinserted is a
        // leaf and cheaper to remove.
        let order = permutation(&mut rng, n);
        let mut victims = order.chunks(batch);
        let remove = best(trials.min(n / batch), || {
            let chunk = victims.next().expect("trials capped at n / batch");
            let t = ns_per_op(chunk.len(), || {
                for &v in chunk {
                    black_box(tree.remove(ids[v]));
                }
            });
            for &v in chunk {
                let (s, l) = base[v];
                ids[v] = tree.insert(s, l, V);
            }
            t
        });
        let points: Vec<u64> = (0..10_000).map(|_| stab_point(&mut rng, base)).collect();
        let stab = best(trials, || {
            ns_per_op(points.len(), || {
                for &a in &points {
                    black_box(tree.iter_first(a, a + PAGE - 1));
                }
            })
        });
        println!("{n:>9} {fill:>12.1} {drain:>12.1} {insert:>12.1} {remove:>12.1} {stab:>12.1}");
        println!(
            "{:>9} {:>12.1} {:>12.1} {:>12} {:>12} {:>12.1}",
            "kernel", kernel[0], kernel[1], "", "", kernel[2]
        );
    }

    // Insert a new interval and erase the oldest, tree at 10k: against
    // BTreeMap on the same keys.
    let n = 10_000;
    let ring = keys(&mut workload_rng(), 2 * n);
    let steps = 20_000;
    let mut tree = IntervalTree::with_capacity(n + 1);
    let mut ids: Vec<Option<NodeId>> = vec![None; ring.len()];
    for (i, &(s, l)) in ring[..n].iter().enumerate() {
        ids[i] = Some(tree.insert(s, l, V));
    }
    let mut map = BTreeMap::new();
    for &(s, l) in &ring[..n] {
        map.insert(s, (l, V));
    }
    let (mut old_t, mut old_m) = (0, 0);
    let (mut t_tree, mut t_map) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..trials {
        t_tree = t_tree.min(ns_per_op(steps, || {
            for _ in 0..steps {
                let new = (old_t + n) % ring.len();
                ids[new] = Some(tree.insert(ring[new].0, ring[new].1, V));
                black_box(tree.remove(ids[old_t].take().expect("live")));
                old_t = (old_t + 1) % ring.len();
            }
        }));
        t_map = t_map.min(ns_per_op(steps, || {
            for _ in 0..steps {
                let new = (old_m + n) % ring.len();
                map.insert(ring[new].0, (ring[new].1, V));
                black_box(map.remove(&ring[old_m].0));
                old_m = (old_m + 1) % ring.len();
            }
        }));
    }
    println!(
        "insert+erase at 10k: IntervalTree {t_tree:.1}, BTreeMap {t_map:.1} ({:.2}x)",
        t_tree / t_map
    );
}
