//! Reports: one results document rendered for a reader (lkml, markdown) or
//! a tool (csv, json, github-action-benchmark, Bencher). One file per
//! format, each an [`Exporter`], chosen once by matching [`ReportFormat`].
//!
//! Data flows one way: `RunResults` -> `summary` (centre, spread, Welch's
//! test against the baseline design) -> a format. Renderers never compute
//! statistics of their own, so two formats of one run always agree.

use std::fmt;
use std::str::FromStr;

use crate::results::RunResults;

pub mod bencher;
pub mod csv;
pub mod fixture;
pub mod github_benchmark;
pub mod json;
pub mod lkml;
pub mod markdown;
pub mod summary;
pub mod text;
pub mod verdict;

use summary::{Cell, Metric, MetricGroup, Row};

/// Renders a results document in one format.
pub trait Exporter {
    /// The whole output, newline-terminated.
    fn render(&self, results: &RunResults) -> String;
}

/// An output format of `pfntrack report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    /// Plain ASCII, at most 80 columns: for a mailing-list reply.
    Lkml,
    /// GitHub-flavoured markdown tables: for an issue or pull request.
    Markdown,
    /// Tidy long csv, one row per figure per repeat: for R or pandas.
    Csv,
    /// Compact summary json: medians, differences, p-values.
    Json,
    /// github-action-benchmark `customSmallerIsBetter` json.
    GithubBenchmark,
    /// Bencher Metric Format json.
    Bencher,
}

impl ReportFormat {
    /// Every format, in `--help` order.
    pub const ALL: [ReportFormat; 6] = [
        ReportFormat::Lkml,
        ReportFormat::Markdown,
        ReportFormat::Csv,
        ReportFormat::Json,
        ReportFormat::GithubBenchmark,
        ReportFormat::Bencher,
    ];

    /// The command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            ReportFormat::Lkml => "lkml",
            ReportFormat::Markdown => "markdown",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::GithubBenchmark => "github-benchmark",
            ReportFormat::Bencher => "bencher",
        }
    }

    fn exporter(self) -> &'static dyn Exporter {
        match self {
            ReportFormat::Lkml => &lkml::Lkml,
            ReportFormat::Markdown => &markdown::Markdown,
            ReportFormat::Csv => &csv::Csv,
            ReportFormat::Json => &json::Json,
            ReportFormat::GithubBenchmark => &github_benchmark::GithubBenchmark,
            ReportFormat::Bencher => &bencher::Bencher,
        }
    }
}

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not a report format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown report format `{0}` (expected one of: lkml, markdown, csv, json, \
     github-benchmark, bencher)"
)]
pub struct UnknownReportFormat(pub String);

impl FromStr for ReportFormat {
    type Err = UnknownReportFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReportFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownReportFormat(s.to_string()))
    }
}

/// `results` in `format`: the entry point of `pfntrack report` and of
/// `pfntrack run`'s closing report.
pub fn render(results: &RunResults, format: ReportFormat) -> String {
    format.exporter().render(results)
}

/// A metric's value as reports print it: ns with one decimal for means,
/// whole ns for percentiles, K/M for rates, KiB/MiB for byte totals.
pub fn format_value(metric: Metric, v: f64) -> String {
    match metric {
        Metric::LatencyMean(_) => text::ns_mean(v),
        Metric::LatencyP50(_) | Metric::LatencyP99(_) => text::ns_whole(v),
        Metric::OpsPerSec => text::rate(v),
        Metric::PeakBytesPerTrackedVma => format!("{v:.1}"),
        Metric::PeakKernelBytes => text::bytes(v),
        Metric::ReservationsPeak | Metric::InvalidFrees | Metric::ReservationsLeaked => {
            format!("{v:.0}")
        }
    }
}

/// The heading a group of rows sits under, with its direction. Memory
/// measured with several workers is the sum of their own peaks.
pub fn group_heading(group: MetricGroup, threads: u32) -> String {
    match group {
        MetricGroup::Hook(h) => format!("{h}: latency per call, ns, lower is better"),
        MetricGroup::Throughput => "throughput: ops/s of wall time, higher is better".to_string(),
        MetricGroup::Memory if threads > 1 => {
            "kernel memory, sum of per-worker peaks (an upper bound), lower is better".to_string()
        }
        MetricGroup::Memory => {
            "kernel memory at peak (B/vma: per tracked VMA), lower is better, exact".to_string()
        }
        MetricGroup::Reservations => "memtype entries: at peak, invalid frees, leaked at the \
             end; exact"
            .to_string(),
    }
}

/// The three parts of a table cell, unpadded: value, spread (`+-1.2%`,
/// empty for exact figures or one repeat) and difference from the
/// baseline (`(0.00%)` in the baseline's own column, `(+9.17%)`, or
/// `*+9.17%*` when significant). `-` alone for no figure.
pub fn cell_parts(row: &Row, column: usize) -> [String; 3] {
    let Some(Some(Cell { stat, vs_baseline })) = row.cells.get(column) else {
        return ["-".to_string(), String::new(), String::new()];
    };
    let metric = row.metric;
    let value = format_value(metric, stat.median);
    let spread = match stat.rel_stddev_pct {
        Some(p) if !metric.exact() => format!("+-{p:.1}%"),
        _ => String::new(),
    };
    let diff = match (column, vs_baseline) {
        (0, _) => "(0.00%)".to_string(),
        (_, Some(vs)) => {
            let mark = |d: String| {
                if !metric.exact() && vs.significant() {
                    format!("*{d}*")
                } else {
                    format!("({d})")
                }
            };
            match (vs.diff_pct, row.cells.first()) {
                (Some(d), _) => mark(format!("{}%", text::pct(d))),
                // A latency baseline below a nanosecond (a field read) has
                // no meaningful percentage: say how many ns more, marked
                // like any difference, never "(n/a)" beside a star.
                (None, Some(Some(base))) if metric.unit() == "ns" => {
                    let d = stat.median - base.stat.median;
                    mark(format!("{d:+.1}ns"))
                }
                (None, _) => "(n/a)".to_string(),
            }
        }
        (_, None) => "(n/a)".to_string(),
    };
    [value, spread, diff]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;

    #[test]
    fn format_names_round_trip() {
        for f in ReportFormat::ALL {
            assert_eq!(f.name().parse::<ReportFormat>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        let err = "LKML".parse::<ReportFormat>().unwrap_err();
        assert!(err.to_string().contains("github-benchmark"), "{err}");
    }

    #[test]
    fn every_format_renders_every_fixture() {
        let fixtures = [
            Fixture::new().build(),
            Fixture::new().repeats(1).build(),
            Fixture::new()
                .threads(&[1, 2])
                .scenarios(&["a", "b"])
                .build(),
            Fixture::new()
                .designs(&[strategies::Strategy::Xarray, strategies::Strategy::Null])
                .build(),
        ];
        for run in &fixtures {
            for f in ReportFormat::ALL {
                let out = render(run, f);
                assert!(out.ends_with('\n'), "{f}: no final newline");
                assert!(out.len() > 100, "{f}: {out}");
            }
        }
    }
}
