//! Two runs compared: for every (scenario, threads, design, metric) both
//! results documents have, the change of NEW against BASE, whether Welch's
//! t-test over the per-repeat values finds it significant, and whether it
//! is better or worse for that metric. The statistics are the report's
//! (`report::summary`): centre the median, spread the relative standard
//! deviation, alpha 0.05; memory is exact, so any change in it counts.
//!
//! Two documents are comparable when they have the same schema version
//! (checked by `RunResults::load`), the same scenarios and, per scenario,
//! the same designs at the same thread counts: anything else is refused
//! with the names of what is missing, since a silent partial comparison
//! could hide a regression. Differences that do not stop a comparison
//! (another machine, another seed, a hook that ran in only one run) are
//! listed as notes.
//!
//! The `null` design is shown but never counts as a regression: it is the
//! harness's floor, a couple of ns, where one clock step is tens of
//! percent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use strategies::Strategy;

use crate::report::format_value;
use crate::report::markdown::escape;
use crate::report::summary::{self, ALPHA, Evidence, Metric, Stat, Versus};
use crate::report::text::{self, WIDTH, ascii, wrap};
use crate::results::{DesignResult, RunResults, ScenarioResult};

/// Output format of `pfntrack compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareFormat {
    /// Plain ASCII, at most 80 columns.
    Lkml,
    /// GitHub-flavoured markdown.
    Markdown,
}

impl CompareFormat {
    /// Every format.
    pub const ALL: [CompareFormat; 2] = [CompareFormat::Lkml, CompareFormat::Markdown];

    /// The command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            CompareFormat::Lkml => "lkml",
            CompareFormat::Markdown => "markdown",
        }
    }
}

impl fmt::Display for CompareFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not a comparison format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown comparison format `{0}` (expected one of: lkml, markdown)")]
pub struct UnknownCompareFormat(pub String);

impl FromStr for CompareFormat {
    type Err = UnknownCompareFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CompareFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownCompareFormat(s.to_string()))
    }
}

/// Why two documents cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompareError {
    /// The scenario sets differ.
    #[error("the runs measured different scenarios: {0}")]
    Scenarios(String),
    /// One document has a scenario twice, so rows could not be paired.
    #[error("scenario `{scenario}` appears more than once in {side}")]
    DuplicateScenario {
        /// The scenario.
        scenario: String,
        /// `BASE` or `NEW`.
        side: &'static str,
    },
    /// A scenario's designs or thread counts differ.
    #[error("scenario `{scenario}`: the runs measured different designs: {detail}")]
    Designs {
        /// The scenario.
        scenario: String,
        /// What each side lacks.
        detail: String,
    },
}

/// Better, worse, or no change, for the metric's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Moved the good way.
    Better,
    /// Moved the bad way.
    Worse,
    /// Rounds to no change (or no change can be computed).
    Same,
}

impl Verdict {
    /// `better`, `worse`, `same`.
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Same => "same",
        }
    }
}

/// One figure in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    /// The design.
    pub design: Strategy,
    /// The metric.
    pub metric: Metric,
    /// BASE's figures.
    pub base: Stat,
    /// NEW's figures.
    pub new: Stat,
    /// NEW against BASE.
    pub vs: Versus,
    /// The coarser timer resolution of the two runs, ns, if known:
    /// percentiles move in steps of it.
    pub resolution_ns: Option<f64>,
}

impl CompareRow {
    /// `100 * (NEW - BASE) / BASE` of the medians; `None` for a zero BASE.
    pub fn change_pct(&self) -> Option<f64> {
        self.vs.diff_pct
    }

    /// Whether the change is significant (memory: whether it changed).
    pub fn significant(&self) -> bool {
        self.vs.significant()
    }

    /// Direction of the change for this metric.
    pub fn verdict(&self) -> Verdict {
        match self.change_pct() {
            Some(c) if c.abs() >= 0.005 => {
                if self.metric.better().worse_pct(c) > 0.0 {
                    Verdict::Worse
                } else {
                    Verdict::Better
                }
            }
            _ => Verdict::Same,
        }
    }

    /// How much worse, percent (negative: better); 0 without a change.
    pub fn worse_pct(&self) -> f64 {
        self.change_pct()
            .map_or(0.0, |c| self.metric.better().worse_pct(c))
    }

