//! `selflearn forget USER`: deletes every event of one user from the event log. Every derived
//! artifact (rewrite table, online indices, rankers) drops them at the next `learn`.

use clap::Args;
use selflearn_log::EventLog;

use super::Outcome;
use crate::config::Config;

/// Arguments of `forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The user whose data to delete.
    pub user: String,
}

/// Deletes the user's events.
pub fn run(args: ForgetArgs, config: &Config) -> anyhow::Result<Outcome> {
    let mut log = EventLog::open(&config.log.dir, &config.log.options())?;
    let deleted = log.forget_user(&args.user)?;
    println!(
        "deleted {deleted} events of {} from {}; run `selflearn learn` to drop them from every artifact",
        args.user,
        config.log.dir.display()
    );
    Ok(Outcome::Clean)
}
