//! Trend chart: a key metric over several runs (e.g. bench-results/history/),
//! one chart per (scenario, metric), a line per design and settings; x is
//! the run, oldest first, labelled by the git commit that built it; y is
//! the median over the run's repeats, with bars from the lowest to the
//! highest repeat. Runs are read as summaries (`crate::run_summary`).
//!
//! Scenarios are matched by name and designs by strategy; a run without
//! the scenario, design or metric leaves a gap in the line. Runs that did
//! not do the same work for the scenario (any setting in
//! `crate::settings` differs: quick against full, another
//! `--xa-key-shift`, other parameters) are separate series, named by what
//! differs, never one line. Each run contributes its lowest thread count
//! (the uncontended figures).

use std::collections::{BTreeMap, BTreeSet};

use strategies::Strategy;

use super::render::{Axis, Dash, Look, Plot, Series, fmt_ns, fmt_num, si_unit};
use super::{ChartKind, ChartSet, Run, short_commit, slug};
use crate::measure::hook::Hook;
use crate::report::summary::Metric;
use crate::run_summary::{DesignSummary, RunSummary, ScenarioSummary};
use crate::settings;
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

    /// The report metric this trend follows.
    const fn metric(self) -> Metric {
        match self {
            TrendMetric::DupMean => Metric::LatencyMean(Hook::Dup),
            TrendMetric::TrackMean => Metric::LatencyMean(Hook::Track),
            TrendMetric::UntrackMean => Metric::LatencyMean(Hook::Untrack),
            TrendMetric::FaultMean => Metric::LatencyMean(Hook::Fault),
            TrendMetric::Throughput => Metric::OpsPerSec,
            TrendMetric::BytesPerTrackedVma => Metric::PeakBytesPerTrackedVma,
        }
    }

    /// `(median, low, high)` of the metric for one design in one run; the
    /// range is over repeats (a single figure has low = high = median).
    pub fn value(self, d: &DesignSummary) -> Option<(f64, f64, f64)> {
        let per_repeat = d.values(self.metric());
        let mid = median(&per_repeat)?;
        let lo = per_repeat.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_repeat.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((mid, lo, hi))
    }
}

/// The scenario named `name` in `run`, if it has it.
fn scenario_of<'a>(run: &'a RunSummary, name: &str) -> Option<&'a ScenarioSummary> {
    run.scenarios.iter().find(|s| s.name == name)
}

/// Every setting of `run` that changes the work of scenario `s`.
fn work_of(run: &RunSummary, s: &ScenarioSummary) -> BTreeMap<String, String> {
    let mut m = settings::run_settings(&run.params);
    m.extend(settings::scenario_settings_of(
        &s.name, &s.params, s.seed, s.nr_ops,
    ));
    m
}

/// Most settings named in a series' label.
const MAX_NAMED: usize = 3;

