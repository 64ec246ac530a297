//! `pfntrack gate`: the CI regression gate (`crate::gate`) with its exit
//! status: 0 when it passes, 1 when a gated figure regressed, 2 when the
//! documents cannot be gated (unreadable, or other work).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::commands::summarize::read_instructions;
use crate::compare::Different;
use crate::gate::{GateOptions, gate};
use crate::run_summary::Document;

/// Arguments of `pfntrack gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// The baseline: a summary (best merged from several runs:
    /// scripts/record-baseline.sh) or a results document.
    #[arg(value_name = "BASELINE.json")]
    pub baseline: PathBuf,

    /// The run to judge: its results.json or its summary.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,

    /// The new run's instruction counts (`scripts/instr-count.sh`), if
    /// NEW does not carry them.
    #[arg(long, value_name = "FILE")]
    pub instructions: Option<PathBuf>,

    /// Largest rise of a case's instruction count that passes, percent.
    #[arg(long, value_name = "PCT", default_value_t = 2.0)]
    pub instr_threshold: f64,

    /// Also fail on a significant cross-run latency regression (by
    /// default those are reported only: a slower machine moves them).
    #[arg(long)]
    pub fail_on_latency: bool,

    /// Gate runs whose settings differ instead of refusing them.
    #[arg(long)]
    pub allow_different: bool,
}

/// Gate and print the verdict.
pub fn run(args: GateArgs) -> anyhow::Result<ExitCode> {
    if !(args.instr_threshold.is_finite() && args.instr_threshold >= 0.0) {
        bail!(
            "--instr-threshold wants a percentage of 0 or more, not {}",
            args.instr_threshold
        );
    }
    let instructions = args
        .instructions
        .as_deref()
        .map(read_instructions)
        .transpose()?;
    let base = Document::load(&args.baseline)?.summary();
    let mut new = Document::load(&args.new)?.summary();
    if let Some(i) = instructions {
        new.instructions = i;
    }
    let options = GateOptions {
        instr_threshold_pct: args.instr_threshold,
        fail_on_latency: args.fail_on_latency,
        different: if args.allow_different {
            Different::Allow
        } else {
            Different::Refuse
        },
    };
    let verdict = gate(&base, &new, &options).with_context(|| {
        format!(
            "cannot gate {} against {}",
            args.new.display(),
            args.baseline.display()
        )
    })?;
    std::io::stdout()
        .lock()
        .write_all(verdict.render().as_bytes())
        .context("writing the verdict to stdout")?;
    Ok(if verdict.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
