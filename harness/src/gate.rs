//! The CI regression gate: NEW (one run of the quick suite) against a
//! baseline summary, failing only on what is reproducible.
//!
//! What fails the gate:
//! - **instructions**: callgrind instructions per op of every hook case
//!   (`scripts/instr-count.sh`) more than `instr_threshold_pct` above the
//!   baseline's. The counts are identical run to run, so any change is
//!   real; the threshold only lets a deliberate small cost land together
//!   with a re-recorded baseline. Counts from another compiler or build
//!   profile are not compared (a note says so).
//! - **memory**: a design's exact kernel bytes (at the peak, at the end)
//!   above the baseline's, in single-worker blocks (with several workers
//!   global designs see an interleaving the scheduler picks).
//! - **work**: a single-worker design's hook call or errno counts differ
//!   from the baseline's: the same seed and settings no longer give the
//!   same work, so the figures do not compare (re-record the baseline if
//!   the change is intended).
//! - **ratios**: each design's trimmed-mean latency per hook divided by
//!   `per-vma`'s in the same repeat (the designs are interleaved within a
//!   repeat, so machine drift cancels), judged by `crate::noise` against
//!   the baseline's own run-to-run spread of that ratio: only a rise of
//!   more than [`RATIO_Z`] standard deviations fails, and
//!   only against a baseline from the same machine (CPU model and count):
//!   a ratio depends on the caches.
//!
//! What is only reported: cross-run latency changes (`crate::compare`'s
//! test), unless `fail_on_latency`; a slower machine moves every figure,
//! which the steps above are immune to.

use std::collections::BTreeMap;

use strategies::Strategy;

use crate::compare::{self, Comparison, Different};
use crate::noise::{self, CrossRun, Sides};
use crate::report::summary::{MIN_LATENCY_BASE_NS, Metric};
use crate::run_summary::{DesignSummary, RunSummary};
use crate::settings;
use crate::stats;

/// What the gate checks and how strictly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateOptions {
    /// Largest tolerated rise of a case's instruction count, percent.
    pub instr_threshold_pct: f64,
    /// Fail on a significant cross-run latency regression too.
    pub fail_on_latency: bool,
    /// Gate runs whose settings differ (listed as a note) instead of
    /// refusing them.
    pub different: Different,
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions {
            instr_threshold_pct: 2.0,
            fail_on_latency: false,
            different: Different::Refuse,
        }
    }
}

/// The gate cannot judge these two documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// They did not run the same work.
    #[error(
        "the baseline and the new run did not run the same work; these settings differ: \
         {0} (re-record the baseline, or pass --allow-different)"
    )]
    Settings(String),
}

/// One gated figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Which check.
    pub check: Check,
    /// What was measured (`dup/10k/xarray-shift0`, `fork-storm xarray/per-vma dup`).
    pub what: String,
    /// Baseline value.
    pub base: f64,
    /// New value.
    pub new: f64,
    /// Relative change, percent.
    pub change_pct: f64,
    /// Largest change that passes, percent (upward).
    pub tolerance_pct: f64,
    /// Whether the change is beyond the check's tolerance (either way).
    pub significant: bool,
    /// Whether it fails the gate.
    pub fails: bool,
}

/// The gate's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// Instructions per op per hook case.
    Instructions,
    /// Exact kernel memory.
    Memory,
    /// Hook call and errno counts.
    Work,
    /// Within-run design / per-vma latency ratios.
    Ratio,
    /// Cross-run latency (reported; fails only when asked).
    Latency,
}

impl Check {
    /// Every check, in report order.
    pub const ALL: [Check; 5] = [
        Check::Instructions,
        Check::Memory,
        Check::Work,
        Check::Ratio,
        Check::Latency,
    ];

    /// Short name.
    pub const fn name(self) -> &'static str {
        match self {
            Check::Instructions => "instructions",
            Check::Memory => "memory",
            Check::Work => "work",
            Check::Ratio => "ratios",
            Check::Latency => "latency",
        }
    }

    /// What it checks, for the report.
    pub const fn about(self) -> &'static str {
        match self {
            Check::Instructions => "callgrind instructions per op per hook case (exact)",
            Check::Memory => "kernel bytes at peak and end, single worker (exact)",
            Check::Work => "hook calls and errno counts, single worker (exact)",
            Check::Ratio => "tmean of each design / per-vma, same repeat (noise-judged)",
            Check::Latency => "tmean, p50, p99, ops/s across runs (noise-judged)",
        }
    }
}