/// The runs' groups of identical work for one scenario: each run's group
/// index (`None` without the scenario) and each group's name, the
/// settings that tell it apart (empty when there is one group).
fn groups(runs: &[Run], scenario: &str) -> (Vec<Option<usize>>, Vec<String>) {
    let mut works: Vec<BTreeMap<String, String>> = Vec::new();
    let member = runs
        .iter()
        .map(|r| {
            let s = scenario_of(&r.summary, scenario)?;
            let w = work_of(&r.summary, s);
            Some(match works.iter().position(|x| *x == w) {
                Some(i) => i,
                None => {
                    works.push(w);
                    works.len() - 1
                }
            })
        })
        .collect();
    if works.len() <= 1 {
        return (member, vec![String::new(); works.len()]);
    }
    // Name a group by the settings whose values are not the same in all
    // groups (the xarray key shift shows in the design's own label).
    // The scenario's seed and op count follow from the run's seed and the
    // parameters: named only when nothing else tells the groups apart.
    let prefix = format!("{scenario}.");
    let derived = [format!("{prefix}seed"), format!("{prefix}nr_ops")];
    let all: BTreeSet<&String> = works
        .iter()
        .flat_map(|w| w.keys())
        .filter(|k| k.as_str() != "xa_key_shift")
        .filter(|k| works.iter().any(|w| w.get(*k) != works[0].get(*k)))
        .collect();
    let primary: Vec<&String> = all
        .iter()
        .copied()
        .filter(|k| !derived.contains(k))
        .collect();
    let varying = if primary.is_empty() {
        all.into_iter().collect()
    } else {
        primary
    };
    let names = works
        .iter()
        .map(|w| {
            let mut parts: Vec<String> = varying
                .iter()
                .take(MAX_NAMED)
                .map(|k| {
                    let short = k.strip_prefix(&prefix).unwrap_or(k);
                    let v = w.get(*k).map_or("-", String::as_str);
                    format!("{short}={v}")
                })
                .collect();
            if varying.len() > MAX_NAMED {
                parts.push(format!("+{} more", varying.len() - MAX_NAMED));
            }
            parts.join(", ")
        })
        .collect();
    (member, names)
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
        for s in &run.summary.scenarios {
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

/// One line of a trend: a design in one group of identical work.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LineKey {
    group: usize,
    strategy: Strategy,
    label: String,
}

/// The chart of `metric` for the scenario named `scenario`; `None` if no
/// run has a value.
pub fn plot(runs: &[Run], scenario: &str, metric: TrendMetric) -> Option<Plot> {
    let (member, group_names) = groups(runs, scenario);
    // (run index, line, value) at each run's lowest thread count.
    let mut cells: Vec<(usize, LineKey, (f64, f64, f64))> = Vec::new();
    let mut thread_counts: Vec<u32> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let (Some(s), Some(group)) = (scenario_of(&run.summary, scenario), member[i]) else {
            continue;
        };
        let Some(t) = s.designs.iter().map(|d| d.threads).min() else {
            continue;
        };
        for strategy in Strategy::ALL {
            // null holds no kernel memory: a zero line says nothing.
            if metric == TrendMetric::BytesPerTrackedVma && strategy == Strategy::Null {
                continue;
            }
            let d = s
                .designs
                .iter()
                .find(|d| d.strategy == strategy && d.threads == t);
            if let Some(v) = d.and_then(|d| metric.value(d)) {
                let mut label = settings::design_label(strategy, &run.summary.params);
                if !group_names[group].is_empty() {
                    label = format!("{label} ({})", group_names[group]);
                }
                let line = LineKey {
                    group,
                    strategy,
                    label,
                };
                cells.push((i, line, v));
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

    let mut lines: Vec<&LineKey> = cells.iter().map(|c| &c.1).collect();
    lines.sort();
    lines.dedup();
    let spread = sideways(lines.len());
    let lines_n = lines.len();
    let mut series = Vec::new();
    for (k, line) in lines.iter().enumerate() {
        let dx = spread * (k as f64 - (lines.len() - 1) as f64 / 2.0);
        let mine: Vec<&(usize, LineKey, (f64, f64, f64))> =
            cells.iter().filter(|c| c.1 == **line).collect();
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
                .push((c.0 as f64 + dx, c.2.0 / div));
            last = Some(c.0);
        }
        let error_bars = mine
            .iter()
            .filter(|c| c.2.2 > c.2.1)
            .map(|c| (c.0 as f64 + dx, c.2.1 / div, c.2.2 / div))
            .collect();
        // Another group of work keeps the design's colour and marker but
        // takes another dash, so its series stays apart.
        let mut look = Look::of(line.strategy);
        if line.group > 0 {
            let dashes = [Dash::Solid, Dash::Dashed, Dash::Dotted];
            let own = dashes.iter().position(|d| *d == look.dash).unwrap_or(0);
            look.dash = dashes[(own + line.group) % dashes.len()];
        }
        series.push(Series {
            name: line.label.clone(),
            look,
            segments,
            markers: runs.len() <= 40,
            error_bars,
        });
    }

    // Count from the newest run so it is always labelled, evenly spaced.
    let every = runs.len().div_ceil(MAX_X_LABELS).max(1);
    let ticks = (0..runs.len())
        .filter(|i| (runs.len() - 1 - i).is_multiple_of(every))
        .map(|i| (i as f64, short_commit(&runs[i].summary.tool)))
        .collect();
    // Room for the outermost offsets and their bars.
    let pad = spread * lines_n as f64 / 2.0 + 0.1;
    let x = Axis {
        label: "run, oldest to newest (git commit that built it; + = dirty tree); \
                designs side by side at each run"
            .to_string(),
        scale: super::render::Scale::Linear,
        lo: -pad,
        hi: (runs.len() - 1) as f64 + pad,
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
    let first = &runs[0].summary.started_at;
    let last = &runs[runs.len() - 1].summary.started_at;
    let mut notes = vec![format!("{} runs, {first} to {last}.", runs.len())];
    if group_names.len() > 1 {
        notes.push(format!(
            "These runs did not all do the same work: {} series per design, named by \
             the settings that differ.",
            group_names.len()
        ));
    }
    let unclean = runs
        .iter()
        .filter(|r| r.summary.record.as_ref().is_some_and(|rec| !rec.clean()))
        .count();
    if unclean > 0 {
        notes.push(format!(
            "{unclean} run(s) were recorded from a dirty tree or with a failed gate."
        ));
    }
    if let Some(w) = mixed_machines(runs) {
        notes.push(w);
    }
    notes.extend(coinciding(&cells));
    Some(Plot {
        title: format!("{scenario}: {} over runs", metric.title()),
        subtitle: format!("{threads} · {statistic}"),
        x,
        y,
        series,
        notes,
    })
}

/// Sideways distance, in runs, between neighbouring designs' points at
/// one run, for `lines` lines: together they span at most half the gap
/// between runs, so each run's cluster stays apart from the next.
fn sideways(lines: usize) -> f64 {
    if lines <= 1 {
        0.0
    } else {
        (0.5 / (lines - 1) as f64).min(0.12)
    }
}

/// A note per pair of lines whose medians are equal at every run both
/// have (a deterministic figure, often): drawn side by side they still
/// read as one value, so the note says so.
fn coinciding(cells: &[(usize, LineKey, (f64, f64, f64))]) -> Vec<String> {
    let mut lines: Vec<&LineKey> = cells.iter().map(|c| &c.1).collect();
    lines.sort();
    lines.dedup();
    let values = |l: &LineKey| -> BTreeMap<usize, f64> {
        cells
            .iter()
            .filter(|c| c.1 == *l)
            .map(|c| (c.0, c.2.0))
            .collect()
    };
    let mut groups: Vec<Vec<&LineKey>> = Vec::new();
    for (i, a) in lines.iter().enumerate() {
        if groups.iter().any(|g| g.contains(a)) {
            continue;
        }
        let va = values(a);
        let mut group = vec![*a];
        for b in &lines[i + 1..] {
            let vb = values(b);
            let common: Vec<usize> = va.keys().filter(|r| vb.contains_key(r)).copied().collect();
            if !common.is_empty() && common.iter().all(|r| va[r] == vb[r]) {
                group.push(*b);
            }
        }
        if group.len() > 1 {
            groups.push(group);
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let names: Vec<&str> = g.iter().map(|l| l.label.as_str()).collect();
            format!(
                "{} have the same value at every run they share (drawn side by side).",
                names.join(" and ")
            )
        })
        .collect()
}

/// A warning when the runs did not all measure on the same machine and
/// build, whose figures do not compare like for like.
fn mixed_machines(runs: &[Run]) -> Option<String> {
    let key = |r: &RunSummary| {
        format!(
            "{} x{} ({}, {} timer)",
            r.env.cpu_model, r.env.nr_cpus, r.env.profile, r.env.timer.kind
        )
    };
    let mut seen: Vec<String> = Vec::new();
    for r in runs {
        let k = key(&r.summary);
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