    /// Whether a percentile moved by more than one step of the timer: a
    /// one-step move (10 -> 20 ns) can be a tiny change of the true
    /// distribution rounded across a step boundary. Always true for other
    /// metrics, or when the resolution is unknown.
    pub fn beyond_one_step(&self) -> bool {
        match self.resolution_ns {
            Some(r) if self.metric.quantized() => {
                (self.new.median - self.base.median).abs() > r * 1.000_001
            }
            _ => true,
        }
    }

    /// Whether this row counts for `--fail-on-regression`: a significant
    /// change more than `threshold_pct` percent the worse way, in a design
    /// other than `null`, and for percentiles more than one timer step.
    pub fn regression_over(&self, threshold_pct: f64) -> bool {
        self.design != Strategy::Null
            && self.significant()
            && self.worse_pct() > threshold_pct
            && self.beyond_one_step()
    }
}

/// One scenario at one thread count.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareBlock {
    /// Scenario name.
    pub scenario: String,
    /// Worker threads.
    pub threads: u32,
    /// Rows by design (BASE's order) then metric (report order).
    pub rows: Vec<CompareRow>,
}

/// Two runs compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// One per scenario and thread count, BASE's order.
    pub blocks: Vec<CompareBlock>,
    /// Differences that did not stop the comparison.
    pub notes: Vec<String>,
}

fn by_name<'a>(
    run: &'a RunResults,
    side: &'static str,
) -> Result<BTreeMap<&'a str, &'a ScenarioResult>, CompareError> {
    let mut map = BTreeMap::new();
    for s in &run.scenarios {
        if map.insert(s.name.as_str(), s).is_some() {
            return Err(CompareError::DuplicateScenario {
                scenario: s.name.clone(),
                side,
            });
        }
    }
    Ok(map)
}

/// `what` lacks `names`, as a phrase; `None` if it lacks nothing.
fn lacks(what: &str, names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| format!("{what} lacks {}", names.join(", ")))
}

fn design_key(d: &DesignResult) -> String {
    format!(
        "{} at {} thread{}",
        d.strategy,
        d.threads,
        if d.threads == 1 { "" } else { "s" }
    )
}

/// Compare NEW with BASE. Errors when they did not measure the same
/// scenarios, designs and thread counts.
pub fn compare(base: &RunResults, new: &RunResults) -> Result<Comparison, CompareError> {
    let (b, n) = (by_name(base, "BASE")?, by_name(new, "NEW")?);
    let only = |x: &BTreeMap<&str, _>, y: &BTreeMap<&str, _>| -> Vec<String> {
        x.keys()
            .filter(|k| !y.contains_key(*k))
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
    };
    let missing: Vec<String> = [lacks("NEW", &only(&b, &n)), lacks("BASE", &only(&n, &b))]
        .into_iter()
        .flatten()
        .collect();
    if !missing.is_empty() {
        return Err(CompareError::Scenarios(missing.join("; ")));
    }
    let mut notes = environment_notes(base, new);
    let resolution_ns = match (base.env.timer.resolution_ns, new.env.timer.resolution_ns) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let mut blocks = Vec::new();
    for bs in &base.scenarios {
        let ns = n[bs.name.as_str()];
        let key = |d: &DesignResult| (d.strategy, d.threads);
        let bk: BTreeSet<_> = bs.designs.iter().map(key).collect();
        let nk: BTreeSet<_> = ns.designs.iter().map(key).collect();
        if bk != nk {
            let names = |s: &ScenarioResult, other: &BTreeSet<(Strategy, u32)>| -> Vec<String> {
                s.designs
                    .iter()
                    .filter(|d| !other.contains(&key(d)))
                    .map(design_key)
                    .collect()
            };
            let detail: Vec<String> = [
                lacks("NEW", &names(bs, &nk)),
                lacks("BASE", &names(ns, &bk)),
            ]
            .into_iter()
            .flatten()
            .collect();
            return Err(CompareError::Designs {
                scenario: bs.name.clone(),
                detail: detail.join("; "),
            });
        }
        if bs.params != ns.params || bs.seed != ns.seed || bs.nr_ops != ns.nr_ops {
            notes.push(format!(
                "scenario `{}` has different parameters, seed or op count in the two runs: \
                 they did not run the same workload",
                bs.name
            ));
        }
        let threads: BTreeSet<u32> = bs.designs.iter().map(|d| d.threads).collect();
        for t in threads {
            let mut rows = Vec::new();
            let mut seen = BTreeSet::new();
            for bd in bs.designs.iter().filter(|d| d.threads == t) {
                if !seen.insert(bd.strategy) {
                    continue;
                }
                let nd = ns
                    .designs
                    .iter()
                    .find(|d| key(d) == key(bd))
                    .expect("design sets are equal");
                let (bm, nm) = (summary::metrics_of(bd), summary::metrics_of(nd));
                for metric in bm.iter().filter(|m| nm.contains(m)) {
                    let (Some(bstat), Some(nstat)) =
                        (Stat::of_metric(*metric, bd), Stat::of_metric(*metric, nd))
                    else {
                        continue;
                    };
                    let vs = Versus::of(*metric, &bstat, &nstat);
                    rows.push(CompareRow {
                        design: bd.strategy,
                        metric: *metric,
                        base: bstat,
                        new: nstat,
                        vs,
                        resolution_ns,
                    });
                }
                let one_side = |a: &[Metric], b: &[Metric], side: &str| {
                    let only: Vec<String> = a
                        .iter()
                        .filter(|m| !b.contains(m))
                        .map(|m| m.key())
                        .collect();
                    (!only.is_empty()).then(|| {
                        format!(
                            "{}, {}: only {side} has {}",
                            bs.name,
                            design_key(bd),
                            only.join(", ")
                        )
                    })
                };
                notes.extend(one_side(&bm, &nm, "BASE"));
                notes.extend(one_side(&nm, &bm, "NEW"));
            }
            blocks.push(CompareBlock {
                scenario: bs.name.clone(),
                threads: t,
                rows,
            });
        }
    }
    Ok(Comparison { blocks, notes })
}

