//! `pfntrack guest-play` (hidden): the trace player inside kernel-check's
//! guest, started by the initramfs's `/init` (see `kernel::guest`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::kernel::guest::{Paths, play};

/// Options of `pfntrack guest-play`.
#[derive(Debug, Args)]
pub struct GuestPlayArgs {
    /// The job file (JSON) the host wrote into the initramfs.
    pub job: PathBuf,
    /// Where to write the framed messages (the second serial port).
    #[arg(long, value_name = "PATH")]
    pub channel: PathBuf,
}

/// Replay the job; every failure is also sent to the host.
pub fn run(args: GuestPlayArgs) -> anyhow::Result<ExitCode> {
    play(&args.job, &args.channel, Paths::default())?;
    Ok(ExitCode::SUCCESS)
}
