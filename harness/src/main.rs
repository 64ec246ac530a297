//! The `pfntrack` binary: parse the command line, run one command, and turn
//! any error into `Error: ...` on stderr and a non-zero exit status (see
//! `output` for the statuses of a failed write to stdout).

use std::process::ExitCode;

use clap::Parser;
use pfntrack::output::{self, OutputError};

/// Counts the simulator's own heap for the results' `sim_heap_*` figures.
#[global_allocator]
static GLOBAL: pfntrack::measure::heap::CountingAlloc = pfntrack::measure::heap::CountingAlloc;

fn main() -> ExitCode {
    let cli = match pfntrack::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // `--help` and `--version` are printed to stdout, which may be
            // closed or full like any other output.
            let code = err.exit_code();
            return match err.print().map_err(OutputError::from_io) {
                Ok(()) => ExitCode::from(code as u8),
                Err(OutputError::Closed) => ExitCode::from(output::CLOSED_PIPE_EXIT),
                Err(e) => {
                    output::note(format_args!("Error: {e}"));
                    ExitCode::from(e.exit_status())
                }
            };
        }
    };
    match pfntrack::commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            let out = err.chain().find_map(|e| e.downcast_ref::<OutputError>());
            match out {
                Some(OutputError::Closed) => ExitCode::from(output::CLOSED_PIPE_EXIT),
                Some(e) => {
                    output::note(format_args!("Error: {err:#}"));
                    ExitCode::from(e.exit_status())
                }
                None => {
                    output::note(format_args!("Error: {err:#}"));
                    ExitCode::from(2)
                }
            }
        }
    }
}
