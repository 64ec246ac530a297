//! The `lkml` report: plain ASCII, at most 80 columns, laid out the way
//! kernel readers know from mmtests' compare-kernels and LKP reports, to
//! paste into a mailing-list reply.
//!
//! A header says where and how the run measured (machine, kernel, tool and
//! commit, timer and its resolution, parameters) and the command that
//! reproduces it; a legend says how to read a cell. Then one block per
//! scenario and thread count: rows are metrics grouped by hook, columns are
//! the designs with the baseline (`per-vma`) first, and the `null` design
//! is a footnote (the harness floor). A row and its spread line read
//!
//! ```text
//!   mean     412.9 (0.00%)     459.3 *+11.24%*
//!           +-0.4%            +-0.6%
//! ```
//!
//! value (median over repeats), difference from the baseline (between
//! stars when significant), and under the value its spread (stddev as % of
//! the mean). Percentile rows have no spread line (they move in clock
//! steps); memory rows have neither spread nor test (exact figures).
//!
//! Columns that do not fit in 80 columns go to a further panel of the same
//! rows, which repeats the baseline column when it fits. Text from the
//! document (names, command) is cleaned to printable ASCII first.

use crate::report::summary::{self, Block, Metric, MetricGroup};
use crate::report::text::{WIDTH, ascii, wrap, wrap_command};
use crate::report::{Exporter, cell_parts, group_heading};
use crate::results::RunResults;

/// The `lkml` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lkml;

impl Exporter for Lkml {
    fn render(&self, results: &RunResults) -> String {
        // The verdict first: the answer, then how it was measured.
        let mut lines = crate::report::verdict::lkml_lines(results, WIDTH);
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(header(results));
        for block in summary::blocks(results) {
            lines.push(String::new());
            lines.extend(block_lines(&block));
        }
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }
}

/// Label width of the header's `key: value` lines.
const KEY: usize = 11;

/// `key:` padded, then `value` wrapped under it.
fn field(key: &str, value: &str) -> Vec<String> {
    let first = format!("{:<KEY$}", format!("{key}:"));
    wrap(&ascii(value), &first, &" ".repeat(KEY), WIDTH)
}

/// The baseline and the rest of the measured designs, as one phrase.
fn designs_phrase(results: &RunResults) -> String {
    let s = &results.params.strategies;
    let base = s
        .iter()
        .find(|d| **d == summary::BASELINE)
        .or_else(|| s.iter().find(|d| **d != strategies::Strategy::Null));
    let label = |d: strategies::Strategy| crate::settings::design_label(d, &results.params);
    let mut parts: Vec<String> = Vec::new();
    if let Some(b) = base {
        parts.push(format!("{} (baseline)", label(*b)));
    }
    for d in s {
        if Some(d) != base && *d != strategies::Strategy::Null {
            parts.push(label(*d));
        }
    }
    let mut phrase = parts.join(", ");
    if s.contains(&strategies::Strategy::Null) {
        phrase.push_str("; null measures the harness floor");
    }
    phrase
}

/// The run's description as `(key, value)` pairs, in header order
/// (shared with the markdown format).
pub fn header_fields(results: &RunResults) -> Vec<(&'static str, String)> {
    let tool = &results.tool;
    let git = match (&tool.git_commit, tool.git_dirty) {
        (Some(c), Some(true)) => format!("git {} (dirty tree)", &c[..c.len().min(12)]),
        (Some(c), _) => format!("git {}", &c[..c.len().min(12)]),
        (None, _) => "git commit unknown".to_string(),
    };
    let env = &results.env;
    let p = &results.params;
    let threads: Vec<String> = p.threads.iter().map(u32::to_string).collect();
    let mut f = vec![
        (
            "tool",
            format!(
                "{} {}, {git}, results schema {}",
                tool.name, tool.version, results.schema_version
            ),
        ),
        (
            "run",
            format!("{}, {:.1} s", results.started_at, results.duration_s),
        ),
        (
            "machine",
            format!("{}, {} CPUs", env.cpu_model, env.nr_cpus),
        ),
        ("kernel", format!("{}, {}", env.kernel, env.os)),
        ("build", format!("{}, {} profile", env.rustc, env.profile)),
    ];
    if env.profile != "release" {
        f.push((
            "WARNING",
            "not a release build: latencies are not representative".to_string(),
        ));
    }
    f.extend([
        ("timer", timer_phrase(results)),
        (
            "params",
            format!(
                "{} repeats, threads {}, seed {} ({}), {} sizes",
                p.repeats,
                threads.join(","),
                p.seed,
                p.rng,
                if p.quick { "quick" } else { "full" }
            ),
        ),
        (
            "layout",
            format!(
                "vm_area_struct config `{}`, slab model for {} CPUs",
                p.layout_config, p.slab_nr_cpus
            ),
        ),
        ("designs", designs_phrase(results)),
    ]);
    let settings = crate::settings::non_default_run_settings(p);
    if !settings.is_empty() {
        f.push((
            "settings",
            format!("not the defaults: {}", settings.join(", ")),
        ));
    }
    f
}

