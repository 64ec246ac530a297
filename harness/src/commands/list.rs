//! `pfntrack list`: what the tool can run.

use std::process::ExitCode;

use strategies::Strategy;

use crate::output;
use crate::workload::Scenario;

/// Print the designs (and the two helper strategies) and the scenario presets.
pub fn run() -> anyhow::Result<ExitCode> {
    let mut out = String::from(
        "designs (--strategies; `run` measures per-vma, xarray, memtype-ext, legacy and null, \
         `check` the four designs):\n",
    );
    for s in Strategy::ALL {
        out += &format!("  {:<16} {}\n", s.name(), s.summary());
    }
    out += "scenarios (--scenario; `run` without one runs them all):\n";
    for name in Scenario::PRESETS {
        let summary = Scenario::summary(name).unwrap_or_default();
        out += &format!("  {name:<16} {summary}\n");
    }
    out += "other scenarios (not in `run`'s default suite):\n";
    for name in Scenario::EXTRA_PRESETS {
        let summary = Scenario::summary(name).unwrap_or_default();
        out += &format!("  {name:<16} {summary}\n");
    }
    output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}
