//! The `github-benchmark` export: github-action-benchmark's
//! `customSmallerIsBetter` input, a json array of
//! `{ "name", "unit", "value", "range"?, "extra"? }` (value a number, the
//! rest strings), for charting every commit's figures on GitHub Pages.
//!
//! Format: README of benchmark-action/github-action-benchmark ("Examples":
//! custom benchmarks, `tool: 'customSmallerIsBetter'`) and its
//! `BenchmarkResult` interface in src/extract.ts; `range` is parsed by
//! src/extractRangeInfo.ts, which wants `+-` (or `±`) and a bare number,
//! so it is the standard deviation in the value's own unit.
//!
//! `customSmallerIsBetter` charts one direction only, so only metrics
//! where smaller is better are exported: every hook's mean, p50 and p99
//! latency (ns), kernel bytes at peak and per tracked VMA (bytes), memtype
//! reservations at peak, invalid frees and leaked reservations (counts), and
//! throughput turned into wall-clock ns per op (`1e9 / ops_per_sec`, same
//! direction as the latencies; it includes the simulator's own cost, equal
//! for every design). Values are medians over repeats.
//!
//! Names are `<scenario>/<threads>t/<design>/<metric>`, e.g.
//! `fork-exec/1t/xarray/dup.tmean_ns`; every design is exported, `null`
//! included, so the harness floor is charted too.

use serde::Serialize;

use crate::report::Exporter;
use crate::report::summary::{self, Better, Metric, Stat};
use crate::results::{DesignResult, RunResults};

/// The `github-benchmark` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubBenchmark;

/// One benchmark entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Chart name.
    pub name: String,
    /// Unit shown on the chart.
    pub unit: &'static str,
    /// The value (median over repeats).
    pub value: f64,
    /// `+- <stddev>` over repeats, when there are two or more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    /// Tooltip text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<String>,
}

fn entry(name: String, unit: &'static str, stat: &Stat, note: &str) -> Entry {
    let mut extra = format!("median of {} repeat(s)", stat.values.len());
    if stat.values.len() > 1 {
        extra.push_str(&format!(
            "; mean {:.3}, min {:.3}, max {:.3}",
            stat.mean, stat.min, stat.max
        ));
    }
    if !note.is_empty() {
        extra.push_str("; ");
        extra.push_str(note);
    }
    Entry {
        name,
        unit,
        value: stat.median,
        range: stat.stddev.map(|s| format!("+- {s:.3}")),
        extra: Some(extra),
    }
}

fn design_entries(prefix: &str, d: &DesignResult) -> Vec<Entry> {
    let mut out = Vec::new();
    for metric in summary::metrics_of(d) {
        let name = format!("{prefix}/{}", metric.key());
        match metric {
            Metric::OpsPerSec => {
                let ns_per_op: Vec<f64> = metric
                    .values(d)
                    .into_iter()
                    .filter(|v| *v > 0.0)
                    .map(|v| 1e9 / v)
                    .collect();
                if let Some(stat) = Stat::of(ns_per_op) {
                    out.push(entry(
                        format!("{prefix}/wall_ns_per_op"),
                        "ns",
                        &stat,
                        "1e9 / ops_per_sec, includes the simulator's cost",
                    ));
                }
            }
            m if m.better() == Better::Lower => {
                if let Some(stat) = Stat::of_metric(m, d) {
                    let note = match m {
                        Metric::LatencyP50(_) | Metric::LatencyP99(_) => {
                            "quantized to the timer's resolution"
                        }
                        _ if m.exact() => "exact",
                        _ => "",
                    };
                    out.push(entry(name, m.unit(), &stat, note));
                }
            }
            _ => {}
        }
    }
    out
}

/// Every entry of `results`, in document order.
pub fn entries(results: &RunResults) -> Vec<Entry> {
    results
        .scenarios
        .iter()
        .flat_map(|s| {
            s.designs.iter().flat_map(move |d| {
                design_entries(&format!("{}/{}t/{}", s.name, d.threads, d.strategy), d)
            })
        })
        .collect()
}

impl Exporter for GithubBenchmark {
    fn render(&self, results: &RunResults) -> String {
        let mut out = serde_json::to_string_pretty(&entries(results)).expect("entries serialize");
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;

    #[test]
    fn only_smaller_is_better_entries_with_ranges() {
        let out = GithubBenchmark.render(&Fixture::new().build());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let arr = v.as_array().unwrap();
        assert!(!arr.is_empty());
        for e in arr {
            let name = e["name"].as_str().unwrap();
            assert!(!name.contains("ops_per_sec"), "{name}");
            assert!(e["value"].is_number(), "{e}");
            assert!(
                matches!(
                    e["unit"].as_str(),
                    Some("ns" | "bytes" | "entries" | "frees")
                ),
                "{e}"
            );
            if let Some(r) = e.get("range") {
                // What extractRangeInfo.ts accepts: `+-`, spaces, a number.
                let num = r.as_str().unwrap().strip_prefix("+- ").unwrap();
                num.parse::<f64>().unwrap();
            }
        }
        let names: Vec<&str> = arr.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"fork-exec/1t/xarray/dup.tmean_ns"));
        assert!(names.contains(&"fork-exec/1t/per-vma/wall_ns_per_op"));
        assert!(names.contains(&"fork-exec/1t/memtype-ext/peak.kernel_bytes"));
        assert!(names.contains(&"fork-exec/1t/null/track.tmean_ns"));
    }
}
