//! The verdict table: one row per design, the figures the debate turns on,
//! built once from a results document for every format that shows it (the
//! lkml and markdown reports open with it; the charts' index can too).
//!
//! Columns, each over the run's 1-thread blocks (the per-design cost,
//! without lock contention, which the thread blocks show):
//! - `B/VMA all`: the design's kernel bytes at its peak divided by every
//!   live VMA then (ordinary ones too: the per-VMA field costs each), the
//!   scenarios pooled (sum of bytes / sum of VMAs);
//! - `B/tracked`: the same bytes per VMA that holds a reservation;
//! - one column per hook of [`VERDICT_HOOKS`]: the design's trimmed mean
//!   (`tmean`) as a ratio to the baseline's, the geometric mean of the
//!   per-scenario ratios of the median tmeans. A ratio is marked `*` when
//!   Welch's t-test over the repeats (`summary::Versus`) finds the
//!   difference significant in every scenario that has the hook, all in
//!   the same direction; anything less is reported unmarked.
//!
//! A cell with no figure (the baseline never ran the hook, or the design
//! tracked nothing) is `-`; the baseline's own ratios are `1.00`.

use std::collections::BTreeSet;

use strategies::Strategy;

use crate::measure::hook::Hook;
use crate::report::summary::{self, Metric, Stat, Versus};
use crate::results::RunResults;

/// The hooks the verdict compares, in column order.
pub const VERDICT_HOOKS: [Hook; 5] = [
    Hook::Dup,
    Hook::Free,
    Hook::Track,
    Hook::Untrack,
    Hook::Lookup,
];

/// One design's tmean against the baseline's, over the scenarios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// Geometric mean of the per-scenario ratios (design / baseline); or,
    /// when `plus_ns`, the mean of the per-scenario differences in ns.
    pub ratio: f64,
    /// The baseline's tmean is below a nanosecond in some scenario (a
    /// field read): a ratio to it means nothing, so `ratio` holds how many
    /// ns more the design takes.
    pub plus_ns: bool,
    /// Significant in every contributing scenario, in one direction.
    pub significant: bool,
    /// Scenarios that contributed.
    pub scenarios: usize,
}

/// One row of the verdict table.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictRow {
    /// The design.
    pub strategy: Strategy,
    /// Kernel bytes per live VMA (all VMAs), pooled over the scenarios.
    pub bytes_per_vma: Option<f64>,
    /// Kernel bytes per tracked VMA, pooled over the scenarios.
    pub bytes_per_tracked_vma: Option<f64>,
    /// Per hook of [`VERDICT_HOOKS`]: tmean ratio to the baseline.
    pub hooks: Vec<Option<Ratio>>,
}

/// The verdict: its rows (baseline first, no `null`) and how many
/// scenarios it pools.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The design the ratios are to.
    pub baseline: Strategy,
    /// One row per design.
    pub rows: Vec<VerdictRow>,
    /// Scenarios with a 1-thread block.
    pub scenarios: usize,
}

/// The verdict of `results`; `None` when no scenario has a 1-thread block
/// with a design other than `null`.
pub fn verdict(results: &RunResults) -> Option<Verdict> {
    let blocks: Vec<_> = summary::blocks(results)
        .into_iter()
        .filter(|b| b.threads == 1 && !b.designs.is_empty())
        .collect();
    let baseline = blocks.first()?.baseline()?;
    // Every design any block has, in first-seen order (baseline first).
    let mut order: Vec<Strategy> = vec![baseline];
    for b in &blocks {
        for d in &b.designs {
            if !order.contains(&d.strategy) {
                order.push(d.strategy);
            }
        }
    }
    let rows = order
        .iter()
        .map(|&strategy| {
            let (mut bytes, mut vmas, mut tracked) = (0u64, 0u64, 0u64);
            for b in &blocks {
                if let Some(d) = b.designs.iter().find(|d| d.strategy == strategy) {
                    bytes += d.memory.peak.kernel_bytes;
                    vmas += d.memory.peak.nr_vmas;
                    tracked += d.memory.peak.nr_tracked_vmas;
                }
            }
            let per = |n: u64| (n > 0).then(|| bytes as f64 / n as f64);
            let hooks = VERDICT_HOOKS
                .iter()
                .map(|&hook| hook_ratio(&blocks, baseline, strategy, hook))
                .collect();
            VerdictRow {
                strategy,
                bytes_per_vma: per(vmas),
                bytes_per_tracked_vma: per(tracked),
                hooks,
            }
        })
        .collect();
    Some(Verdict {
        baseline,
        rows,
        scenarios: blocks.len(),
    })
}

