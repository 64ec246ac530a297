//! The compact summary of one or more runs: what trend charts, `compare`
//! and the CI gate need, a few tens of KB where the full results document
//! is megabytes (latency CDFs, memory samples and every histogram
//! percentile are left out). History entries and baselines are summaries;
//! full results stay CI artifacts.
//!
//! A summary keeps, per scenario, design and thread count: every repeat's
//! trimmed mean, p50 and p99 per hook and its ops/s, run by run (so a
//! baseline merged from several runs knows its run-to-run spread), the
//! exact memory figures, the hook call counts and errno counts of the
//! first repeat (deterministic), plus the whole run description (tool,
//! machine, every setting). Optionally the callgrind instruction counts
//! per hook case (`scripts/instr-count.sh`) and how the entry was recorded
//! (clean tree, gate verdict).
//!
//! Summaries share [`SCHEMA_VERSION`] with results documents and say
//! `"kind": "pfntrack-summary"`; [`Document::load`] reads either kind.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strategies::Strategy;

use crate::measure::hook::Hook;
use crate::report::summary::Metric;
use crate::results::{
    DesignResult, EnvInfo, ResultsError, RunParams, RunResults, SCHEMA_VERSION, ToolInfo,
    write_atomic,
};
use crate::settings;

/// The `kind` of a summary document.
pub const SUMMARY_KIND: &str = "pfntrack-summary";

/// One or more runs, summarized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSummary {
    /// Layout version ([`SCHEMA_VERSION`], shared with results documents).
    pub schema_version: u32,
    /// Always [`SUMMARY_KIND`].
    pub kind: String,
    /// What produced the (first) run.
    pub tool: ToolInfo,
    /// Where the (first) run measured.
    pub env: EnvInfo,
    /// The command line that reproduces a run.
    pub command: String,
    /// When the first run started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall time of all runs together, seconds.
    pub duration_s: f64,
    /// Run-wide parameters (identical in every merged run).
    pub params: RunParams,
    /// How many runs are merged here; every figure holds this many lists.
    pub runs: u32,
    /// Callgrind instructions per op by hook case
    /// (`scripts/instr-count.sh`), if they were counted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instructions: BTreeMap<String, f64>,
    /// How this entry was recorded, when it went into a history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Record>,
    /// One entry per scenario, in run order.
    pub scenarios: Vec<ScenarioSummary>,
}

/// How a history entry was recorded: only a run of committed code whose
/// checks passed is a clean point of the trend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// `git status --porcelain` was empty when the run was made.
    pub clean_tree: bool,
    /// The gate's verdict: `pass`, `fail`, or `not run`.
    pub gate: String,
}

impl Record {
    /// Whether the entry is a clean point: committed code, gate passed.
    pub fn clean(&self) -> bool {
        self.clean_tree && self.gate == "pass"
    }
}

/// One scenario of a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSummary {
    /// Scenario name.
    pub name: String,
    /// The scenario's full parameter set, as resolved.
    pub params: serde_json::Value,
    /// Seed the workload was generated from (absent for a trace).
    pub seed: Option<u64>,
    /// Ops per worker stream.
    pub nr_ops: u64,
    /// One entry per design and thread count.
    pub designs: Vec<DesignSummary>,
}

/// One design at one thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignSummary {
    /// The design.
    pub strategy: Strategy,
    /// Worker threads sharing it.
    pub threads: u32,
    /// Per-repeat values by metric key (`dup.tmean_ns`, `dup.p50_ns`,
    /// `dup.p99_ns`, `ops_per_sec`): one list per run, one value per
    /// repeat in which the figure exists.
    pub figures: BTreeMap<String, Vec<Vec<f64>>>,
    /// Calls per hook in the first repeat (the work; deterministic).
    pub calls: BTreeMap<Hook, u64>,
    /// Errors and refusals by name in the first repeat.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, u64>,
    /// Exact kernel memory.
    pub memory: MemorySummary,
    /// Memtype reservations (absent for a design that never reserved,
    /// and in summaries from before they were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<ReservationsSummary>,
}

