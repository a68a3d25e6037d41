//! `selflearn forget USER`: deletes every event of one user from the event log, scrubbed from
//! its files. Every derived artifact drops them at the next `learn`. While `serve` runs, use
//! its `DELETE /v1/users/{id}` instead (the running service holds the log).

use clap::Args;
use selflearn_log::EventLog;

use super::Outcome;
use crate::config::Config;

/// Arguments of `forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The user whose data to delete.
    pub user: String,
    /// Only that installation's user of this id (every source when absent).
    #[arg(long)]
    pub source: Option<String>,
}

/// Deletes the user's events.
pub fn run(args: ForgetArgs, config: &Config) -> anyhow::Result<Outcome> {
    let mut log = EventLog::open(&config.log.dir, &config.log.options())?;
    let erased = log.forget(&args.user, args.source.as_deref())?;
    println!(
        "deleted {} events of {} from {}{}; run `selflearn learn` to drop them from every artifact",
        erased.events,
        args.user,
        config.log.dir.display(),
        if erased.wal_truncated {
            ""
        } else {
            " (a reader holds an older snapshot: the write-ahead log keeps their pages until it ends)"
        }
    );
    Ok(Outcome::Clean)
}
