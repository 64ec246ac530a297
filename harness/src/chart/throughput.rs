//! Throughput chart: one per scenario, a line per design, the median
//! ops/s over repeats against worker threads, with bars from the slowest
//! to the fastest repeat; points at the same thread count are nudged
//! apart so their bars do not hide each other. Only where the run has two
//! or more thread counts: with one, the chart would be a column of dots
//! over one tick, which the verdict and latency charts say better.
//!
//! The `null` design (the harness floor) is not drawn: it runs several
//! times faster than any real design and would squeeze them into the
//! bottom of the plot. A note gives its figures instead.

use strategies::Strategy;

use super::render::{Axis, Look, Plot, Series, fmt_num, si_unit};
use super::{ChartKind, ChartSet, design_at, slug, strategies_of, threads_of};
use crate::results::ScenarioResult;
use crate::stats::median;

/// Add the throughput chart of every scenario of `run` to `set`.
pub(super) fn build(run: &crate::results::RunResults, set: &mut ChartSet) {
    for scenario in &run.scenarios {
        let threads = threads_of(scenario);
        if threads.len() < 2 {
            set.skip(
                ChartKind::Throughput,
                &scenario.name,
                format!(
                    "one thread count ({}); a throughput chart needs two or more \
                     (`pfntrack run --threads 1,2`)",
                    threads
                        .first()
                        .map_or("none".to_string(), |t| t.to_string())
                ),
            );
            continue;
        }
        match plot(scenario) {
            Some(p) => set.push(
                ChartKind::Throughput,
                &scenario.name,
                format!("{}-{}", ChartKind::Throughput, slug(&scenario.name)),
                p,
            ),
            None => set.skip(ChartKind::Throughput, &scenario.name, "no repeats measured"),
        }
    }
}

/// The chart; `None` if no design but `null` has a repeat.
pub fn plot(scenario: &ScenarioResult) -> Option<Plot> {
    let threads = threads_of(scenario);
    let all = strategies_of(scenario);
    let strategies: Vec<Strategy> = all
        .iter()
        .copied()
        .filter(|s| *s != Strategy::Null)
        .collect();
    let (t_lo, t_hi) = (f64::from(*threads.first()?), f64::from(*threads.last()?));
    let (lo, hi) = if t_hi > t_lo {
        (t_lo, t_hi)
    } else {
        (t_lo - 1.0, t_hi + 1.0)
    };
    // Nudge: up to 6% of the axis between neighbouring designs, and room
    // beyond the outermost thread counts for the nudged markers.
    let nudge = (hi - lo) * 0.06 / strategies.len().max(1) as f64;
    let room = (hi - lo) * 0.05;
    let (lo, hi) = (lo - room, hi + room);

    let mut series = Vec::new();
    let mut max = 0.0f64;
    let mut nr_repeats = Vec::new();
    for (i, &strategy) in strategies.iter().enumerate() {
        let dx = (i as f64 - (strategies.len() - 1) as f64 / 2.0) * nudge;
        let mut pts = Vec::new();
        let mut bars = Vec::new();
        for &t in &threads {
            let Some(d) = design_at(scenario, strategy, t) else {
                continue;
            };
            let ops: Vec<f64> = d.repeats.iter().map(|r| r.ops_per_sec).collect();
            let Some(mid) = median(&ops) else {
                continue;
            };
            let (mn, mx) = ops
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(*v), b.max(*v))
                });
            max = max.max(mx);
            nr_repeats.push(ops.len());
            let x = f64::from(t) + dx;
            pts.push((x, mid));
            if ops.len() > 1 {
                bars.push((x, mn, mx));
            }
        }
        if !pts.is_empty() {
            series.push(Series {
                name: strategy.name().to_string(),
                look: Look::of(strategy),
                segments: vec![pts],
                markers: true,
                error_bars: bars,
            });
        }
    }
    if series.is_empty() {
        return None;
    }
    let (div, unit) = si_unit(max);
    for s in &mut series {
        for p in s.segments.iter_mut().flatten() {
            p.1 /= div;
        }
        for b in &mut s.error_bars {
            b.1 /= div;
            b.2 /= div;
        }
    }
    let repeats = match (nr_repeats.iter().min(), nr_repeats.iter().max()) {
        (Some(a), Some(b)) if a == b => format!("{a} repeats"),
        (Some(a), Some(b)) => format!("{a} to {b} repeats"),
        _ => String::new(),
    };
    let mut notes = vec![
        "ops/s is over wall time, which includes the simulator's and timer's own work, \
         the same for every design (the null design measures it)."
            .to_string(),
    ];
    if all.contains(&Strategy::Null) {
        let floor: Vec<String> = threads
            .iter()
            .filter_map(|&t| {
                let d = design_at(scenario, Strategy::Null, t)?;
                let ops: Vec<f64> = d.repeats.iter().map(|r| r.ops_per_sec).collect();
                let mid = median(&ops)?;
                Some(format!("{} {unit}ops/s at {t}", fmt_num(mid / div)))
            })
            .collect();
        if !floor.is_empty() {
            notes.push(format!(
                "Not drawn, so the designs fill the plot: null (the harness floor, no \
                 tracking work), median {}.",
                floor.join(", ")
            ));
        }
    }
    let x = Axis {
        label: "worker threads".to_string(),
        scale: super::render::Scale::Linear,
        lo,
        hi,
        ticks: threads
            .iter()
            .map(|t| (f64::from(*t), t.to_string()))
            .collect(),
        minor: Vec::new(),
    };
    Some(Plot {
        title: format!("{}: throughput against threads", scenario.name),
        subtitle: format!("median of {repeats} · bars span the slowest to the fastest repeat"),
        x,
        y: Axis::linear(
            format!("throughput ({unit}ops/s, all workers)"),
            0.0,
            max / div,
            true,
            fmt_num,
        ),
        series,
        notes,
    })
}