/// The reservation counts of one design (deterministic with one thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationsSummary {
    /// Entries in the memtype tree at the peak.
    pub peak: u64,
    /// Frees that matched no entry ("freeing invalid memtype").
    pub invalid_frees: u64,
    /// Entries left in the tree when every VMA was gone.
    pub leaked: u64,
}

/// The exact memory figures of one design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySummary {
    /// Kernel bytes at the peak.
    pub peak_kernel_bytes: u64,
    /// Those bytes by object kind.
    pub peak_bytes: BTreeMap<String, u64>,
    /// Live VMAs at the peak.
    pub peak_nr_vmas: u64,
    /// Live tracked VMAs at the peak.
    pub peak_nr_tracked_vmas: u64,
    /// `peak_kernel_bytes / peak_nr_tracked_vmas` (0 with none).
    pub peak_bytes_per_tracked_vma: f64,
    /// Kernel bytes after the last op.
    pub end_kernel_bytes: u64,
}

/// Per-repeat latencies are kept to 10 ps and rates to one op/s: finer
/// digits are noise (repeats differ by far more) and cost bytes.
fn round_to(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

fn round(v: f64) -> f64 {
    round_to(v, 2)
}

/// A figure rounded as a summary keeps it.
fn keep(metric: Metric, v: f64) -> f64 {
    match metric {
        Metric::OpsPerSec => round_to(v, 0),
        _ => round(v),
    }
}

/// The metrics a summary keeps per repeat, for the hooks a design has.
fn repeat_metrics(hook: Hook) -> [Metric; 3] {
    [
        Metric::LatencyMean(hook),
        Metric::LatencyP50(hook),
        Metric::LatencyP99(hook),
    ]
}

impl DesignSummary {
    /// Summarize one design's results.
    pub fn of(d: &DesignResult) -> DesignSummary {
        let mut figures = BTreeMap::new();
        for metric in crate::report::summary::metrics_of(d) {
            if metric.exact() {
                continue;
            }
            let values: Vec<f64> = metric
                .values(d)
                .into_iter()
                .map(|v| keep(metric, v))
                .collect();
            figures.insert(metric.key(), vec![values]);
        }
        let first = d.repeats.first();
        let calls = first
            .map(|r| r.hooks.iter().map(|(h, s)| (*h, s.count)).collect())
            .unwrap_or_default();
        let errors = first.map(|r| r.errors.clone()).unwrap_or_default();
        let peak = &d.memory.peak;
        DesignSummary {
            strategy: d.strategy,
            threads: d.threads,
            figures,
            calls,
            errors,
            memory: MemorySummary {
                peak_kernel_bytes: peak.kernel_bytes,
                peak_bytes: peak.bytes.clone(),
                peak_nr_vmas: peak.nr_vmas,
                peak_nr_tracked_vmas: peak.nr_tracked_vmas,
                peak_bytes_per_tracked_vma: round(peak.bytes_per_tracked_vma),
                end_kernel_bytes: d.memory.end.kernel_bytes,
            },
            // The same rule as the full document's metrics: a design that
            // never reserved has nothing to say.
            reservations: (d.reservations_peak > 0).then_some(ReservationsSummary {
                peak: d.reservations_peak,
                invalid_frees: d.invalid_frees,
                leaked: d.reservations_leaked,
            }),
        }
    }

    /// The values of `metric`, every run's repeats in order (one value for
    /// exact metrics). Empty when the design has no such figure.
    pub fn values(&self, metric: Metric) -> Vec<f64> {
        match metric {
            Metric::PeakKernelBytes => vec![self.memory.peak_kernel_bytes as f64],
            Metric::ReservationsPeak => self
                .reservations
                .map(|r| r.peak as f64)
                .into_iter()
                .collect(),
            Metric::InvalidFrees => self
                .reservations
                .map(|r| r.invalid_frees as f64)
                .into_iter()
                .collect(),
            Metric::ReservationsLeaked => self
                .reservations
                .map(|r| r.leaked as f64)
                .into_iter()
                .collect(),
            Metric::PeakBytesPerTrackedVma => {
                if self.memory.peak_nr_tracked_vmas == 0 {
                    Vec::new()
                } else {
                    vec![self.memory.peak_bytes_per_tracked_vma]
                }
            }
            m => self
                .figures
                .get(&m.key())
                .map(|runs| runs.iter().flatten().copied().collect())
                .unwrap_or_default(),
        }
    }

    /// The values of `metric` run by run (empty lists for runs without
    /// it); exact metrics give one list of one value.
    pub fn values_by_run(&self, metric: Metric) -> Vec<Vec<f64>> {
        if metric.exact() {
            return vec![self.values(metric)];
        }
        self.figures.get(&metric.key()).cloned().unwrap_or_default()
    }

    /// The metrics this design has figures for, in report order.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut out: Vec<Metric> = self
            .calls
            .iter()
            .filter(|(_, n)| **n > 0)
            .flat_map(|(h, _)| repeat_metrics(*h))
            .collect();
        out.extend([
            Metric::OpsPerSec,
            Metric::PeakBytesPerTrackedVma,
            Metric::PeakKernelBytes,
            Metric::ReservationsPeak,
            Metric::InvalidFrees,
            Metric::ReservationsLeaked,
        ]);
        out.retain(|m| !self.values(*m).is_empty());
        out.sort_by_key(|m| m.order());
        out
    }
}

