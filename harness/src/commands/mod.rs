//! One module per subcommand; `dispatch` picks it.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod chart;
mod check;
pub mod compare;
pub mod gate;
pub mod r#gen;
pub mod guest_play;
pub mod kernel_check;
pub mod layout;
mod list;
pub mod report;
pub mod run;
pub mod summarize;

/// Run the chosen subcommand. Return: the exit code for a completed command;
/// `Err` for anything that stopped it (printed by `main`).
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::List => list::run(),
        Command::Run(args) => run::run(args),
        Command::Replay(args) => run::replay(args),
        Command::Check(args) => check::run(args),
        Command::Layout(args) => layout::run(args),
        Command::Gen(args) => r#gen::run(args),
        Command::Report(args) => report::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Chart(args) => chart::run(args),
        Command::KernelCheck(args) => kernel_check::run(args),
        Command::GuestPlay(args) => guest_play::run(args),
        Command::Summarize(args) => summarize::run(args),
        Command::Gate(args) => gate::run(args),
    }
}
