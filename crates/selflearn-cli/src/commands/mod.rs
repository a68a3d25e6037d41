//! One module per subcommand.

pub mod check;
pub mod demo;
pub mod eval;
pub mod export;
pub mod forget;
pub mod ingest;
pub mod learn;
pub mod rewrites;
pub mod schema;
pub mod serve;
pub mod token;
pub mod train;
pub mod world;

use crate::cli::{Cli, Command};
use crate::config::Config;

/// How a command ended when it did not crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything went well.
    Clean,
    /// The command ran, but some input was refused.
    ProblemsFound,
}

/// Loads the configuration and runs the command.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.log_dir {
        // Refused where it would be ignored: these commands keep no event log.
        if matches!(
            cli.command,
            Command::World(_) | Command::Eval(_) | Command::Schema(_) | Command::Token(_)
        ) {
            anyhow::bail!(
                "--log-dir {}: this command reads and writes no event log",
                dir.display()
            );
        }
        config.log.dir.clone_from(dir);
    }
    match cli.command {
        Command::Demo(args) => demo::run(args, &config, cli.log_dir),
        Command::Ingest(args) => ingest::run(args, &config),
        Command::Export(args) => export::run(args, &config),
        Command::Serve(args) => serve::run(args, config),
        Command::Schema(args) => schema::run(args),
        Command::World(args) => world::run(args),
        Command::Eval(args) => eval::run(args, &config),
        Command::Learn(args) => learn::run(args, &config),
        Command::Rewrites(args) => rewrites::run(args, &config),
        Command::Train(args) => train::run(args, &config),
        Command::Forget(args) => forget::run(args, &config),
        Command::Check(args) => check::run(args, &config),
        Command::Token(args) => token::run(args),
    }
}