/// Why summaries could not be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no runs to merge")]
    Empty,
    /// The runs did not run the same work.
    #[error("run {index} did not run the same work as the first: {detail}")]
    Settings {
        /// 1-based position of the run.
        index: usize,
        /// What differs.
        detail: String,
    },
    /// A deterministic figure differs between runs.
    #[error("run {index}: {detail} differs from the first run's, though the work is deterministic")]
    NotDeterministic {
        /// 1-based position of the run.
        index: usize,
        /// Which figure.
        detail: String,
    },
}

impl RunSummary {
    /// Summarize a full results document.
    pub fn of(r: &RunResults) -> RunSummary {
        RunSummary {
            schema_version: SCHEMA_VERSION,
            kind: SUMMARY_KIND.to_string(),
            tool: r.tool.clone(),
            env: r.env.clone(),
            command: r.command.clone(),
            started_at: r.started_at.clone(),
            duration_s: r.duration_s,
            params: r.params.clone(),
            runs: 1,
            instructions: BTreeMap::new(),
            record: None,
            scenarios: r
                .scenarios
                .iter()
                .map(|s| ScenarioSummary {
                    name: s.name.clone(),
                    params: s.params.clone(),
                    seed: s.seed,
                    nr_ops: s.nr_ops,
                    designs: s.designs.iter().map(DesignSummary::of).collect(),
                })
                .collect(),
        }
    }

    /// Every setting that changes the work (see `crate::settings`).
    pub fn work_settings(&self) -> BTreeMap<String, String> {
        let mut m = settings::run_settings(&self.params);
        for s in &self.scenarios {
            m.extend(settings::scenario_settings_of(
                &s.name, &s.params, s.seed, s.nr_ops,
            ));
        }
        m
    }

