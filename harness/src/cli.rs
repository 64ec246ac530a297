//! The command line (clap): one subcommand per user task.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use strategies::Strategy;

/// Measure x86 PAT pfnmap tracking designs on the same deterministic work.
#[derive(Debug, Parser)]
#[command(name = "pfntrack", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure the designs on the default suite (or the scenarios named),
    /// write results.json and print the report.
    Run(RunArgs),
    /// Measure the designs on a recorded trace.
    Replay(ReplayArgs),
    /// Run a trace or scenario through the designs and the reference model
    /// of each one's kernel; report the first divergence (exit status 1).
    Check(CheckArgs),
    /// List the designs and scenario presets pfntrack knows.
    List,
    /// What the per-vma design's pfnmap_track_ctx costs in vm_area_struct
    /// and its slab cache, per configuration or for real pahole output.
    Layout(crate::commands::layout::LayoutArgs),
    /// Generate a scenario's workload and write it as a trace file.
    Gen(crate::commands::r#gen::GenArgs),
    /// Render a results document: lkml (mailing list), markdown, csv, json,
    /// github-benchmark or bencher.
    Report(crate::commands::report::ReportArgs),
    /// Compare two results documents; optionally fail on a regression.
    Compare(crate::commands::compare::CompareArgs),
    /// SVG/PNG charts and an index.html from results documents.
    Chart(crate::commands::chart::ChartArgs),
    /// Replay traces on real kernels in a QEMU guest and compare every op
    /// with the model of the kernel's family (docs/kernel-check.md).
    KernelCheck(crate::commands::kernel_check::KernelCheckArgs),
    /// The trace player inside kernel-check's guest (not for direct use).
    #[command(hide = true)]
    GuestPlay(crate::commands::guest_play::GuestPlayArgs),
    /// The compact summary of one or more runs (history entries,
    /// baselines merged from several runs).
    Summarize(crate::commands::summarize::SummarizeArgs),
    /// The CI regression gate: instruction counts, exact memory and
    /// within-run ratios against a baseline; exit status 1 on a regression.
    Gate(crate::commands::gate::GateArgs),
}

/// Options shared by `run` and `replay`: what to measure and where to put it.
#[derive(Debug, Clone, Args)]
pub struct MeasureArgs {
    /// Designs to measure, comma separated; the first is the report's
    /// baseline. `null` measures the harness's own cost per hook.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "per-vma,xarray,memtype-ext,legacy,null"
    )]
    pub strategies: Vec<Strategy>,
    /// Repeats per design; medians, dispersion and significance are over these.
    #[arg(long, default_value_t = 5)]
    pub repeat: u32,
    /// Directory to write results.json into [default: bench-results/latest].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Kernel config whose vm_area_struct layout prices the per-VMA field
    /// (see `pfntrack layout --matrix`).
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub layout_config: String,
    /// CPUs the slab model assumes (objects per slab).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub slab_cpus: u32,
    /// xarray design: key by the VMA pointer shifted right by 0 or 6 bits.
    #[arg(long, default_value_t = 0, value_name = "BITS")]
    pub xa_key_shift: u32,
    /// Report printed to stdout.
    #[arg(long, default_value = "lkml")]
    pub format: crate::report::ReportFormat,
    /// No progress bar and no notes on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `pfntrack run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A preset (see `pfntrack list`) or a scenario file (.toml);
    /// repeatable. Without it: the default suite, every preset.
    #[arg(long, value_name = "NAME|FILE.toml")]
    pub scenario: Vec<String>,
    /// Override a scenario field in every scenario (repeatable), e.g.
    /// `--param processes=64`.
    #[arg(long, value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// Workload seed [default: 1885761140].
    #[arg(long, allow_hyphen_values = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// The short suite: every scenario at a tenth of its churn.
    #[arg(long)]
    pub quick: bool,
    /// Worker threads: measures 1, 2, ... N threads sharing each design.
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// What to measure.
    #[command(flatten)]
    pub measure: MeasureArgs,
}

/// Options of `pfntrack replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The trace file (docs/trace-format.md).
    pub trace: PathBuf,
    /// What to measure (there is no `--threads`: the trace has its own
    /// worker streams).
    #[command(flatten)]
    pub measure: MeasureArgs,
}

/// Options of `pfntrack check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// A trace file; without it, `--scenario` is generated and checked.
    #[arg(required_unless_present = "scenario", conflicts_with = "scenario")]
    pub trace: Option<PathBuf>,
    /// A preset or scenario file to generate and check.
    #[arg(long, value_name = "NAME|FILE.toml")]
    pub scenario: Option<String>,
    /// Override a scenario field (repeatable).
    #[arg(long, value_name = "KEY=VALUE", requires = "scenario")]
    pub param: Vec<String>,
    /// Workload seed for `--scenario` [default: 1885761140].
    #[arg(long, requires = "scenario", allow_hyphen_values = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Worker streams for `--scenario`.
    #[arg(long, default_value_t = 1, requires = "scenario")]
    pub threads: u32,
    /// The short variant of `--scenario`.
    #[arg(long, requires = "scenario")]
    pub quick: bool,
    /// xarray design: key by the VMA pointer shifted right by 0 or 6 bits.
    #[arg(long, default_value_t = 0, value_name = "BITS")]
    pub xa_key_shift: u32,
    /// Designs to check, comma separated; each is compared with the
    /// reference model of its kernel (legacy: legacy-reference).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "per-vma,xarray,memtype-ext,legacy"
    )]
    pub strategies: Vec<Strategy>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--seed`: any 64-bit unsigned number. `-1` reaches this parser (and is
/// refused as a seed) instead of being taken for an unknown flag.
pub fn parse_seed(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("a seed is a whole number from 0 to {}", u64::MAX))
}
