//! `selflearn check`: an integrity check of the event log, with how to recover when it fails.

use clap::Args;
use selflearn_log::EventLog;

use super::Outcome;
use crate::config::Config;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {}

/// Checks every page and record; problems exit non-zero.
pub fn run(_args: CheckArgs, config: &Config) -> anyhow::Result<Outcome> {
    let report = EventLog::open_read_only(&config.log.dir)?.check()?;
    println!("{report}");
    Ok(if report.problems.is_empty() {
        Outcome::Clean
    } else {
        Outcome::ProblemsFound
    })
}
