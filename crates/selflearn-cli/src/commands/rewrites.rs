//! `selflearn rewrites`: the precomputed rewrites the set serves, as a JSON list of
//! `{"source", "target"}` pairs (operator-blocked ones left out), for tools that read rewrites
//! from a file rather than asking the service: `ovos-selflearn-corrections` turns the list into
//! OpenVoiceOS corrections.

use std::path::PathBuf;

use clap::Args;
use selflearn_engine::SetSummary;
use selflearn_types::blocked::BlockList;
use selflearn_types::durable::write_atomically;

use super::Outcome;
use crate::config::Config;

/// Arguments of `rewrites`.
#[derive(Debug, Args)]
pub struct RewritesArgs {
    /// The artifact set `selflearn learn` wrote.
    #[arg(long, value_name = "DIR", default_value = "selflearn-data/artifacts")]
    pub artifacts: PathBuf,
    /// Where to write the list (moved into place when complete); standard output when absent.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// One served pair.
#[derive(Debug, serde::Serialize)]
struct Pair<'a> {
    source: &'a str,
    target: &'a str,
}

/// Writes the served pairs.
pub fn run(args: RewritesArgs, config: &Config) -> anyhow::Result<Outcome> {
    let set = SetSummary::load(&args.artifacts)?;
    let blocks = BlockList::open(&config.log.dir)?;
    let pairs: Vec<Pair<'_>> = set
        .table
        .iter()
        .flat_map(|t| &t.entries)
        .filter(|e| !blocks.is_blocked(&e.source, &e.target))
        .map(|e| Pair {
            source: &e.source,
            target: &e.target,
        })
        .collect();
    let mut json = serde_json::to_vec_pretty(&pairs)?;
    json.push(b'\n');
    match &args.out {
        Some(out) => {
            write_atomically(out, &json)?;
            eprintln!(
                "{} rewrites of set {} written to {}",
                pairs.len(),
                set.manifest.version,
                out.display()
            );
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&json)?;
        }
    }
    Ok(Outcome::Clean)
}
