//! `calibrate`: pfntrack's XArray and interval tree against the kernel's own
//! lib/xarray.c, lib/rbtree.c and interval tree, compiled for userspace by
//! `scripts/calibrate.sh` (which fetches the kernel source and builds
//! `kbench`). Both sides read the same key files and run the same phases and
//! loop shapes; `drive` alternates them, a fresh key set per trial, and
//! reports per phase the median ns/op of each side, the median of the
//! per-trial ratios ours / kernel, and the node counts.
//!
//! Subcommands: `drive` (what the script runs), `ours xa|tree FILE` (one
//! Rust-side run, the counterpart of `kbench xa|it FILE`), `keys` (write one
//! trial's key files, to run either side by hand).

mod count;
mod drive;
mod keyfile;
mod ours;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(about = "Calibrate pfntrack's XArray and interval tree against the kernel's C")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Which structure a key file is for.
#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    /// XArray key file.
    Xa,
    /// Interval-tree key file.
    Tree,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the calibration: both sides, interleaved, and report.
    Drive(drive::DriveArgs),
    /// Run pfntrack's side once on one key file.
    Ours {
        /// `xa` or `tree`.
        kind: Kind,
        /// A key file written by `keys` or `drive`.
        file: PathBuf,
        /// Runs on fresh structures; each phase reports the fastest.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        reps: u32,
    },
    /// Write one trial's key files.
    Keys {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Trial number (the key sets' seed offset).
        #[arg(long, default_value_t = 0)]
        trial: u64,
        /// Keys per XArray set.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        xa_keys: u64,
        /// Interval-tree sizes, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 1_000_000])]
        tree_sizes: Vec<usize>,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Drive(args) => drive::drive(&args),
        Cmd::Ours { kind, file, reps } => {
            let lines = match kind {
                Kind::Xa => ours::xa(&file, reps)?,
                Kind::Tree => ours::tree(&file, reps)?,
            };
            for l in lines {
                println!("{} {:.3} {}", l.phase, l.ns_per_op, l.nodes);
            }
            Ok(())
        }
        Cmd::Keys {
            out,
            trial,
            xa_keys,
            tree_sizes,
        } => {
            drive::check_tree_sizes(&tree_sizes)?;
            std::fs::create_dir_all(&out)?;
            for (_, path) in keyfile::write_xa(&out, xa_keys, trial)? {
                println!("{}", path.display());
            }
            for n in tree_sizes {
                println!("{}", keyfile::write_tree(&out, n, trial)?.display());
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
