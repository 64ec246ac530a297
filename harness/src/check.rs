//! `pfntrack check`: run one op stream through any list of designs and the
//! oracle of each design's kernel generation (`reference` for v6.16,
//! `legacy-reference` for v6.15) in lockstep, and stop at the first step
//! where a design returns something else than its oracle or holds a
//! different memtype tree. The same simulator as the benchmark drives them,
//! so a divergence found here is one the benchmark would have measured.
//!
//! What is compared, per op: every hook's outcome (including the range an
//! untrack derived and what `memtype_free()` made of it), the "freeing
//! invalid memtype" messages logged, and the number of memtype entries;
//! the whole tree when the stream ends and whenever `max(1024, entries /
//! 4)` ops have passed since the last comparison, so the cost stays linear
//! in the ops however big the tree grows. A design whose tree differs in
//! content but not in size is caught at the next whole comparison, which
//! names the ops since the previous one.

use std::any::Any;
use std::fmt;

use strategies::kmem::Cpu;
use strategies::memtype::MemtypeEntry;
use strategies::memtype_log::Drained;
use strategies::slab::SlabGeometry;
use strategies::{PfnmapTracking, Strategy, TrackerConfig, with_tracker};

use crate::measure::hook::Hook;
use crate::measure::progress::Progress;
use crate::sim::mm::{HookObserver, HookOutcome, Sim};
use crate::sim::slab::VmaSlab;
use crate::workload::Op;
use crate::workload::rng::{Purpose, WorkloadRng};

/// Fewest ops between two whole-tree comparisons.
const FULL_TREE_EVERY: usize = 1024;

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

/// Where a design first disagreed with its oracle.
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
    /// Hook calls each design made (and its oracle compared).
    pub hook_calls: u64,
    /// Whole memtype tree comparisons made (the tree's size is compared
    /// after every op).
    pub tree_checks: u64,
    /// Memtype frees that matched no reservation ("freeing invalid
    /// memtype"), per design, in the order checked.
    pub invalid_frees: Vec<(Strategy, u64)>,
}

/// One design's world in the lockstep, behind a trait object: `check`
/// runs any list of designs, and nothing here is timed.
trait Lane {
    fn strategy(&self) -> Strategy;
    /// Start a new mm world for worker `w` (the design instance stays).
    fn new_world(&mut self, geo: SlabGeometry, seed: u64, w: usize);
    /// Apply `op`; return what its hooks returned.
    fn apply(&mut self, op: &Op) -> &[(Hook, HookOutcome)];
    fn nr_entries(&self) -> u64;
    fn entries(&self) -> Vec<MemtypeEntry>;
    /// Every "freeing invalid memtype" the design logged.
    fn invalid_frees(&self) -> u64;
    /// Those logged since the last call.
    fn drain_log(&self) -> Drained;
}

struct LaneOf<'t, T: PfnmapTracking> {
    tracker: &'t T,
    sim: Option<Sim<'t, T>>,
    rec: Recorder,
}

impl<T: PfnmapTracking> Lane for LaneOf<'_, T> {
    fn strategy(&self) -> Strategy {
        T::STRATEGY
    }

    fn new_world(&mut self, geo: SlabGeometry, seed: u64, w: usize) {
        self.sim = Some(Sim::new(
            self.tracker,
            Cpu::new(w % strategies::percpu::MAX_CPUS),
            VmaSlab::new(
                geo,
                WorkloadRng::substream(seed, Purpose::VmaSlab, w as u32),
            ),
        ));
    }

    fn apply(&mut self, op: &Op) -> &[(Hook, HookOutcome)] {
        self.rec.events.clear();
        self.sim
            .as_mut()
            .expect("new_world first")
            .apply(&mut self.rec, op);
        &self.rec.events
    }

    fn nr_entries(&self) -> u64 {
        self.tracker.footprint().memtype
    }

    fn entries(&self) -> Vec<MemtypeEntry> {
        self.tracker.memtype_entries()
    }

    fn invalid_frees(&self) -> u64 {
        self.tracker.invalid_free_log().count()
    }

    fn drain_log(&self) -> Drained {
        self.tracker.invalid_free_log().take()
    }
}

/// Make an instance of `s` (type-erased so any list can be held).
fn instance(s: Strategy, cfg: &TrackerConfig) -> Box<dyn Any + Send + Sync> {
    with_tracker!(s, T => Box::new(T::new(cfg)) as Box<dyn Any + Send + Sync>)
}