    /// Merge several summaries of the same work into one whose figures
    /// keep each run's repeats apart: a baseline that knows its
    /// run-to-run spread. Everything deterministic (memory, calls, errors,
    /// instruction counts) must agree.
    pub fn merge(parts: Vec<RunSummary>) -> Result<RunSummary, MergeError> {
        let mut parts = parts.into_iter();
        let mut out = parts.next().ok_or(MergeError::Empty)?;
        let want = out.work_settings();
        for (i, p) in parts.enumerate() {
            let index = i + 2;
            let diffs = settings::differences(&want, &p.work_settings());
            if !diffs.is_empty() {
                return Err(MergeError::Settings {
                    index,
                    detail: settings::describe(&diffs, 5),
                });
            }
            if p.params.strategies != out.params.strategies
                || p.params.threads != out.params.threads
                || p.scenarios.len() != out.scenarios.len()
            {
                return Err(MergeError::Settings {
                    index,
                    detail: "other designs, thread counts or scenarios".to_string(),
                });
            }
            if !p.instructions.is_empty()
                && !out.instructions.is_empty()
                && p.instructions != out.instructions
            {
                return Err(MergeError::NotDeterministic {
                    index,
                    detail: "the instruction counts".to_string(),
                });
            }
            if out.instructions.is_empty() {
                out.instructions = p.instructions.clone();
            }
            for (so, sp) in out.scenarios.iter_mut().zip(&p.scenarios) {
                for (dout, dp) in so.designs.iter_mut().zip(&sp.designs) {
                    let what = format!("{}, {} at {} threads", so.name, dp.strategy, dp.threads);
                    if (dout.strategy, dout.threads) != (dp.strategy, dp.threads) {
                        return Err(MergeError::Settings {
                            index,
                            detail: format!("{what}: designs in another order"),
                        });
                    }
                    // Several workers share global designs in an order the
                    // scheduler picks: only one worker's memory is exact.
                    if dp.threads == 1 {
                        for (same, name) in [
                            (dout.memory == dp.memory, "memory"),
                            (
                                dout.reservations == dp.reservations,
                                "the reservation counts",
                            ),
                            (dout.calls == dp.calls, "the hook call counts"),
                            (dout.errors == dp.errors, "the error counts"),
                        ] {
                            if !same {
                                return Err(MergeError::NotDeterministic {
                                    index,
                                    detail: format!("{what}: {name}"),
                                });
                            }
                        }
                    }
                    let runs_before = out.runs as usize;
                    for (key, lists) in &dp.figures {
                        let entry = dout.figures.entry(key.clone()).or_default();
                        entry.resize(runs_before, Vec::new());
                        entry.extend(lists.iter().cloned());
                    }
                    let runs_after = runs_before + p.runs as usize;
                    for lists in dout.figures.values_mut() {
                        lists.resize(runs_after, Vec::new());
                    }
                }
            }
            out.runs += p.runs;
            out.duration_s += p.duration_s;
        }
        Ok(out)
    }

    /// Write as pretty JSON atomically, creating the directory.
    pub fn write_atomic(&self, path: &Path) -> Result<(), ResultsError> {
        let value = serde_json::to_value(self).expect("summary serializes");
        let mut json = summary_json(&value);
        json.push('\n');
        write_atomic(path, json.as_bytes()).map_err(|error| ResultsError::Io {
            path: path.to_path_buf(),
            error,
        })
    }
}

/// Containers this deep (the figure lists: root, scenarios, scenario,
/// designs, design, figures, list) go on one line.
const COMPACT_DEPTH: usize = 6;

/// JSON text of a summary: indented like pretty output down to the
/// figures, one line per figure (`"dup.tmean_ns": [[1.5, 1.6]]`) and per
/// container without containers in it; whole numbers without `.0`. A
/// summary stays short and its diffs readable.
fn summary_json(v: &serde_json::Value) -> String {
    fn flat(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Array(a) => a.iter().all(|x| !x.is_array() && !x.is_object()),
            serde_json::Value::Object(o) => o.values().all(|x| !x.is_array() && !x.is_object()),
            _ => true,
        }
    }
    fn scalar(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                    out.push_str(&format!("{f:.0}"));
                }
                _ => out.push_str(&n.to_string()),
            },
            other => out.push_str(&other.to_string()),
        }
    }
    fn write(v: &serde_json::Value, depth: usize, out: &mut String) {
        let one_line = depth >= COMPACT_DEPTH || flat(v);
        let (items, open, close): (Vec<(Option<&String>, &serde_json::Value)>, char, char) = match v
        {
            serde_json::Value::Array(a) => (a.iter().map(|x| (None, x)).collect(), '[', ']'),
            serde_json::Value::Object(o) => {
                (o.iter().map(|(k, x)| (Some(k), x)).collect(), '{', '}')
            }
            other => return scalar(other, out),
        };
        out.push(open);
        for (i, (key, item)) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
                if one_line {
                    out.push(' ');
                }
            }
            if !one_line {
                out.push('\n');
                out.push_str(&"  ".repeat(depth + 1));
            }
            if let Some(k) = key {
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push_str(": ");
            }
            write(item, depth + 1, out);
        }
        if !one_line && !items.is_empty() {
            out.push('\n');
            out.push_str(&"  ".repeat(depth));
        }
        out.push(close);
    }
    let mut out = String::new();
    write(v, 0, &mut out);
    out
}

