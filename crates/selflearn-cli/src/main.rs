//! `selflearn`: the command line of the self-learning engine.
//!
//! Exit codes: 0 when all went well, 1 when the input had problems (a refused file), 2 when the
//! command itself failed.

mod cli;
mod commands;
mod config;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::commands::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match commands::run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::ProblemsFound) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn,selflearn=info,selflearn_server=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only on a terminal: a redirected log keeps plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A log line that cannot be written (a full disk under a redirected stderr) is dropped:
    // reporting that failure would print to the same stderr, which panics the thread that
    // logged, the service's event writer among them.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .log_internal_errors(false)
        .init();
}