/// A lane driving the instance `t` of `s`.
fn lane<'t>(s: Strategy, t: &'t (dyn Any + Send + Sync)) -> Box<dyn Lane + 't> {
    with_tracker!(s, T => Box::new(LaneOf::<T> {
        tracker: t.downcast_ref::<T>().expect("instance() made this type"),
        sim: None,
        rec: Recorder::default(),
    }) as Box<dyn Lane + 't>)
}

/// Whether the whole trees are compared after op `index` of a stream of
/// `len` ops, `since` ops after the last comparison, with `entries` in the
/// oracle's tree.
fn full_compare_due(index: usize, len: usize, since: usize, entries: u64) -> bool {
    let every = FULL_TREE_EVERY.max((entries / 4) as usize);
    index + 1 == len || since >= every
}

/// Run `setup` then each stream of `workers` (one after the other, each in
/// its own mm world, all sharing one instance per design, as worker threads
/// would) through `designs` and their oracles. `progress` advances by one
/// per op. Return: the first divergence, or a summary of what was compared.
///
/// `designs` must name designs with an oracle (not `null` or an oracle).
#[allow(clippy::too_many_arguments)]
pub fn check_streams(
    designs: &[Strategy],
    setup: &[Op],
    workers: &[Vec<Op>],
    cfg: &TrackerConfig,
    geo: SlabGeometry,
    seed: u64,
    progress: &Progress,
) -> Result<CheckSummary, Divergence> {
    let pairs: Vec<(Strategy, Strategy)> = designs
        .iter()
        .map(|&d| {
            let o = d.oracle();
            assert!(o.is_some(), "check needs designs with an oracle: {d}");
            (d, o.unwrap_or(d))
        })
        .collect();
    lockstep(&pairs, setup, workers, cfg, geo, seed, progress)
}

