//! `pfntrack check`: a trace or a generated scenario through the designs
//! and the reference model of each one's kernel, stopping at the first
//! divergence.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use strategies::memtype::PatConfig;
use strategies::{Strategy, TrackerConfig};

use crate::check::check_streams;
use crate::cli::CheckArgs;
use crate::commands::r#gen::resolve_scenario;
use crate::measure::memory::MemoryModel;
use crate::measure::progress::Progress;
use crate::workload::trace::read_trace_file;
use crate::workload::{DEFAULT_SEED, generate};

/// Simulators per worker stream in the lockstep check: every strategy,
/// the reference model among them.
const SIMS: u32 = strategies::Strategy::ALL.len() as u32;

/// Run the check. Exit status 0 when every design agrees, 1 at the first
/// divergence.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.xa_key_shift == 0 || args.xa_key_shift == 6,
        "--xa-key-shift must be 0 or 6"
    );
    let mut designs: Vec<Strategy> = Vec::new();
    for &s in &args.strategies {
        anyhow::ensure!(
            s.oracle().is_some(),
            "--strategies {s}: only designs are checked (against the reference model of \
             their kernel); {s} has no oracle"
        );
        if !designs.contains(&s) {
            designs.push(s);
        }
    }
    anyhow::ensure!(!designs.is_empty(), "--strategies names no design");
    let (what, pat_enabled, phys, workload, seed) = match (&args.trace, &args.scenario) {
        (Some(path), _) => {
            let trace = read_trace_file(path)?;
            crate::limits::check_trace_fits(&trace.workload, SIMS, path)?;
            let seed = trace
                .header
                .meta("seed")
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_SEED);
            (
                path.display().to_string(),
                trace.header.pat_enabled,
                trace.header.phys_map(),
                trace.workload,
                seed,
            )
        }
        (None, Some(name)) => {
            anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
            let sc = resolve_scenario(name, args.quick, &args.param)?;
            anyhow::ensure!(
                args.threads <= crate::limits::MAX_WORKERS,
                "--threads must be between 1 and {}",
                crate::limits::MAX_WORKERS
            );
            crate::limits::check_scenario_fits(&sc, args.threads, SIMS, "--threads")?;
            let seed = args.seed.unwrap_or(DEFAULT_SEED);
            let w = generate(&sc, seed, args.threads);
            (
                format!("scenario {name}"),
                sc.pat_enabled,
                sc.phys_map(),
                w,
                seed,
            )
        }
        (None, None) => anyhow::bail!("name a trace file or --scenario"),
    };
    let cfg = TrackerConfig {
        pat: PatConfig {
            enabled: pat_enabled,
            phys: Arc::new(phys),
        },
        xa_key_shift: args.xa_key_shift,
        ..TrackerConfig::default()
    };
    let geo = MemoryModel::new("default", 4)
        .context("the default layout model")?
        .vma_slab_geometry(false);
    let total =
        workload.setup.len() as u64 + workload.workers.iter().map(|w| w.len() as u64).sum::<u64>();
    let progress = Progress::new(total, "checking", args.quiet);
    let result = check_streams(
        &designs,
        &workload.setup,
        &workload.workers,
        &cfg,
        geo,
        seed,
        &progress,
    );
    progress.finish();
    let names: Vec<&str> = designs.iter().map(|d| d.name()).collect();
    match result {
        Ok(s) => {
            let mut out = format!(
                "{what}: {} {} with the reference model of {} kernel \
                 ({} ops, {} hook calls each, {} whole-tree comparisons)\n",
                names.join(", "),
                if names.len() == 1 { "agrees" } else { "agree" },
                if names.len() == 1 { "its" } else { "their" },
                s.ops,
                s.hook_calls,
                s.tree_checks
            );
            let invalid: Vec<String> = s
                .invalid_frees
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(d, n)| format!("{d} {n}"))
                .collect();
            if !invalid.is_empty() {
                out += &format!(
                    "frees that matched no reservation (\"freeing invalid memtype\"), as each \
                     design's kernel would log them: {}\n",
                    invalid.join(", ")
                );
            }
            crate::output::print(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(d) => {
            crate::output::print(&format!("{what}: DIVERGENCE at {d}\n"))?;
            Ok(ExitCode::from(1))
        }
    }
}
