//! The `json` export: the report's figures as a small json document (the
//! results document holds the raw data; this holds the conclusions), for
//! scripts and dashboards that want numbers, not tables.
//!
//! Layout ([`Summary`], every field documented there):
//!
//! ```text
//! { "kind": "pfntrack-summary", "summary_version": 1,
//!   "source": { schema_version, tool, command, started_at },
//!   "alpha": 0.05, "centre": "...", "spread": "...",
//!   "blocks": [ { "scenario", "threads", "repeats", "baseline",
//!                 "harness_floor_ns",
//!                 "metrics": [ { "metric": "track.tmean_ns", "unit": "ns",
//!                                "better": "lower", "exact": false,
//!                                "designs": [ { "design": "xarray", "n": 5,
//!                                  "median", "mean", "rel_stddev_pct",
//!                                  "diff_pct", "p_value", "significant" } ] } ] } ] }
//! ```
//!
//! Designs keep the report's column order (baseline first); numbers that
//! do not exist (spread of one repeat, p-value of an exact figure) are
//! `null`.

use serde::Serialize;
use strategies::Strategy;

use crate::report::Exporter;
use crate::report::summary::{self, ALPHA};
use crate::results::{RunResults, ToolInfo};

/// The `json` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

/// Version of the summary layout; bump on any change a reader could trip
/// over.
pub const SUMMARY_VERSION: u32 = 1;

/// The whole summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always `pfntrack-summary`.
    pub kind: &'static str,
    /// [`SUMMARY_VERSION`].
    pub summary_version: u32,
    /// The results document summarised.
    pub source: Source,
    /// Significance level of the tests.
    pub alpha: f64,
    /// What `median` is the median of.
    pub centre: &'static str,
    /// What `rel_stddev_pct` is.
    pub spread: &'static str,
    /// One per scenario and thread count.
    pub blocks: Vec<SummaryBlock>,
}

/// Where the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// The results document's schema version.
    pub schema_version: u32,
    /// The tool that measured.
    pub tool: ToolInfo,
    /// The command that reproduces the run.
    pub command: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
}

/// One scenario at one thread count.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryBlock {
    /// Scenario name.
    pub scenario: String,
    /// Worker threads.
    pub threads: u32,
    /// Most repeats of any design.
    pub repeats: usize,
    /// The design every other is compared with; `null` if none.
    pub baseline: Option<Strategy>,
    /// The null design's mean ns per hook call, if it ran.
    pub harness_floor_ns: Option<f64>,
    /// One per metric, in report order.
    pub metrics: Vec<SummaryMetric>,
}

/// One metric across the designs.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryMetric {
    /// Machine name (`track.tmean_ns`, `ops_per_sec`, `peak.kernel_bytes`).
    pub metric: String,
    /// `ns`, `ops/s` or `bytes`.
    pub unit: &'static str,
    /// `lower` or `higher` (is better).
    pub better: &'static str,
    /// Exact figure (memory): one value, no spread, no test.
    pub exact: bool,
    /// One per design that has the figure, baseline first.
    pub designs: Vec<SummaryCell>,
}

/// One design's figure.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryCell {
    /// The design.
    pub design: Strategy,
    /// Values (repeats) behind the figure.
    pub n: usize,
    /// Median of the values.
    pub median: f64,
    /// Mean of the values.
    pub mean: f64,
    /// Sample standard deviation as a percentage of the mean.
    pub rel_stddev_pct: Option<f64>,
    /// Difference of the median from the baseline's, percent (0 for the
    /// baseline; `null` when the baseline has no figure or a zero one).
    pub diff_pct: Option<f64>,
    /// Welch's two-sided p-value against the baseline (`null` for the
    /// baseline, exact figures and undefined tests).
    pub p_value: Option<f64>,
    /// Whether the difference is significant at `alpha` (exact figures:
    /// whether they differ).
    pub significant: bool,
}

/// The summary of `results`.
pub fn summary(results: &RunResults) -> Summary {
    let blocks = summary::blocks(results)
        .iter()
        .map(|b| SummaryBlock {
            scenario: b.scenario.name.clone(),
            threads: b.threads,
            repeats: b.repeats(),
            baseline: b.baseline(),
            harness_floor_ns: b.harness_floor_ns(),
            metrics: b
                .rows
                .iter()
                .map(|row| SummaryMetric {
                    metric: row.metric.key(),
                    unit: row.metric.unit(),
                    better: row.metric.better().name(),
                    exact: row.metric.exact(),
                    designs: row
                        .cells
                        .iter()
                        .zip(&b.designs)
                        .enumerate()
                        .filter_map(|(i, (cell, d))| {
                            let cell = cell.as_ref()?;
                            let vs = cell.vs_baseline;
                            Some(SummaryCell {
                                design: d.strategy,
                                n: cell.stat.values.len(),
                                median: cell.stat.median,
                                mean: cell.stat.mean,
                                rel_stddev_pct: cell.stat.rel_stddev_pct,
                                diff_pct: if i == 0 {
                                    Some(0.0)
                                } else {
                                    vs.and_then(|v| v.diff_pct)
                                },
                                p_value: vs.and_then(|v| v.p_value()),
                                significant: vs.is_some_and(|v| v.significant()),
                            })
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Summary {
        kind: "pfntrack-summary",
        summary_version: SUMMARY_VERSION,
        source: Source {
            schema_version: results.schema_version,
            tool: results.tool.clone(),
            command: results.command.clone(),
            started_at: results.started_at.clone(),
        },
        alpha: ALPHA,
        centre: "median of the per-repeat values",
        spread: "sample standard deviation of the per-repeat values, percent of their mean",
        blocks,
    }
}

impl Exporter for Json {
    fn render(&self, results: &RunResults) -> String {
        let mut out = serde_json::to_string_pretty(&summary(results))
            .expect("a summary of finite figures serializes");
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;

    #[test]
    fn summary_has_medians_diffs_and_p_values() {
        let out = Json.render(&Fixture::new().build());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["kind"], "pfntrack-summary");
        let block = &v["blocks"][0];
        assert_eq!(block["baseline"], "per-vma");
        assert!(block["harness_floor_ns"].as_f64().unwrap() > 0.0);
        let dup = block["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == "dup.tmean_ns")
            .unwrap();
        assert_eq!(dup["better"], "lower");
        let designs = dup["designs"].as_array().unwrap();
        assert_eq!(designs[0]["design"], "per-vma");
        assert_eq!(designs[0]["diff_pct"], 0.0);
        assert!(designs[0]["p_value"].is_null());
        assert_eq!(designs[1]["design"], "xarray");
        assert!(designs[1]["diff_pct"].as_f64().unwrap() > 100.0);
        assert!(designs[1]["p_value"].as_f64().unwrap() < 0.05);
        assert_eq!(designs[1]["significant"], true);
        let mem = block["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == "peak.kernel_bytes")
            .unwrap();
        assert_eq!(mem["exact"], true);
        assert!(mem["designs"][1]["p_value"].is_null());
    }
}
