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
    /// List the designs (and, later, scenarios) pfntrack knows.
    List,
    /// What the per-vma design's pfnmap_track_ctx costs in vm_area_struct
    /// and its slab cache, per configuration or for real pahole output.
    Layout(crate::commands::layout::LayoutArgs),
    /// SVG/PNG charts and an index.html from results documents.
    Chart(crate::commands::chart::ChartArgs),
}
