//! Differential tests of `strategies::interval_tree` (the memtype interval
//! rbtree, include/linux/interval_tree_generic.h) against a brute-force model
//! and against the `iset` crate.
//!
//! The model is a vector kept in the tree's in-order: by start, then by
//! insertion sequence (equal starts go right in the kernel tree, so later
//! insertions come later). It answers `iter_first`/`iter_next` by a linear
//! scan, so it also pins down *which* duplicate the tree must return. `iset`
//! is an independent interval map; it cannot order duplicates, so it checks
//! the set of overlapping intervals only.
//!
//! A failing case prints its operations as a `run(&[...])` call to paste into
//! a regression test below.

use std::fmt;

use iset::IntervalMap;
use proptest::prelude::*;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use strategies::interval_tree::{IntervalTree, NodeId};

/// One step of a test. Intervals and queries are inclusive `[start, last]`.
/// `pick` chooses a live node by its in-order position, modulo the count.
#[derive(Clone, PartialEq, Eq)]
enum Op {
    Insert { start: u64, last: u64 },
    Remove { pick: usize },
    IterFirst { start: u64, last: u64 },
    IterNext { pick: usize, start: u64, last: u64 },
    Overlaps { start: u64, last: u64 },
}

/// Prints as Rust source, so proptest's "minimal failing input" pastes.
impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Insert { start, last } => {
                write!(f, "Op::Insert {{ start: {start}, last: {last} }}")
            }
            Op::Remove { pick } => write!(f, "Op::Remove {{ pick: {pick} }}"),
            Op::IterFirst { start, last } => {
                write!(f, "Op::IterFirst {{ start: {start}, last: {last} }}")
            }
            Op::IterNext { pick, start, last } => write!(
                f,
                "Op::IterNext {{ pick: {pick}, start: {start}, last: {last} }}"
            ),
            Op::Overlaps { start, last } => {
                write!(f, "Op::Overlaps {{ start: {start}, last: {last} }}")
            }
        }
    }
}

fn pasteable(ops: &[Op]) -> String {
    let body: Vec<String> = ops.iter().map(|op| format!("    {op:?},")).collect();
    format!("run(&[\n{}\n]);", body.join("\n"))
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u64,
    last: u64,
    id: NodeId,
    seq: u64,
}

impl Entry {
    fn overlaps(&self, start: u64, last: u64) -> bool {
        self.start <= last && start <= self.last
    }
}

/// The tree under test, the brute-force model and `iset`, driven in step.
struct Harness {
    tree: IntervalTree<u64>,
    /// In the tree's in-order: by start, then insertion sequence.
    model: Vec<Entry>,
    /// `[start, last]` stored as `start..last + 1` (u128: `last` may be
    /// `u64::MAX`), valued by insertion sequence.
    iset: IntervalMap<u128, u64>,
    next_seq: u64,
}

fn span(start: u64, last: u64) -> std::ops::Range<u128> {
    u128::from(start)..u128::from(last) + 1
}

impl Harness {
    fn new() -> Self {
        Harness {
            tree: IntervalTree::new(),
            model: Vec::new(),
            iset: IntervalMap::new(),
            next_seq: 0,
        }
    }

    fn model_first(&self, start: u64, last: u64) -> Option<NodeId> {
        self.model
            .iter()
            .find(|e| e.overlaps(start, last))
            .map(|e| e.id)
    }

    fn model_next(&self, id: NodeId, start: u64, last: u64) -> Option<NodeId> {
        let pos = self.model.iter().position(|e| e.id == id).unwrap();
        self.model[pos + 1..]
            .iter()
            .find(|e| e.overlaps(start, last))
            .map(|e| e.id)
    }

    fn model_overlaps(&self, start: u64, last: u64) -> Vec<NodeId> {
        self.model
            .iter()
            .filter(|e| e.overlaps(start, last))
            .map(|e| e.id)
            .collect()
    }

    /// Apply `op` to all three, then check the whole structure; return a
    /// description of the first disagreement.
    fn step(&mut self, op: &Op) -> Result<(), String> {
        self.apply(op)?;
        self.check()
    }

