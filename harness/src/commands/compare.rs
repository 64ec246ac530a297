//! `pfntrack compare`: NEW against BASE, figure by figure
//! (`crate::compare`), with an exit status for CI: 1 when
//! `--fail-on-regression PCT` finds a significant regression larger than
//! PCT percent, 0 otherwise; documents that cannot be compared are an
//! error (exit 2).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::compare::{self, CompareFormat};
use crate::results::RunResults;

/// Arguments of `pfntrack compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference run.
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,

    /// The run to judge.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,

    /// Exit with status 1 if a change that is significant (Welch, p < 0.05;
    /// memory: any) makes a figure more than PCT percent worse.
    #[arg(long, value_name = "PCT")]
    pub fail_on_regression: Option<f64>,

    /// lkml (ASCII, 80 columns) or markdown.
    #[arg(long, value_name = "FORMAT", default_value_t = CompareFormat::Lkml)]
    pub format: CompareFormat,
}

/// Print the comparison and judge it.
pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    if let Some(pct) = args.fail_on_regression
        && !(pct.is_finite() && pct >= 0.0)
    {
        bail!("--fail-on-regression wants a percentage of 0 or more, not {pct}");
    }
    let base = RunResults::load(&args.base)?;
    let new = RunResults::load(&args.new)?;
    let cmp = compare::compare(&base, &new).with_context(|| {
        format!(
            "cannot compare {} (BASE) with {} (NEW)",
            args.base.display(),
            args.new.display()
        )
    })?;
    let (bname, nname) = (
        args.base.display().to_string(),
        args.new.display().to_string(),
    );
    let mut out = cmp.render((&bname, &base), (&nname, &new), args.format);
    let mut code = ExitCode::SUCCESS;
    if let Some(pct) = args.fail_on_regression {
        out.push('\n');
        for line in compare::regression_report(&cmp, pct) {
            out.push_str(&line);
            out.push('\n');
        }
        if !cmp.regressions(pct).is_empty() {
            code = ExitCode::from(1);
        }
    }
    crate::output::print(&out)?;
    Ok(code)
}
