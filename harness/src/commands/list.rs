//! `pfntrack list`: what the tool can run.

use std::process::ExitCode;

use crate::workload::Scenario;

/// Print the designs and the scenario presets.
pub fn run() -> anyhow::Result<ExitCode> {
    println!("designs: per-vma xarray memtype-ext");
    println!("scenarios:");
    for name in Scenario::PRESETS {
        let summary = Scenario::summary(name).unwrap_or_default();
        println!("  {name:<12} {summary}");
    }
    Ok(ExitCode::SUCCESS)
}
