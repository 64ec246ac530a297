//! `pfntrack list`: what the tool can run.

use std::process::ExitCode;

/// Print the designs.
pub fn run() -> anyhow::Result<ExitCode> {
    println!("designs: per-vma xarray memtype-ext");
    Ok(ExitCode::SUCCESS)
}