/// What differs between the runs' machines and parameters.
fn environment_notes(base: &RunResults, new: &RunResults) -> Vec<String> {
    let (be, ne) = (&base.env, &new.env);
    let (bp, np) = (&base.params, &new.params);
    let res = |r: Option<f64>| r.map_or_else(|| "none".to_string(), |r| format!("{r} ns"));
    let pairs = [
        ("CPU", be.cpu_model.clone(), ne.cpu_model.clone()),
        ("CPUs", be.nr_cpus.to_string(), ne.nr_cpus.to_string()),
        ("kernel", be.kernel.clone(), ne.kernel.clone()),
        ("OS", be.os.clone(), ne.os.clone()),
        ("build profile", be.profile.clone(), ne.profile.clone()),
        ("timer", be.timer.kind.clone(), ne.timer.kind.clone()),
        (
            "timer resolution",
            res(be.timer.resolution_ns),
            res(ne.timer.resolution_ns),
        ),
        ("repeats", bp.repeats.to_string(), np.repeats.to_string()),
        ("seed", bp.seed.to_string(), np.seed.to_string()),
        ("rng", bp.rng.clone(), np.rng.clone()),
        (
            "layout config",
            bp.layout_config.clone(),
            np.layout_config.clone(),
        ),
        (
            "slab model CPUs",
            bp.slab_nr_cpus.to_string(),
            np.slab_nr_cpus.to_string(),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, b, n)| b != n)
        .map(|(what, b, n)| format!("{what} differs: BASE {b}, NEW {n}"))
        .collect()
}

impl Comparison {
    /// Every row counted by `--fail-on-regression threshold_pct`.
    pub fn regressions(&self, threshold_pct: f64) -> Vec<(&CompareBlock, &CompareRow)> {
        self.blocks
            .iter()
            .flat_map(|b| b.rows.iter().map(move |r| (b, r)))
            .filter(|(_, r)| r.regression_over(threshold_pct))
            .collect()
    }

    /// Significant changes: `(worse, better, rows compared)`, `null` left
    /// out.
    pub fn tally(&self) -> (usize, usize, usize) {
        let rows = || {
            self.blocks
                .iter()
                .flat_map(|b| &b.rows)
                .filter(|r| r.design != Strategy::Null)
        };
        let count = |v: Verdict| {
            rows()
                .filter(|r| r.significant() && r.verdict() == v)
                .count()
        };
        (
            count(Verdict::Worse),
            count(Verdict::Better),
            rows().count(),
        )
    }

    /// The comparison as text; `base` and `new` pair each document with
    /// the name to show for it (its path).
    pub fn render(
        &self,
        base: (&str, &RunResults),
        new: (&str, &RunResults),
        format: CompareFormat,
    ) -> String {
        match format {
            CompareFormat::Lkml => self.render_lkml(base, new),
            CompareFormat::Markdown => self.render_markdown(base, new),
        }
    }

