//! One module per subcommand; `dispatch` picks it.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod chart;
pub mod layout;
mod list;

/// Run the chosen subcommand. Return: the exit code for a completed command;
/// `Err` for anything that stopped it (printed by `main`).
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::List => list::run(),
        Command::Layout(args) => layout::run(args),
        Command::Chart(args) => chart::run(args),
    }
}
