//! What a report says about one results document: for each scenario and
//! thread count, every metric of every design, its centre and spread over
//! the repeats, and its difference from the baseline design with Welch's
//! t-test (`crate::stats`). Every format in `report/` and `compare` formats
//! these same figures, so two formats of one run cannot disagree.
//!
//! Conventions, stated once here and in every report's legend:
//! - centre: the median of the per-repeat values (robust to one disturbed
//!   repeat);
//! - spread: the sample standard deviation of the per-repeat values as a
//!   percentage of their mean (the spread Welch's test weighs);
//! - significance: Welch's t-test over the per-repeat values, two-sided,
//!   at [`ALPHA`]; a test that cannot be done (fewer than two repeats, or
//!   no spread on either side) is not significant;
//! - memory figures are exact (the workload is deterministic, the document
//!   holds one value per design), so they have no spread and no test.

use std::collections::BTreeSet;

use strategies::Strategy;

use crate::measure::hook::Hook;
use crate::results::{DesignResult, RunResults, ScenarioResult};
use crate::settings;
use crate::stats::{self, WelchResult};

/// Significance level of every test in reports and comparisons.
pub const ALPHA: f64 = 0.05;

/// The design every other is compared with, when present.
pub const BASELINE: Strategy = Strategy::PerVma;

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Latencies and bytes.
    Lower,
    /// Throughput.
    Higher,
}

impl Better {
    /// `lower` or `higher`.
    pub const fn name(self) -> &'static str {
        match self {
            Better::Lower => "lower",
            Better::Higher => "higher",
        }
    }

    /// `lower is better` or `higher is better`.
    pub const fn phrase(self) -> &'static str {
        match self {
            Better::Lower => "lower is better",
            Better::Higher => "higher is better",
        }
    }

    /// How much worse a change of `change_pct` percent is: positive when
    /// the metric moved the wrong way.
    pub fn worse_pct(self, change_pct: f64) -> f64 {
        match self {
            Better::Lower => change_pct,
            Better::Higher => -change_pct,
        }
    }
}

/// One figure a report compares across designs or runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Mean net latency of a hook's calls in one repeat, ns. Unbiased
    /// even on a coarse clock.
    LatencyMean(Hook),
    /// Median latency of a hook in one repeat, ns (quantized to the
    /// clock's resolution).
    LatencyP50(Hook),
    /// 99th percentile latency of a hook in one repeat, ns (quantized).
    LatencyP99(Hook),
    /// Ops per second of wall time (includes the simulator's own cost,
    /// which is the same for every design).
    OpsPerSec,
    /// Kernel bytes per VMA holding a reservation, at the peak.
    PeakBytesPerTrackedVma,
    /// The design's kernel bytes at the peak.
    PeakKernelBytes,
    /// Most memtype entries in the tree at once (net of background).
    ReservationsPeak,
    /// Frees that matched no reservation ("freeing invalid memtype").
    InvalidFrees,
    /// Memtype entries left once every VMA was gone.
    ReservationsLeaked,
}

/// What kind of figure a metric is, for grouping rows under a heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricGroup {
    /// Latencies of one hook.
    Hook(Hook),
    /// Ops per second.
    Throughput,
    /// Kernel memory.
    Memory,
    /// Memtype reservations: how many, and what went wrong with them.
    Reservations,
}

impl Metric {
    /// Stable machine name: `track.mean_ns`, `ops_per_sec`,
    /// `peak.kernel_bytes`... Used in csv, json, exporters and comparisons.
    pub fn key(self) -> String {
        match self {
            Metric::LatencyMean(h) => format!("{h}.tmean_ns"),
            Metric::LatencyP50(h) => format!("{h}.p50_ns"),
            Metric::LatencyP99(h) => format!("{h}.p99_ns"),
            Metric::OpsPerSec => "ops_per_sec".to_string(),
            Metric::PeakBytesPerTrackedVma => "peak.bytes_per_tracked_vma".to_string(),
            Metric::PeakKernelBytes => "peak.kernel_bytes".to_string(),
            Metric::ReservationsPeak => "reservations_peak".to_string(),
            Metric::InvalidFrees => "invalid_frees".to_string(),
            Metric::ReservationsLeaked => "reservations_leaked".to_string(),
        }
    }

