//! `selflearn token`: makes a new bearer token and prints it once, with the configuration
//! entry that holds only its SHA-256. Nothing is written: the operator adds the entry to the
//! config file (or the environment) and gives the token to the assistant.

use clap::Args;
use selflearn_server::{Role, TokenConfig};

use super::Outcome;

/// Arguments of `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// A name for the token in logs and errors, e.g. the installation it is for.
    #[arg(long)]
    pub name: String,
    /// What it may do: ingest, rewrite, admin (repeat or separate with commas).
    #[arg(long = "role", value_delimiter = ',', required = true)]
    pub roles: Vec<Role>,
    /// Bind it to one assistant installation: what it sends is stamped with this source, and
    /// personal rewrites answer it only for that installation's people.
    #[arg(long)]
    pub source: Option<String>,
}

/// Prints a new token and its entry.
pub fn run(args: TokenArgs) -> anyhow::Result<Outcome> {
    let (token, config) = TokenConfig::issue(args.name, args.roles, args.source)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("token (shown once; the service keeps only its digest):\n{token}\n");
    println!("add to the config file:\n\n{}", config.toml_entry());
    Ok(Outcome::Clean)
}