    fn cells(row: &CompareRow) -> [String; 6] {
        let spread = |s: &Stat| match s.rel_stddev_pct {
            Some(p) if !row.metric.exact() => format!("+-{p:.1}%"),
            _ => String::new(),
        };
        let change = match row.change_pct() {
            Some(c) if row.significant() => format!("*{}%*", text::pct(c)),
            Some(c) => format!("({}%)", text::pct(c)),
            None => "(n/a)".to_string(),
        };
        [
            format_value(row.metric, row.base.median),
            spread(&row.base),
            format_value(row.metric, row.new.median),
            spread(&row.new),
            change,
            row.verdict().name().to_string(),
        ]
    }

    fn legend() -> String {
        format!(
            "How to read: BASE and NEW are medians of the per-repeat values, each \
             with +- its standard deviation as a percentage of its mean; change is \
             NEW against BASE, between stars (*+9.17%*) when Welch's t-test over \
             the per-repeat values finds it significant (p < {ALPHA}; figures \
             that did not vary over the repeats count as significant when they \
             differ). Memory is \
             exact, so any change in it is marked. Latencies are ns per call. \
             For --fail-on-regression, the null design (the harness floor) \
             never counts, nor does a p50/p99 move of one timer step or less."
        )
    }

    fn tally_line(&self) -> String {
        let (worse, better, n) = self.tally();
        format!(
            "significant changes: {worse} worse, {better} better, of {n} figures \
             compared (null design left out)"
        )
    }

    fn render_lkml(&self, base: (&str, &RunResults), new: (&str, &RunResults)) -> String {
        let mut l = vec![
            "pfntrack compare: NEW against BASE".to_string(),
            String::new(),
        ];
        for (side, (path, run)) in [("BASE", base), ("NEW", new)] {
            let git = run
                .tool
                .git_commit
                .as_deref()
                .map_or("unknown", |c| &c[..c.len().min(12)]);
            let what = format!(
                "{path}: pfntrack {}, git {git}, started {}, {} on {}",
                run.tool.version, run.started_at, run.env.kernel, run.env.cpu_model
            );
            l.extend(wrap(&ascii(&what), &format!("{side:<6}"), "      ", WIDTH));
        }
        l.push(String::new());
        l.extend(wrap(&Self::legend(), "", "", WIDTH));
        for note in &self.notes {
            l.extend(wrap(&ascii(note), "note: ", "  ", WIDTH));
        }
        for block in &self.blocks {
            l.push(String::new());
            let title = format!(
                "{}, {} thread{}",
                block.scenario,
                block.threads,
                if block.threads == 1 { "" } else { "s" }
            );
            let title = wrap(&ascii(&title), "", "  ", WIDTH);
            let rule = title.iter().map(String::len).max().unwrap_or(0);
            l.extend(title);
            l.push("=".repeat(rule));
            l.extend(Self::lkml_table(&block.rows));
        }
        l.push(String::new());
        l.extend(wrap(&self.tally_line(), "", "", WIDTH));
        let mut out = l.join("\n");
        out.push('\n');
        out
    }

    /// Rows grouped under design headings; spread columns are dropped if
    /// they would not fit in 80 columns.
    fn lkml_table(rows: &[CompareRow]) -> Vec<String> {
        let cells: Vec<[String; 6]> = rows.iter().map(Self::cells).collect();
        let label = 2 + rows
            .iter()
            .map(|r| r.metric.long_label().len())
            .max()
            .unwrap_or(0);
        let head = ["BASE", "", "NEW", "", "change", "verdict"];
        let mut w = head.map(str::len);
        for c in &cells {
            for (w, s) in w.iter_mut().zip(c) {
                *w = (*w).max(s.len());
            }
        }
        let total = |w: &[usize; 6]| {
            label
                + w.iter()
                    .map(|w| if *w > 0 { w + 2 } else { 0 })
                    .sum::<usize>()
        };
        if total(&w) > WIDTH {
            w[1] = 0;
            w[3] = 0;
        }
        let line = |label_text: &str, parts: [&str; 6]| {
            let mut s = format!("{label_text:<label$}");
            for (i, (p, w)) in parts.iter().zip(w).enumerate() {
                if w == 0 {
                    continue;
                }
                // Spreads hug their value; the rest are spaced apart.
                let gap = if i == 1 || i == 3 { 1 } else { 2 };
                if i == 5 {
                    s.push_str(&format!("{:gap$}{p:<w$}", ""));
                } else {
                    s.push_str(&format!("{:gap$}{p:>w$}", ""));
                }
            }
            s.trim_end().to_string()
        };
        let mut l = vec![line("", head)];
        let mut design = None;
        for (row, c) in rows.iter().zip(&cells) {
            if design != Some(row.design) {
                l.push(row.design.to_string());
                design = Some(row.design);
            }
            let parts = [c[0].as_str(), &c[1], &c[2], &c[3], &c[4], &c[5]];
            l.push(line(&format!("  {}", row.metric.long_label()), parts));
        }
        l
    }

