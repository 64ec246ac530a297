//! Charts from results documents (`pfntrack chart`): reads one or more
//! `RunResults`, builds a [`Plot`] per chart, renders each to SVG and PNG
//! in memory, then writes them and an `index.html` into the output
//! directory, each file atomically.
//!
//! Data flows one way: documents -> [`ChartSet`] of plot descriptions (one
//! module per [`ChartKind`], no drawing) -> `render` (the only plotters
//! user) -> bytes -> files. Per-run charts (latency CDF, memory,
//! throughput) come from the newest full results document; the trend
//! chart needs two or more documents of either kind (history entries are
//! summaries, `crate::run_summary`) and spans them all, oldest first.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use strategies::Strategy;

use crate::results::{
    DesignResult, ResultsError, RunResults, ScenarioResult, ToolInfo, write_atomic,
};
use crate::run_summary::{Document, RunSummary};

pub mod font;
mod index;
pub mod latency_cdf;
pub mod memory;
pub mod render;
pub mod text;
pub mod throughput;
pub mod trend;

pub use render::{Axis, Plot, Series};

/// A kind of chart; each has its own module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChartKind {
    /// Per (scenario, hook, threads): latency percentile curves per design.
    LatencyCdf,
    /// Per scenario: kernel bytes against live VMAs per design.
    Memory,
    /// Per scenario: ops/s against worker threads per design.
    Throughput,
    /// Per (scenario, metric): the metric over several runs per design.
    Trend,
}

impl ChartKind {
    /// Every kind, in index order.
    pub const ALL: [ChartKind; 4] = [
        ChartKind::LatencyCdf,
        ChartKind::Memory,
        ChartKind::Throughput,
        ChartKind::Trend,
    ];

    /// Command-line and file-name form.
    pub const fn name(self) -> &'static str {
        match self {
            ChartKind::LatencyCdf => "latency-cdf",
            ChartKind::Memory => "memory",
            ChartKind::Throughput => "throughput",
            ChartKind::Trend => "trend",
        }
    }

    /// Heading in `index.html`.
    pub const fn heading(self) -> &'static str {
        match self {
            ChartKind::LatencyCdf => "Latency percentiles per hook",
            ChartKind::Memory => "Kernel memory against live VMAs",
            ChartKind::Throughput => "Throughput against threads",
            ChartKind::Trend => "Trend over runs",
        }
    }
}

impl fmt::Display for ChartKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not a chart kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chart kind `{0}` (kinds: latency-cdf, memory, throughput, trend)")]
pub struct UnknownChartKind(pub String);

impl FromStr for ChartKind {
    type Err = UnknownChartKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChartKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownChartKind(s.to_string()))
    }
}

/// Why `pfntrack chart` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// An input could not be read or is not a results document.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// A directory or output file could not be read or written.
    // Not `source`: the message already ends with the I/O error, and
    // anyhow's `{:#}` would print a source a second time.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// A directory given as input holds no `*.json` file.
    #[error("{0}: no *.json results documents in this directory")]
    EmptyDir(PathBuf),
    /// No input at all.
    #[error("no results documents given")]
    NoInput,
    /// Rendering failed.
    #[error(transparent)]
    Draw(#[from] render::DrawError),
}

/// One loaded document.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Where it was read from.
    pub path: PathBuf,
    /// The full results, when the document is a results document.
    pub results: Option<RunResults>,
    /// Its summary (what trend charts read).
    pub summary: RunSummary,
}

impl Run {
    /// A full results document read from `path`.
    pub fn full(path: PathBuf, results: RunResults) -> Run {
        Run {
            path,
            summary: RunSummary::of(&results),
            results: Some(results),
        }
    }

    /// A summary read from `path`.
    pub fn summary(path: PathBuf, summary: RunSummary) -> Run {
        Run {
            path,
            results: None,
            summary,
        }
    }
}