    /// Short row label under its group heading (at most 5 characters).
    pub const fn label(self) -> &'static str {
        match self {
            Metric::LatencyMean(_) => "tmean",
            Metric::LatencyP50(_) => "p50",
            Metric::LatencyP99(_) => "p99",
            Metric::OpsPerSec => "ops/s",
            Metric::PeakBytesPerTrackedVma => "B/vma",
            Metric::PeakKernelBytes => "total",
            Metric::ReservationsPeak => "peak",
            Metric::InvalidFrees => "inval",
            Metric::ReservationsLeaked => "leak",
        }
    }

    /// Self-contained label (`track mean`, `ops/s`, `peak B/vma`).
    pub fn long_label(self) -> String {
        match self {
            Metric::LatencyMean(h) | Metric::LatencyP50(h) | Metric::LatencyP99(h) => {
                format!("{h} {}", self.label())
            }
            Metric::OpsPerSec => "ops/s".to_string(),
            Metric::PeakBytesPerTrackedVma => "peak B/vma".to_string(),
            Metric::PeakKernelBytes => "peak bytes".to_string(),
            Metric::ReservationsPeak => "peak reservations".to_string(),
            Metric::InvalidFrees => "invalid frees".to_string(),
            Metric::ReservationsLeaked => "leaked reservations".to_string(),
        }
    }

    /// Unit of the values: `ns`, `ops/s` or `bytes`.
    pub const fn unit(self) -> &'static str {
        match self {
            Metric::LatencyMean(_) | Metric::LatencyP50(_) | Metric::LatencyP99(_) => "ns",
            Metric::OpsPerSec => "ops/s",
            Metric::PeakBytesPerTrackedVma | Metric::PeakKernelBytes => "bytes",
            Metric::ReservationsPeak | Metric::ReservationsLeaked => "entries",
            Metric::InvalidFrees => "frees",
        }
    }

    /// Which way is an improvement.
    pub const fn better(self) -> Better {
        match self {
            Metric::OpsPerSec => Better::Higher,
            _ => Better::Lower,
        }
    }

    /// Exact figures (memory): one value per design, no spread, no test;
    /// any difference is real.
    pub const fn exact(self) -> bool {
        matches!(
            self,
            Metric::PeakBytesPerTrackedVma
                | Metric::PeakKernelBytes
                | Metric::ReservationsPeak
                | Metric::InvalidFrees
                | Metric::ReservationsLeaked
        )
    }

    /// Per-call percentiles: multiples of the timer's resolution.
    pub const fn quantized(self) -> bool {
        matches!(self, Metric::LatencyP50(_) | Metric::LatencyP99(_))
    }

    /// The heading this metric's row sits under.
    pub const fn group(self) -> MetricGroup {
        match self {
            Metric::LatencyMean(h) | Metric::LatencyP50(h) | Metric::LatencyP99(h) => {
                MetricGroup::Hook(h)
            }
            Metric::OpsPerSec => MetricGroup::Throughput,
            Metric::PeakBytesPerTrackedVma | Metric::PeakKernelBytes => MetricGroup::Memory,
            Metric::ReservationsPeak | Metric::InvalidFrees | Metric::ReservationsLeaked => {
                MetricGroup::Reservations
            }
        }
    }

    /// Position in report order: hooks in [`Hook::ALL`] order (mean, p50,
    /// p99 each), then throughput, then memory.
    pub fn order(self) -> (usize, usize) {
        match self {
            Metric::LatencyMean(h) => (h.index(), 0),
            Metric::LatencyP50(h) => (h.index(), 1),
            Metric::LatencyP99(h) => (h.index(), 2),
            Metric::OpsPerSec => (Hook::COUNT, 0),
            Metric::PeakBytesPerTrackedVma => (Hook::COUNT + 1, 0),
            Metric::PeakKernelBytes => (Hook::COUNT + 1, 1),
            Metric::ReservationsPeak => (Hook::COUNT + 2, 0),
            Metric::InvalidFrees => (Hook::COUNT + 2, 1),
            Metric::ReservationsLeaked => (Hook::COUNT + 2, 2),
        }
    }

    /// The metric's value in each repeat of `d`, in run order (one value
    /// for exact metrics). Empty when `d` has no such figure: the hook
    /// never ran, no repeat completed, or no VMA was tracked.
    pub fn values(self, d: &DesignResult) -> Vec<f64> {
        let hook = |h: Hook, pick: fn(&crate::results::HookSummary) -> f64| {
            d.repeats
                .iter()
                .filter_map(|r| r.hooks.get(&h).filter(|s| s.count > 0).map(pick))
                .collect()
        };
        match self {
            Metric::LatencyMean(h) => hook(h, |s| s.tmean_ns),
            Metric::LatencyP50(h) => hook(h, |s| s.p50_ns as f64),
            Metric::LatencyP99(h) => hook(h, |s| s.p99_ns as f64),
            Metric::OpsPerSec => d.repeats.iter().map(|r| r.ops_per_sec).collect(),
            Metric::PeakBytesPerTrackedVma => {
                let peak = &d.memory.peak;
                if peak.nr_tracked_vmas == 0 {
                    Vec::new()
                } else {
                    vec![peak.bytes_per_tracked_vma]
                }
            }
            Metric::PeakKernelBytes => vec![d.memory.peak.kernel_bytes as f64],
            // Nothing to say of a design that never reserved (null, or a
            // document from before these were recorded).
            _ if d.reservations_peak == 0 => Vec::new(),
            Metric::ReservationsPeak => vec![d.reservations_peak as f64],
            Metric::InvalidFrees => vec![d.invalid_frees as f64],
            Metric::ReservationsLeaked => vec![d.reservations_leaked as f64],
        }
    }
}

