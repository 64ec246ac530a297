//! The command line (clap): one subcommand per user task.

use clap::{Parser, Subcommand};

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
    /// List the designs and scenario presets pfntrack knows.
    List,
    /// What the per-vma design's pfnmap_track_ctx costs in vm_area_struct
    /// and its slab cache, per configuration or for real pahole output.
    Layout(crate::commands::layout::LayoutArgs),
    /// Generate a scenario's workload and write it as a trace file.
    Gen(crate::commands::r#gen::GenArgs),
}
