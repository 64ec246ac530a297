//! The Rust side of the calibration: pfntrack's XArray and interval tree
//! over the same key files, with the same phases and loop shapes as the
//! kernel side (`scripts/calibrate/kbench.c`). Runs the phases `reps`
//! times, each on a fresh structure, and keeps per phase the fastest run
//! and the node count, as `kbench` does.

use std::hint::black_box;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Instant;

use anyhow::Result;
use strategies::CacheMode;
use strategies::interval_tree::{IntervalTree, NodeId};
use strategies::kmem::NoAccounting;
use strategies::rcu;
use strategies::xarray::XArray;

use crate::keyfile;

/// One phase's result.
pub struct PhaseLine {
    /// Phase name.
    pub phase: String,
    /// Nanoseconds per operation.
    pub ns_per_op: f64,
    /// Live nodes when the phase ended.
    pub nodes: u64,
}

fn line(out: &mut Vec<PhaseLine>, phase: &str, t: Instant, ops: usize, nodes: usize) {
    let ns = t.elapsed().as_nanos() as f64;
    out.push(PhaseLine {
        phase: phase.to_string(),
        ns_per_op: if ops == 0 { 0.0 } else { ns / ops as f64 },
        nodes: nodes as u64,
    });
}

/// The entry `kbench` stores for `key`: never zero, low two bits clear (a
/// pointer entry, never dereferenced).
fn entry_of(key: u64) -> NonNull<u32> {
    NonNull::new(((key << 2) | 4) as usize as *mut u32).expect("bit 2 is set")
}

fn word(e: Option<NonNull<u32>>) -> u64 {
    e.map_or(0, |p| p.as_ptr() as usize as u64)
}

/// Run `rep` `reps` times; per phase keep the fastest time and the last
/// node count.
pub fn fastest_of(reps: u32, mut rep: impl FnMut() -> Vec<PhaseLine>) -> Vec<PhaseLine> {
    let mut best = rep();
    for _ in 1..reps {
        for (b, l) in best.iter_mut().zip(rep()) {
            debug_assert_eq!(b.phase, l.phase);
            b.ns_per_op = b.ns_per_op.min(l.ns_per_op);
            b.nodes = l.nodes;
        }
    }
    best
}

/// Store, load, miss, erase over an XArray key file, `reps` times.
pub fn xa(path: &Path, reps: u32) -> Result<Vec<PhaseLine>> {
    let keys = keyfile::read_xa(path)?;
    Ok(fastest_of(reps, || xa_rep(&keys)))
}

// Each timed loop is a function of its own, never inlined, named as
// kbench.c names its counterpart: `calibrate.sh --count` has callgrind
// zero its counters on entering such a function and dump them on leaving
// it, and the timed mode times exactly its call.

#[inline(never)]
fn phase_xa_store(xa: &XArray<NonNull<u32>>, keys: &[u64]) -> u64 {
    for &k in keys {
        xa.store(k, entry_of(k), &mut NoAccounting)
            .expect("NoAccounting never fails");
    }
    0
}

#[inline(never)]
fn phase_xa_load(xa: &XArray<NonNull<u32>>, keys: &[u64]) -> u64 {
    let mut acc = 0u64;
    for &k in keys {
        acc = acc.wrapping_add(word(xa.load(k)));
    }
    acc
}

/// As [`phase_xa_load`], folding with xor so the compiler cannot merge the
/// two functions into one symbol (callgrind would then see one phase).
#[inline(never)]
fn phase_xa_miss(xa: &XArray<NonNull<u32>>, keys: &[u64]) -> u64 {
    let mut acc = 0u64;
    for &k in keys {
        acc ^= word(xa.load(k));
    }
    acc
}

#[inline(never)]
fn phase_xa_erase(xa: &XArray<NonNull<u32>>, keys: &[u64]) -> u64 {
    let mut acc = 0u64;
    for &k in keys {
        acc = acc.wrapping_add(word(xa.erase(k, &mut NoAccounting)));
    }
    acc
}

fn xa_rep(keys: &keyfile::XaKeys) -> Vec<PhaseLine> {
    let mut out = Vec::new();
    let xa: XArray<NonNull<u32>> = XArray::new();
    let mut acc = 0u64;

    let t = Instant::now();
    acc = acc.wrapping_add(phase_xa_store(&xa, black_box(&keys.hits)));
    line(&mut out, "store", t, keys.hits.len(), xa.nr_nodes());

    // Loads run as a pfntrack worker's do: this thread online, so each
    // `xa_load()` pays `rcu_read_lock()`'s nesting counter, as kbench's
    // shim does (PREEMPT_RCU). Offline again before erasing, so node
    // callbacks run at once, as the shim's `call_rcu()` runs them.
    let online = rcu::Online::new().expect("the calibration thread is offline here");
    let t = Instant::now();
    acc = acc.wrapping_add(phase_xa_load(&xa, black_box(&keys.hits)));
    line(&mut out, "load", t, keys.hits.len(), xa.nr_nodes());

    let t = Instant::now();
    acc = acc.wrapping_add(phase_xa_miss(&xa, black_box(&keys.misses)));
    line(&mut out, "miss", t, keys.misses.len(), xa.nr_nodes());
    drop(online);

    let t = Instant::now();
    acc = acc.wrapping_add(phase_xa_erase(&xa, black_box(&keys.hits)));
    line(&mut out, "erase", t, keys.hits.len(), xa.nr_nodes());
    black_box(acc);
    out
}

