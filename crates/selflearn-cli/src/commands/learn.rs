//! `selflearn learn`: the offline job. Reads the event log (never ground truth) one user at a
//! time, builds sessions and friction signals, mines precomputed rewrites with the absorbing
//! Markov chain, rolls back deployed rewrites that did worse than none, and writes a versioned
//! rewrite table that `serve --rewrite-table` consults before NLU (and reloads when it changes).
//! It also learns the online layers (global and personal indices, rankers) into an artifact
//! for `serve --online`, with the encoder `selflearn train` wrote.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use selflearn_log::{EventLog, ScanOrder};
use selflearn_miner::{Mined, Miner, MinerConfig, RewriteTable};
use selflearn_online::{Encoder, Lexicon, OnlineLearner};
use selflearn_signals::{Session, SignalConfig, TurnSignals, friction, sessions};
use selflearn_types::TurnEvent;

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
    /// Where to write the online layers' artifact.
    #[arg(
        long,
        default_value = "selflearn-data/artifacts/online.json",
        value_name = "FILE"
    )]
    pub online_out: PathBuf,
    /// The encoder to index with (written by `selflearn train`); when the file is missing, the
    /// untrained random projection is used and written there.
    #[arg(
        long,
        default_value = "selflearn-data/artifacts/encoder.safetensors",
        value_name = "FILE"
    )]
    pub encoder: PathBuf,
    /// Pronunciation lexicon for the rankers' phonetic similarity (JSON lines, as
    /// data/cmudict_vocab.jsonl); without it, phonetic similarity falls back to letters.
    #[arg(long, default_value = "data/cmudict_vocab.jsonl", value_name = "FILE")]
    pub lexicon: PathBuf,
}

/// The lexicon at `path`, or an empty one (letters only) with a warning when there is none.
pub(crate) fn lexicon_at(path: &std::path::Path) -> anyhow::Result<std::sync::Arc<Lexicon>> {
    if !path.is_file() {
        eprintln!(
            "no pronunciation lexicon at {}; phonetic similarity compares letters",
            path.display()
        );
        return Ok(std::sync::Arc::new(Lexicon::default()));
    }
    Ok(std::sync::Arc::new(Lexicon::load(path)?))
}

/// Seed of the untrained encoder's random projection.
pub(crate) const UNTRAINED_ENCODER_SEED: u64 = 7;

/// The encoder at `path`, or the untrained one written there when there is none.
pub(crate) fn encoder_at(path: &std::path::Path) -> anyhow::Result<Encoder> {
    if path.is_file() {
        let encoder = Encoder::load(path)?;
        // Said on every learn, not only the one that wrote it.
        if encoder.digest() == Encoder::random(UNTRAINED_ENCODER_SEED).digest() {
            eprintln!(
                "the encoder at {} is the untrained random projection (run `selflearn train`)",
                path.display()
            );
        }
        return Ok(encoder);
    }
    eprintln!(
        "no trained encoder at {}; using the untrained random projection (run `selflearn train`)",
        path.display()
    );
    let encoder = Encoder::random(UNTRAINED_ENCODER_SEED);
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    encoder.save(path)?;
    Ok(encoder)
}

/// What one pass over the log saw and mined.
#[derive(Debug)]
pub(crate) struct Learned {
    pub(crate) events: u64,
    pub(crate) sessions: u64,
    pub(crate) likely_defects: u64,
    pub(crate) mined: Mined,
    pub(crate) online: OnlineLearner,
}

/// Visits every session of the log with its friction signals, one user at a time: memory holds
/// one user's events, never the log.
pub(crate) fn for_each_session(
    log: &EventLog,
    signal_config: &SignalConfig,
    mut visit: impl FnMut(&Session, &[TurnSignals]),
) -> anyhow::Result<u64> {
    let mut user: Vec<TurnEvent> = Vec::new();
    let mut events = 0u64;
    let mut flush = |user: &mut Vec<TurnEvent>| {
        for session in sessions(user, signal_config) {
            visit(&session, &friction(&session, signal_config));
        }
        user.clear();
    };
    log.scan(ScanOrder::UserTime, |event| {
        events += 1;
        if user
            .last()
            .is_some_and(|last| last.user_id != event.user_id)
        {
            flush(&mut user);
        }
        user.push(event);
        Ok(())
    })?;
    flush(&mut user);
    Ok(events)
}

/// Streams the log through sessions, signals, the miner and the online learner.
pub(crate) fn learn_from_log(
    log: &EventLog,
    signal_config: &SignalConfig,
    miner_config: &MinerConfig,
) -> anyhow::Result<Learned> {
    let mut miner = Miner::new();
    let mut online = OnlineLearner::new();
    let (mut session_count, mut likely_defects) = (0u64, 0u64);
    let events = for_each_session(log, signal_config, |session, signals| {
        likely_defects += signals.iter().filter(|s| s.likely_defect()).count() as u64;
        session_count += 1;
        miner.observe(session, signals);
        online.observe(session, signals);
    })?;
    Ok(Learned {
        events,
        sessions: session_count,
        likely_defects,
        mined: miner.finish(miner_config),
        online,
    })
}

/// Learns from the configured log.
pub fn run(args: LearnArgs, config: &Config) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let log = EventLog::open_read_only(&config.log.dir)?;
    let miner_config = config.miner;
    let learned = learn_from_log(&log, &SignalConfig::default(), &miner_config)?;
    let version = format!(
        "{}",
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
    );
    let table = RewriteTable::new(version.clone(), miner_config, learned.mined);
    for path in [&args.out, &args.online_out] {
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
    }
    table.save(&args.out)?;
    let encoder = encoder_at(&args.encoder)?;
    let online =
        learned
            .online
            .finish(encoder, lexicon_at(&args.lexicon)?, config.online, version)?;
    online.save(&args.online_out)?;
    println!(
        "{} events, {} sessions, {} turns likely defective; {} rewrites mined, {} rolled back, in {:.2} s",
        learned.events,
        learned.sessions,
        learned.likely_defects,
        table.entries.len(),
        table.rolled_back.len(),
        started.elapsed().as_secs_f64()
    );
    for dropped in &table.rolled_back {
        println!(
            "rolled back: {:?} -> {:?}: friction {:.2} over {} rewritten turns, {:.2} over {} without",
            dropped.source,
            dropped.target,
            dropped.friction_rewritten,
            dropped.rewritten_turns,
            dropped.friction_without,
            dropped.unrewritten_turns
        );
    }
    println!(
        "rewrite table {} (version {})",
        args.out.display(),
        table.version
    );
    println!(
        "online layers {} ({} global candidates, {} users with a personal index; encoder {})",
        args.online_out.display(),
        online.global_len(),
        online.personal_users().count(),
        args.encoder.display()
    );
    Ok(Outcome::Clean)
}
