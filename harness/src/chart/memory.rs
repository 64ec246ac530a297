//! Kernel memory chart: one per scenario, a line per design, kernel bytes
//! (slab-rounded objects plus the per-VMA field, net of background
//! ioremaps) against live VMAs, from `MemoryResult::samples`.
//!
//! x counts all live VMAs, tracked or not (`nr_vmas`): the per-vma design
//! pays its pointer in every `vm_area_struct`, while the XArray and the
//! extended memtype tree pay only per tracked VMA, and this axis shows
//! both, from a little below the fewest VMAs sampled (the axis starts
//! near the data, not at zero). Each sample (about 256 per run, at most
//! one every 4096 ops) is a point; a run that
//! grows and shrinks many times would make a line in op order a scribble.
//! Points above the others at the same VMA count are memory not returned
//! yet (e.g. XArray nodes). Samples exist only for single-worker runs; the lowest thread
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
    // Samples of an empty address space (the stream's end, once every VMA
    // is gone) would pin the x axis to zero far from the rest: left out,
    // and said so.
    let empty = |m: &&crate::results::MemorySample| m.nr_vmas == 0 && m.kernel_bytes == 0;
    let nr_empty = designs
        .iter()
        .flat_map(|(_, d)| d.memory.samples.iter())
        .filter(empty)
        .count();
    let samples = designs
        .iter()
        .flat_map(|(_, d)| d.memory.samples.iter())
        .filter(|m| !empty(m));
    let max_vmas = samples.clone().map(|s| s.nr_vmas).max().unwrap_or(0) as f64;
    let min_vmas = samples.clone().map(|s| s.nr_vmas).min().unwrap_or(0) as f64;
    // Ops between samples, as recorded (the runner picks it per stream).
    let spacing = designs
        .iter()
        .filter_map(|(_, d)| {
            let s = &d.memory.samples;
            (s.len() > 1).then(|| s[1].ops - s[0].ops)
        })
        .min();
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
                .filter(|m| !empty(m))
                .map(|m| (m.nr_vmas as f64, m.kernel_bytes as f64 / div))
                .collect();
            // Points, not a line: the run grows and shrinks many times, so
            // a line in op order is a scribble that hides the relation.
            Series {
                name: s.name().to_string(),
                look: Look::of(*s),
                markers: true,
                segments: pts.into_iter().map(|p| vec![p]).collect(),
                error_bars: Vec::new(),
            }
        })
        .collect();

    let counts = |d: &DesignResult| (d.memory.peak.nr_tracked_vmas, d.memory.peak.nr_vmas);
    let same_counts = designs
        .iter()
        .all(|(_, d)| counts(d) == counts(designs[0].1));
    let peaks: Vec<String> = designs
        .iter()
        .map(|(s, d)| {
            let p = &d.memory.peak;
            let bytes = format!(
                "{} {} {unit}",
                s.name(),
                fmt_num(p.kernel_bytes as f64 / div)
            );
            if same_counts {
                bytes
            } else {
                format!(
                    "{bytes} with {} of {} VMAs tracked",
                    fmt_count(p.nr_tracked_vmas),
                    fmt_count(p.nr_vmas)
                )
            }
        })
        .collect();
    let peak_note = if same_counts {
        let (tracked, all) = counts(designs[0].1);
        format!(
            "At peak ({} of {} VMAs tracked): {}.",
            fmt_count(tracked),
            fmt_count(all),
            peaks.join("; ")
        )
    } else {
        format!("At peak: {}.", peaks.join("; "))
    };
    let mut notes = vec![peak_note];
    if nr_empty > 0 {
        notes.push(format!(
            "{nr_empty} sample(s) with no VMA and no kernel memory (the stream's end) are not drawn."
        ));
    }
    // Equal footprints draw one design's points exactly over another's.
    let key = |d: &DesignResult| -> Vec<(u64, u64)> {
        d.memory
            .samples
            .iter()
            .map(|m| (m.nr_vmas, m.kernel_bytes))
            .collect()
    };
    let mut seen: Vec<Strategy> = Vec::new();
    for (i, (a, da)) in designs.iter().enumerate() {
        if seen.contains(a) {
            continue;
        }
        let same: Vec<Strategy> = designs[i + 1..]
            .iter()
            .filter(|(_, db)| key(db) == key(da))
            .map(|(b, _)| *b)
            .collect();
        if !same.is_empty() {
            seen.extend(&same);
            let mut names = vec![a.name()];
            names.extend(same.iter().map(|s| s.name()));
            notes.push(format!(
                "{} have identical samples: their points coincide (the last in the legend is \
                 drawn on top).",
                names.join(" and ")
            ));
        }
    }
    let threads: Vec<u32> = designs.iter().map(|(_, d)| d.threads).collect();
    let threads = if threads.iter().all(|t| *t == threads[0]) {
        format!("threads = {}", threads[0])
    } else {
        "lowest thread count with samples".to_string()
    };
    Some(Plot {
        title: format!("{}: kernel memory against live VMAs", scenario.name),
        subtitle: format!(
            "{threads} · slab-rounded objects + per-VMA field, net of background ioremaps{}",
            spacing.map_or(String::new(), |n| format!(
                " · a point every {} ops",
                fmt_count(n)
            ))
        ),
        x: Axis::linear(
            "live VMAs, tracked or not (nr_vmas)",
            min_vmas,
            max_vmas,
            false,
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
        notes,
    })
}