    /// Apply `op` to all three, comparing its answers.
    fn apply(&mut self, op: &Op) -> Result<(), String> {
        match *op {
            Op::Insert { start, last } => {
                let seq = self.next_seq;
                self.next_seq += 1;
                let id = self.tree.insert(start, last, seq);
                if self.model.iter().any(|e| e.id == id) {
                    return Err(format!("insert returned live id {id:?}"));
                }
                let pos = self.model.partition_point(|e| e.start <= start);
                self.model.insert(
                    pos,
                    Entry {
                        start,
                        last,
                        id,
                        seq,
                    },
                );
                self.iset.force_insert(span(start, last), seq);
            }
            Op::Remove { pick } => {
                if self.model.is_empty() {
                    return Ok(());
                }
                let e = self.model.remove(pick % self.model.len());
                let got = self.tree.remove(e.id);
                if got != e.seq {
                    return Err(format!("remove({:?}) returned {got}, want {}", e.id, e.seq));
                }
                if self.tree.contains(e.id) {
                    return Err(format!("{:?} still live after remove", e.id));
                }
                let gone = self
                    .iset
                    .remove_where(span(e.start, e.last), |&v| v == e.seq);
                if gone != Some(e.seq) {
                    return Err(format!("iset lost entry {e:?}"));
                }
            }
            Op::IterFirst { start, last } => {
                let got = self.tree.iter_first(start, last);
                let want = self.model_first(start, last);
                if got != want {
                    return Err(format!(
                        "iter_first({start}, {last}) = {got:?}, model says {want:?}"
                    ));
                }
            }
            Op::IterNext { pick, start, last } => {
                if self.model.is_empty() {
                    return Ok(());
                }
                let id = self.model[pick % self.model.len()].id;
                let got = self.tree.iter_next(id, start, last);
                let want = self.model_next(id, start, last);
                if got != want {
                    return Err(format!(
                        "iter_next({id:?}, {start}, {last}) = {got:?}, model says {want:?}"
                    ));
                }
            }
            Op::Overlaps { start, last } => {
                let got: Vec<NodeId> = self.tree.overlaps(start, last).collect();
                let want = self.model_overlaps(start, last);
                if got != want {
                    return Err(format!(
                        "overlaps({start}, {last}) = {got:?}, model says {want:?}"
                    ));
                }
                let mut got_seqs: Vec<u64> = got.iter().map(|&id| *self.tree.value(id)).collect();
                let mut iset_seqs: Vec<u64> = self
                    .iset
                    .iter(u128::from(start)..=u128::from(last))
                    .map(|(_, &v)| v)
                    .collect();
                got_seqs.sort_unstable();
                iset_seqs.sort_unstable();
                if got_seqs != iset_seqs {
                    return Err(format!(
                        "overlaps({start}, {last}) has sequences {got_seqs:?}, iset has {iset_seqs:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whole-structure agreement: invariants, contents and order.
    fn check(&self) -> Result<(), String> {
        let t = &self.tree;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.check_invariants())).map_err(
            |e| {
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "check_invariants panicked".into())
            },
        )?;
        if t.len() != self.model.len() || self.iset.len() != self.model.len() {
            return Err(format!(
                "len: tree {}, model {}, iset {}",
                t.len(),
                self.model.len(),
                self.iset.len()
            ));
        }
        let got: Vec<(u64, u64, u64)> = t
            .iter()
            .map(|id| (t.start(id), t.last(id), *t.value(id)))
            .collect();
        let want: Vec<(u64, u64, u64)> = self
            .model
            .iter()
            .map(|e| (e.start, e.last, e.seq))
            .collect();
        if got != want {
            return Err(format!(
                "in-order (start, last, seq): tree {got:?}, model {want:?}"
            ));
        }
        Ok(())
    }
}

/// Run `ops` on a fresh harness; panic with a pasteable reproduction on the
/// first disagreement.
fn run(ops: &[Op]) {
    let mut h = Harness::new();
    for (i, op) in ops.iter().enumerate() {
        if let Err(msg) = h.step(op) {
            panic!(
                "op {i} ({op:?}): {msg}\nreproduce with:\n{}",
                pasteable(&ops[..=i])
            );
        }
    }
}

/// Coordinates crowd a small range, so intervals overlap and repeat, with
/// some at the top of the address space and some anywhere.
fn coord(small: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0..small,
        1 => (u64::MAX - 16)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

fn interval(small: u64) -> impl Strategy<Value = (u64, u64)> {
    let len = prop_oneof![8 => 0..small / 4 + 1, 1 => any::<u64>()];
    (coord(small), len).prop_map(|(start, len)| (start, start.saturating_add(len)))
}

fn op(small: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => interval(small).prop_map(|(start, last)| Op::Insert { start, last }),
        2 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        2 => interval(small).prop_map(|(start, last)| Op::IterFirst { start, last }),
        2 => (any::<usize>(), interval(small))
            .prop_map(|(pick, (start, last))| Op::IterNext { pick, start, last }),
        1 => interval(small).prop_map(|(start, last)| Op::Overlaps { start, last }),
    ]
}

#[cfg(not(miri))]
const MAX_OPS: usize = 300;
#[cfg(miri)]
const MAX_OPS: usize = 40;

fn config() -> ProptestConfig {
    #[cfg(not(miri))]
    let cfg = ProptestConfig::with_cases(256);
    // Miri is ~1000x slower and cannot read the regression files.
    #[cfg(miri)]
    let cfg = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(4)
    };
    cfg
}

proptest! {
    #![proptest_config(config())]

    /// Mixed operations over a 64-wide coordinate range.
    #[test]
    fn interval_tree_matches_model(ops in proptest::collection::vec(op(64), 1..MAX_OPS)) {
        run(&ops);
    }

    /// Coordinates in 0..4: mostly identical intervals, so every answer
    /// depends on which duplicate comes first.
    #[test]
    fn interval_tree_matches_model_with_duplicates(
        ops in proptest::collection::vec(op(4), 1..MAX_OPS)
    ) {
        run(&ops);
    }
}

/// A long deterministic run that grows the tree past what proptest reaches,
/// then drains it. Seed 0x6d656d74797065 ("memtype"), Xoshiro256PlusPlus.
#[test]
fn interval_tree_long_run_matches_model() {
    #[cfg(not(miri))]
    let (nr_ops, every) = (20_000usize, 101usize);
    #[cfg(miri)]
    let (nr_ops, every) = (300usize, 50usize);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x006d_656d_7479_7065);
    let mut h = Harness::new();
    let mut ops = Vec::new();
    for i in 0..nr_ops {
        let r = rng.next_u64();
        let start = rng.next_u64() % 4096;
        let last = start + rng.next_u64() % 64;
        // Grow for the first half, shrink for the second.
        let insert_weight = if i < nr_ops / 2 { 6 } else { 2 };
        let op = match r % 10 {
            k if k < insert_weight => Op::Insert { start, last },
            6 | 7 => Op::Remove {
                pick: (r >> 8) as usize,
            },
            8 => Op::IterFirst { start, last },
            _ => Op::IterNext {
                pick: (r >> 8) as usize,
                start,
                last,
            },
        };
        let op = if i % every == 0 {
            Op::Overlaps { start, last }
        } else {
            op
        };
        ops.push(op.clone());
        // The full check is O(n): run it periodically.
        let res = h
            .apply(&op)
            .and_then(|()| if i % every == 0 { h.check() } else { Ok(()) });
        if let Err(msg) = res {
            panic!(
                "op {i} ({op:?}): {msg}\nreproduce with:\n{}",
                pasteable(&ops)
            );
        }
    }
    while let Some(e) = h.model.first().copied() {
        h.tree.remove(e.id);
        h.model.remove(0);
        h.iset.remove_where(span(e.start, e.last), |&v| v == e.seq);
    }
    h.check().unwrap();
}

// Regression cases found by the property tests go here, pasted as printed.

/// Removing the node whose successor is its right child, with a black
/// successor and no grandchild: the NIL position is on the right.
#[test]
fn interval_tree_regression_successor_is_right_child() {
    run(&[
        Op::Insert { start: 2, last: 2 },
        Op::Insert { start: 1, last: 1 },
        Op::Insert { start: 3, last: 30 },
        Op::Insert { start: 0, last: 0 },
        Op::Remove { pick: 0 },
        Op::Remove { pick: 1 },
        Op::Overlaps { start: 0, last: 40 },
        Op::IterFirst {
            start: 25,
            last: 25,
        },
    ]);
}
