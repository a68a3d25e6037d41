//! `selflearn learn`: the offline job ([`selflearn_engine::driver`]). Reads the event log
//! (never ground truth) one user at a time and writes one artifact set: the precomputed
//! rewrite table, the online layers, and the encoder and lexicon they were learned with, under
//! a manifest `serve` loads as one unit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use selflearn_engine::{OnlineLayersLearner, PrecomputedLearner, learn};
use selflearn_log::EventLog;
use selflearn_online::{Encoder, Lexicon};

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
}

/// Seed of the untrained encoder's random projection.
pub(crate) const UNTRAINED_ENCODER_SEED: u64 = 7;

/// The encoder at `path`, or the untrained one written there when there is none; says so on
/// every run that uses the untrained one.
pub(crate) fn encoder_at(path: &Path) -> anyhow::Result<Encoder> {
    if path.is_file() {
        let encoder = Encoder::load(path)?;
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

/// The lexicon's text and where it came from: the file, or the one built in.
fn lexicon_text(path: Option<&Path>) -> anyhow::Result<(Arc<str>, String)> {
    Ok(match path {
        Some(path) => (
            Arc::from(fs_err::read_to_string(path)?),
            path.display().to_string(),
        ),
        None => (Arc::from(Lexicon::EMBEDDED), "built-in lexicon".to_owned()),
    })
}

/// A progress bar over the log's events, drawn only on a terminal.
fn progress_over(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("learn {bar:40} {pos}/{len} events ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Learns from the configured log.
pub fn run(args: LearnArgs, config: &Config) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let log = EventLog::open_read_only(&config.log.dir)?;
    let encoder = encoder_at(&args.encoder)?;
    let (lexicon, origin) = lexicon_text(args.lexicon.as_deref())?;
    let online = OnlineLayersLearner::new(
        encoder,
        Arc::new(Lexicon::parse(&lexicon, &origin)?),
        config.online,
    );
    let bar = progress_over(log.len()?);
    let learned = learn(
        &log,
        &config.signals,
        PrecomputedLearner::new(config.miner),
        Some(online),
        |read| bar.set_position(read),
    )?;
    bar.finish_and_clear();
    let version = format!(
        "{}",
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
    );
    let set = learned.finish(&version, lexicon)?;
    set.save(&args.artifacts)?;
    let report = &learned.report;
    println!(
        "{} events, {} users, {} sessions, {} turns likely defective; {} rewrites mined, {} rolled back, in {:.2} s",
        report.log.events,
        report.users,
        report.sessions,
        report.likely_defects,
        set.table.entries.len(),
        set.table.rolled_back.len(),
        started.elapsed().as_secs_f64()
    );
    for dropped in &set.table.rolled_back {
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
    if let Some((model, _, _)) = &set.online {
        println!(
            "online layers: {} global candidates, {} users with a personal index (encoder {}, {origin})",
            model.global_len(),
            model.personal_users().count(),
            args.encoder.display()
        );
    }
    println!(
        "artifact set {} (version {version})",
        args.artifacts.display()
    );
    Ok(Outcome::Clean)
}
