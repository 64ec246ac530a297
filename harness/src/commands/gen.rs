//! `pfntrack gen`: generate a scenario's workload and write it as a trace
//! (docs/trace-format.md), to stdout or atomically to a file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::output;
use crate::results::write_atomic;
use crate::workload::{DEFAULT_SEED, Scenario, TraceHeader, generate, write_trace};

/// Options of `pfntrack gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// A preset name (see `pfntrack list`) or a scenario file (.toml).
    #[arg(long, value_name = "NAME|FILE.toml")]
    pub scenario: String,
    /// Override a scenario field (repeatable), e.g. `--param processes=64`.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Seed of the workload.
    #[arg(long, default_value_t = DEFAULT_SEED, allow_hyphen_values = true, value_parser = crate::cli::parse_seed)]
    pub seed: u64,
    /// Worker streams to generate (one per thread of a run).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=crate::workload::MAX_WORKERS as i64))]
    pub threads: u32,
    /// The short variant (a tenth of the churn), applied before `--param`.
    #[arg(long)]
    pub quick: bool,
    /// Write the trace here (atomically) instead of to stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Resolve a scenario the way every command does: preset or file, then
/// `--quick`, then each `--param`, then validation.
pub fn resolve_scenario(name: &str, quick: bool, params: &[String]) -> anyhow::Result<Scenario> {
    let mut sc = Scenario::resolve(name)?;
    if quick {
        sc = sc.quick();
    }
    for p in params {
        sc.apply_param(p)?;
    }
    sc.validate()
        .with_context(|| format!("scenario `{name}` after --quick/--param"))?;
    Ok(sc)
}

/// Run `pfntrack gen`.
pub fn run(args: GenArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.out {
        output::check_out_file("--out", path)?;
    }
    let sc = resolve_scenario(&args.scenario, args.quick, &args.params)?;
    crate::limits::check_scenario_fits(&sc, args.threads, 0, "--threads")?;
    let workload = generate(&sc, args.seed, args.threads);
    let header = TraceHeader::for_scenario(&args.scenario, &sc, args.seed, args.threads);
    match &args.out {
        Some(path) => {
            let mut bytes = Vec::new();
            write_trace(&mut bytes, &header, &workload)?;
            write_atomic(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        None => output::with_stdout(|mut w| write_trace(&mut w, &header, &workload))?,
    }
    Ok(ExitCode::SUCCESS)
}