const TYPE: CacheMode = CacheMode::UC_MINUS;

/// Fill, stab, stab_all, insert and remove at size, drain over an
/// interval-tree key file, `reps` times.
pub fn tree(path: &Path, reps: u32) -> Result<Vec<PhaseLine>> {
    let keys = keyfile::read_tree(path)?;
    Ok(fastest_of(reps, || tree_rep(&keys)))
}

#[inline(never)]
fn phase_it_fill(
    tree: &mut IntervalTree<CacheMode>,
    nodes: &mut Vec<NodeId>,
    base: &[(u64, u64)],
) -> u64 {
    for &(s, l) in base {
        nodes.push(tree.insert(s, l, TYPE));
    }
    0
}

#[inline(never)]
fn phase_it_stab(tree: &IntervalTree<CacheMode>, stab: &[u64]) -> u64 {
    let mut acc = 0u64;
    for &q in stab {
        acc = acc.wrapping_add(
            tree.iter_first(q, q + 4095)
                .map_or(0, |id| u64::from(id.index())),
        );
    }
    acc
}

#[inline(never)]
fn phase_it_stab_all(tree: &IntervalTree<CacheMode>, stab: &[u64]) -> u64 {
    let mut acc = 0u64;
    for &q in stab {
        let mut m = tree.iter_first(q, q + 4095);
        while let Some(id) = m {
            acc = acc.wrapping_add(*tree.value(id) as u64);
            m = tree.iter_next(id, q, q + 4095);
        }
    }
    acc
}

/// One timed batch of `insert`: fresh keys, each used once; the handles go
/// to `added[i]`, as kbench's do.
#[inline(never)]
fn phase_it_insert(
    tree: &mut IntervalTree<CacheMode>,
    added: &mut [Option<NodeId>],
    batch: &[(u64, u64)],
) -> u64 {
    for (slot, &(s, l)) in added.iter_mut().zip(batch) {
        *slot = Some(tree.insert(s, l, TYPE));
    }
    0
}

/// One timed batch of `remove`: entries of the full tree, distinct.
#[inline(never)]
fn phase_it_remove(tree: &mut IntervalTree<CacheMode>, nodes: &[NodeId], victims: &[usize]) -> u64 {
    let mut acc = 0u64;
    for &v in victims {
        acc = acc.wrapping_add(tree.remove(nodes[v]) as u64);
    }
    acc
}

#[inline(never)]
fn phase_it_drain(tree: &mut IntervalTree<CacheMode>, nodes: &[NodeId]) -> u64 {
    let mut acc = 0u64;
    for &id in nodes {
        acc = acc.wrapping_add(tree.remove(id) as u64);
    }
    acc
}

fn tree_rep(keys: &keyfile::TreeKeys) -> Vec<PhaseLine> {
    let mut out = Vec::new();
    let mut tree = IntervalTree::new();
    let mut acc = 0u64;

    let mut nodes: Vec<NodeId> = Vec::with_capacity(keys.base.len());
    let t = Instant::now();
    acc = acc.wrapping_add(phase_it_fill(&mut tree, &mut nodes, black_box(&keys.base)));
    line(&mut out, "fill", t, keys.base.len(), tree.len());

    let t = Instant::now();
    acc = acc.wrapping_add(phase_it_stab(&tree, black_box(&keys.stab)));
    line(&mut out, "stab", t, keys.stab.len(), tree.len());

    let t = Instant::now();
    acc = acc.wrapping_add(phase_it_stab_all(&tree, black_box(&keys.stab)));
    line(&mut out, "stab_all", t, keys.stab.len(), tree.len());

    let mut added = vec![None; keys.batch];
    let mut total = std::time::Duration::ZERO;
    for batch in keys.fresh.chunks(keys.batch) {
        let t = Instant::now();
        acc = acc.wrapping_add(phase_it_insert(&mut tree, &mut added, black_box(batch)));
        total += t.elapsed();
        for id in added.iter_mut().filter_map(Option::take) {
            tree.remove(id);
        }
    }
    push_total(&mut out, "insert", total, keys.fresh.len(), tree.len());

    let mut total = std::time::Duration::ZERO;
    for victims in keys.victims.chunks(keys.batch) {
        let t = Instant::now();
        acc = acc.wrapping_add(phase_it_remove(&mut tree, &nodes, black_box(victims)));
        total += t.elapsed();
        for &v in victims {
            let (s, l) = keys.base[v];
            nodes[v] = tree.insert(s, l, TYPE);
        }
    }
    push_total(&mut out, "remove", total, keys.victims.len(), tree.len());

    let t = Instant::now();
    acc = acc.wrapping_add(phase_it_drain(&mut tree, black_box(&nodes)));
    line(&mut out, "drain", t, nodes.len(), tree.len());
    black_box(acc);
    out
}

fn push_total(out: &mut Vec<PhaseLine>, phase: &str, d: std::time::Duration, ops: usize, n: usize) {
    out.push(PhaseLine {
        phase: phase.to_string(),
        ns_per_op: if ops == 0 {
            0.0
        } else {
            d.as_nanos() as f64 / ops as f64
        },
        nodes: n as u64,
    });
}