/// The gate's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Every gated figure.
    pub findings: Vec<Finding>,
    /// Checks that could not be done, and why; things not gated.
    pub notes: Vec<String>,
    /// Whether the cross-run latency check fails the gate.
    pub fail_on_latency: bool,
}

impl Verdict {
    /// Whether every failing check passed.
    pub fn passed(&self) -> bool {
        !self.findings.iter().any(|f| f.fails)
    }

    /// The findings of one check.
    pub fn of(&self, check: Check) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.check == check)
    }

    /// The report: one line per check (figures, largest change, verdict),
    /// then every failing or significant finding, then the notes.
    pub fn render(&self) -> String {
        let mut l = vec!["pfntrack gate: the new run against the baseline".to_string()];
        for check in Check::ALL {
            let found: Vec<&Finding> = self.of(check).collect();
            let fails = found.iter().filter(|f| f.fails).count();
            let largest = found
                .iter()
                .max_by(|a, b| a.change_pct.abs().total_cmp(&b.change_pct.abs()));
            let verdict = if fails > 0 {
                "FAIL"
            } else if check == Check::Latency && !self.fail_on_latency {
                "reported"
            } else if found.is_empty() {
                "not checked"
            } else {
                "pass"
            };
            let largest = largest.map_or_else(String::new, |f| {
                format!(
                    ", largest change {:+.2}% ({}; passes up to {:+.2}%)",
                    f.change_pct, f.what, f.tolerance_pct
                )
            });
            l.push(format!(
                "{:<12} {verdict}: {} figures{largest}",
                check.name(),
                found.len()
            ));
        }
        let flagged: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.fails || f.significant)
            .collect();
        if !flagged.is_empty() {
            l.push(String::new());
            for f in flagged {
                l.push(format!(
                    "{} {}: {} -> {} ({:+.2}%, passes up to {:+.2}%){}",
                    f.check.name(),
                    f.what,
                    fmt_value(f.base),
                    fmt_value(f.new),
                    f.change_pct,
                    f.tolerance_pct,
                    if f.fails { "  FAIL" } else { "" }
                ));
            }
        }
        if !self.notes.is_empty() {
            l.push(String::new());
            l.extend(self.notes.iter().map(|n| format!("note: {n}")));
        }
        l.push(String::new());
        l.push(if self.passed() {
            "gate: PASS".to_string()
        } else {
            "gate: FAIL".to_string()
        });
        let mut out = l.join("\n");
        out.push('\n');
        out
    }
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn pct(base: f64, new: f64) -> f64 {
    if base == 0.0 {
        if new == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        100.0 * (new - base) / base.abs()
    }
}

/// The designs both runs measured, by (scenario, strategy, threads).
fn paired<'a>(
    base: &'a RunSummary,
    new: &'a RunSummary,
    notes: &mut Vec<String>,
) -> Vec<(&'a str, &'a DesignSummary, &'a DesignSummary)> {
    let mut out = Vec::new();
    for ns in &new.scenarios {
        let Some(bs) = base.scenarios.iter().find(|s| s.name == ns.name) else {
            notes.push(format!(
                "scenario {} is not in the baseline: not gated",
                ns.name
            ));
            continue;
        };
        for nd in &ns.designs {
            match bs
                .designs
                .iter()
                .find(|d| (d.strategy, d.threads) == (nd.strategy, nd.threads))
            {
                Some(bd) => out.push((ns.name.as_str(), bd, nd)),
                None => notes.push(format!(
                    "{}: {} at {} threads is not in the baseline: not gated",
                    ns.name, nd.strategy, nd.threads
                )),
            }
        }
    }
    out
}