/// [`check_streams`] with each design's oracle named: `(design, oracle)`.
#[allow(clippy::too_many_arguments)]
fn lockstep(
    pairs: &[(Strategy, Strategy)],
    setup: &[Op],
    workers: &[Vec<Op>],
    cfg: &TrackerConfig,
    geo: SlabGeometry,
    seed: u64,
    progress: &Progress,
) -> Result<CheckSummary, Divergence> {
    let mut oracle_ids: Vec<Strategy> = Vec::new();
    for &(_, o) in pairs {
        if !oracle_ids.contains(&o) {
            oracle_ids.push(o);
        }
    }
    let oracle_instances: Vec<_> = oracle_ids.iter().map(|&o| instance(o, cfg)).collect();
    let design_instances: Vec<_> = pairs.iter().map(|&(d, _)| instance(d, cfg)).collect();
    let mut oracles: Vec<Box<dyn Lane + '_>> = oracle_ids
        .iter()
        .zip(&oracle_instances)
        .map(|(&o, t)| lane(o, t.as_ref()))
        .collect();
    let mut lanes: Vec<(usize, Box<dyn Lane + '_>)> = pairs
        .iter()
        .zip(&design_instances)
        .map(|(&(d, o), t)| {
            let which = oracle_ids.iter().position(|&x| x == o).expect("listed");
            (which, lane(d, t.as_ref()))
        })
        .collect();

    let mut summary = CheckSummary::default();
    let streams = std::iter::once((None, setup)).chain(
        workers
            .iter()
            .enumerate()
            .map(|(w, ops)| (Some(w), ops.as_slice())),
    );
    for (worker, ops) in streams {
        let w = worker.unwrap_or(0);
        for l in oracles.iter_mut().chain(lanes.iter_mut().map(|(_, l)| l)) {
            l.new_world(geo, seed, w);
        }
        let mut since_full = 0;
        for (index, op) in ops.iter().enumerate() {
            let diverge = |design: Strategy, detail: String| Divergence {
                worker,
                index,
                op: *op,
                design,
                detail,
            };
            let wants: Vec<Vec<(Hook, HookOutcome)>> =
                oracles.iter_mut().map(|o| o.apply(op).to_vec()).collect();
            let lens: Vec<u64> = oracles.iter().map(|o| o.nr_entries()).collect();
            let logs: Vec<Drained> = oracles.iter().map(|o| o.drain_log()).collect();
            let full = full_compare_due(
                index,
                ops.len(),
                since_full,
                lens.iter().copied().max().unwrap_or(0),
            );
            since_full = if full { 0 } else { since_full + 1 };
            let trees: Vec<Option<Vec<MemtypeEntry>>> =
                oracles.iter().map(|o| full.then(|| o.entries())).collect();
            summary.ops += 1;
            summary.tree_checks += u64::from(full);
            summary.hook_calls += wants.first().map_or(0, |w| w.len() as u64);
            for (which, l) in lanes.iter_mut() {
                let want = &wants[*which];
                let design = l.strategy();
                let got = l.apply(op);
                if got != want.as_slice() {
                    return Err(diverge(
                        design,
                        format!("hooks returned {got:?}, {} {want:?}", oracle_ids[*which]),
                    ));
                }
                let logged = l.drain_log();
                if logged != logs[*which] {
                    return Err(diverge(
                        design,
                        format!(
                            "logged \"freeing invalid memtype\" for {:?}, {} for {:?}",
                            logged, oracle_ids[*which], logs[*which]
                        ),
                    ));
                }
                let got_len = l.nr_entries();
                if got_len != lens[*which] {
                    return Err(diverge(
                        l.strategy(),
                        format!(
                            "memtype tree has {got_len} entries, {} {}",
                            oracle_ids[*which], lens[*which]
                        ),
                    ));
                }
                if let Some(want) = &trees[*which] {
                    let got = l.entries();
                    if &got != want {
                        let first = got
                            .iter()
                            .zip(want)
                            .position(|(a, b)| a != b)
                            .unwrap_or(got.len().min(want.len()));
                        return Err(diverge(
                            l.strategy(),
                            format!(
                                "memtype tree differs from {}'s (checked whole every {} ops; \
                                 sizes agreed after every op): first difference at entry \
                                 {first}: {:?} against {:?}",
                                oracle_ids[*which],
                                FULL_TREE_EVERY.max(lens[*which] as usize / 4),
                                got.get(first),
                                want.get(first)
                            ),
                        ));
                    }
                }
            }
            progress.inc(1);
        }
    }
    summary.invalid_frees = lanes
        .iter()
        .map(|(_, l)| (l.strategy(), l.invalid_frees()))
        .collect();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick_workload(name: &str) -> (crate::workload::Workload, TrackerConfig, SlabGeometry) {
        let mut sc = crate::workload::Scenario::preset(name).unwrap().quick();
        sc.apply_param("churn_ops=3000").unwrap();
        sc.validate().unwrap();
        let w = crate::workload::generate(&sc, 5, 1);
        let geo = crate::measure::memory::MemoryModel::new("default", 4)
            .unwrap()
            .vma_slab_geometry(false);
        (w, TrackerConfig::with_phys(sc.phys_map()), geo)
    }

    #[test]
    fn every_design_agrees_with_its_kernels_oracle() {
        let (w, cfg, geo) = quick_workload("split-churn");
        let s = check_streams(
            &Strategy::DESIGNS,
            &w.setup,
            &w.workers,
            &cfg,
            geo,
            5,
            &Progress::hidden(),
        )
        .unwrap_or_else(|d| panic!("{d}"));
        assert!(s.ops > 0 && s.hook_calls > 0 && s.tree_checks > 0);
        // Split pieces of tracked VMAs: only VM_PAT frees invalid ranges.
        let invalid: Vec<(Strategy, u64)> = s.invalid_frees.clone();
        assert_eq!(invalid.len(), 4);
        for (d, n) in invalid {
            assert_eq!(n > 0, d == Strategy::Legacy, "{d}: {n} invalid frees");
        }
    }

    #[test]
    fn a_design_checked_against_another_kernels_oracle_diverges() {
        // legacy re-reserves at fork: the v6.16 oracle disagrees at the
        // first fork of a tracked VMA (or the first unmap of a piece).
        let (w, cfg, geo) = quick_workload("fork-storm");
        let d = lockstep(
            &[(Strategy::Legacy, Strategy::Reference)],
            &w.setup,
            &w.workers,
            &cfg,
            geo,
            5,
            &Progress::hidden(),
        )
        .expect_err("v6.15 and v6.16 differ");
        assert_eq!(d.design, Strategy::Legacy);
        assert!(matches!(d.op, Op::Fork { .. } | Op::Exit { .. }), "{d}");
        // The same designs against their own oracles agree.
        lockstep(
            &[(Strategy::Legacy, Strategy::LegacyReference)],
            &w.setup,
            &w.workers,
            &cfg,
            geo,
            5,
            &Progress::hidden(),
        )
        .unwrap_or_else(|d| panic!("{d}"));
    }

    #[test]
    fn whole_tree_comparisons_stay_linear() {
        // Every op of a short stream's end, and spaced by the tree size.
        assert!(full_compare_due(9, 10, 0, 0));
        assert!(!full_compare_due(5, 10, 5, 0));
        assert!(full_compare_due(5, 10_000, 1024, 0));
        assert!(!full_compare_due(5, 10_000, 1024, 100_000));
        assert!(full_compare_due(5, 10_000, 25_000, 100_000));
    }
}