    fn render_markdown(&self, base: (&str, &RunResults), new: (&str, &RunResults)) -> String {
        let mut l = vec![
            "## pfntrack compare: NEW against BASE".to_string(),
            String::new(),
            "| | file | pfntrack | git | started | kernel | CPU |".to_string(),
            "|---|---|---|---|---|---|---|".to_string(),
        ];
        for (side, (path, run)) in [("BASE", base), ("NEW", new)] {
            l.push(format!(
                "| {side} | {} | {} | {} | {} | {} | {} |",
                escape(path),
                escape(&run.tool.version),
                escape(run.tool.git_commit.as_deref().unwrap_or("unknown")),
                escape(&run.started_at),
                escape(&run.env.kernel),
                escape(&run.env.cpu_model)
            ));
        }
        l.push(String::new());
        l.push(escape(&Self::legend()));
        if !self.notes.is_empty() {
            l.push(String::new());
            for note in &self.notes {
                l.push(format!("- note: {}", escape(note)));
            }
        }
        for block in &self.blocks {
            l.push(String::new());
            l.push(format!(
                "### {}, {} thread{}",
                escape(&block.scenario),
                block.threads,
                if block.threads == 1 { "" } else { "s" }
            ));
            l.push(String::new());
            l.push("| design | metric | BASE | NEW | change | verdict |".to_string());
            l.push("|:---|:---|---:|---:|---:|:---|".to_string());
            for row in &block.rows {
                let c = Self::cells(row);
                let joined = |v: &str, s: &str| {
                    if s.is_empty() {
                        v.to_string()
                    } else {
                        format!("{v} {s}")
                    }
                };
                l.push(format!(
                    "| {} | {} | {} | {} | {} | {} |",
                    row.design,
                    escape(&row.metric.long_label()),
                    escape(&joined(&c[0], &c[1])),
                    escape(&joined(&c[2], &c[3])),
                    escape(&c[4]),
                    c[5]
                ));
            }
        }
        l.push(String::new());
        l.push(self.tally_line());
        let mut out = l.join("\n");
        out.push('\n');
        out
    }
}

