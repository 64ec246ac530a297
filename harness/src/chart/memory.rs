//! Kernel memory chart: one per scenario, a line per design, kernel bytes
//! (slab-rounded objects plus the per-VMA field, net of background
//! ioremaps) against live VMAs, from `MemoryResult::samples`.
//!
//! x counts all live VMAs, tracked or not (`nr_vmas`): the per-vma design
//! pays its pointer in every `vm_area_struct`, while the XArray and the
//! extended memtype tree pay only per tracked VMA, and this axis shows
//! both. Lines follow the run in op order, so a workload that grows and
//! then unmaps traces out and back (any gap between the two legs is
//! memory not returned at the same VMA count, e.g. XArray nodes or slab
//! pages). Samples exist only for single-worker runs; the lowest thread
//! count with samples is used. The null design holds no kernel memory and
//! is left out.

use strategies::Strategy;

use super::latency_cdf::fmt_count;
use super::render::{Axis, Look, Plot, Series, byte_unit, fmt_num, si_unit};
use super::{ChartKind, ChartSet, slug, strategies_of};
use crate::results::{DesignResult, RunResults, ScenarioResult};

/// Add the memory chart of every scenario of `run` to `set`.
pub(super) fn build(run: &RunResults, set: &mut ChartSet) {
    for scenario in &run.scenarios {
        match plot(scenario) {
            Some(p) => set.push(
                ChartKind::Memory,
                &scenario.name,
                format!("{}-{}", ChartKind::Memory, slug(&scenario.name)),
                p,
            ),
            None => set.skip(
                ChartKind::Memory,
                &scenario.name,
                "no memory samples (they are recorded for single-worker runs only)",
            ),
        }
    }
}

/// The chart; `None` if no design has samples.
pub fn plot(scenario: &ScenarioResult) -> Option<Plot> {
    let designs: Vec<(Strategy, &DesignResult)> = strategies_of(scenario)
        .into_iter()
        .filter(|s| *s != Strategy::Null)
        .filter_map(|s| {
            scenario
                .designs
                .iter()
                .filter(|d| d.strategy == s && !d.memory.samples.is_empty())
                .min_by_key(|d| d.threads)
                .map(|d| (s, d))
        })
        .collect();
    if designs.is_empty() {
        return None;
    }
    let samples = designs.iter().flat_map(|(_, d)| d.memory.samples.iter());
    let max_vmas = samples.clone().map(|s| s.nr_vmas).max().unwrap_or(0) as f64;
    let max_bytes = samples.map(|s| s.kernel_bytes).max().unwrap_or(0) as f64;
    let (div, unit) = byte_unit(max_bytes);
    let (vdiv, vunit) = si_unit(max_vmas);

    let series = designs
        .iter()
        .map(|(s, d)| {
            let pts: Vec<(f64, f64)> = d
                .memory
                .samples
                .iter()
                .map(|m| (m.nr_vmas as f64, m.kernel_bytes as f64 / div))
                .collect();
            Series {
                name: s.name().to_string(),
                look: Look::of(*s),
                markers: pts.len() <= 30,
                segments: vec![pts],
                error_bars: Vec::new(),
            }
        })
        .collect();

    let peaks: Vec<String> = designs
        .iter()
        .map(|(s, d)| {
            let p = &d.memory.peak;
            format!(
                "{} {} {unit} with {} of {} VMAs tracked",
                s.name(),
                fmt_num(p.kernel_bytes as f64 / div),
                fmt_count(p.nr_tracked_vmas),
                fmt_count(p.nr_vmas)
            )
        })
        .collect();
    let threads: Vec<u32> = designs.iter().map(|(_, d)| d.threads).collect();
    let threads = if threads.iter().all(|t| *t == threads[0]) {
        format!("threads = {}", threads[0])
    } else {
        "lowest thread count with samples".to_string()
    };
    Some(Plot {
        title: format!("{}: kernel memory against live VMAs", scenario.name),
        subtitle: format!(
            "{threads} · slab-rounded objects + per-VMA field, net of background ioremaps · lines follow op order"
        ),
        x: Axis::linear(
            "live VMAs, tracked or not (nr_vmas)",
            0.0,
            max_vmas,
            true,
            move |v| {
                if v == 0.0 {
                    "0".to_string()
                } else {
                    format!("{}{vunit}", fmt_num(v / vdiv))
                }
            },
        ),
        y: Axis::linear(
            format!("kernel memory ({unit})"),
            0.0,
            max_bytes / div,
            true,
            fmt_num,
        ),
        series,
        notes: vec![format!("At peak: {}.", peaks.join("; "))],
    })
}