fn instructions(base: &RunSummary, new: &RunSummary, o: &GateOptions, v: &mut Verdict) {
    if base.instructions.is_empty() || new.instructions.is_empty() {
        v.notes.push(format!(
            "instruction counts not checked: {} has none (scripts/instr-count.sh)",
            if base.instructions.is_empty() {
                "the baseline"
            } else {
                "the new run"
            }
        ));
        return;
    }
    // Instruction counts are exact for one build of the code: another
    // compiler emits other instructions.
    if base.env.rustc != new.env.rustc || base.env.profile != new.env.profile {
        v.notes.push(format!(
            "instruction counts not checked: the baseline was built by {} ({}), this run \
             by {} ({}); re-record the baseline with this toolchain",
            base.env.rustc, base.env.profile, new.env.rustc, new.env.profile
        ));
        return;
    }
    for (case, &n) in &new.instructions {
        match base.instructions.get(case) {
            Some(&b) => {
                let change = pct(b, n);
                v.findings.push(Finding {
                    check: Check::Instructions,
                    what: case.clone(),
                    base: b,
                    new: n,
                    change_pct: change,
                    tolerance_pct: o.instr_threshold_pct,
                    significant: change.abs() > o.instr_threshold_pct,
                    fails: change > o.instr_threshold_pct,
                });
            }
            None => v
                .notes
                .push(format!("instruction case {case} is not in the baseline")),
        }
    }
    let missing: Vec<&String> = base
        .instructions
        .keys()
        .filter(|c| !new.instructions.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        v.notes.push(format!(
            "{} of the baseline's {} instruction cases were not counted in this run (e.g. {})",
            missing.len(),
            base.instructions.len(),
            missing[0]
        ));
    }
}

fn exact(pairs: &[(&str, &DesignSummary, &DesignSummary)], v: &mut Verdict) {
    for (scenario, bd, nd) in pairs.iter().filter(|p| p.1.threads == 1) {
        let who = format!("{scenario} {}", bd.strategy);
        for (what, b, n) in [
            (
                "peak bytes",
                bd.memory.peak_kernel_bytes,
                nd.memory.peak_kernel_bytes,
            ),
            (
                "end bytes",
                bd.memory.end_kernel_bytes,
                nd.memory.end_kernel_bytes,
            ),
        ] {
            let change = pct(b as f64, n as f64);
            v.findings.push(Finding {
                check: Check::Memory,
                what: format!("{who} {what}"),
                base: b as f64,
                new: n as f64,
                change_pct: change,
                tolerance_pct: 0.0,
                significant: n != b,
                fails: n > b,
            });
            if n < b {
                v.notes.push(format!(
                    "{who} {what}: {b} -> {n}, less memory: re-record the baseline to keep it"
                ));
            }
        }
        let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (h, c) in &bd.calls {
            counts.entry(format!("{h} calls")).or_default().0 = *c;
        }
        for (h, c) in &nd.calls {
            counts.entry(format!("{h} calls")).or_default().1 = *c;
        }
        for (e, c) in &bd.errors {
            counts.entry(format!("{e} errors")).or_default().0 = *c;
        }
        for (e, c) in &nd.errors {
            counts.entry(format!("{e} errors")).or_default().1 = *c;
        }
        // Reservation counts are work too: a change in how often a design
        // reserves or frees is a change in behaviour. A baseline from
        // before they were recorded has none to compare.
        match (bd.reservations, nd.reservations) {
            (Some(b), n) => {
                let n = n.unwrap_or(crate::run_summary::ReservationsSummary {
                    peak: 0,
                    invalid_frees: 0,
                    leaked: 0,
                });
                for (what, b, n) in [
                    ("peak reservations", b.peak, n.peak),
                    ("invalid frees", b.invalid_frees, n.invalid_frees),
                    ("leaked reservations", b.leaked, n.leaked),
                ] {
                    counts.insert(what.to_string(), (b, n));
                }
            }
            (None, Some(_)) => v.notes.push(format!(
                "{who}: the baseline has no reservation counts: re-record it to gate them"
            )),
            _ => {}
        }
        for (what, (b, n)) in counts {
            v.findings.push(Finding {
                check: Check::Work,
                what: format!("{who} {what}"),
                base: b as f64,
                new: n as f64,
                change_pct: pct(b as f64, n as f64),
                tolerance_pct: 0.0,
                significant: b != n,
                fails: b != n,
            });
        }
    }
}

/// Per run, each repeat's `design / per-vma` tmean for `metric`, repeats
/// paired by position (the designs ran interleaved in each repeat).
fn ratio_runs(d: &DesignSummary, pv: &DesignSummary, metric: Metric) -> Vec<Vec<f64>> {
    d.values_by_run(metric)
        .iter()
        .zip(pv.values_by_run(metric))
        .map(|(a, b)| {
            a.iter()
                .zip(&b)
                .filter(|(_, b)| **b > 0.0)
                .map(|(a, b)| a / b)
                .collect()
        })
        .collect()
}

