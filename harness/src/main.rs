//! The `pfntrack` binary: parse the command line, run one command, and turn
//! any error into `Error: ...` on stderr and a non-zero exit status.

use std::process::ExitCode;

use clap::Parser;

/// Counts the simulator's own heap for the results' `sim_heap_*` figures.
#[global_allocator]
static GLOBAL: pfntrack::measure::heap::CountingAlloc = pfntrack::measure::heap::CountingAlloc;

fn main() -> ExitCode {
    let cli = pfntrack::cli::Cli::parse();
    match pfntrack::commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(2)
        }
    }
}
