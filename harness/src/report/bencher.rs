//! The `bencher` export: Bencher Metric Format (BMF) json,
//! `{ "<benchmark>": { "<measure>": { "value", "lower_value"?,
//! "upper_value"? } } }`, for `bencher run --adapter json`.
//!
//! Format: <https://bencher.dev/docs/reference/bencher-metric-format/>
//! (json schema there: `value` required, bounds optional, all numbers)
//! and <https://bencher.dev/docs/how-to/track-custom-benchmarks/>.
//! Measures named by slug are created on first use; `latency` (ns) and
//! `throughput` (ops/s) are Bencher's built-in ones and mean the same here.
//!
//! Benchmarks and measures:
//! - `<scenario>/<threads>t/<design>/<hook>`: `latency` (mean ns per
//!   call), `latency-p50`, `latency-p99` (ns, quantized to the timer);
//! - `<scenario>/<threads>t/<design>`: `throughput` (ops/s of wall time),
//!   `kernel-bytes-peak`, `kernel-bytes-per-tracked-vma` (exact, no bounds).
//!
//! `value` is the median over repeats; `lower_value`/`upper_value` are
//! the smallest and largest repeat, present with two or more repeats.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::report::Exporter;
use crate::report::summary::{self, Metric, Stat};
use crate::results::RunResults;

/// The `bencher` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bencher;

/// One measure's figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BmfMetric {
    /// Median over repeats.
    pub value: f64,
    /// Smallest repeat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_value: Option<f64>,
    /// Largest repeat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_value: Option<f64>,
}

/// Benchmark name -> measure slug -> figure.
pub type Bmf = BTreeMap<String, BTreeMap<&'static str, BmfMetric>>;

/// The measure slug of a metric.
fn measure(metric: Metric) -> &'static str {
    match metric {
        Metric::LatencyMean(_) => "latency",
        Metric::LatencyP50(_) => "latency-p50",
        Metric::LatencyP99(_) => "latency-p99",
        Metric::OpsPerSec => "throughput",
        Metric::PeakKernelBytes => "kernel-bytes-peak",
        Metric::PeakBytesPerTrackedVma => "kernel-bytes-per-tracked-vma",
        Metric::ReservationsPeak => "reservations-peak",
        Metric::InvalidFrees => "invalid-frees",
        Metric::ReservationsLeaked => "reservations-leaked",
    }
}

/// The BMF document of `results`.
pub fn bmf(results: &RunResults) -> Bmf {
    let mut out = Bmf::new();
    for s in &results.scenarios {
        for d in &s.designs {
            let design = format!("{}/{}t/{}", s.name, d.threads, d.strategy);
            for metric in summary::metrics_of(d) {
                let Some(stat) = Stat::of_metric(metric, d) else {
                    continue;
                };
                let bench = match metric {
                    Metric::LatencyMean(h) | Metric::LatencyP50(h) | Metric::LatencyP99(h) => {
                        format!("{design}/{h}")
                    }
                    _ => design.clone(),
                };
                let bounds = stat.values.len() > 1;
                out.entry(bench).or_default().insert(
                    measure(metric),
                    BmfMetric {
                        value: stat.median,
                        lower_value: bounds.then_some(stat.min),
                        upper_value: bounds.then_some(stat.max),
                    },
                );
            }
        }
    }
    out
}

impl Exporter for Bencher {
    fn render(&self, results: &RunResults) -> String {
        let mut out = serde_json::to_string_pretty(&bmf(results)).expect("BMF serializes");
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;

    #[test]
    fn bmf_nests_benchmarks_measures_and_bounds() {
        let out = Bencher.render(&Fixture::new().build());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let track = &v["fork-exec/1t/xarray/track"];
        let lat = &track["latency"];
        let (lo, mid, hi) = (
            lat["lower_value"].as_f64().unwrap(),
            lat["value"].as_f64().unwrap(),
            lat["upper_value"].as_f64().unwrap(),
        );
        assert!(lo <= mid && mid <= hi, "{lat}");
        assert!(track["latency-p99"]["value"].is_number());
        let design = &v["fork-exec/1t/per-vma"];
        assert!(design["throughput"]["value"].as_f64().unwrap() > 0.0);
        let mem = &design["kernel-bytes-peak"];
        assert!(mem.get("lower_value").is_none(), "exact: no bounds: {mem}");
        // Every measure object matches the BMF schema.
        for (_, measures) in v.as_object().unwrap() {
            for (slug, m) in measures.as_object().unwrap() {
                assert!(slug.len() <= 64);
                assert!(m["value"].is_number());
                for (k, _) in m.as_object().unwrap() {
                    assert!(["value", "lower_value", "upper_value"].contains(&k.as_str()));
                }
            }
        }
    }
}
