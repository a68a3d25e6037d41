//! `selflearn export`: writes the event log to JSONL or Parquet, for other engines
//! (DataFusion, Spark, DuckDB) or for re-ingesting elsewhere.

use std::path::PathBuf;

use clap::Args;
use selflearn_log::files::{Format, export};
use selflearn_log::{EventLog, ScanOrder};

use super::Outcome;
use crate::config::Config;

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output file; `-` writes JSONL to standard output.
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Output format, jsonl or parquet; guessed from the extension when absent (`.parquet`,
    /// else JSONL).
    #[arg(long, value_parser = str::parse::<Format>)]
    pub format: Option<Format>,
    /// Row order: arrival (as acknowledged) or user-time (by user, then time).
    #[arg(long, default_value = "arrival", value_parser = str::parse::<ScanOrder>)]
    pub order: ScanOrder,
}

/// Writes the whole log.
pub fn run(args: ExportArgs, config: &Config) -> anyhow::Result<Outcome> {
    // Read-only: exporting works while a server is writing the same log.
    let log = EventLog::open_read_only(&config.log.dir)?;
    let written = export(&log, &args.out, args.format, args.order)?;
    if args.out.as_os_str() != "-" {
        println!("{written} events written to {}", args.out.display());
    }
    Ok(Outcome::Clean)
}
