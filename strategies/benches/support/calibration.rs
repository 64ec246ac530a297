//! The committed calibration (`bench-results/calibration/calibration.json`,
//! written by `scripts/calibrate.sh`): the substrate benches print its
//! kernel figures and ratios next to their own, so what they quote is a
//! named run of the calibration, not a constant.
#![allow(dead_code)] // each includer uses part of it

use std::path::PathBuf;

/// Where the committed calibration lives, from the `strategies` crate.
pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench-results/calibration/calibration.json")
}

/// Print the calibration's rows for `structure` and `set` (e.g.
/// `"xarray"`, `"dense"`), or say why there are none.
pub fn quote(structure: &str, set: &str) {
    let path = path();
    let doc: serde_json::Value = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!(
                "calibration: {}: {e} (run scripts/calibrate.sh)",
                path.display()
            );
            return;
        }
    };
    let source = doc["kernel_source"].as_str().unwrap_or("?");
    // Schema 1 did not record the load; the committed schema-1 run was
    // taken on a busy machine (docs/benchmarks.md says so).
    let busy = doc["busy"].as_bool().unwrap_or(doc["schema_version"] == 1);
    if busy {
        eprintln!(
            "calibration: WARNING: {} was taken on a busy machine; its ratios are noise",
            path.display()
        );
    }
    for p in doc["phases"].as_array().into_iter().flatten() {
        if p["structure"] != structure || p["set"] != set {
            continue;
        }
        eprintln!(
            "calibration {structure}/{set}/{}: kernel {:.1} ns/op, ours {:.1}, ours/kernel {:.2} ({source})",
            p["phase"].as_str().unwrap_or("?"),
            p["kernel_median_ns"].as_f64().unwrap_or(f64::NAN),
            p["ours_median_ns"].as_f64().unwrap_or(f64::NAN),
            p["ratio_median"].as_f64().unwrap_or(f64::NAN),
        );
    }
}
