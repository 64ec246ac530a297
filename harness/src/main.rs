//! The `pfntrack` binary: parse the command line, run one command, and turn
//! any error into `Error: ...` on stderr and a non-zero exit status.

use std::process::ExitCode;

use clap::Parser;

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