fn ratios(base: &RunSummary, new: &RunSummary, v: &mut Verdict) {
    struct Candidate {
        what: String,
        base: Vec<Vec<f64>>,
        new: Vec<Vec<f64>>,
    }
    let mut cands = Vec::new();
    for ns in &new.scenarios {
        let Some(bs) = base.scenarios.iter().find(|s| s.name == ns.name) else {
            continue;
        };
        let find = |s: &'_ [DesignSummary], st: Strategy, t: u32| {
            s.iter()
                .find(|d| d.strategy == st && d.threads == t)
                .cloned()
        };
        for nd in &ns.designs {
            if matches!(nd.strategy, Strategy::PerVma | Strategy::Null) {
                continue;
            }
            let t = nd.threads;
            let (Some(npv), Some(bd), Some(bpv)) = (
                find(&ns.designs, Strategy::PerVma, t),
                find(&bs.designs, nd.strategy, t),
                find(&bs.designs, Strategy::PerVma, t),
            ) else {
                continue;
            };
            for metric in nd.metrics() {
                let Metric::LatencyMean(hook) = metric else {
                    continue;
                };
                // per-vma's own cost of this hook rounds to nothing (a
                // field read): a ratio to it has no meaning.
                if stats::median(&bpv.values(metric)).is_none_or(|m| m < MIN_LATENCY_BASE_NS) {
                    continue;
                }
                let (b, n) = (ratio_runs(&bd, &bpv, metric), ratio_runs(nd, &npv, metric));
                if b.iter().all(Vec::is_empty) || n.iter().all(Vec::is_empty) {
                    continue;
                }
                let threads = if t == 1 {
                    String::new()
                } else {
                    format!(" {t}t")
                };
                cands.push(Candidate {
                    what: format!("{}{threads} {}/per-vma {hook}", ns.name, nd.strategy),
                    base: b,
                    new: n,
                });
            }
        }
    }
    let changes: Vec<f64> = cands
        .iter()
        .filter_map(|c| {
            let b = stats::median(&noise::run_log_medians(&c.base))?;
            let n = stats::median(&noise::run_log_medians(&c.new))?;
            Some(n - b)
        })
        .collect();
    let across = noise::across_figures_sd(&changes);
    if base.runs < 2 {
        v.notes.push(
            "the baseline is a single run: ratios are judged against this pair's spread \
             over all ratios, not the baseline's run-to-run spread (record the baseline \
             with scripts/record-baseline.sh)"
                .to_string(),
        );
    }
    // A ratio depends on the machine's caches: against a baseline from
    // another machine it is reported, not gated.
    let same_machine =
        base.env.cpu_model == new.env.cpu_model && base.env.nr_cpus == new.env.nr_cpus;
    if !same_machine {
        v.notes.push(format!(
            "ratios reported, not gated: the baseline ran on {} x{}, this run on {} x{} \
             (record a baseline on this machine: scripts/record-baseline.sh)",
            base.env.cpu_model, base.env.nr_cpus, new.env.cpu_model, new.env.nr_cpus
        ));
    }
    for c in cands {
        let Some(j) = noise::judge(
            Sides {
                base: &c.base,
                new: &c.new,
            },
            across,
            0.0,
        ) else {
            continue;
        };
        push_judged(v, Check::Ratio, c.what, j, same_machine);
    }
}

/// How many standard deviations a ratio must rise to fail the gate.
/// Measured on the reference machine: with a baseline recorded under
/// load 15, runs of unchanged code at load 4-6 moved single ratios (the
/// memtype-ext/per-vma dup of several scenarios, consistently) by up to
/// 5.1 standard deviations, a shift of the machine's state that the
/// baseline's own runs did not show; 6 leaves a margin above that.
pub const RATIO_Z: f64 = 6.0;

fn push_judged(v: &mut Verdict, check: Check, what: String, j: CrossRun, fails_if_worse: bool) {
    let significant = j.significant_at(RATIO_Z);
    v.findings.push(Finding {
        check,
        what,
        base: j.base,
        new: j.new,
        change_pct: 100.0 * (j.log_change.exp() - 1.0),
        tolerance_pct: j.tolerance_pct_at(RATIO_Z),
        significant,
        fails: fails_if_worse && significant && j.log_change > 0.0,
    });
}

