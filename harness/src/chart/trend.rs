//! Trend chart: a key metric over several runs (e.g. bench-results/history/),
//! one chart per (scenario, metric), a line per design; x is the run, oldest
//! first, labelled by the git commit that built it; y is the median over
//! the run's repeats, with bars from the lowest to the highest repeat.
//!
//! Scenarios are matched by name and designs by strategy; a run without
//! the scenario, design or metric leaves a gap in the line. Each run
//! contributes its lowest thread count (the uncontended figures).

use strategies::Strategy;

use super::render::{Axis, Look, Plot, Series, fmt_ns, fmt_num, si_unit};
use super::{ChartKind, ChartSet, Run, design_at, short_commit, slug, threads_of};
use crate::measure::hook::Hook;
use crate::results::{DesignResult, RunResults};
use crate::stats::median;

/// Most labelled runs on the x axis; beyond this every k-th is labelled.
const MAX_X_LABELS: usize = 12;

/// A metric followed over runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrendMetric {
    /// Trimmed-mean `vm_area_dup()` latency of a pfnmap VMA.
    DupMean,
    /// Mean whole-VMA `remap_pfn_range()` tracking latency.
    TrackMean,
    /// Mean latency of the free that untracks.
    UntrackMean,
    /// Mean `vmf_insert_pfn()` cache-mode lookup latency.
    FaultMean,
    /// Ops per second, all workers.
    Throughput,
    /// Kernel bytes per tracked VMA at the memory peak.
    BytesPerTrackedVma,
}

impl TrendMetric {
    /// Every metric, in index order.
    pub const ALL: [TrendMetric; 6] = [
        TrendMetric::DupMean,
        TrendMetric::TrackMean,
        TrendMetric::UntrackMean,
        TrendMetric::FaultMean,
        TrendMetric::Throughput,
        TrendMetric::BytesPerTrackedVma,
    ];

    /// File-name form.
    pub const fn name(self) -> &'static str {
        match self {
            TrendMetric::DupMean => "dup-mean",
            TrendMetric::TrackMean => "track-mean",
            TrendMetric::UntrackMean => "untrack-mean",
            TrendMetric::FaultMean => "fault-mean",
            TrendMetric::Throughput => "throughput",
            TrendMetric::BytesPerTrackedVma => "bytes-per-tracked-vma",
        }
    }

    /// Chart title form.
    pub const fn title(self) -> &'static str {
        match self {
            TrendMetric::DupMean => "dup latency (tmean)",
            TrendMetric::TrackMean => "track latency (tmean)",
            TrendMetric::UntrackMean => "untrack latency (tmean)",
            TrendMetric::FaultMean => "fault latency (tmean)",
            TrendMetric::Throughput => "throughput",
            TrendMetric::BytesPerTrackedVma => "kernel bytes per tracked VMA",
        }
    }

    /// The hook a latency metric reads.
    const fn hook(self) -> Option<Hook> {
        match self {
            TrendMetric::DupMean => Some(Hook::Dup),
            TrendMetric::TrackMean => Some(Hook::Track),
            TrendMetric::UntrackMean => Some(Hook::Untrack),
            TrendMetric::FaultMean => Some(Hook::Fault),
            TrendMetric::Throughput | TrendMetric::BytesPerTrackedVma => None,
        }
    }

    /// `(median, low, high)` of the metric for one design in one run; the
    /// range is over repeats (a single figure has low = high = median).
    pub fn value(self, d: &DesignResult) -> Option<(f64, f64, f64)> {
        let per_repeat: Vec<f64> = match self.hook() {
            Some(hook) => d
                .repeats
                .iter()
                .filter_map(|r| r.hooks.get(&hook))
                .filter(|h| h.count > 0)
                .map(|h| h.tmean_ns)
                .collect(),
            None if self == TrendMetric::Throughput => {
                d.repeats.iter().map(|r| r.ops_per_sec).collect()
            }
            None => {
                let peak = &d.memory.peak;
                if peak.nr_tracked_vmas == 0 {
                    return None;
                }
                vec![peak.bytes_per_tracked_vma]
            }
        };
        let mid = median(&per_repeat)?;
        let lo = per_repeat.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_repeat.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((mid, lo, hi))
    }
}

/// Add the trend charts over `runs` (oldest first) to `set`.
pub(super) fn build(runs: &[Run], set: &mut ChartSet) {
    if runs.len() < 2 {
        set.skip(
            ChartKind::Trend,
            "",
            format!(
                "a trend needs two or more results documents; got {}",
                runs.len()
            ),
        );
        return;
    }
    let mut scenarios: Vec<&str> = Vec::new();
    for run in runs.iter().rev() {
        for s in &run.results.scenarios {
            if !scenarios.contains(&s.name.as_str()) {
                scenarios.push(&s.name);
            }
        }
    }
    for scenario in scenarios {
        let mut any = false;
        for metric in TrendMetric::ALL {
            if let Some(plot) = plot(runs, scenario, metric) {
                let stem = format!("{}-{}-{}", ChartKind::Trend, slug(scenario), metric.name());
                set.push(ChartKind::Trend, scenario, stem, plot);
                any = true;
            }
        }
        if !any {
            set.skip(ChartKind::Trend, scenario, "no metric recorded in any run");
        }
    }
}

