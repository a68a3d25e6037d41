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
    #[arg(long = "role", value_delimiter = ',', required = true, value_parser = parse_role)]
    pub roles: Vec<Role>,
    /// Bind it to one assistant installation: what it sends is stamped with this source, and
    /// personal rewrites answer it only for that installation's people.
    #[arg(long)]
    pub source: Option<String>,
}

fn parse_role(text: &str) -> Result<Role, String> {
    match text {
        "ingest" => Ok(Role::Ingest),
        "rewrite" => Ok(Role::Rewrite),
        "admin" => Ok(Role::Admin),
        other => Err(format!("{other:?} is not a role: ingest, rewrite or admin")),
    }
}

/// The `[[server.tokens]]` entry of `token`, as TOML. JSON's string escapes are a subset of
/// TOML's basic strings, so each value is written as a JSON string.
fn entry(token: &TokenConfig) -> anyhow::Result<String> {
    let quoted = |s: &str| serde_json::to_string(s);
    let roles: Vec<String> = token.roles.iter().map(|r| format!("\"{r}\"")).collect();
    let mut text = format!(
        "[[server.tokens]]\nname = {}\nsha256 = {}\nroles = [{}]\n",
        quoted(&token.name)?,
        quoted(&token.sha256)?,
        roles.join(", ")
    );
    if let Some(source) = &token.source {
        text.push_str(&format!("source = {}\n", quoted(source)?));
    }
    Ok(text)
}

/// Prints a new token and its entry.
pub fn run(args: TokenArgs) -> anyhow::Result<Outcome> {
    let token = selflearn_server::auth::new_token()?;
    let config = TokenConfig {
        name: args.name,
        sha256: selflearn_server::auth::token_digest(&token),
        roles: args.roles,
        source: args.source,
    };
    // Checked as `serve` will check it.
    selflearn_server::Tokens::from_config(std::slice::from_ref(&config))?;
    println!("token (shown once; the service keeps only its digest):\n{token}\n");
    println!("add to the config file:\n\n{}", entry(&config)?);
    Ok(Outcome::Clean)
}