/// The `--fail-on-regression` verdict as lines for the terminal: the
/// offending rows, or that there are none.
pub fn regression_report(cmp: &Comparison, threshold_pct: f64) -> Vec<String> {
    let bad = cmp.regressions(threshold_pct);
    if bad.is_empty() {
        return vec![format!("no significant regression over {threshold_pct}%")];
    }
    let mut l = vec![format!(
        "{} significant regression{} over {threshold_pct}%:",
        bad.len(),
        if bad.len() == 1 { "" } else { "s" }
    )];
    for (block, row) in bad {
        let p = match row.vs.evidence {
            Evidence::Exact => "exact figure".to_string(),
            Evidence::Constant => "no spread over the repeats".to_string(),
            Evidence::Welch(w) => format!("p = {:.2e}", w.p_two_sided),
        };
        let what = format!(
            "{}, {} thread{}, {}, {}: {} -> {} ({}%, {p})",
            block.scenario,
            block.threads,
            if block.threads == 1 { "" } else { "s" },
            row.design,
            row.metric.long_label(),
            format_value(row.metric, row.base.median),
            format_value(row.metric, row.new.median),
            text::pct(row.change_pct().unwrap_or(0.0)),
        );
        l.extend(wrap(&ascii(&what), "  ", "    ", WIDTH));
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::hook::Hook;
    use crate::report::fixture::Fixture;
    use crate::report::lkml::fits_lkml;

    fn run(b: &Comparison, base: &RunResults, new: &RunResults, f: CompareFormat) -> String {
        b.render(("base.json", base), ("new.json", new), f)
    }

    #[test]
    fn a_run_against_itself_has_no_change() {
        let a = Fixture::new().build();
        let c = compare(&a, &a).unwrap();
        assert!(c.notes.is_empty(), "{:?}", c.notes);
        assert!(c.regressions(0.0).is_empty());
        assert_eq!(c.tally().0, 0);
        for row in c.blocks.iter().flat_map(|b| &b.rows) {
            assert_eq!(row.verdict(), Verdict::Same, "{row:?}");
            assert!(!row.significant(), "{row:?}");
        }
        let out = run(&c, &a, &a, CompareFormat::Lkml);
        fits_lkml(&out).unwrap();
        assert!(
            out.contains("significant changes: 0 worse, 0 better"),
            "{out}"
        );
    }

    #[test]
    fn latencies_twenty_percent_worse_are_flagged() {
        let base = Fixture::new().build();
        let new = Fixture::new().seed(99).latency_scale(1.2).build();
        let c = compare(&base, &new).unwrap();
        // Only the seed differs between the documents' parameters.
        assert_eq!(c.notes.len(), 2, "{:?}", c.notes);
        for row in c.blocks.iter().flat_map(|b| &b.rows) {
            if let Metric::LatencyMean(_) = row.metric {
                let change = row.change_pct().unwrap();
                assert!((change - 20.0).abs() < 3.0, "{row:?}");
                assert!(row.significant(), "{row:?}");
                assert_eq!(row.verdict(), Verdict::Worse);
                assert_eq!(row.regression_over(5.0), row.design != Strategy::Null);
                assert!(!row.regression_over(50.0));
            }
        }
        // free p50 goes 10 -> 20 ns (+100%) when the mean goes 14.2 -> 17.0:
        // one clock step, so it does not count.
        let free_p50 = c.blocks[0]
            .rows
            .iter()
            .find(|r| r.metric == Metric::LatencyP50(Hook::Free) && r.design == Strategy::PerVma)
            .unwrap();
        assert_eq!((free_p50.base.median, free_p50.new.median), (10.0, 20.0));
        assert!(free_p50.significant());
        assert!(!free_p50.regression_over(5.0));
        let ops = c.blocks[0]
            .rows
            .iter()
            .find(|r| r.metric == Metric::OpsPerSec && r.design == Strategy::PerVma)
            .unwrap();
        assert_eq!(ops.verdict(), Verdict::Worse, "fewer ops/s is worse");
        assert!(ops.change_pct().unwrap() < 0.0);
        assert!(!c.regressions(5.0).is_empty());
        let lines = regression_report(&c, 5.0);
        assert!(
            lines[0].contains("significant regressions over 5%"),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("per-vma, track tmean")),
            "{lines:?}"
        );
        let text = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        assert!(text.contains("no spread over the repeats"), "{text}");
        assert!(!text.contains("exact"), "memory did not change: {text}");
        for f in CompareFormat::ALL {
            let out = run(&c, &base, &new, f);
            assert!(out.contains("worse"), "{out}");
            if f == CompareFormat::Lkml {
                fits_lkml(&out).unwrap();
            }
        }
    }

    #[test]
    fn different_scenarios_are_refused_by_name() {
        let a = Fixture::new().scenarios(&["fork-exec", "mremap"]).build();
        let b = Fixture::new().scenarios(&["fork-exec", "munmap"]).build();
        let err = compare(&a, &b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the runs measured different scenarios: NEW lacks `mremap`; BASE lacks `munmap`"
        );
    }

    #[test]
    fn missing_designs_and_threads_are_refused_by_name() {
        let a = Fixture::new().build();
        let b = Fixture::new()
            .designs(&[Strategy::PerVma, Strategy::Xarray, Strategy::Null])
            .build();
        let err = compare(&a, &b).unwrap_err().to_string();
        assert_eq!(
            err,
            "scenario `fork-exec`: the runs measured different designs: \
             NEW lacks memtype-ext at 1 thread"
        );
        let c = Fixture::new().threads(&[1, 2]).build();
        let err = compare(&c, &a).unwrap_err().to_string();
        assert!(
            err.contains("NEW lacks per-vma at 2 threads, xarray at 2 threads"),
            "{err}"
        );
    }

    #[test]
    fn a_hook_in_one_run_only_is_a_note() {
        let a = Fixture::new().build();
        let b = Fixture::new()
            .hooks(&[
                Hook::Track,
                Hook::Untrack,
                Hook::Dup,
                Hook::Free,
                Hook::DupPlain,
            ])
            .build();
        let c = compare(&a, &b).unwrap();
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("only BASE has fault.tmean_ns")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn format_names_round_trip() {
        for f in CompareFormat::ALL {
            assert_eq!(f.name().parse::<CompareFormat>(), Ok(f));
        }
        assert!("csv".parse::<CompareFormat>().is_err());
    }
}
