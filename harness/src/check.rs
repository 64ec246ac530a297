//! `pfntrack check`: run one op stream through every design and the
//! reference model in lockstep and stop at the first step where a design
//! returns something else than the oracle or holds a different memtype
//! tree. The same simulator as the benchmark drives them, so a divergence
//! found here is one the benchmark would have measured.

use std::fmt;

use strategies::designs::{
    memtype_ext::MemtypeExt, per_vma::PerVma, reference::Reference, xarray::XarrayTracker,
};
use strategies::kmem::Cpu;
use strategies::{PfnmapTracking, Strategy, TrackerConfig};

use crate::measure::hook::Hook;
use crate::sim::mm::{HookObserver, HookOutcome, Sim};
use crate::sim::slab::VmaSlab;
use crate::workload::Op;
use crate::workload::rng::{Purpose, WorkloadRng};
use strategies::slab::SlabGeometry;

/// Ops between two whole-tree comparisons when no hook changed the tree.
const FULL_TREE_EVERY: usize = 1024;

/// Whether a hook result means the memtype tree may have changed.
fn changes_tree(o: &HookOutcome) -> bool {
    match o {
        HookOutcome::Remap(r) => r.is_ok(),
        HookOutcome::Free(r) => r.is_some(),
        HookOutcome::Ioremap(r) => r.is_ok(),
        HookOutcome::Iounmap(r) => r.is_ok(),
        HookOutcome::Dup(_) | HookOutcome::Lookup(_) | HookOutcome::Fault(_) => false,
    }
}

/// Collects what every hook of one op returned.
#[derive(Debug, Default)]
struct Recorder {
    events: Vec<(Hook, HookOutcome)>,
}

impl HookObserver for Recorder {
    fn start(&mut self) -> u64 {
        0
    }

    fn stop(&mut self) -> u64 {
        0
    }

    fn record(&mut self, hook: Hook, _start: u64, _stop: u64, outcome: &HookOutcome) {
        self.events.push((hook, *outcome));
    }
}

/// Where a design first disagreed with the reference model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Worker stream (0 for a single stream; `None` for the setup ops).
    pub worker: Option<usize>,
    /// Index of the op in its stream.
    pub index: usize,
    /// The op.
    pub op: Op,
    /// The design that disagreed.
    pub design: Strategy,
    /// What differed.
    pub detail: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.worker {
            Some(w) => write!(f, "worker {w}, op {}", self.index)?,
            None => write!(f, "setup op {}", self.index)?,
        }
        write!(f, " ({:?}): {} {}", self.op, self.design, self.detail)
    }
}

/// What a clean check covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckSummary {
    /// Ops applied (all streams).
    pub ops: u64,
    /// Hook calls each design made (and the reference compared).
    pub hook_calls: u64,
    /// Whole memtype tree comparisons made (the tree's size is compared
    /// after every op).
    pub tree_checks: u64,
}

/// One design's world in the lockstep.
struct Lane<'t, T: PfnmapTracking> {
    strategy: Strategy,
    tracker: &'t T,
    sim: Option<Sim<'t, T>>,
    rec: Recorder,
}

/// Build a simulator for worker `w`.
fn sim_for<T: PfnmapTracking>(tracker: &T, geo: SlabGeometry, seed: u64, w: usize) -> Sim<'_, T> {
    Sim::new(
        tracker,
        Cpu::new(w % strategies::percpu::MAX_CPUS),
        VmaSlab::new(
            geo,
            WorkloadRng::substream(seed, Purpose::VmaSlab, w as u32),
        ),
    )
}

macro_rules! lanes_do {
    ($lanes:expr, $l:ident => $body:expr) => {{
        let (a, b, c) = $lanes;
        {
            let $l = a;
            $body
        }
        {
            let $l = b;
            $body
        }
        {
            let $l = c;
            $body
        }
    }};
}