/// A document `pfntrack` reads: full results or a summary.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A full results document (`pfntrack run`).
    Full(Box<RunResults>),
    /// A summary (history entries, baselines).
    Summary(Box<RunSummary>),
}

impl Document {
    /// Read either kind; a summary says so by its `kind` field.
    pub fn load(path: &Path) -> Result<Document, ResultsError> {
        let text = fs::read_to_string(path).map_err(|error| ResultsError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let is_summary = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .is_some_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some(SUMMARY_KIND));
        if is_summary {
            RunSummary::from_json(&text, path).map(|s| Document::Summary(Box::new(s)))
        } else {
            RunResults::from_json(&text, path).map(|r| Document::Full(Box::new(r)))
        }
    }

    /// The summary of the document (computed for full results).
    pub fn summary(&self) -> RunSummary {
        match self {
            Document::Full(r) => RunSummary::of(r),
            Document::Summary(s) => (**s).clone(),
        }
    }

    /// The full results, if this is a full document.
    pub fn full(&self) -> Option<&RunResults> {
        match self {
            Document::Full(r) => Some(r),
            Document::Summary(_) => None,
        }
    }
}

impl RunSummary {
    /// Read a summary document and check its version.
    pub fn load(path: &Path) -> Result<RunSummary, ResultsError> {
        let text = fs::read_to_string(path).map_err(|error| ResultsError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_json(&text, path)
    }

    /// Parse a summary; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<RunSummary, ResultsError> {
        let parse_err = |e: serde_json::Error| {
            let text = e.to_string();
            let message = match text.rfind(" at line ") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            ResultsError::Parse {
                path: path.to_path_buf(),
                line: e.line(),
                column: e.column(),
                message,
            }
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(parse_err)?;
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(found) => {
                return Err(ResultsError::Version {
                    path: path.to_path_buf(),
                    found,
                    expected: SCHEMA_VERSION,
                });
            }
            None => {
                return Err(ResultsError::Parse {
                    path: path.to_path_buf(),
                    line: 1,
                    column: 1,
                    message: "no numeric `schema_version` field".to_string(),
                });
            }
        }
        let s: RunSummary = serde_json::from_str(text).map_err(parse_err)?;
        let bad = |message: String| ResultsError::Parse {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message,
        };
        if s.kind != SUMMARY_KIND {
            return Err(bad(format!("`kind` is `{}`, not `{SUMMARY_KIND}`", s.kind)));
        }
        if s.runs == 0 {
            return Err(bad("`runs` is 0".to_string()));
        }
        for sc in &s.scenarios {
            for d in &sc.designs {
                if let Some((key, lists)) =
                    d.figures.iter().find(|(_, l)| l.len() != s.runs as usize)
                {
                    return Err(bad(format!(
                        "{}, {} at {} threads: `{key}` has {} run lists, `runs` says {}",
                        sc.name,
                        d.strategy,
                        d.threads,
                        lists.len(),
                        s.runs
                    )));
                }
            }
        }
        Ok(s)
    }
}