/// The metrics design `d` has figures for, in report order.
pub fn metrics_of(d: &DesignResult) -> Vec<Metric> {
    let hooks: BTreeSet<Hook> = d
        .repeats
        .iter()
        .flat_map(|r| r.hooks.iter().filter(|(_, s)| s.count > 0).map(|(h, _)| *h))
        .collect();
    let mut out: Vec<Metric> = hooks
        .into_iter()
        .flat_map(|h| {
            [
                Metric::LatencyMean(h),
                Metric::LatencyP50(h),
                Metric::LatencyP99(h),
            ]
        })
        .collect();
    out.extend([
        Metric::OpsPerSec,
        Metric::PeakBytesPerTrackedVma,
        Metric::PeakKernelBytes,
        Metric::ReservationsPeak,
        Metric::InvalidFrees,
        Metric::ReservationsLeaked,
    ]);
    out.retain(|m| !m.values(d).is_empty());
    out.sort_by_key(|m| m.order());
    out
}

/// Centre and spread of one metric's per-repeat values.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// The values, in run order.
    pub values: Vec<f64>,
    /// Their median: the figure reports show.
    pub median: f64,
    /// Their mean (what Welch's test compares).
    pub mean: f64,
    /// Sample standard deviation as a percentage of the mean; `None` for
    /// fewer than two values or a zero mean.
    pub rel_stddev_pct: Option<f64>,
    /// Sample standard deviation in the metric's unit; `None` for fewer
    /// than two values.
    pub stddev: Option<f64>,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Stat {
    /// The statistics of `values`; `None` when there are none.
    pub fn of(values: Vec<f64>) -> Option<Stat> {
        let median = stats::median(&values)?;
        let mean = stats::mean(&values)?;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Stat {
            rel_stddev_pct: stats::rel_stddev_pct(&values),
            stddev: stats::stddev(&values),
            values,
            median,
            mean,
            min,
            max,
        })
    }

    /// The statistics of `metric` over the repeats of `d`.
    pub fn of_metric(metric: Metric, d: &DesignResult) -> Option<Stat> {
        Stat::of(metric.values(d))
    }
}

