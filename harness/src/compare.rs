//! Two runs compared: for every (scenario, threads, design, metric) both
//! documents have, the change of NEW against BASE, whether it is larger
//! than runs of unchanged code show (`crate::noise`: the run-to-run
//! spread, the repeats' spread and the timer's step), and whether it is
//! better or worse for that metric. Memory is exact, so any change in it
//! counts. Either side may be a full results document or a summary
//! (`crate::run_summary`); both are compared as summaries.
//!
//! Two documents are comparable when they have the same schema version
//! (checked on load), ran the same work (every setting in
//! `crate::settings`: refused by name unless the caller allows it), the
//! same scenarios and, per scenario, the same designs at the same thread
//! counts: anything else is refused with the names of what is missing,
//! since a silent partial comparison could hide a regression. Differences
//! that do not stop a comparison (another machine, other repeats, a hook
//! that ran in only one run, settings when allowed) are listed as notes.
//!
//! The `null` design is shown but never counts as a regression: it is the
//! harness's floor, a couple of ns, where one clock step is tens of
//! percent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use strategies::Strategy;

use crate::measure::hook::Hook;
use crate::noise::{self, CrossRun, NOISE_Z, Sides};
use crate::report::format_value;
use crate::report::markdown::escape;
use crate::report::summary::{Evidence, MIN_LATENCY_BASE_NS, Metric, Stat, Versus};
use crate::report::text::{self, WIDTH, ascii, wrap};
use crate::run_summary::{DesignSummary, RunSummary, ScenarioSummary};
use crate::settings;

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
    /// The runs did not run the same work.
    #[error(
        "the runs did not run the same work; these settings differ: {0} \
         (pass --allow-different to compare them anyway)"
    )]
    Settings(String),
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
    /// NEW against BASE (the change; the evidence is for exact figures).
    pub vs: Versus,
    /// The cross-run test of a measured (not exact) figure; `None` for
    /// exact figures, or when a side has no positive value.
    pub cross: Option<CrossRun>,
    /// For a percentile: whether its hook's trimmed mean changed
    /// significantly the same way. A p50 or p99 alone moves with the
    /// shape of the distribution (a bimodal hook's median flips between
    /// its modes from run to run); it counts only with its mean. True for
    /// other metrics.
    pub mean_agrees: bool,
}

impl CompareRow {
    /// `100 * (NEW - BASE) / BASE` of the medians; `None` for a zero BASE.
    pub fn change_pct(&self) -> Option<f64> {
        self.vs.diff_pct
    }