/// Load every input (files as given, directories as every `*.json`
/// directly in them, in name order). Errors name the file.
pub fn load_inputs(inputs: &[PathBuf]) -> Result<Vec<(PathBuf, Document)>, ResultsError> {
    let mut out = Vec::new();
    for input in inputs {
        let io = |error| ResultsError::Io {
            path: input.clone(),
            error,
        };
        let meta = fs::metadata(input).map_err(io)?;
        if meta.is_dir() {
            let mut found = Vec::new();
            for entry in fs::read_dir(input).map_err(io)? {
                let path = entry.map_err(io)?.path();
                if path.extension().is_some_and(|e| e == "json") && path.is_file() {
                    found.push(path);
                }
            }
            found.sort();
            for path in found {
                let doc = Document::load(&path)?;
                out.push((path, doc));
            }
        } else {
            out.push((input.clone(), Document::load(input)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;
    use crate::report::summary::metrics_of;

    #[test]
    fn a_summary_keeps_every_figure_compare_reads() {
        let full = Fixture::new().build();
        let s = RunSummary::of(&full);
        for (fs, ss) in full.scenarios.iter().zip(&s.scenarios) {
            for (fd, sd) in fs.designs.iter().zip(&ss.designs) {
                assert_eq!(metrics_of(fd), sd.metrics(), "{}", fd.strategy);
                for m in metrics_of(fd) {
                    let want: Vec<f64> = m.values(fd).into_iter().map(|v| keep(m, v)).collect();
                    assert_eq!(sd.values(m), want, "{m:?}");
                }
            }
        }
    }

    #[test]
    fn summaries_round_trip_and_are_small() {
        let full = Fixture::new().scenarios(&["a", "b", "c"]).build();
        let s = RunSummary::of(&full);
        let dir = std::env::temp_dir().join(format!("pfntrack-summary-{}", std::process::id()));
        let path = dir.join("s.json");
        s.write_atomic(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let full_len = serde_json::to_string_pretty(&full).unwrap().len();
        assert!(
            text.len() * 5 < full_len,
            "summary {} bytes, full {full_len}",
            text.len()
        );
        match Document::load(&path).unwrap() {
            Document::Summary(back) => assert_eq!(*back, s),
            Document::Full(_) => panic!("loaded as full results"),
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn merging_keeps_runs_apart_and_refuses_other_work() {
        let a = RunSummary::of(&Fixture::new().build());
        let b = RunSummary::of(&Fixture::new().latency_scale(1.1).build());
        let m = RunSummary::merge(vec![a.clone(), b.clone(), a.clone()]).unwrap();
        assert_eq!(m.runs, 3);
        let d = &m.scenarios[0].designs[0];
        let metric = Metric::LatencyMean(Hook::Dup);
        let runs = d.values_by_run(metric);
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0], a.scenarios[0].designs[0].values(metric));
        assert_eq!(runs[1], b.scenarios[0].designs[0].values(metric));
        let mut other = a.clone();
        other.params.xa_key_shift = 6;
        let err = RunSummary::merge(vec![a.clone(), other]).unwrap_err();
        assert!(err.to_string().contains("xa_key_shift"), "{err}");
        let mut leaky = a.clone();
        leaky.scenarios[0].designs[0].memory.end_kernel_bytes += 64;
        let err = RunSummary::merge(vec![a, leaky]).unwrap_err();
        assert!(err.to_string().contains("memory"), "{err}");
    }

    #[test]
    fn a_summary_with_a_wrong_run_count_is_refused_by_name() {
        let mut s = RunSummary::of(&Fixture::new().build());
        s.runs = 2;
        let text = serde_json::to_string(&s).unwrap();
        let err = RunSummary::from_json(&text, Path::new("h.json")).unwrap_err();
        assert!(err.to_string().starts_with("h.json:"), "{err}");
        assert!(err.to_string().contains("`runs` says 2"), "{err}");
    }

    #[test]
    fn figures_and_flat_containers_go_on_one_line() {
        let v = serde_json::json!({
            "a": [[1.0, -2.5]],
            "b": {"x": "p,q\"[", "y": 3},
            "c": {"d": {"e": {"f": {"g": {"h": [[1.5], [2.0]]}}}}},
        });
        let got = summary_json(&v);
        assert!(got.contains(r#""b": {"x": "p,q\"[", "y": 3}"#), "{got}");
        assert!(got.contains(r#""h": [[1.5], [2]]"#), "{got}");
        assert!(got.contains("\"a\": [\n    [1, -2.5]\n  ]"), "{got}");
        let back: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(back["b"], v["b"]);
        assert_eq!(back["c"]["d"]["e"]["f"]["g"]["h"][1][0].as_f64(), Some(2.0));
    }
}
