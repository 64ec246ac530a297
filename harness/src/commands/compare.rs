//! `pfntrack compare`: NEW against BASE, figure by figure
//! (`crate::compare`), with an exit status for CI: 1 when
//! `--fail-on-regression PCT` finds a significant regression larger than
//! PCT percent, 0 otherwise; documents that cannot be compared (other
//! work unless `--allow-different`, other scenarios or designs) are an
//! error (exit 2). Either side may be full results or a summary.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::compare::{self, CompareFormat, Different};
use crate::run_summary::Document;

/// Arguments of `pfntrack compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference run.
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,

    /// The run to judge.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,

    /// Exit with status 1 if a change that is significant (beyond the
    /// run-to-run noise and the timer's step; memory: any) makes a figure
    /// more than PCT percent worse.
    #[arg(long, value_name = "PCT")]
    pub fail_on_regression: Option<f64>,

    /// Compare runs whose settings differ (another --xa-key-shift, quick
    /// against full, other scenario parameters...); without it they are
    /// refused with exit status 2, naming the settings.
    #[arg(long)]
    pub allow_different: bool,

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
    let base = Document::load(&args.base)?.summary();
    let new = Document::load(&args.new)?.summary();
    let different = if args.allow_different {
        Different::Allow
    } else {
        Different::Refuse
    };
    let cmp = compare::compare(&base, &new, different).with_context(|| {
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
