//! `pfntrack report`: render a results document in one format on stdout
//! (`report::render`; the formats are described in `report/`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::output;
use crate::report::{self, ReportFormat};
use crate::results::RunResults;

/// Arguments of `pfntrack report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results document written by `pfntrack run`.
    #[arg(value_name = "RESULTS.json")]
    pub results: PathBuf,

    /// lkml (ASCII, 80 columns), markdown, csv (tidy, one figure per row),
    /// json (summary), github-benchmark (customSmallerIsBetter), bencher
    /// (Bencher Metric Format).
    #[arg(long, value_name = "FORMAT", default_value_t = ReportFormat::Lkml)]
    pub format: ReportFormat,
}

/// Print the report.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let results = RunResults::load(&args.results)?;
    let out = report::render(&results, args.format);
    output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}