/// How sure a difference is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Evidence {
    /// Exact figures: any difference is real.
    Exact,
    /// Welch's t-test over the per-repeat values.
    Welch(WelchResult),
    /// Every repeat gave the same value on each side, two or more repeats
    /// each, and the two values differ (common for percentiles, which move
    /// in clock steps). Welch's test is undefined without spread; this is
    /// its limit as the spread goes to zero (t infinite, p = 0), so the
    /// difference counts as significant.
    Constant,
}

/// Below this reference latency (ns) no percentage difference is shown.
pub const MIN_LATENCY_BASE_NS: f64 = 1.0;

/// One figure against a reference figure (another design, or BASE).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Versus {
    /// `100 * (median - reference median) / reference median`; `None`
    /// when the reference median is 0, or a latency below
    /// [`MIN_LATENCY_BASE_NS`].
    pub diff_pct: Option<f64>,
    /// What decides significance.
    pub evidence: Evidence,
}

impl Versus {
    /// Compare `other` with `reference` for `metric`.
    pub fn of(metric: Metric, reference: &Stat, other: &Stat) -> Versus {
        // A latency below a nanosecond (a field read; the null design) is
        // noise around zero after the overhead subtraction: a percentage
        // of it would be a number without meaning.
        let latency = matches!(
            metric,
            Metric::LatencyMean(_) | Metric::LatencyP50(_) | Metric::LatencyP99(_)
        );
        let floor = if latency { MIN_LATENCY_BASE_NS } else { 0.0 };
        let diff_pct = (reference.median.abs() > floor || (!latency && reference.median != 0.0))
            .then(|| 100.0 * (other.median - reference.median) / reference.median.abs());
        let constant = |s: &Stat| s.values.len() >= 2 && s.min == s.max;
        let evidence = if metric.exact() {
            Evidence::Exact
        } else if constant(reference) && constant(other) && reference.mean != other.mean {
            Evidence::Constant
        } else {
            Evidence::Welch(stats::welch_t_test(&other.values, &reference.values))
        };
        Versus { diff_pct, evidence }
    }

    /// Two-sided p-value of Welch's test; `None` for exact figures,
    /// constant ones, or an undefined test.
    pub fn p_value(&self) -> Option<f64> {
        match self.evidence {
            Evidence::Welch(w) if w.undefined.is_none() => Some(w.p_two_sided),
            _ => None,
        }
    }

    /// Whether the difference is significant at [`ALPHA`] (exact figures:
    /// whether they differ at all).
    pub fn significant(&self) -> bool {
        match self.evidence {
            Evidence::Exact => self.diff_pct.is_some_and(|d| d != 0.0),
            Evidence::Constant => true,
            Evidence::Welch(w) => w.undefined.is_none() && stats::significant(w.p_two_sided, ALPHA),
        }
    }
}

/// One design's figure for one metric, with its difference from the
/// baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Centre and spread.
    pub stat: Stat,
    /// Against the baseline design: `None` in the baseline's own column,
    /// or when the baseline has no such figure.
    pub vs_baseline: Option<Versus>,
}

/// One metric across the designs of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The metric.
    pub metric: Metric,
    /// One entry per column of the block (`None`: no figure).
    pub cells: Vec<Option<Cell>>,
}

/// One scenario at one thread count: the designs side by side.
#[derive(Debug, Clone)]
pub struct Block<'a> {
    /// The scenario.
    pub scenario: &'a ScenarioResult,
    /// Worker threads.
    pub threads: u32,
    /// The compared designs, baseline first (never `null`).
    pub designs: Vec<&'a DesignResult>,
    /// The `null` design, reported as the harness floor.
    pub null: Option<&'a DesignResult>,
    /// Every metric any column has, in report order.
    pub rows: Vec<Row>,
    /// Each design's column label: its name, with its settings where they
    /// are not the defaults (`xarray>>6`); see `crate::settings`.
    pub labels: Vec<String>,
    /// The scenario's parameters that differ from its preset
    /// (`processes=1000`, `pat_enabled=false`).
    pub overrides: Vec<String>,
}

