//! `selflearn ingest FILE…`: stores turn events from JSONL or Parquet files. Each file is one
//! transaction: a bad record refuses the whole file (its line or row and the reason are
//! printed) and nothing of that file is stored; files already stored stay stored. Event ids
//! already in the log are counted as duplicates and not stored again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use selflearn_log::files::{Format, ingest_file};
use selflearn_log::{AppendSummary, EventLog, LogError};

use super::Outcome;
use crate::config::Config;

/// Arguments of `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// JSONL or Parquet files; `-` reads JSONL from standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Input format, jsonl or parquet; guessed from the extension when absent (`.parquet`,
    /// else JSONL).
    #[arg(long, value_parser = str::parse::<Format>)]
    pub format: Option<Format>,
}

/// Ingests every file, reporting each; problems in one file do not stop the others.
pub fn run(args: IngestArgs, config: &Config) -> anyhow::Result<Outcome> {
    let mut log = EventLog::open(&config.log.dir, &config.log.options())?;
    let mut outcome = Outcome::Clean;
    let mut total = AppendSummary::default();
    for path in &args.files {
        let started = Instant::now();
        match ingest_one(&mut log, path, args.format) {
            Ok(summary) => {
                let seconds = started.elapsed().as_secs_f64();
                let read = summary.inserted + summary.duplicates;
                println!(
                    "{}: {read} events, {} stored, {} already present, {seconds:.2} s ({:.0} events/s)",
                    path.display(),
                    summary.inserted,
                    summary.duplicates,
                    read as f64 / seconds.max(1e-9),
                );
                total.add(summary);
            }
            Err(error) if error.is_input_error() => {
                eprintln!(
                    "{}: refused, nothing of this file was stored: {error}",
                    path.display()
                );
                outcome = Outcome::ProblemsFound;
            }
            Err(error) => {
                return Err(
                    anyhow::Error::new(error).context(format!("ingesting {}", path.display()))
                );
            }
        }
    }
    println!(
        "log {}: {} stored, {} already present; {} events in the log",
        config.log.dir.display(),
        total.inserted,
        total.duplicates,
        log.len()?
    );
    Ok(outcome)
}

/// Ingests one file with a progress spinner (drawn only on a terminal).
fn ingest_one(
    log: &mut EventLog,
    path: &Path,
    format: Option<Format>,
) -> Result<AppendSummary, LogError> {
    let progress = ProgressBar::new_spinner()
        .with_prefix(path.display().to_string())
        .with_style(
            ProgressStyle::with_template("{spinner} {prefix}: {human_pos} events ({per_sec})")
                .expect("the template is valid"),
        );
    let summary = ingest_file(log, path, format, &mut |done| progress.set_position(done));
    progress.finish_and_clear();
    summary
}