/// How to read a cell (shared with the markdown format).
pub fn legend(results: &RunResults) -> String {
    let base = results
        .params
        .strategies
        .iter()
        .find(|d| **d == summary::BASELINE)
        .map_or_else(|| "the first design".to_string(), |b| b.to_string());
    format!(
        "How to read a cell: the median of the per-repeat values; +- their \
         standard deviation as a percentage of their mean; the difference \
         from {base} in parentheses, or between stars (*+9.17%*) when \
         Welch's t-test over the per-repeat values finds it significant \
         (p < {}; figures that did not vary over the repeats count as \
         significant when they differ). Latencies are per hook call, net of \
         the timer's overhead; tmean is the mean of the fastest 99% of \
         calls (robust to preemption spikes, finer than the clock step); \
         p50/p99 are per-repeat percentiles, quantized to the timer's \
         resolution, so judge small differences by tmean. \
         Memory is exact (the workload is deterministic): no spread, no \
         test.",
        summary::ALPHA
    )
}

/// The title, run description, reproduction command and legend.
pub fn header(results: &RunResults) -> Vec<String> {
    let mut l = vec![
        "pfntrack: x86 PAT pfnmap tracking designs, side by side".to_string(),
        String::new(),
    ];
    for (key, value) in header_fields(results) {
        l.extend(field(key, &value));
    }
    l.push(String::new());
    l.push("reproduce:".to_string());
    let command = ascii(&results.command);
    l.extend(wrap_command(&command, 2, WIDTH));
    if command != results.command.as_str() {
        l.extend(wrap(
            "(characters outside printable ASCII are shown as ?; the results \
             file has the exact command)",
            "  ",
            "  ",
            WIDTH,
        ));
    }
    l.push(String::new());
    l.extend(wrap(&legend(results), "", "", WIDTH));
    l
}

fn timer_phrase(results: &RunResults) -> String {
    let t = &results.env.timer;
    let mut s = format!(
        "{}, {:.3} ticks/ns, overhead {:.1} ns per call (subtracted), ",
        t.kind, t.ticks_per_ns, t.overhead_ns
    );
    match t.resolution_ns {
        Some(r) => s.push_str(&format!(
            "resolution {r:.1} ns: per-call percentiles are multiples of it, \
             per-repeat means are finer"
        )),
        None => s.push_str("resolution not reported"),
    }
    if let Some(why) = &t.fallback {
        s.push_str(&format!("; not the TSC because: {why}"));
    }
    s
}

/// A column of the table: which design, and its cells' part widths.
struct Column {
    index: usize,
    name: String,
    /// Width of the value (and of the `+-` spread under it).
    value_w: usize,
    /// Width of the difference from the baseline.
    diff_w: usize,
    /// Width of the whole column.
    width: usize,
}

/// Indent of row labels under a group heading.
const ROW_INDENT: usize = 2;

/// Whether a metric's row gets a `+-` line with the spread under it.
/// Percentiles do not: they move in clock steps, and their spread is
/// mostly zero or one step (the markdown report shows it anyway).
fn spread_line(metric: Metric) -> bool {
    !metric.exact() && !metric.quantized()
}

fn columns(block: &Block<'_>) -> Vec<Column> {
    block
        .designs
        .iter()
        .enumerate()
        .map(|(index, d)| {
            let (mut value_w, mut diff_w) = (0, 0);
            for row in &block.rows {
                let [value, spread, diff] = cell_parts(row, index);
                value_w = value_w.max(value.len());
                if spread_line(row.metric) {
                    value_w = value_w.max(spread.len());
                }
                diff_w = diff_w.max(diff.len());
            }
            let name = block
                .labels
                .get(index)
                .cloned()
                .unwrap_or_else(|| d.strategy.to_string());
            let cell = value_w + if diff_w > 0 { diff_w + 1 } else { 0 };
            Column {
                index,
                width: cell.max(name.len()),
                name,
                value_w,
                diff_w,
            }
        })
        .collect()
}

/// The cell at `col` of `row` (value and difference, each right-aligned
/// in its part), and the spread under the value for the `+-` line.
fn cell_text(row: &summary::Row, col: &Column) -> (String, String) {
    let [value, spread, diff] = cell_parts(row, col.index);
    let (vw, dw) = (col.value_w, col.diff_w);
    let tail = if dw > 0 { dw + 1 } else { 0 };
    let cell = if dw > 0 {
        format!("{value:>vw$} {diff:>dw$}")
    } else {
        format!("{value:>vw$}")
    };
    (cell, format!("{spread:>vw$}{:tail$}", ""))
}

