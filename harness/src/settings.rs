//! The settings that decide what work a run measured: the design settings
//! (`--xa-key-shift`, `REFCOUNT_MAX`), how memory is priced
//! (`--layout-config`, `--slab-cpus`), the suite's size (`--quick`), the
//! seed and generator, and every resolved scenario parameter (PAT on or
//! off, the physical map, `--param` overrides). Two runs that differ in
//! any of them did not run the same work: `compare` refuses them (unless
//! told otherwise) and trend charts draw them as separate series.
//!
//! Settings are flat `key = value` pairs, values in their JSON spelling,
//! so one rule compares them all. Run-wide keys are bare (`xa_key_shift`);
//! a scenario's are `<scenario>.<field>` (`mixed.pat_enabled`).

use std::collections::BTreeMap;

use strategies::Strategy;

use crate::results::{RunParams, ScenarioResult};
use crate::workload::scenario::Scenario;

/// Default `--xa-key-shift`.
pub const DEFAULT_XA_KEY_SHIFT: u32 = 0;

/// The run-wide settings that change the work, in a fixed order. The xarray
/// key shift counts only when xarray was measured: it changes nothing
/// else.
pub fn run_settings(p: &RunParams) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("quick".to_string(), p.quick.to_string());
    m.insert("seed".to_string(), p.seed.to_string());
    m.insert("rng".to_string(), p.rng.clone());
    m.insert("layout_config".to_string(), p.layout_config.clone());
    m.insert("slab_cpus".to_string(), p.slab_nr_cpus.to_string());
    m.insert("refcount_max".to_string(), p.refcount_max.to_string());
    if p.strategies.contains(&Strategy::Xarray) {
        m.insert("xa_key_shift".to_string(), p.xa_key_shift.to_string());
    }
    m
}

/// A scenario's settings: its seed, op count and every resolved parameter,
/// keyed `<scenario>.<field>`.
pub fn scenario_settings(s: &ScenarioResult) -> BTreeMap<String, String> {
    scenario_settings_of(&s.name, &s.params, s.seed, s.nr_ops)
}

/// [`scenario_settings`] from the parts (full results and summaries both
/// have them).
pub fn scenario_settings_of(
    name: &str,
    params: &serde_json::Value,
    seed: Option<u64>,
    nr_ops: u64,
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let key = |field: &str| format!("{name}.{field}");
    m.insert(
        key("seed"),
        seed.map_or_else(|| "null".to_string(), |v| v.to_string()),
    );
    m.insert(key("nr_ops"), nr_ops.to_string());
    match params {
        serde_json::Value::Object(fields) => {
            for (field, v) in fields {
                m.insert(key(field), canonical(v).to_string());
            }
        }
        other => {
            m.insert(key("params"), canonical(other).to_string());
        }
    }
    m
}

/// `v` with every integral number written as an integer: a summary
/// writes `0.0` as `0` (see `run_summary`), and the same setting must
/// read the same from a results document and from a summary of it.
fn canonical(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => match n.as_f64() {
            // Below 2^53 an integral f64 is exactly that integer.
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 && n.is_f64() => {
                Value::from(f as i64)
            }
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), canonical(x))).collect())
        }
        _ => v.clone(),
    }
}

/// One setting that differs between two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The setting (`xa_key_shift`, `mixed.churn_ops`).
    pub key: String,
    /// Its value in BASE (`-` when BASE does not have it).
    pub base: String,
    /// Its value in NEW.
    pub new: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (BASE {}, NEW {})", self.key, self.base, self.new)
    }
}

/// Every key whose value differs between `base` and `new`, in key order.
pub fn differences(
    base: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<Difference> {
    let mut keys: Vec<&String> = base.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (b, n) = (base.get(k), new.get(k));
            (b != n).then(|| Difference {
                key: k.clone(),
                base: b.cloned().unwrap_or_else(|| "-".to_string()),
                new: n.cloned().unwrap_or_else(|| "-".to_string()),
            })
        })
        .collect()
}

/// The differences as one phrase, at most `max` named (`and N more`).
pub fn describe(diffs: &[Difference], max: usize) -> String {
    let mut parts: Vec<String> = diffs.iter().take(max).map(|d| d.to_string()).collect();
    if diffs.len() > max {
        parts.push(format!("and {} more", diffs.len() - max));
    }
    parts.join("; ")
}

/// How a design is labelled where its settings are not the defaults:
/// `xarray>>6` for the shifted key, ` rcmax=N` for a lowered
/// `REFCOUNT_MAX`. The bare name otherwise.
pub fn design_label(strategy: Strategy, p: &RunParams) -> String {
    let mut label = strategy.name().to_string();
    if strategy == Strategy::Xarray && p.xa_key_shift != DEFAULT_XA_KEY_SHIFT {
        label.push_str(&format!(">>{}", p.xa_key_shift));
    }
    if strategy != Strategy::Null && p.refcount_max != strategies::kref::REFCOUNT_MAX {
        label.push_str(&format!(" rcmax={}", p.refcount_max));
    }
    label
}

/// The design settings that are not the defaults, as `key=value`, for a
/// report header (they also show in the column labels; the layout config
/// and slab CPUs have their own header line).
pub fn non_default_run_settings(p: &RunParams) -> Vec<String> {
    let mut out = Vec::new();
    if p.strategies.contains(&Strategy::Xarray) && p.xa_key_shift != DEFAULT_XA_KEY_SHIFT {
        out.push(format!("xa_key_shift={}", p.xa_key_shift));
    }
    if p.refcount_max != strategies::kref::REFCOUNT_MAX {
        out.push(format!("refcount_max={}", p.refcount_max));
    }
    out
}