/// Read every input: files as given, directories as every `*.json` directly
/// in them. Return: the documents sorted by `started_at` (RFC 3339 UTC, so
/// text order is time order), ties kept in input order. The first bad file
/// stops the load with its path (and line:column for a parse error).
pub fn load_runs(inputs: &[PathBuf]) -> Result<Vec<Run>, ChartError> {
    let mut paths = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|error| ChartError::Io {
            path: input.clone(),
            error,
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            let entries = fs::read_dir(input).map_err(|error| ChartError::Io {
                path: input.clone(),
                error,
            })?;
            for entry in entries {
                let entry = entry.map_err(|error| ChartError::Io {
                    path: input.clone(),
                    error,
                })?;
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json") && path.is_file() {
                    found.push(path);
                }
            }
            if found.is_empty() {
                return Err(ChartError::EmptyDir(input.clone()));
            }
            // Directory order is arbitrary: name order makes ties stable.
            found.sort();
            paths.extend(found);
        } else {
            paths.push(input.clone());
        }
    }
    if paths.is_empty() {
        return Err(ChartError::NoInput);
    }
    let mut runs: Vec<Run> = Vec::new();
    for path in paths {
        let run = match Document::load(&path)? {
            Document::Full(r) => Run::full(path, *r),
            Document::Summary(s) => Run::summary(path, *s),
        };
        // A run given both as its summary (a history entry) and as its
        // full results is one run: keep the full results.
        let same = |a: &Run| {
            a.summary.started_at == run.summary.started_at
                && a.summary.tool.git_commit == run.summary.tool.git_commit
        };
        match runs.iter_mut().find(|r| same(r)) {
            Some(r) if r.results.is_none() => *r = run,
            Some(_) => {}
            None => runs.push(run),
        }
    }
    runs.sort_by(|a, b| a.summary.started_at.cmp(&b.summary.started_at));
    Ok(runs)
}

/// One chart to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Its kind.
    pub kind: ChartKind,
    /// The scenario it belongs to (index grouping).
    pub scenario: String,
    /// File name without extension; unique within a [`ChartSet`].
    pub stem: String,
    /// What to draw.
    pub plot: Plot,
}

/// A chart that was not drawn, and why (listed in `index.html`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its kind.
    pub kind: ChartKind,
    /// The scenario, or empty for the whole set.
    pub scenario: String,
    /// Why.
    pub reason: String,
}

/// Every chart of one `pfntrack chart` invocation, not yet drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSet {
    /// The charts, grouped by scenario in run order, then by kind.
    pub charts: Vec<Chart>,
    /// What could not be drawn.
    pub skipped: Vec<Skipped>,
}

/// The newest run that has full results (per-run charts need them).
pub fn newest_full(runs: &[Run]) -> Option<(&Run, &RunResults)> {
    runs.iter()
        .rev()
        .find_map(|r| r.results.as_ref().map(|res| (r, res)))
}

/// Describe the charts of `kinds` for `runs` (sorted oldest first, as
/// [`load_runs`] returns them). Per-run kinds use the newest run with full
/// results.
pub fn build(runs: &[Run], kinds: &[ChartKind]) -> ChartSet {
    let mut set = ChartSet {
        charts: Vec::new(),
        skipped: Vec::new(),
    };
    let Some(newest) = runs.last() else {
        return set;
    };
    let full = newest_full(runs).map(|(_, r)| r);
    for kind in ChartKind::ALL.into_iter().filter(|k| kinds.contains(k)) {
        match (kind, full) {
            (ChartKind::Trend, _) => trend::build(runs, &mut set),
            (ChartKind::LatencyCdf, Some(r)) => latency_cdf::build(r, &mut set),
            (ChartKind::Memory, Some(r)) => memory::build(r, &mut set),
            (ChartKind::Throughput, Some(r)) => throughput::build(r, &mut set),
            (_, None) => set.skip(
                kind,
                "",
                "only summaries were given; this chart needs a full results document",
            ),
        }
    }
    // Group by scenario in the order scenarios first appear (newest run
    // first, then any only older runs had), keeping kind order inside.
    let mut order: Vec<String> = newest
        .summary
        .scenarios
        .iter()
        .map(|s| s.name.clone())
        .collect();
    for c in &set.charts {
        if !order.contains(&c.scenario) {
            order.push(c.scenario.clone());
        }
    }
    let rank = |name: &str| order.iter().position(|n| n == name).unwrap_or(usize::MAX);
    // Stable: charts of one scenario and kind keep their build order.
    set.charts.sort_by_key(|c| (rank(&c.scenario), c.kind));
    set
}