/// The chart of `metric` for the scenario named `scenario`; `None` if no
/// run has a value.
pub fn plot(runs: &[Run], scenario: &str, metric: TrendMetric) -> Option<Plot> {
    // (run index, design) at each run's lowest thread count.
    let mut cells: Vec<(usize, Strategy, (f64, f64, f64))> = Vec::new();
    let mut thread_counts: Vec<u32> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let Some(s) = run.results.scenarios.iter().find(|s| s.name == scenario) else {
            continue;
        };
        let Some(&t) = threads_of(s).first() else {
            continue;
        };
        for strategy in Strategy::ALL {
            // null holds no kernel memory: a zero line says nothing.
            if metric == TrendMetric::BytesPerTrackedVma && strategy == Strategy::Null {
                continue;
            }
            if let Some(v) = design_at(s, strategy, t).and_then(|d| metric.value(d)) {
                cells.push((i, strategy, v));
                if !thread_counts.contains(&t) {
                    thread_counts.push(t);
                }
            }
        }
    }
    if cells.is_empty() {
        return None;
    }
    let max = cells.iter().map(|c| c.2.2).fold(0.0, f64::max);
    let (div, y) = match metric {
        TrendMetric::Throughput => {
            let (div, unit) = si_unit(max);
            (
                div,
                Axis::linear(
                    format!("throughput ({unit}ops/s, all workers)"),
                    0.0,
                    max / div,
                    true,
                    fmt_num,
                ),
            )
        }
        TrendMetric::BytesPerTrackedVma => (
            1.0,
            Axis::linear("bytes per tracked VMA (at peak)", 0.0, max, true, fmt_num),
        ),
        _ => (
            1.0,
            Axis::linear(
                "latency per call (tmean: mean of the fastest 99%)",
                0.0,
                max,
                true,
                fmt_ns,
            ),
        ),
    };

    let mut series = Vec::new();
    for strategy in Strategy::ALL {
        let mine: Vec<&(usize, Strategy, (f64, f64, f64))> =
            cells.iter().filter(|c| c.1 == strategy).collect();
        if mine.is_empty() {
            continue;
        }
        // Split the line where a run is missing.
        let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut last: Option<usize> = None;
        for c in &mine {
            if last.is_none_or(|l| c.0 != l + 1) {
                segments.push(Vec::new());
            }
            segments
                .last_mut()
                .expect("a segment was pushed")
                .push((c.0 as f64, c.2.0 / div));
            last = Some(c.0);
        }
        let error_bars = mine
            .iter()
            .filter(|c| c.2.2 > c.2.1)
            .map(|c| (c.0 as f64, c.2.1 / div, c.2.2 / div))
            .collect();
        series.push(Series {
            name: strategy.name().to_string(),
            look: Look::of(strategy),
            segments,
            markers: runs.len() <= 40,
            error_bars,
        });
    }

    // Count from the newest run so it is always labelled, evenly spaced.
    let every = runs.len().div_ceil(MAX_X_LABELS).max(1);
    let ticks = (0..runs.len())
        .filter(|i| (runs.len() - 1 - i).is_multiple_of(every))
        .map(|i| (i as f64, short_commit(&runs[i].results)))
        .collect();
    let x = Axis {
        label: "run, oldest to newest (git commit that built it; + = dirty tree)".to_string(),
        scale: super::render::Scale::Linear,
        lo: 0.0,
        hi: (runs.len() - 1) as f64,
        ticks,
        minor: Vec::new(),
    };
    let threads = if thread_counts.len() == 1 {
        format!("threads = {}", thread_counts[0])
    } else {
        "each run's lowest thread count".to_string()
    };
    let statistic = if metric == TrendMetric::BytesPerTrackedVma {
        "one figure per run (deterministic)"
    } else {
        "median over repeats, bars span the lowest to the highest repeat"
    };
    let first = &runs[0].results.started_at;
    let last = &runs[runs.len() - 1].results.started_at;
    let mut notes = vec![format!("{} runs, {first} to {last}.", runs.len())];
    if let Some(w) = mixed_machines(runs) {
        notes.push(w);
    }
    Some(Plot {
        title: format!("{scenario}: {} over runs", metric.title()),
        subtitle: format!("{threads} · {statistic}"),
        x,
        y,
        series,
        notes,
    })
}

/// A warning when the runs did not all measure on the same machine and
/// build, whose figures do not compare like for like.
fn mixed_machines(runs: &[Run]) -> Option<String> {
    let key = |r: &RunResults| {
        format!(
            "{} x{} ({}, {} timer)",
            r.env.cpu_model, r.env.nr_cpus, r.env.profile, r.env.timer.kind
        )
    };
    let mut seen: Vec<String> = Vec::new();
    for r in runs {
        let k = key(&r.results);
        if !seen.contains(&k) {
            seen.push(k);
        }
    }
    (seen.len() > 1).then(|| {
        format!(
            "Warning: these runs come from {} different machines or builds ({}); \
             steps between them need not be regressions.",
            seen.len(),
            seen.join("; ")
        )
    })
}
