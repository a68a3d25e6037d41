//! `selflearn learn`: the offline job. Reads the event log (never ground truth), builds sessions
//! and friction signals, mines precomputed rewrites with the absorbing Markov chain, and writes
//! a versioned rewrite table that `serve --rewrite-table` consults before NLU.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use selflearn_log::{EventLog, ScanOrder};
use selflearn_miner::{MinerConfig, RewriteTable, mine};
use selflearn_signals::{SignalConfig, TurnSignals, friction, sessions};

use super::Outcome;
use crate::config::Config;

/// Arguments of `learn`.
#[derive(Debug, Args)]
pub struct LearnArgs {
    /// Where to write the rewrite table.
    #[arg(
        long,
        default_value = "selflearn-data/artifacts/rewrite-table.json",
        value_name = "FILE"
    )]
    pub out: PathBuf,
}

/// Learns from the configured log.
pub fn run(args: LearnArgs, config: &Config) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let log = EventLog::open_read_only(&config.log.dir)?;
    let mut events = Vec::new();
    log.scan(ScanOrder::UserTime, |event| {
        events.push(event);
        Ok(())
    })?;
    let signal_config = SignalConfig::default();
    let miner_config = MinerConfig::default();
    let sessions = sessions(&events, &signal_config);
    let signals: Vec<Vec<TurnSignals>> = sessions
        .iter()
        .map(|s| friction(s, &signal_config))
        .collect();
    let likely = signals
        .iter()
        .flatten()
        .filter(|s| s.likely_defect())
        .count();
    let entries = mine(&sessions, &signals, &miner_config);
    let version = format!(
        "{}",
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
    );
    let table = RewriteTable::new(version, miner_config, entries);
    if let Some(parent) = args.out.parent() {
        fs_err::create_dir_all(parent)?;
    }
    table.save(&args.out)?;
    println!(
        "{} events, {} sessions, {} turns likely defective; {} rewrites mined in {:.2} s",
        events.len(),
        sessions.len(),
        likely,
        table.entries.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "rewrite table {} (version {})",
        args.out.display(),
        table.version
    );
    Ok(Outcome::Clean)
}