fn latency(base: &RunSummary, new: &RunSummary, o: &GateOptions, v: &mut Verdict) {
    let cmp: Comparison = match compare::compare(base, new, Different::Allow) {
        Ok(c) => c,
        Err(e) => {
            v.notes
                .push(format!("cross-run latencies not compared: {e}"));
            return;
        }
    };
    for block in &cmp.blocks {
        for row in &block.rows {
            if row.metric.exact() || row.design == Strategy::Null {
                continue;
            }
            let Some(c) = row.cross else {
                continue;
            };
            let threads = if block.threads == 1 {
                String::new()
            } else {
                format!(" {}t", block.threads)
            };
            let worse = row
                .metric
                .better()
                .worse_pct(row.change_pct().unwrap_or(0.0))
                > 0.0;
            let significant = row.significant();
            v.findings.push(Finding {
                check: Check::Latency,
                what: format!(
                    "{}{threads} {} {}",
                    block.scenario,
                    row.design,
                    row.metric.long_label()
                ),
                base: row.base.median,
                new: row.new.median,
                change_pct: row.change_pct().unwrap_or(0.0),
                tolerance_pct: c.tolerance_pct(),
                significant,
                fails: o.fail_on_latency && significant && worse,
            });
        }
    }
}

/// Gate NEW against BASE.
pub fn gate(base: &RunSummary, new: &RunSummary, o: &GateOptions) -> Result<Verdict, GateError> {
    let mut v = Verdict {
        findings: Vec::new(),
        notes: Vec::new(),
        fail_on_latency: o.fail_on_latency,
    };
    let diffs = settings::differences(&base.work_settings(), &new.work_settings());
    if !diffs.is_empty() {
        match o.different {
            Different::Refuse => return Err(GateError::Settings(settings::describe(&diffs, 8))),
            Different::Allow => v.notes.push(format!(
                "the runs did not run the same work (gated as asked): {}",
                settings::describe(&diffs, 8)
            )),
        }
    }
    instructions(base, new, o, &mut v);
    let pairs = paired(base, new, &mut v.notes);
    exact(&pairs, &mut v);
    ratios(base, new, &mut v);
    latency(base, new, o, &mut v);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::hook::Hook;
    use crate::report::fixture::Fixture;

    /// The fixture's noise seed is also its workload seed: put it back.
    fn run(f: Fixture) -> RunSummary {
        let mut s = RunSummary::of(&f.noise_pct(3.0).build());
        s.params.seed = 42;
        for sc in &mut s.scenarios {
            sc.seed = Some(42);
        }
        s.instructions = BTreeMap::from([
            ("dup/10k/per-vma".to_string(), 120.0),
            ("dup/10k/xarray-shift0".to_string(), 900.0),
        ]);
        s
    }

    fn baseline() -> RunSummary {
        RunSummary::merge((0..5).map(|i| run(Fixture::new().seed(100 + i))).collect()).unwrap()
    }

    #[test]
    fn unchanged_code_passes_every_check() {
        let v = gate(
            &baseline(),
            &run(Fixture::new().seed(7)),
            &GateOptions::default(),
        )
        .unwrap();
        assert!(v.passed(), "{}", v.render());
        for check in [
            Check::Instructions,
            Check::Memory,
            Check::Work,
            Check::Ratio,
        ] {
            assert!(v.of(check).count() > 0, "{check:?} gated nothing");
        }
        assert!(v.render().ends_with("gate: PASS\n"));
    }

    #[test]
    fn a_slower_dup_fails_on_its_ratio_and_its_instructions() {
        let mut new = run(Fixture::new()
            .seed(7)
            .slow(Strategy::Xarray, Hook::Dup, 1.2));
        new.instructions
            .insert("dup/10k/xarray-shift0".to_string(), 900.0 * 1.2);
        let v = gate(&baseline(), &new, &GateOptions::default()).unwrap();
        assert!(!v.passed());
        let failing: Vec<(Check, &str)> = v
            .findings
            .iter()
            .filter(|f| f.fails)
            .map(|f| (f.check, f.what.as_str()))
            .collect();
        assert_eq!(
            failing,
            [
                (Check::Instructions, "dup/10k/xarray-shift0"),
                (Check::Ratio, "fork-exec xarray/per-vma dup")
            ]
        );
        assert!(v.render().contains("FAIL"), "{}", v.render());
    }

    #[test]
    fn a_one_percent_slower_dup_passes() {
        let mut new = run(Fixture::new()
            .seed(7)
            .slow(Strategy::Xarray, Hook::Dup, 1.01));
        new.instructions
            .insert("dup/10k/xarray-shift0".to_string(), 900.0 * 1.01);
        let v = gate(&baseline(), &new, &GateOptions::default()).unwrap();
        assert!(v.passed(), "{}", v.render());
        let instr = v
            .of(Check::Instructions)
            .find(|f| f.what.contains("xarray"))
            .unwrap();
        assert!((instr.change_pct - 1.0).abs() < 1e-9, "{instr:?}");
    }

    #[test]
    fn more_memory_or_other_work_fails() {
        let mut new = run(Fixture::new().seed(7));
        new.scenarios[0].designs[1].memory.peak_kernel_bytes += 4096;
        new.scenarios[0].designs[2].calls.insert(Hook::Dup, 1);
        let v = gate(&baseline(), &new, &GateOptions::default()).unwrap();
        let failing: Vec<Check> = v
            .findings
            .iter()
            .filter(|f| f.fails)
            .map(|f| f.check)
            .collect();
        assert_eq!(failing, [Check::Memory, Check::Work], "{}", v.render());
    }

    #[test]
    fn a_change_in_reservation_counts_fails_and_an_old_baseline_is_noted() {
        use crate::run_summary::ReservationsSummary;
        let counts = ReservationsSummary {
            peak: 100,
            invalid_frees: 7,
            leaked: 3,
        };
        let mut base = baseline();
        let mut new = run(Fixture::new().seed(7));
        base.scenarios[0].designs[1].reservations = Some(counts);
        new.scenarios[0].designs[1].reservations = Some(ReservationsSummary {
            invalid_frees: 8,
            ..counts
        });
        let v = gate(&base, &new, &GateOptions::default()).unwrap();
        let failing: Vec<&str> = v
            .findings
            .iter()
            .filter(|f| f.fails)
            .map(|f| f.what.as_str())
            .collect();
        assert_eq!(failing.len(), 1, "{}", v.render());
        assert!(failing[0].ends_with("invalid frees"), "{}", v.render());

        base.scenarios[0].designs[1].reservations = None;
        let v = gate(&base, &new, &GateOptions::default()).unwrap();
        assert!(v.passed(), "{}", v.render());
        assert!(v.notes.iter().any(|n| n.contains("no reservation counts")));
    }

    #[test]
    fn a_cross_run_latency_regression_is_reported_not_failed_unless_asked() {
        // per-vma's own dup 30% slower: no other design's ratio rises
        // (theirs fall), instructions and memory do not move; the latency
        // check sees it against the baseline's runs.
        let new = run(Fixture::new()
            .seed(7)
            .slow(Strategy::PerVma, Hook::Dup, 1.3));
        let v = gate(&baseline(), &new, &GateOptions::default()).unwrap();
        assert!(v.passed(), "{}", v.render());
        assert!(
            v.of(Check::Latency)
                .any(|f| f.significant && f.what == "fork-exec per-vma dup tmean"),
            "{}",
            v.render()
        );
        let strict = GateOptions {
            fail_on_latency: true,
            ..GateOptions::default()
        };
        assert!(!gate(&baseline(), &new, &strict).unwrap().passed());
        // Every figure 30% slower is a slower machine: nothing stands out.
        let slower = run(Fixture::new().seed(7).latency_scale(1.3));
        let v = gate(&baseline(), &slower, &strict).unwrap();
        assert!(v.passed(), "{}", v.render());
    }

    #[test]
    fn ratios_from_another_machine_are_reported_not_gated() {
        let mut new = run(Fixture::new()
            .seed(7)
            .slow(Strategy::Xarray, Hook::Dup, 1.5));
        new.env.cpu_model = "another CPU".to_string();
        let v = gate(&baseline(), &new, &GateOptions::default()).unwrap();
        assert!(v.passed(), "{}", v.render());
        assert!(v.of(Check::Ratio).any(|f| f.significant));
        assert!(
            v.notes.iter().any(|n| n.contains("not gated")),
            "{:?}",
            v.notes
        );
    }

    #[test]
    fn other_settings_are_refused_by_name() {
        let mut new = run(Fixture::new().seed(7));
        new.params.xa_key_shift = 6;
        let err = gate(&baseline(), &new, &GateOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("xa_key_shift (BASE 0, NEW 6)"),
            "{err}"
        );
    }
}
