//! `pfntrack list`: what the tool can run.

use std::process::ExitCode;

use strategies::Strategy;

use crate::workload::Scenario;

/// Print the designs (and the two helper strategies) and the scenario presets.
pub fn run() -> anyhow::Result<ExitCode> {
    println!(
        "designs (--strategies; `run` measures per-vma, xarray, memtype-ext, legacy and null, \
         `check` the four designs):"
    );
    for s in Strategy::ALL {
        println!("  {:<16} {}", s.name(), s.summary());
    }
    println!("scenarios (--scenario; `run` without one runs them all):");
    for name in Scenario::PRESETS {
        let summary = Scenario::summary(name).unwrap_or_default();
        println!("  {name:<16} {summary}");
    }
    Ok(ExitCode::SUCCESS)
}