/// Run `setup` then each stream of `workers` (one after the other, each in
/// its own mm world, all sharing one design instance, as worker threads
/// would) through the three designs and the reference. Return: the first
/// divergence, or a summary of what was compared.
pub fn check_streams(
    setup: &[Op],
    workers: &[Vec<Op>],
    cfg: &TrackerConfig,
    geo: SlabGeometry,
    seed: u64,
) -> Result<CheckSummary, Divergence> {
    let oracle = Reference::new(cfg);
    let per_vma = PerVma::new(cfg);
    let xarray = XarrayTracker::new(cfg);
    let memtype_ext = MemtypeExt::new(cfg);
    let mut reference = Lane {
        strategy: Strategy::Reference,
        tracker: &oracle,
        sim: None,
        rec: Recorder::default(),
    };
    let mut a = Lane {
        strategy: Strategy::PerVma,
        tracker: &per_vma,
        sim: None,
        rec: Recorder::default(),
    };
    let mut b = Lane {
        strategy: Strategy::Xarray,
        tracker: &xarray,
        sim: None,
        rec: Recorder::default(),
    };
    let mut c = Lane {
        strategy: Strategy::MemtypeExt,
        tracker: &memtype_ext,
        sim: None,
        rec: Recorder::default(),
    };
    let mut summary = CheckSummary::default();
    let streams = std::iter::once((None, setup)).chain(
        workers
            .iter()
            .enumerate()
            .map(|(w, ops)| (Some(w), ops.as_slice())),
    );
    for (worker, ops) in streams {
        let w = worker.unwrap_or(0);
        reference.sim = Some(sim_for(reference.tracker, geo, seed, w));
        lanes_do!((&mut a, &mut b, &mut c), lane => {
            lane.sim = Some(sim_for(lane.tracker, geo, seed, w));
        });
        for (index, op) in ops.iter().enumerate() {
            reference.rec.events.clear();
            reference
                .sim
                .as_mut()
                .expect("sim")
                .apply(&mut reference.rec, op);
            // The whole tree is compared when the reference's changed (a
            // hook reserved or released something) and every
            // FULL_TREE_EVERY ops; its size after every op. A design that
            // changes its tree where the reference does not is caught at
            // that op by the size, or at the next comparison by content.
            let changed = reference.rec.events.iter().any(|(_, o)| changes_tree(o));
            let full = changed || index % FULL_TREE_EVERY == 0 || index + 1 == ops.len();
            let want_len = reference.tracker.footprint().memtype;
            let want_tree = full.then(|| reference.tracker.memtype_entries());
            summary.ops += 1;
            summary.tree_checks += u64::from(full);
            summary.hook_calls += reference.rec.events.len() as u64;
            let diverge = |design: Strategy, detail: String| Divergence {
                worker,
                index,
                op: *op,
                design,
                detail,
            };
            let mut first: Option<Divergence> = None;
            lanes_do!((&mut a, &mut b, &mut c), lane => {
                if first.is_none() {
                    lane.rec.events.clear();
                    lane.sim.as_mut().expect("sim").apply(&mut lane.rec, op);
                    if lane.rec.events != reference.rec.events {
                        first = Some(diverge(
                            lane.strategy,
                            format!(
                                "hooks returned {:?}, the reference model {:?}",
                                lane.rec.events, reference.rec.events
                            ),
                        ));
                    } else if let Some(want) = &want_tree {
                        let got = lane.tracker.memtype_entries();
                        if &got != want {
                            first = Some(diverge(
                                lane.strategy,
                                format!(
                                    "memtype tree has {} entries {:?}, the reference model {} {:?}",
                                    got.len(),
                                    got,
                                    want.len(),
                                    want
                                ),
                            ));
                        }
                    } else {
                        let got = lane.tracker.footprint().memtype;
                        if got != want_len {
                            first = Some(diverge(
                                lane.strategy,
                                format!(
                                    "memtype tree has {got} entries, the reference model {want_len}"
                                ),
                            ));
                        }
                    }
                }
            });
            if let Some(d) = first {
                return Err(d);
            }
        }
    }
    Ok(summary)
}
