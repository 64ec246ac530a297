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

fn xa_rep(keys: &keyfile::XaKeys) -> Vec<PhaseLine> {
    let mut out = Vec::new();
    let xa: XArray<NonNull<u32>> = XArray::new();
    let mut acc = 0u64;

    let t = Instant::now();
    for &k in &keys.hits {
        xa.store(k, entry_of(k), &mut NoAccounting)
            .expect("NoAccounting never fails");
    }
    line(&mut out, "store", t, keys.hits.len(), xa.nr_nodes());

    // Loads run as a pfntrack worker's do: this thread online, so each
    // `xa_load()` pays `rcu_read_lock()`'s nesting counter, as kbench's
    // shim does (PREEMPT_RCU). Offline again before erasing, so node
    // callbacks run at once, as the shim's `call_rcu()` runs them.
    let online = rcu::Online::new().expect("the calibration thread is offline here");
    let t = Instant::now();
    for &k in &keys.hits {
        acc = acc.wrapping_add(word(xa.load(k)));
    }
    line(&mut out, "load", t, keys.hits.len(), xa.nr_nodes());

    let t = Instant::now();
    for &k in &keys.misses {
        acc = acc.wrapping_add(word(xa.load(k)));
    }
    line(&mut out, "miss", t, keys.misses.len(), xa.nr_nodes());
    drop(online);

    let t = Instant::now();
    for &k in &keys.hits {
        acc = acc.wrapping_add(word(xa.erase(k, &mut NoAccounting)));
    }
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

fn tree_rep(keys: &keyfile::TreeKeys) -> Vec<PhaseLine> {
    let mut out = Vec::new();
    let mut tree = IntervalTree::new();
    let mut acc = 0u64;

    let t = Instant::now();
    let mut nodes: Vec<NodeId> = Vec::with_capacity(keys.base.len());
    for &(s, l) in &keys.base {
        nodes.push(tree.insert(s, l, TYPE));
    }
    line(&mut out, "fill", t, keys.base.len(), tree.len());

    let t = Instant::now();
    for &q in &keys.stab {
        acc = acc.wrapping_add(
            tree.iter_first(q, q + 4095)
                .map_or(0, |id| u64::from(id.index())),
        );
    }
    line(&mut out, "stab", t, keys.stab.len(), tree.len());

    let t = Instant::now();
    for &q in &keys.stab {
        let mut m = tree.iter_first(q, q + 4095);
        while let Some(id) = m {
            acc = acc.wrapping_add(*tree.value(id) as u64);
            m = tree.iter_next(id, q, q + 4095);
        }
    }
    line(&mut out, "stab_all", t, keys.stab.len(), tree.len());

    let mut added = Vec::with_capacity(keys.batch);
    let mut total = std::time::Duration::ZERO;
    for batch in keys.fresh.chunks(keys.batch) {
        let t = Instant::now();
        for &(s, l) in batch {
            added.push(tree.insert(s, l, TYPE));
        }
        total += t.elapsed();
        for id in added.drain(..) {
            tree.remove(id);
        }
    }
    push_total(&mut out, "insert", total, keys.fresh.len(), tree.len());

    let mut total = std::time::Duration::ZERO;
    for victims in keys.victims.chunks(keys.batch) {
        let t = Instant::now();
        for &v in victims {
            black_box(tree.remove(nodes[v]));
        }
        total += t.elapsed();
        for &v in victims {
            let (s, l) = keys.base[v];
            nodes[v] = tree.insert(s, l, TYPE);
        }
    }
    push_total(&mut out, "remove", total, keys.victims.len(), tree.len());

    let t = Instant::now();
    for &id in &nodes {
        black_box(tree.remove(id));
    }
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
