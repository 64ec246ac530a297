//! Latency percentile chart: one per (scenario, hook, thread count), a
//! curve per design, from `DesignResult::latency_cdf` (all repeats merged).
//!
//! Layout: the HdrHistogram "percentile distribution" form rather than a
//! plain CDF. y is latency per call on a log scale; x is the percentile on
//! a tail-stretched axis (position -log10(1 - q)), so 90%, 99%, 99.9% ...
//! are equally spaced and the tail, where the designs differ (an XArray
//! node allocation, a tree rebalance), gets as much room as the body.
//! A curve's last point is its maximum, drawn at 1 - 1/samples: the
//! rarest quantile its sample count can resolve.
//!
//! Thread counts: the lowest measured (uncontended cost) and, when the run
//! measured several, the highest (contention tail). Charting every count
//! would multiply the chart count for little gain.

use strategies::Strategy;

use super::render::{Axis, Look, Plot, Series, fmt_ns};
use super::{ChartKind, ChartSet, design_at, slug, strategies_of, threads_of};
use crate::measure::hook::Hook;
use crate::results::{RunResults, ScenarioResult};

/// Add the latency charts of every scenario of `run` to `set`.
pub(super) fn build(run: &RunResults, set: &mut ChartSet) {
    for scenario in &run.scenarios {
        let threads = threads_of(scenario);
        let mut picks: Vec<u32> = threads.first().into_iter().copied().collect();
        if let Some(&hi) = threads.last()
            && picks.first() != Some(&hi)
        {
            picks.push(hi);
        }
        let before = set.charts.len();
        for hook in Hook::ALL {
            for &t in &picks {
                if let Some(plot) = plot(run, scenario, hook, t) {
                    let stem = format!(
                        "{}-{}-{}-t{t}",
                        ChartKind::LatencyCdf,
                        slug(&scenario.name),
                        hook
                    );
                    set.push(ChartKind::LatencyCdf, &scenario.name, stem, plot);
                }
            }
        }
        if set.charts.len() == before {
            set.skip(
                ChartKind::LatencyCdf,
                &scenario.name,
                "no hook latencies recorded",
            );
        }
    }
}

/// The chart of `hook` at `threads` workers; `None` if no design timed it.
pub fn plot(run: &RunResults, scenario: &ScenarioResult, hook: Hook, threads: u32) -> Option<Plot> {
    struct Curve<'a> {
        strategy: Strategy,
        samples: u64,
        points: &'a [(f64, u64)],
    }
    let curves: Vec<Curve<'_>> = strategies_of(scenario)
        .into_iter()
        .filter_map(|strategy| {
            let d = design_at(scenario, strategy, threads)?;
            let points = d.latency_cdf.get(&hook).filter(|p| !p.is_empty())?;
            let samples = d
                .repeats
                .iter()
                .filter_map(|r| r.hooks.get(&hook))
                .map(|h| h.count)
                .sum();
            Some(Curve {
                strategy,
                samples,
                points,
            })
        })
        .collect();
    if curves.is_empty() {
        return None;
    }

    // The top quantile each curve can resolve: 1 - 1/samples. Without a
    // sample count (no summary), one decade past its finest quantile.
    let q_cap = |c: &Curve<'_>| -> f64 {
        if c.samples > 0 {
            1.0 - 1.0 / c.samples as f64
        } else {
            let finest = c
                .points
                .iter()
                .map(|p| p.0)
                .filter(|q| *q < 1.0)
                .fold(0.0, f64::max);
            1.0 - (1.0 - finest) / 10.0
        }
    };
    let max_nines = curves
        .iter()
        .map(|c| -(1.0 - q_cap(c)).max(1e-12).log10())
        .fold(1.0, f64::max);
    let min_ns = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .min()
        .unwrap_or(1);
    let max_ns = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(1);

    let series = curves
        .iter()
        .map(|c| {
            let cap = q_cap(c);
            let pts = c
                .points
                .iter()
                .map(|&(q, ns)| (q.clamp(0.0, cap), ns as f64))
                .collect();
            Series {
                name: c.strategy.name().to_string(),
                look: Look::of(c.strategy),
                segments: vec![pts],
                markers: false,
                error_bars: Vec::new(),
            }
        })
        .collect();

    let counts: Vec<String> = curves
        .iter()
        .map(|c| format!("{} {}", c.strategy.name(), fmt_count(c.samples)))
        .collect();
    let mut notes = vec![format!(
        "Each curve ends at its maximum, drawn at percentile 1 - 1/samples; samples: {}.",
        counts.join(", ")
    )];
    if min_ns == 0 {
        notes.push(
            "Latencies of 0 ns (at or below the subtracted timer overhead) are drawn at 1 ns."
                .to_string(),
        );
    }
    let timer = &run.env.timer;
    if let Some(step) = timer.resolution_ns {
        notes.push(format!(
            "Timer: {}, step {} ns: single-call percentiles are multiples of it (overhead {} ns subtracted).",
            timer.kind,
            super::render::fmt_num(step),
            super::render::fmt_num(timer.overhead_ns)
        ));
    }

    Some(Plot {
        title: format!(
            "{}: {} latency, {threads} thread{}",
            scenario.name,
            hook,
            if threads == 1 { "" } else { "s" }
        ),
        subtitle: "all repeats merged · x stretches the tail: each step right is 10x rarer"
            .to_string(),
        x: Axis::nines("percentile (tail-stretched)", max_nines),
        y: Axis::log10(
            "latency per call (log scale)",
            min_ns.max(1) as f64,
            max_ns as f64,
            1.0,
            fmt_ns,
        ),
        series,
        notes,
    })
}

/// `1234567` -> `1.23M`.
pub(super) fn fmt_count(n: u64) -> String {
    let (div, unit) = super::render::si_unit(n as f64);
    format!("{}{unit}", super::render::fmt_num(n as f64 / div))
}
