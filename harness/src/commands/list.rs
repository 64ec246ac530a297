//! `pfntrack list`: what the tool can run.

use std::process::ExitCode;

use strategies::Strategy;

use crate::workload::Scenario;

/// Print the designs (and the two helper strategies) and the scenario presets.
pub fn run() -> anyhow::Result<ExitCode> {
    println!("designs (--strategies; `run` measures per-vma, xarray, memtype-ext and null):");
    for s in Strategy::ALL {
        println!("  {:<12} {}", s.name(), s.summary());
    }
    println!("scenarios (--scenario; `run` without one runs them all):");
    for name in Scenario::PRESETS {
        let summary = Scenario::summary(name).unwrap_or_default();
        println!("  {name:<12} {summary}");
    }
    println!("other scenarios (not in `run`'s default suite):");
    for name in Scenario::EXTRA_PRESETS {
        let summary = Scenario::summary(name).unwrap_or_default();
        println!("  {name:<12} {summary}");
    }
    Ok(ExitCode::SUCCESS)
}