/// Split the columns into panels that fit in [`WIDTH`], each led by the
/// baseline column when there is room for it and one more.
fn panels(cols: &[Column], label: usize) -> Vec<Vec<&Column>> {
    let Some((base, rest)) = cols.split_first() else {
        return Vec::new();
    };
    let fits = |panel: &[&Column], extra: &Column| {
        label + panel.iter().map(|c| c.width + 2).sum::<usize>() + extra.width + 2 <= WIDTH
    };
    let mut out: Vec<Vec<&Column>> = vec![vec![base]];
    for col in rest {
        let last = out.last_mut().expect("one panel at least");
        if fits(last, col) {
            last.push(col);
        } else if fits(&[base], col) {
            out.push(vec![base, col]);
        } else {
            out.push(vec![col]);
        }
    }
    out
}

/// A block's title: scenario, threads, repeats, seed, ops (shared with
/// the markdown format).
pub fn block_title(block: &Block<'_>) -> String {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let s = block.scenario;
    let mut title = format!(
        "{}: {}, {}",
        s.name,
        plural(block.threads as usize, "thread"),
        plural(block.repeats(), "repeat")
    );
    if let Some(seed) = s.seed {
        title.push_str(&format!(", seed {seed}"));
    }
    title.push_str(&format!(", {} ops per worker", s.nr_ops));
    if !block.overrides.is_empty() {
        title.push_str(&format!(", with {}", block.overrides.join(" ")));
    }
    title
}

fn block_lines(block: &Block<'_>) -> Vec<String> {
    let mut l = Vec::new();
    let title = wrap(&ascii(&block_title(block)), "", "  ", WIDTH);
    let rule = title.iter().map(String::len).max().unwrap_or(0);
    l.extend(title);
    l.push("=".repeat(rule));

    let label = ROW_INDENT
        + block
            .rows
            .iter()
            .map(|r| r.metric.label().len())
            .max()
            .unwrap_or(0);
    let cols = columns(block);
    let panels = panels(&cols, label);
    if panels.is_empty() {
        l.push("no design measured but the null design".to_string());
    }
    for (i, panel) in panels.iter().enumerate() {
        if i > 0 {
            l.push(String::new());
            l.push(format!("(continued, panel {} of {})", i + 1, panels.len()));
        }
        let mut head = " ".repeat(label);
        for col in panel {
            head.push_str(&format!("  {:>w$}", col.name, w = col.width));
        }
        l.push(head);
        let mut group: Option<MetricGroup> = None;
        for row in &block.rows {
            let g = row.metric.group();
            if group != Some(g) {
                l.push(group_heading(g, block.threads));
                group = Some(g);
            }
            let mut line = format!(
                "{:<label$}",
                format!("{:ROW_INDENT$}{}", "", row.metric.label())
            );
            let mut spread = " ".repeat(label);
            for col in panel {
                let (cell, under) = cell_text(row, col);
                line.push_str(&format!("  {cell:>w$}", w = col.width));
                spread.push_str(&format!("  {under:>w$}", w = col.width));
            }
            l.push(line.trim_end().to_string());
            if spread_line(row.metric) && !spread.trim().is_empty() {
                l.push(spread.trim_end().to_string());
            }
        }
    }
    let notes = block_notes(block);
    if !notes.is_empty() {
        l.push(String::new());
    }
    for note in notes {
        l.extend(wrap(&ascii(&note), "", "  ", WIDTH));
    }
    l
}

/// The harness floor, errors, and repeat-count caveats under a block, one
/// unwrapped sentence each (shared with the markdown format).
pub fn block_notes(block: &Block<'_>) -> Vec<String> {
    let mut l = Vec::new();
    if let Some(floor) = block.harness_floor_ns() {
        l.push(format!(
            "harness floor (null design): {floor:.1} ns per hook call (tmean)"
        ));
    }
    let errors: Vec<String> = block
        .designs
        .iter()
        .chain(block.null.iter())
        .filter_map(|d| {
            let totals = summary::error_totals(d);
            (!totals.is_empty()).then(|| {
                let list: Vec<String> = totals
                    .iter()
                    .map(|(name, n)| format!("{name} {n}"))
                    .collect();
                format!("{} {}", d.strategy, list.join(", "))
            })
        })
        .collect();
    if !errors.is_empty() {
        l.push(format!(
            "errors and refusals, all repeats: {}",
            errors.join("; ")
        ));
    }
    let counts: Vec<usize> = block.designs.iter().map(|d| d.repeats.len()).collect();
    if counts.iter().any(|n| *n < 2) {
        l.push(
            "note: a design has fewer than 2 repeats: no spread, no significance test".to_string(),
        );
    }
    if counts.windows(2).any(|w| w[0] != w[1]) {
        let list: Vec<String> = block
            .designs
            .iter()
            .map(|d| format!("{} {}", d.strategy, d.repeats.len()))
            .collect();
        l.push(format!(
            "note: repeats differ between designs: {}",
            list.join(", ")
        ));
    }
    l
}