impl<'a> Block<'a> {
    /// Build the block for `scenario` at `threads` from its designs.
    pub fn new(scenario: &'a ScenarioResult, threads: u32) -> Block<'a> {
        let mut designs: Vec<&DesignResult> = Vec::new();
        let mut null = None;
        for d in scenario.designs.iter().filter(|d| d.threads == threads) {
            if d.strategy == Strategy::Null {
                null = null.or(Some(d));
            } else if !designs.iter().any(|e| e.strategy == d.strategy) {
                designs.push(d);
            }
        }
        // The baseline leads; the rest keep run order.
        if let Some(i) = designs.iter().position(|d| d.strategy == BASELINE) {
            let base = designs.remove(i);
            designs.insert(0, base);
        }
        let mut metrics: Vec<Metric> = designs
            .iter()
            .flat_map(|d| metrics_of(d))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        metrics.sort_by_key(|m| m.order());
        let rows = metrics
            .into_iter()
            .map(|metric| {
                let stats: Vec<Option<Stat>> =
                    designs.iter().map(|d| Stat::of_metric(metric, d)).collect();
                let base = stats.first().cloned().flatten();
                let cells = stats
                    .into_iter()
                    .enumerate()
                    .map(|(i, stat)| {
                        let stat = stat?;
                        let vs_baseline = match (&base, i) {
                            (Some(b), 1..) => Some(Versus::of(metric, b, &stat)),
                            _ => None,
                        };
                        Some(Cell { stat, vs_baseline })
                    })
                    .collect();
                Row { metric, cells }
            })
            .collect();
        let labels = designs.iter().map(|d| d.strategy.to_string()).collect();
        Block {
            scenario,
            threads,
            designs,
            null,
            rows,
            labels,
            overrides: Vec::new(),
        }
    }

    /// The design the others are compared with (the first column).
    pub fn baseline(&self) -> Option<Strategy> {
        self.designs.first().map(|d| d.strategy)
    }

    /// Most repeats any design of the block has.
    pub fn repeats(&self) -> usize {
        self.designs
            .iter()
            .chain(self.null.iter())
            .map(|d| d.repeats.len())
            .max()
            .unwrap_or(0)
    }

    /// The `null` design's mean net latency per hook call over all its
    /// repeats, ns: what the harness itself costs per timed call.
    pub fn harness_floor_ns(&self) -> Option<f64> {
        harness_floor_ns(self.null?)
    }
}

/// Net latency per hook call of `d` over all its repeats, ns: the
/// call-weighted average of each hook's trimmed mean (the fastest 99%), so
/// one preempted call does not make the harness look slow; `None` when no
/// call was timed.
pub fn harness_floor_ns(d: &DesignResult) -> Option<f64> {
    let (calls, ns) = d
        .repeats
        .iter()
        .flat_map(|r| r.hooks.values())
        .fold((0u64, 0.0f64), |(c, t), s| {
            (c + s.count, t + s.tmean_ns * s.count as f64)
        });
    (calls > 0).then(|| ns / calls as f64)
}

/// Every block of a run: scenarios in run order, thread counts ascending.
pub fn blocks(results: &RunResults) -> Vec<Block<'_>> {
    results
        .scenarios
        .iter()
        .flat_map(|s| {
            let threads: BTreeSet<u32> = s.designs.iter().map(|d| d.threads).collect();
            threads.into_iter().map(move |t| {
                let mut b = Block::new(s, t);
                b.labels = b
                    .designs
                    .iter()
                    .map(|d| settings::design_label(d.strategy, &results.params))
                    .collect();
                b.overrides = settings::scenario_overrides(&s.params, results.params.quick);
                b
            })
        })
        .collect()
}