    /// Whether the change is significant: beyond the run-to-run noise
    /// and the timer's floor (memory: whether it changed at all).
    pub fn significant(&self) -> bool {
        if self.metric.exact() {
            self.vs.significant()
        } else {
            self.mean_agrees && self.cross.is_some_and(|c| c.significant())
        }
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

    /// Whether this row counts for `--fail-on-regression`: a significant
    /// change more than `threshold_pct` percent the worse way, in a design
    /// other than `null`.
    pub fn regression_over(&self, threshold_pct: f64) -> bool {
        self.design != Strategy::Null && self.significant() && self.worse_pct() > threshold_pct
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
    /// The pair's spread over its latency figures (log scale), used for
    /// figures whose BASE has one run; `None` without such figures.
    pub across_sd: Option<f64>,
}

fn by_name<'a>(
    run: &'a RunSummary,
    side: &'static str,
) -> Result<BTreeMap<&'a str, &'a ScenarioSummary>, CompareError> {
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

fn design_key(d: &DesignSummary) -> String {
    format!(
        "{} at {} thread{}",
        d.strategy,
        d.threads,
        if d.threads == 1 { "" } else { "s" }
    )
}

/// Whether settings that differ stop the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Different {
    /// Refuse runs of different work (the default).
    #[default]
    Refuse,
    /// Compare anyway, listing the differences as notes.
    Allow,
}

/// The timer's floor for `metric`, in ns: the two runs' overhead
/// calibrations differ by this much, and every sample had its run's
/// overhead subtracted; percentiles also move in clock steps.
fn timer_floor_ns(metric: Metric, base: &RunSummary, new: &RunSummary) -> f64 {
    let latency = matches!(
        metric,
        Metric::LatencyMean(_) | Metric::LatencyP50(_) | Metric::LatencyP99(_)
    );
    if !latency {
        return 0.0;
    }
    let drift = (base.env.timer.overhead_ns - new.env.timer.overhead_ns).abs();
    let step = if metric.quantized() {
        base.env
            .timer
            .resolution_ns
            .into_iter()
            .chain(new.env.timer.resolution_ns)
            .fold(0.0, f64::max)
    } else {
        0.0
    };
    drift + step
}

/// Compare NEW with BASE. Errors when they did not run the same work
/// (unless `different` allows it) or did not measure the same scenarios,
/// designs and thread counts.
pub fn compare(
    base: &RunSummary,
    new: &RunSummary,
    different: Different,
) -> Result<Comparison, CompareError> {
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
    // First pass: pair the figures.
    struct Pending<'a> {
        block: usize,
        metric: Metric,
        bd: &'a DesignSummary,
        nd: &'a DesignSummary,
    }
    let mut blocks = Vec::new();
    let mut pending = Vec::new();
    for bs in &base.scenarios {
        let ns = n[bs.name.as_str()];
        let key = |d: &DesignSummary| (d.strategy, d.threads);
        let bk: BTreeSet<_> = bs.designs.iter().map(key).collect();
        let nk: BTreeSet<_> = ns.designs.iter().map(key).collect();
        if bk != nk {
            let names = |s: &ScenarioSummary, other: &BTreeSet<(Strategy, u32)>| -> Vec<String> {
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
        let threads: BTreeSet<u32> = bs.designs.iter().map(|d| d.threads).collect();
        for t in threads {
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
                let (bm, nm) = (bd.metrics(), nd.metrics());
                for metric in bm.iter().filter(|m| nm.contains(m)) {
                    pending.push(Pending {
                        block: blocks.len(),
                        metric: *metric,
                        bd,
                        nd,
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
                rows: Vec::new(),
            });
        }
    }
    // Same scenarios and designs; now the same work?
    let diffs = settings::differences(&base.work_settings(), &new.work_settings());
    if !diffs.is_empty() {
        match different {
            Different::Refuse => {
                return Err(CompareError::Settings(settings::describe(&diffs, 8)));
            }
            Different::Allow => notes.insert(
                0,
                format!(
                    "the runs did not run the same work (compared as asked): {}",
                    settings::describe(&diffs, 8)
                ),
            ),
        }
    }
    // The pair's own spread over its latency figures, for a BASE of one
    // run (see `crate::noise`).
    let log_change = |p: &Pending<'_>| -> Option<f64> {
        let b = noise::run_log_medians(&p.bd.values_by_run(p.metric));
        let n = noise::run_log_medians(&p.nd.values_by_run(p.metric));
        Some(crate::stats::median(&n)? - crate::stats::median(&b)?)
    };
    // Throughput has its own spread (it includes the simulator and moves
    // with the whole machine); percentiles are judged with their mean.
    let spread_of = |ops: bool| {
        let changes: Vec<f64> = pending
            .iter()
            .filter(|p| {
                p.bd.strategy != Strategy::Null
                    && if ops {
                        p.metric == Metric::OpsPerSec
                    } else {
                        matches!(p.metric, Metric::LatencyMean(_))
                            && crate::stats::median(&p.bd.values(p.metric))
                                .is_some_and(|m| m >= MIN_LATENCY_BASE_NS)
                    }
            })
            .filter_map(log_change)
            .collect();
        noise::across_figures_sd(&changes)
    };
    let across = spread_of(false);
    let across_ops = spread_of(true).or(across);
    for p in pending {
        let (Some(bstat), Some(nstat)) = (
            Stat::of(p.bd.values(p.metric)),
            Stat::of(p.nd.values(p.metric)),
        ) else {
            continue;
        };
        let vs = Versus::of(p.metric, &bstat, &nstat);
        let tiny = matches!(
            p.metric,
            Metric::LatencyMean(_) | Metric::LatencyP50(_) | Metric::LatencyP99(_)
        ) && bstat.median.abs() < MIN_LATENCY_BASE_NS;
        let cross = (!p.metric.exact() && !tiny)
            .then(|| {
                noise::judge(
                    Sides {
                        base: &p.bd.values_by_run(p.metric),
                        new: &p.nd.values_by_run(p.metric),
                    },
                    if p.metric == Metric::OpsPerSec {
                        across_ops
                    } else {
                        across
                    },
                    timer_floor_ns(p.metric, base, new),
                )
            })
            .flatten();
        blocks[p.block].rows.push(CompareRow {
            design: p.bd.strategy,
            metric: p.metric,
            base: bstat,
            new: nstat,
            vs,
            cross,
            mean_agrees: true,
        });
    }
    for block in &mut blocks {
        let means: Vec<(Strategy, Hook, Option<f64>)> = block
            .rows
            .iter()
            .filter_map(|r| match r.metric {
                Metric::LatencyMean(h) => Some((
                    r.design,
                    h,
                    r.significant()
                        .then(|| r.cross.map_or(0.0, |c| c.log_change)),
                )),
                _ => None,
            })
            .collect();
        for r in &mut block.rows {
            if let Metric::LatencyP50(h) | Metric::LatencyP99(h) = r.metric {
                let mean = means
                    .iter()
                    .find(|(d, mh, _)| *d == r.design && *mh == h)
                    .and_then(|m| m.2);
                let change = r.cross.map_or(0.0, |c| c.log_change);
                r.mean_agrees = mean.is_some_and(|m| m.signum() == change.signum());
            }
        }
    }
    Ok(Comparison {
        blocks,
        notes,
        across_sd: across,
    })
}

/// What differs between the runs' machines and measurement (not the
/// work: that is `crate::settings`).
fn environment_notes(base: &RunSummary, new: &RunSummary) -> Vec<String> {
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
        ("runs merged", base.runs.to_string(), new.runs.to_string()),
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
        base: (&str, &RunSummary),
        new: (&str, &RunSummary),
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

    fn legend(&self) -> String {
        let across = self.across_sd.map_or_else(String::new, |sd| {
            format!(
                " This pair of runs moved its latency figures by {:.1}% typically \
                 (1.4826 x the median absolute change): the run-to-run spread \
                 used where BASE is a single run.",
                100.0 * (sd.exp() - 1.0)
            )
        });
        format!(
            "How to read: BASE and NEW are medians of the per-repeat values, each \
             with +- its standard deviation as a percentage of its mean; change is \
             NEW against BASE, between stars (*+9.17%*) when it is more than \
             {NOISE_Z} standard deviations of what runs of unchanged code show \
             (the run-to-run spread, from BASE's own runs when it merges several, \
             plus the repeats' spread) and, for latencies, more than the timer \
             can resolve (the difference of the runs' overhead calibrations, plus \
             one clock step for p50/p99); a p50/p99 change counts only when its \
             hook's tmean changed significantly the same way. Memory is exact, so any change in it \
             is marked. Latencies are ns per call. For --fail-on-regression, the \
             null design (the harness floor) never counts.{across}"
        )
    }

    fn tally_line(&self) -> String {
        let (worse, better, n) = self.tally();
        format!(
            "significant changes: {worse} worse, {better} better, of {n} figures \
             compared (null design left out)"
        )
    }

    fn render_lkml(&self, base: (&str, &RunSummary), new: (&str, &RunSummary)) -> String {
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
        l.extend(wrap(&self.legend(), "", "", WIDTH));
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

    fn render_markdown(&self, base: (&str, &RunSummary), new: (&str, &RunSummary)) -> String {
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
        l.push(escape(&self.legend()));
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
        let p = match (row.vs.evidence, row.cross) {
            (Evidence::Exact, _) => "exact figure".to_string(),
            (_, Some(c)) => format!("{:.1} sd, counts above {:.1}%", c.z(), c.tolerance_pct()),
            (_, None) => "no test".to_string(),
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
    use crate::report::fixture::Fixture;
    use crate::report::lkml::fits_lkml;
    use crate::report::summary::MetricGroup;

    fn run(b: &Comparison, base: &RunSummary, new: &RunSummary, f: CompareFormat) -> String {
        b.render(("base.json", base), ("new.json", new), f)
    }

    fn summary(f: Fixture) -> RunSummary {
        RunSummary::of(&f.build())
    }

    /// The fixture's noise seed is also its workload seed: put it back.
    fn same_seed(mut s: RunSummary) -> RunSummary {
        s.params.seed = 42;
        for sc in &mut s.scenarios {
            sc.seed = Some(42);
        }
        s
    }

    /// `n` runs of the same work whose repeat noise differs (the seed of
    /// the noise is put back so the settings agree).
    fn baseline(n: u64) -> RunSummary {
        let runs = (0..n)
            .map(|i| same_seed(summary(Fixture::new().seed(100 + i).noise_pct(3.0))))
            .collect();
        RunSummary::merge(runs).unwrap()
    }

    #[test]
    fn a_run_against_itself_has_no_change() {
        let a = summary(Fixture::new());
        let c = compare(&a, &a, Different::Refuse).unwrap();
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
    fn one_slower_hook_is_flagged_against_a_multi_run_baseline() {
        let base = baseline(5);
        let new = same_seed(summary(Fixture::new().seed(7).noise_pct(3.0).slow(
            Strategy::Xarray,
            Hook::Dup,
            1.3,
        )));
        let c = compare(&base, &new, Different::Refuse).unwrap();
        for row in c.blocks.iter().flat_map(|b| &b.rows) {
            let cross = row.cross.map(|c| c.between);
            if !row.metric.exact() && row.base.median >= 1.0 {
                assert_eq!(cross, Some(noise::Between::BaselineRuns(5)), "{row:?}");
            }
            // Percentiles of the slowed hook may or may not cross a clock
            // step; its trimmed mean must stand out, and nothing else.
            let dup = row.design == Strategy::Xarray
                && (row.metric.group() == MetricGroup::Hook(Hook::Dup)
                    // Its throughput includes the slower dup.
                    || row.metric == Metric::OpsPerSec);
            if row.design == Strategy::Xarray && row.metric == Metric::LatencyMean(Hook::Dup) {
                assert!(row.significant(), "{row:?}");
            } else if !dup {
                assert!(!row.significant(), "{row:?}");
            }
        }
        let bad = c.regressions(10.0);
        assert!(!bad.is_empty());
        assert!(
            bad.iter().all(|(_, r)| r.design == Strategy::Xarray
                && (r.metric.group() == MetricGroup::Hook(Hook::Dup)
                    || r.metric == Metric::OpsPerSec)),
            "{bad:?}"
        );
        let lines = regression_report(&c, 10.0);
        assert!(lines[0].contains("significant regression"), "{lines:?}");
        let text = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        assert!(text.contains("xarray, dup tmean"), "{text}");
        assert!(text.contains("sd, counts above"), "{text}");
        for f in CompareFormat::ALL {
            let out = run(&c, &base, &new, f);
            assert!(out.contains("worse"), "{out}");
            if f == CompareFormat::Lkml {
                fits_lkml(&out).unwrap();
            }
        }
    }

    #[test]
    fn a_one_percent_change_is_not_claimed() {
        let base = baseline(5);
        let new = same_seed(summary(Fixture::new().seed(7).noise_pct(3.0).slow(
            Strategy::Xarray,
            Hook::Dup,
            1.01,
        )));
        let c = compare(&base, &new, Different::Refuse).unwrap();
        assert_eq!(c.tally().0, 0, "{:?}", regression_report(&c, 0.0));
    }

    #[test]
    fn a_shift_of_every_figure_between_two_single_runs_is_the_machine() {
        // Two single runs, every latency 20% up with tight repeats: Welch
        // would flag every figure; the pair's own spread says this is what
        // the two runs do, so no figure stands out. Memory is unchanged.
        let base = summary(Fixture::new());
        let new = summary(Fixture::new().latency_scale(1.2));
        let c = compare(&base, &new, Different::Refuse).unwrap();
        assert!(
            c.regressions(5.0).is_empty(),
            "{:?}",
            regression_report(&c, 5.0)
        );
        let sd = c.across_sd.unwrap();
        assert!((sd - 1.4826 * 1.2f64.ln()).abs() < 0.02, "{sd}");
        let out = run(&c, &base, &new, CompareFormat::Lkml);
        assert!(out.contains("moved its latency figures by"), "{out}");
        // One figure far beyond the others is flagged.
        let new = summary(Fixture::new().slow(Strategy::MemtypeExt, Hook::Track, 3.0));
        let c = compare(&base, &new, Different::Refuse).unwrap();
        let flagged: Vec<_> = c
            .regressions(5.0)
            .into_iter()
            .map(|(_, r)| (r.design, r.metric))
            .collect();
        assert!(
            flagged.contains(&(Strategy::MemtypeExt, Metric::LatencyMean(Hook::Track))),
            "{flagged:?}"
        );
        assert!(
            flagged.iter().all(|(d, _)| *d == Strategy::MemtypeExt),
            "{flagged:?}"
        );
    }

    #[test]
    fn different_settings_are_refused_by_name_unless_allowed() {
        let a = summary(Fixture::new());
        let mut b = a.clone();
        b.params.xa_key_shift = 6;
        let err = compare(&a, &b, Different::Refuse).unwrap_err().to_string();
        assert!(err.contains("xa_key_shift (BASE 0, NEW 6)"), "{err}");
        assert!(err.contains("--allow-different"), "{err}");
        let c = compare(&a, &b, Different::Allow).unwrap();
        assert!(
            c.notes.iter().any(|n| n.contains("xa_key_shift")),
            "{:?}",
            c.notes
        );
        let mut q = a.clone();
        q.params.quick = true;
        let err = compare(&a, &q, Different::Refuse).unwrap_err().to_string();
        assert!(err.contains("quick (BASE false, NEW true)"), "{err}");
    }

    #[test]
    fn different_scenarios_are_refused_by_name() {
        let a = summary(Fixture::new().scenarios(&["fork-exec", "mremap"]));
        let b = summary(Fixture::new().scenarios(&["fork-exec", "munmap"]));
        let err = compare(&a, &b, Different::Allow).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the runs measured different scenarios: NEW lacks `mremap`; BASE lacks `munmap`"
        );
    }

    #[test]
    fn missing_designs_and_threads_are_refused_by_name() {
        let a = summary(Fixture::new());
        let b =
            summary(Fixture::new().designs(&[Strategy::PerVma, Strategy::Xarray, Strategy::Null]));
        let err = compare(&a, &b, Different::Allow).unwrap_err().to_string();
        assert_eq!(
            err,
            "scenario `fork-exec`: the runs measured different designs: \
             NEW lacks memtype-ext at 1 thread"
        );
        let c = summary(Fixture::new().threads(&[1, 2]));
        let err = compare(&c, &a, Different::Allow).unwrap_err().to_string();
        assert!(
            err.contains("NEW lacks per-vma at 2 threads, xarray at 2 threads"),
            "{err}"
        );
    }

    #[test]
    fn a_hook_in_one_run_only_is_a_note() {
        let a = summary(Fixture::new());
        let b = summary(Fixture::new().hooks(&[
            Hook::Track,
            Hook::Untrack,
            Hook::Dup,
            Hook::Free,
            Hook::DupPlain,
        ]));
        let c = compare(&a, &b, Different::Refuse).unwrap();
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