/// The scenario parameters that differ from its preset at the run's size
/// (quick or full), as `field=value`: what `--param` or a scenario file
/// changed, PAT and the physical map included. Empty for a replayed trace
/// or a preset pfntrack does not know.
pub fn scenario_overrides(params: &serde_json::Value, quick: bool) -> Vec<String> {
    let Some(preset) = params.get("preset").and_then(|p| p.as_str()) else {
        return Vec::new();
    };
    let Ok(mut base) = Scenario::preset(preset) else {
        return Vec::new();
    };
    if quick {
        base = base.quick();
    }
    let (serde_json::Value::Object(want), serde_json::Value::Object(got)) =
        (base.to_json(), params)
    else {
        return Vec::new();
    };
    got.iter()
        .filter(|(k, v)| want.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;

    #[test]
    fn a_changed_shift_is_named_and_labels_the_column() {
        let a = Fixture::new().build();
        let mut b = a.clone();
        b.params.xa_key_shift = 6;
        let d = differences(&run_settings(&a.params), &run_settings(&b.params));
        assert_eq!(
            d,
            [Difference {
                key: "xa_key_shift".to_string(),
                base: "0".to_string(),
                new: "6".to_string()
            }]
        );
        assert_eq!(describe(&d, 5), "xa_key_shift (BASE 0, NEW 6)");
        assert_eq!(design_label(Strategy::Xarray, &b.params), "xarray>>6");
        assert_eq!(design_label(Strategy::Xarray, &a.params), "xarray");
        assert_eq!(design_label(Strategy::PerVma, &b.params), "per-vma");
        assert!(non_default_run_settings(&a.params).is_empty());
        assert_eq!(non_default_run_settings(&b.params), ["xa_key_shift=6"]);
    }

    #[test]
    fn a_summary_reads_the_same_settings_as_its_results_document() {
        let json = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
        let full = scenario_settings_of(
            "s",
            &json(r#"{"p": 0.0, "q": 0.25, "n": [1.0, 2]}"#),
            None,
            5,
        );
        let summary =
            scenario_settings_of("s", &json(r#"{"p": 0, "q": 0.25, "n": [1, 2]}"#), None, 5);
        assert!(differences(&full, &summary).is_empty());
        let other =
            scenario_settings_of("s", &json(r#"{"p": 0.5, "q": 0.25, "n": [1, 2]}"#), None, 5);
        assert_eq!(differences(&full, &other).len(), 1);
    }

    #[test]
    fn reports_label_the_columns_and_the_scenario() {
        use crate::report::{ReportFormat, render};
        let mut r = Fixture::new().build();
        r.params.xa_key_shift = 6;
        let sc = Scenario::preset("fork-storm").unwrap();
        r.scenarios[0].params = sc.to_json();
        r.scenarios[0].params["pat_enabled"] = serde_json::Value::Bool(false);
        let lkml = render(&r, ReportFormat::Lkml);
        assert!(lkml.contains("xarray>>6"), "{lkml}");
        assert!(lkml.contains("pat_enabled=false"), "{lkml}");
        let md = render(&r, ReportFormat::Markdown);
        assert!(md.contains(r"| xarray\>\>6 |"), "{md}");
        assert!(md.contains(r"pat\_enabled=false"), "{md}");
        let plain = render(&Fixture::new().build(), ReportFormat::Lkml);
        assert!(!plain.contains(">>"), "{plain}");
    }

    #[test]
    fn the_shift_does_not_matter_without_xarray() {
        let mut a = Fixture::new()
            .designs(&[Strategy::PerVma, Strategy::Null])
            .build();
        let b = a.clone();
        a.params.xa_key_shift = 6;
        assert!(differences(&run_settings(&a.params), &run_settings(&b.params)).is_empty());
    }

    #[test]
    fn scenario_parameters_are_settings() {
        let a = Fixture::new().build();
        let mut b = a.clone();
        b.scenarios[0].params["pat_enabled"] = serde_json::Value::Bool(false);
        let d = differences(
            &scenario_settings(&a.scenarios[0]),
            &scenario_settings(&b.scenarios[0]),
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].key, format!("{}.pat_enabled", a.scenarios[0].name));
        let many: Vec<Difference> = (0..7)
            .map(|i| Difference {
                key: format!("k{i}"),
                base: "1".to_string(),
                new: "2".to_string(),
            })
            .collect();
        assert!(
            describe(&many, 3).ends_with("and 4 more"),
            "{}",
            describe(&many, 3)
        );
    }

    #[test]
    fn overrides_are_what_differs_from_the_preset() {
        let sc = Scenario::preset("fork-storm").unwrap();
        let mut r = Fixture::new().build().scenarios[0].clone();
        r.params = sc.to_json();
        assert!(scenario_overrides(&r.params, false).is_empty());
        r.params = sc.quick().to_json();
        assert!(scenario_overrides(&r.params, true).is_empty());
        assert_eq!(
            scenario_overrides(&r.params, false).len(),
            1,
            "quick churn against the full preset"
        );
        r.params["pat_enabled"] = serde_json::Value::Bool(false);
        assert_eq!(scenario_overrides(&r.params, true), ["pat_enabled=false"]);
    }
}