impl ChartSet {
    /// Add a chart, making its stem unique within the set.
    fn push(&mut self, kind: ChartKind, scenario: &str, stem: String, plot: Plot) {
        let mut unique = stem.clone();
        let mut n = 2;
        while self.charts.iter().any(|c| c.stem == unique) {
            unique = format!("{stem}-{n}");
            n += 1;
        }
        self.charts.push(Chart {
            kind,
            scenario: scenario.to_string(),
            stem: unique,
            plot,
        });
    }

    fn skip(&mut self, kind: ChartKind, scenario: &str, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            kind,
            scenario: scenario.to_string(),
            reason: reason.into(),
        });
    }
}

/// A rendered output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    /// File name inside the output directory.
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// Draw every chart of `set` (SVG and PNG) and the index page for `runs`.
/// Nothing touches the disk; an error leaves no output behind.
pub fn render(runs: &[Run], set: &ChartSet) -> Result<Vec<OutFile>, ChartError> {
    // Two workers: PNG rasterization dominates and the charts are
    // independent. Results are put back in set order.
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let chunk = set.charts.len().div_ceil(workers).max(1);
    let rendered: Vec<Result<Vec<OutFile>, render::DrawError>> = std::thread::scope(|s| {
        let handles: Vec<_> = set
            .charts
            .chunks(chunk)
            .map(|charts| {
                s.spawn(move || {
                    let mut files = Vec::new();
                    for c in charts {
                        files.push(OutFile {
                            name: format!("{}.svg", c.stem),
                            bytes: c.plot.to_svg()?.into_bytes(),
                        });
                        files.push(OutFile {
                            name: format!("{}.png", c.stem),
                            bytes: c.plot.to_png()?,
                        });
                    }
                    Ok(files)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut files = Vec::new();
    for r in rendered {
        files.extend(r?);
    }
    files.push(OutFile {
        name: "index.html".to_string(),
        bytes: index::html(runs, set).into_bytes(),
    });
    Ok(files)
}

/// Write `files` into `dir` (created if needed), each atomically; the
/// index last, so it never links a chart that is not there yet.
pub fn write(dir: &Path, files: &[OutFile]) -> Result<(), ChartError> {
    fs::create_dir_all(dir).map_err(|error| ChartError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    for f in files {
        let path = dir.join(&f.name);
        write_atomic(&path, &f.bytes).map_err(|error| ChartError::Io { path, error })?;
    }
    Ok(())
}

/// Longest slug, so stems stay far below file-name limits (255 bytes).
const MAX_SLUG: usize = 80;

/// A file-name-safe form of a scenario name: ASCII letters, digits, `_`
/// and `.` kept, every other run of characters one `-`; never empty,
/// starting with `.`, or longer than 80 characters (the tail is kept: it
/// names a trace file).
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches(|c| c == '-' || c == '.');
    // ASCII only, so any byte offset is a character boundary.
    let out = out[out.len().saturating_sub(MAX_SLUG)..]
        .trim_start_matches(['-', '.'])
        .to_string();
    if out.is_empty() {
        "scenario".to_string()
    } else {
        out
    }
}

/// Designs of a scenario in first-appearance order (the run's order:
/// baseline first).
fn strategies_of(scenario: &ScenarioResult) -> Vec<Strategy> {
    let mut out = Vec::new();
    for d in &scenario.designs {
        if !out.contains(&d.strategy) {
            out.push(d.strategy);
        }
    }
    out
}

/// Thread counts of a scenario, ascending.
fn threads_of(scenario: &ScenarioResult) -> Vec<u32> {
    let mut t: Vec<u32> = scenario.designs.iter().map(|d| d.threads).collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// The result of `strategy` at `threads` workers, if measured.
fn design_at(scenario: &ScenarioResult, strategy: Strategy, threads: u32) -> Option<&DesignResult> {
    scenario
        .designs
        .iter()
        .find(|d| d.strategy == strategy && d.threads == threads)
}

/// `abc1234` (+ when built from a dirty tree; `?` when unknown).
fn short_commit(tool: &ToolInfo) -> String {
    let mut s = match &tool.git_commit {
        Some(c) => c.chars().take(7).collect(),
        None => "?".to_string(),
    };
    if tool.git_dirty == Some(true) {
        s.push('+');
    }
    s
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests;