/// `strategy`'s tmean of `hook` against `baseline`'s over `blocks`.
fn hook_ratio(
    blocks: &[summary::Block<'_>],
    baseline: Strategy,
    strategy: Strategy,
    hook: Hook,
) -> Option<Ratio> {
    let metric = Metric::LatencyMean(hook);
    let mut pairs: Vec<(f64, f64)> = Vec::new();
    let mut directions = BTreeSet::new();
    let mut all_significant = true;
    for b in blocks {
        let find = |s: Strategy| b.designs.iter().find(|d| d.strategy == s);
        let (Some(base), Some(other)) = (find(baseline), find(strategy)) else {
            continue;
        };
        let (Some(bs), Some(os)) = (
            Stat::of_metric(metric, base),
            Stat::of_metric(metric, other),
        ) else {
            continue;
        };
        if strategy != baseline {
            let v = Versus::of(metric, &bs, &os);
            all_significant &= v.significant();
            directions.insert(os.median > bs.median);
        }
        pairs.push((bs.median, os.median));
    }
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    // Below a nanosecond the baseline is noise around zero (as in the
    // detailed tables): report the difference in ns instead of a ratio.
    let plus_ns = pairs
        .iter()
        .any(|&(b, o)| b < summary::MIN_LATENCY_BASE_NS || o <= 0.0);
    let ratio = if plus_ns {
        pairs.iter().map(|&(b, o)| o - b).sum::<f64>() / n
    } else {
        (pairs.iter().map(|&(b, o)| (o / b).ln()).sum::<f64>() / n).exp()
    };
    Some(Ratio {
        ratio,
        plus_ns,
        significant: strategy != baseline && all_significant && directions.len() == 1,
        scenarios: pairs.len(),
    })
}

impl Verdict {
    /// Column headings: the two memory columns, then one per hook.
    pub fn headings() -> Vec<String> {
        let mut h = vec!["B/VMA all".to_string(), "B/tracked".to_string()];
        h.extend(VERDICT_HOOKS.iter().map(|h| h.to_string()));
        h
    }

    /// Each row's cells as text, in [`Verdict::headings`] order: bytes
    /// with one decimal, ratios with two and a trailing `*` when
    /// significant (a space otherwise, so columns align), `-` for none.
    pub fn cells(row: &VerdictRow) -> Vec<String> {
        let bytes = |b: Option<f64>| b.map_or("-".to_string(), |b| format!("{b:.1}"));
        let mut c = vec![bytes(row.bytes_per_vma), bytes(row.bytes_per_tracked_vma)];
        c.extend(row.hooks.iter().map(|r| match r {
            None => "- ".to_string(),
            Some(r) => {
                let star = if r.significant { "*" } else { " " };
                if r.plus_ns {
                    format!("{:+.1}ns{star}", r.ratio)
                } else {
                    format!("{:.2}{star}", r.ratio)
                }
            }
        }));
        c
    }

    /// The legend, one sentence per convention.
    pub fn legend(&self) -> String {
        format!(
            "Verdict over {} scenario(s) at 1 thread. B/VMA all: kernel bytes at the \
             peak per live VMA, ordinary ones included; B/tracked: per VMA holding a \
             reservation. Hook columns: tmean as a ratio to {} (geometric mean over \
             the scenarios), * when Welch's t-test (p < {}) finds it significant in \
             every scenario, in the same direction; +Nns where the baseline takes \
             under a nanosecond (a field read), so a ratio would mean nothing; - no \
             figure.",
            self.scenarios,
            self.baseline,
            summary::ALPHA
        )
    }
}

/// The verdict as plain ASCII lines of at most `width` columns: a title,
/// the table (design names left, figures right-aligned), the legend
/// wrapped. Empty when the document has no verdict.
pub fn lkml_lines(results: &RunResults, width: usize) -> Vec<String> {
    let Some(v) = verdict(results) else {
        return Vec::new();
    };
    let heads = Verdict::headings();
    let rows: Vec<(String, Vec<String>)> = v
        .rows
        .iter()
        .map(|r| (r.strategy.to_string(), Verdict::cells(r)))
        .collect();
    let name_w = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(6);
    let col_w: Vec<usize> = (0..heads.len())
        .map(|i| {
            rows.iter()
                .map(|(_, c)| c[i].len())
                .chain([heads[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |name: &str, cells: &[String]| {
        let mut l = format!("{name:<name_w$}");
        for (c, w) in cells.iter().zip(&col_w) {
            l.push_str(&format!(" {c:>w$}"));
        }
        l.trim_end().to_string()
    };
    let mut out = vec![
        "Verdict (details below)".to_string(),
        "=======================".to_string(),
        line("design", &heads),
    ];
    out.extend(rows.iter().map(|(n, c)| line(n, c)));
    out.extend(crate::report::text::wrap(&v.legend(), "", "", width));
    out
}

/// The verdict as a markdown table with its legend; empty when the
/// document has no verdict.
pub fn markdown_lines(results: &RunResults) -> Vec<String> {
    let Some(v) = verdict(results) else {
        return Vec::new();
    };
    let mut out = vec!["### Verdict".to_string(), String::new()];
    let heads = Verdict::headings();
    out.push(format!("| design | {} |", heads.join(" | ")));
    out.push(format!("|:---|{}", "---:|".repeat(heads.len())));
    for r in &v.rows {
        let cells: Vec<String> = Verdict::cells(r)
            .into_iter()
            .map(|c| c.trim_end().replace('*', "\\*"))
            .collect();
        out.push(format!("| {} | {} |", r.strategy, cells.join(" | ")));
    }
    out.push(String::new());
    out.push(v.legend().replace('*', "\\*"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;

    #[test]
    fn one_row_per_design_baseline_first_without_null() {
        let r = Fixture::new().build();
        let v = verdict(&r).expect("a verdict");
        assert_eq!(v.baseline, Strategy::PerVma);
        let names: Vec<Strategy> = v.rows.iter().map(|r| r.strategy).collect();
        assert_eq!(names[0], Strategy::PerVma);
        assert!(!names.contains(&Strategy::Null));
        let measured: BTreeSet<Strategy> = r
            .params
            .strategies
            .iter()
            .copied()
            .filter(|s| *s != Strategy::Null)
            .collect();
        assert_eq!(names.iter().copied().collect::<BTreeSet<_>>(), measured);
        for row in &v.rows {
            assert_eq!(row.hooks.len(), VERDICT_HOOKS.len());
        }
        // The baseline's ratios are exactly one (or 0 ns more) and never
        // starred.
        for r in v.rows[0].hooks.iter().flatten() {
            assert_eq!(r.ratio, if r.plus_ns { 0.0 } else { 1.0 });
            assert!(!r.significant);
        }
    }

    #[test]
    fn ratios_and_bytes_follow_the_document() {
        let r = Fixture::new().build();
        let v = verdict(&r).unwrap();
        let blocks: Vec<_> = summary::blocks(&r)
            .into_iter()
            .filter(|b| b.threads == 1)
            .collect();
        for row in &v.rows {
            // Pooled bytes per VMA, recomputed from the raw document.
            let (mut bytes, mut vmas) = (0u64, 0u64);
            for b in &blocks {
                let d = b
                    .designs
                    .iter()
                    .find(|d| d.strategy == row.strategy)
                    .unwrap();
                bytes += d.memory.peak.kernel_bytes;
                vmas += d.memory.peak.nr_vmas;
            }
            assert_eq!(row.bytes_per_vma, Some(bytes as f64 / vmas as f64));
            for (i, hook) in VERDICT_HOOKS.iter().enumerate() {
                let Some(ratio) = row.hooks[i] else { continue };
                if ratio.plus_ns {
                    continue;
                }
                let m = Metric::LatencyMean(*hook);
                let mut prod = 1.0f64;
                for b in &blocks {
                    let get = |s| {
                        let d = b.designs.iter().find(|d| d.strategy == s).unwrap();
                        Stat::of_metric(m, d).unwrap().median
                    };
                    prod *= get(row.strategy) / get(v.baseline);
                }
                let geo = prod.powf(1.0 / blocks.len() as f64);
                assert!(
                    (ratio.ratio - geo).abs() < 1e-9,
                    "{hook}: {ratio:?} vs {geo}"
                );
            }
        }
    }

    #[test]
    fn lkml_lines_fit_and_markdown_has_a_row_per_design() {
        let r = Fixture::new().build();
        let v = verdict(&r).unwrap();
        let lines = lkml_lines(&r, 80);
        for l in &lines {
            assert!(l.is_ascii() && l.len() <= 80, "{l:?}");
        }
        for row in &v.rows {
            let name = row.strategy.to_string();
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("{name} "))),
                "{name}"
            );
        }
        let md = markdown_lines(&r);
        let table_rows = md.iter().filter(|l| l.starts_with("| ")).count();
        assert_eq!(table_rows, v.rows.len() + 1, "{md:?}");
    }

    #[test]
    fn no_dash_beside_a_star() {
        let r = Fixture::new().build();
        let v = verdict(&r).unwrap();
        for row in &v.rows {
            let cells = Verdict::cells(row);
            let starred = cells.iter().any(|c| c.ends_with('*'));
            let n_a = cells.iter().any(|c| c.contains("n/a"));
            assert!(!(starred && n_a), "{cells:?}");
        }
    }
}
