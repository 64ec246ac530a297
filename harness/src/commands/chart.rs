//! `pfntrack chart`: SVG and PNG charts and an index page from results
//! documents (issue 4). The work is in `crate::chart`; this module reads
//! the arguments and reports what was written.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::chart::{self, ChartKind};
use crate::output;

/// Arguments of `pfntrack chart`.
#[derive(Debug, Args)]
pub struct ChartArgs {
    /// Results documents, or directories whose *.json files are all read
    /// (e.g. bench-results/history/). Latency, memory and throughput
    /// charts show the newest run (by started_at); trend charts span all.
    #[arg(value_name = "RESULTS", required = true)]
    pub inputs: Vec<PathBuf>,

    /// Directory for the charts (NAME.svg and NAME.png) and index.html;
    /// created if needed.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Draw only this kind (repeatable): latency-cdf, memory, throughput,
    /// trend. Default: all.
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<ChartKind>,
}

/// Load, draw, write; nothing is written unless every chart rendered.
pub fn run(args: ChartArgs) -> anyhow::Result<ExitCode> {
    output::check_out_dir("--out", &args.out)?;
    let runs = chart::load_runs(&args.inputs)?;
    let kinds = if args.kinds.is_empty() {
        ChartKind::ALL.to_vec()
    } else {
        args.kinds
    };
    let set = chart::build(&runs, &kinds);
    let files = chart::render(&runs, &set)?;
    chart::write(&args.out, &files)?;
    for s in &set.skipped {
        let scenario = if s.scenario.is_empty() {
            String::new()
        } else {
            format!(" for {}", s.scenario)
        };
        output::note(format_args!(
            "note: no {} chart{scenario}: {}",
            s.kind, s.reason
        ));
    }
    output::print(&format!(
        "{} charts from {} run(s): {}\n",
        set.charts.len(),
        runs.len(),
        args.out.join("index.html").display()
    ))?;
    Ok(ExitCode::SUCCESS)
}
