//! `pfntrack summarize`: the compact summary of one or more runs (a
//! history entry, or a baseline merged from several runs of the same
//! work), optionally with instruction counts and how it was recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::run_summary::{Document, Record, RunSummary, load_inputs};

/// Arguments of `pfntrack summarize`.
#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Results documents or summaries (or directories of them) of the same
    /// work; several are merged into one summary that keeps each run's
    /// repeats apart.
    #[arg(value_name = "RESULTS", required = true)]
    pub inputs: Vec<PathBuf>,

    /// Where to write the summary (atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Instruction counts to attach (`scripts/instr-count.sh --out FILE`).
    #[arg(long, value_name = "FILE")]
    pub instructions: Option<PathBuf>,

    /// How the tree was when the run was made, for a history entry:
    /// `clean` (nothing uncommitted) or `dirty`.
    #[arg(long, value_name = "clean|dirty", requires = "gate")]
    pub tree: Option<String>,

    /// The gate's verdict on the run, for a history entry: `pass`,
    /// `fail` or `not-run`.
    #[arg(long, value_name = "pass|fail|not-run", requires = "tree")]
    pub gate: Option<String>,
}

/// Read `scripts/instr-count.sh` output: a JSON object of case ->
/// instructions per op, every value a non-negative number.
pub fn read_instructions(path: &Path) -> anyhow::Result<BTreeMap<String, f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not an instruction-count file (a JSON object of case -> number)",
                path.display()
            )
        })?;
    let mut out = BTreeMap::new();
    for (case, v) in map {
        match v.as_f64() {
            Some(n) if n.is_finite() && n >= 0.0 => {
                out.insert(case, n);
            }
            _ => bail!(
                "{}: case `{case}` has {v}, not a number of instructions",
                path.display()
            ),
        }
    }
    if out.is_empty() {
        bail!("{}: no instruction counts in it", path.display());
    }
    Ok(out)
}

/// Load, merge, annotate, write.
pub fn run(args: SummarizeArgs) -> anyhow::Result<ExitCode> {
    let record = match (args.tree.as_deref(), args.gate.as_deref()) {
        (None, None) => None,
        (Some(tree), Some(gate)) => {
            let clean_tree = match tree {
                "clean" => true,
                "dirty" => false,
                other => bail!("--tree wants clean or dirty, not `{other}`"),
            };
            let gate = match gate {
                "pass" | "fail" => gate.to_string(),
                "not-run" => "not run".to_string(),
                other => bail!("--gate wants pass, fail or not-run, not `{other}`"),
            };
            Some(Record { clean_tree, gate })
        }
        _ => bail!("--tree and --gate go together"),
    };
    let instructions = args
        .instructions
        .as_deref()
        .map(read_instructions)
        .transpose()?;
    let docs = load_inputs(&args.inputs)?;
    if docs.is_empty() {
        bail!("no *.json documents in the inputs");
    }
    let n = docs.len();
    let parts: Vec<RunSummary> = docs.iter().map(|(_, d)| Document::summary(d)).collect();
    let mut summary = RunSummary::merge(parts).context("merging the runs")?;
    if let Some(i) = instructions {
        summary.instructions = i;
    }
    summary.record = record;
    summary
        .write_atomic(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: summary of {n} run(s), {bytes} bytes",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