/// Whether every line of `s` is printable ASCII and fits in [`WIDTH`]:
/// the format's promise, checked by tests.
pub fn fits_lkml(s: &str) -> Result<(), String> {
    for (i, line) in s.lines().enumerate() {
        if let Some(c) = line.chars().find(|c| !(' '..='~').contains(c)) {
            return Err(format!("line {}: non-ASCII {c:?}: {line:?}", i + 1));
        }
        if line.len() > WIDTH {
            return Err(format!("line {}: {} columns: {line:?}", i + 1, line.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::hook::Hook;
    use crate::report::fixture::Fixture;
    use strategies::Strategy;

    fn render(run: &RunResults) -> String {
        Lkml.render(run)
    }

    /// Regenerate after an intended format change with
    /// `PFNTRACK_BLESS=1 cargo test -p pfntrack lkml_matches_the_snapshot`
    /// and say why in the commit.
    #[test]
    fn lkml_matches_the_snapshot() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/report-lkml-fixture.txt");
        let got = render(&Fixture::new().build());
        if std::env::var_os("PFNTRACK_BLESS").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            let first = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(want.lines().count()));
            panic!(
                "lkml report differs from {} at line {}:\n--- got ---\n{got}",
                path.display(),
                first + 1
            );
        }
    }

    #[test]
    fn every_line_is_ascii_and_fits() {
        let long = "x".repeat(120);
        let cmd = format!(
            "pfntrack run --scenario /home/someone/scenarios/{long}.toml --designs \
             per-vma,xarray,memtype-ext,null,reference --repeats 10 --out 'my results/r.json'"
        );
        let all = [Hook::ALL.as_slice(), &[Hook::Track]];
        let fixtures = [
            Fixture::new().build(),
            Fixture::new()
                .designs(&Strategy::ALL)
                .scenarios(&[&format!("/home/someone/scenarios/{long}.toml"), "b"])
                .threads(&[1, 2, 4])
                .hooks(all[0])
                .command(&cmd)
                .cpu_model(&format!("Intel(R) Xeon(R) \u{2122} {long}"))
                .build(),
            Fixture::new().repeats(1).hooks(all[1]).build(),
            Fixture::new()
                .latency_scale(12_345.0)
                .noise_pct(60.0)
                .build(),
            Fixture::new().designs(&[Strategy::Null]).build(),
        ];
        for run in &fixtures {
            let out = render(run);
            if let Err(e) = fits_lkml(&out) {
                panic!("{e}\n{out}");
            }
        }
    }

    #[test]
    fn blocks_show_baseline_significance_and_floor() {
        let out = render(&Fixture::new().build());
        assert!(out.contains("(0.00%)"), "{out}");
        // xarray's dup is about 2.9x per-vma's: significant.
        let dup_mean = out
            .lines()
            .skip_while(|l| !l.starts_with("dup:"))
            .nth(1)
            .unwrap();
        assert!(dup_mean.starts_with("  tmean"), "{dup_mean}");
        // +189.8%: three decimal digits get one decimal place.
        assert!(dup_mean.contains("*+18"), "{dup_mean}");
        assert!(out.contains("harness floor (null design): "), "{out}");
        assert!(!out.contains("\n  null"), "null is not a column:\n{out}");
        assert!(out.contains("resolution 10.0 ns"), "{out}");
        assert!(out.contains("lower is better"));
        assert!(out.contains("higher is better"));
    }

    #[test]
    fn five_designs_split_into_panels_with_the_baseline() {
        let run = Fixture::new()
            .designs(&Strategy::ALL)
            .latency_scale(30.0)
            .build();
        let out = render(&run);
        fits_lkml(&out).unwrap();
        let heads: Vec<&str> = out
            .lines()
            .filter(|l| l.trim_start().starts_with("per-vma"))
            .collect();
        assert!(heads.len() >= 2, "{out}");
        assert!(out.contains("reference"));
        assert!(out.contains("(continued, panel 2 of"));
    }

    #[test]
    fn one_repeat_has_no_spread_and_says_so() {
        let out = render(&Fixture::new().repeats(1).build());
        assert!(!out.contains("+-0"), "{out}");
        assert!(out.contains("fewer than 2 repeats"), "{out}");
    }
}
