//! `selflearn learn`: the offline job ([`selflearn_engine::driver`]). Reads the event log
//! (never ground truth) one user at a time and writes one artifact set: the precomputed
//! rewrite table, the online layers, and the encoder and lexicon they were learned with, under
//! a manifest `serve` loads as one unit.
//!
//! Split by user (the Spark job's map step): `--events` learns one part's events into a
//! partial learner file (`--partial`); `--merge` adds partial files together, into another
//! partial file or, finished, into the artifact set one process would have learned.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use selflearn_engine::{
    Learned, OnlineLayersLearner, PrecomputedLearner, encoder_at, job_settings, learn_events,
    learn_parallel, lexicon_text,
};
use selflearn_log::EventLog;
use selflearn_log::files::read_events;
use selflearn_online::Lexicon;

use super::Outcome;
use crate::config::Config;

/// Arguments of `learn`.
#[derive(Debug, Args)]
pub struct LearnArgs {
    /// The artifact set's directory (its manifest names every file in it).
    #[arg(long, default_value = "selflearn-data/artifacts", value_name = "DIR")]
    pub artifacts: PathBuf,
    /// The encoder to index with (written by `selflearn train`); when the file is missing, the
    /// untrained random projection is used and written there.
    #[arg(
        long,
        default_value = "selflearn-data/encoder.safetensors",
        value_name = "FILE"
    )]
    pub encoder: PathBuf,
    /// Pronunciation lexicon for the rankers' phonetic similarity (JSON lines, as
    /// data/cmudict_vocab.jsonl); without it, the one built into the binary.
    #[arg(long, value_name = "FILE")]
    pub lexicon: Option<PathBuf>,
    /// Learn from this file of events (JSONL or Parquet, `-` for JSONL on standard input)
    /// instead of the log: one part of a log split by user, every event of each of its users,
    /// grouped by user (as `export --order user-time` writes them).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Partial learner files (written by `--partial`) to add together, with `--events` when
    /// given too; each user must be in one part only.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub merge: Vec<PathBuf>,
    /// Write the learners' state to this file instead of finishing an artifact set: a part
    /// for a later `--merge`.
    #[arg(long, value_name = "FILE")]
    pub partial: Option<PathBuf>,
    /// The artifact set's version (by default the time of the learn in Unix ms): two learns
    /// of the same log with the same version write the same set.
    #[arg(long = "set-version", value_name = "VERSION")]
    pub set_version: Option<String>,
    /// Threads for the per-user work of a learn from the log (sessions, signals, learners);
    /// by default one per core. The set is the same whatever the number.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Shards the personal layer is cut into, by a hash of the user id, so that a rewrite
    /// replica (`serve --shards`) loads only its people's; 1 to 4096.
    #[arg(long, default_value_t = selflearn_engine::set::DEFAULT_PERSONAL_SHARDS, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(selflearn_types::shard::MAX_SHARDS)))]
    pub personal_shards: u32,
}

/// Learns from the configured log, or from a part's events and partial files.
pub fn run(args: LearnArgs, config: &Config) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let (encoder, untrained) = encoder_at(&args.encoder)?;
    if untrained {
        eprintln!(
            "the encoder at {} is the untrained random projection (run `selflearn train`)",
            args.encoder.display()
        );
    }
    let (lexicon, origin) = lexicon_text(args.lexicon.as_deref())?;
    let lexicon_model = Arc::new(Lexicon::parse(&lexicon, &origin)?);
    // Empty learners of this job: one per part read.
    let empty = || {
        (
            PrecomputedLearner::new(config.miner).with_sensitive(config.sensitive.clone()),
            Some(
                OnlineLayersLearner::new(encoder.clone(), lexicon_model.clone(), config.online)
                    .with_sensitive(config.sensitive.clone()),
            ),
        )
    };
    let settings = {
        let (precomputed, online) = empty();
        job_settings(&config.signals, &precomputed, online.as_ref(), &lexicon)
    };
    let learned = if args.events.is_some() || !args.merge.is_empty() {
        let mut learned: Option<Learned> = None;
        if let Some(path) = &args.events {
            let (precomputed, online) = empty();
            learned = Some(learn_events(
                read_events(path, None)?,
                path,
                &config.signals,
                precomputed,
                online,
            )?);
        }
        for path in &args.merge {
            let (precomputed, online) = empty();
            let part = Learned::load_partial(path, &settings, precomputed, online)?;
            match learned.as_mut() {
                Some(learned) => learned
                    .merge(part)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("merging {}", path.display()))?,
                None => learned = Some(part),
            }
        }
        learned.context("nothing to learn from")?
    } else {
        let log = EventLog::open_read_only(&config.log.dir)?;
        // Drawn only on a terminal.
        let style =
            indicatif::ProgressStyle::with_template("learn {bar:40} {pos}/{len} events ({eta})");
        let bar = indicatif::ProgressBar::new(log.len()?).with_style(style?);
        let threads = args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let learned = learn_parallel(&log, &config.signals, empty, threads, |read| {
            bar.set_position(read)
        })?;
        bar.finish_and_clear();
        learned
    };
    if let Some(path) = &args.partial {
        learned.save_partial(path, &settings)?;
        println!(
            "partial learner {}: {} events of {} users, {} sessions, in {:.2} s",
            path.display(),
            learned.report.log.events,
            learned.report.users,
            learned.report.sessions,
            started.elapsed().as_secs_f64()
        );
        return Ok(Outcome::Clean);
    }
    let version = match args.set_version {
        Some(version) => version,
        None => format!(
            "{}",
            SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
        ),
    };
    let set = learned.finish(&version, lexicon)?;
    set.save_sharded(&args.artifacts, args.personal_shards)?;
    println!(
        "{} (encoder {}, lexicon {origin})",
        learned
            .report
            .summary(&set, started.elapsed().as_secs_f64()),
        args.encoder.display()
    );
    println!(
        "artifact set {} (version {version})",
        args.artifacts.display()
    );
    Ok(Outcome::Clean)
}