/// Hook errors and refusals of `d`, summed over its repeats, by name.
pub fn error_totals(d: &DesignResult) -> Vec<(String, u64)> {
    let mut totals: std::collections::BTreeMap<&str, u64> = Default::default();
    for r in &d.repeats {
        for (name, n) in &r.errors {
            *totals.entry(name).or_default() += n;
        }
    }
    totals
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;

    #[test]
    fn baseline_leads_and_null_is_set_apart() {
        let run = Fixture::new()
            .designs(&[
                Strategy::Null,
                Strategy::Xarray,
                Strategy::PerVma,
                Strategy::MemtypeExt,
            ])
            .build();
        let b = blocks(&run);
        assert_eq!(b.len(), 1);
        let names: Vec<Strategy> = b[0].designs.iter().map(|d| d.strategy).collect();
        assert_eq!(
            names,
            [Strategy::PerVma, Strategy::Xarray, Strategy::MemtypeExt]
        );
        assert_eq!(b[0].null.map(|d| d.strategy), Some(Strategy::Null));
        assert!(b[0].harness_floor_ns().is_some());
    }

    #[test]
    fn rows_follow_report_order_and_compare_with_the_baseline() {
        let run = Fixture::new().build();
        let block = &blocks(&run)[0];
        let order: Vec<(usize, usize)> = block.rows.iter().map(|r| r.metric.order()).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert_eq!(block.rows[0].metric, Metric::LatencyMean(Hook::Track));
        let track = &block.rows[0];
        assert!(track.cells[0].as_ref().unwrap().vs_baseline.is_none());
        let xa = track.cells[1].as_ref().unwrap();
        let vs = xa.vs_baseline.unwrap();
        // The fixture makes xarray's track slower than per-vma's by much
        // more than its 1% repeat noise.
        assert!(vs.diff_pct.unwrap() > 5.0, "{vs:?}");
        assert!(vs.significant(), "{vs:?}");
        let mem = block
            .rows
            .iter()
            .find(|r| r.metric == Metric::PeakKernelBytes)
            .unwrap();
        let vs = mem.cells[1].as_ref().unwrap().vs_baseline.unwrap();
        assert_eq!(vs.evidence, Evidence::Exact);
        assert_eq!(vs.p_value(), None);
    }

    #[test]
    fn identical_values_are_not_significant() {
        let a = Stat::of(vec![10.0, 10.0, 10.0]).unwrap();
        let v = Versus::of(Metric::LatencyP50(Hook::Dup), &a, &a.clone());
        assert_eq!(v.diff_pct, Some(0.0));
        assert!(!v.significant());
        assert_eq!(v.p_value(), None, "zero spread: test undefined");
        // Constant but different (quantized percentiles): significant.
        let b = Stat::of(vec![20.0, 20.0, 20.0]).unwrap();
        let v = Versus::of(Metric::LatencyP50(Hook::Dup), &a, &b);
        assert_eq!(v.evidence, Evidence::Constant);
        assert!(v.significant());
        assert_eq!(v.diff_pct, Some(100.0));
        // One repeat each: no test at all.
        let (c, d) = (Stat::of(vec![1.0]).unwrap(), Stat::of(vec![2.0]).unwrap());
        assert!(!Versus::of(Metric::LatencyP50(Hook::Dup), &c, &d).significant());
        let one = Stat::of(vec![5.0]).unwrap();
        assert_eq!(one.rel_stddev_pct, None);
        assert!(!Versus::of(Metric::OpsPerSec, &one, &one).significant());
        let zero = Stat::of(vec![0.0, 0.0]).unwrap();
        assert_eq!(
            Versus::of(Metric::LatencyMean(Hook::Dup), &zero, &a).diff_pct,
            None
        );
    }

    #[test]
    fn worse_direction_follows_the_metric() {
        assert_eq!(Metric::OpsPerSec.better().worse_pct(-20.0), 20.0);
        assert_eq!(
            Metric::LatencyMean(Hook::Track).better().worse_pct(20.0),
            20.0
        );
        assert!(Metric::PeakKernelBytes.exact());
        assert_eq!(
            Metric::LatencyP99(Hook::SetupCachemode).key(),
            "setup_cachemode.p99_ns"
        );
    }
}
