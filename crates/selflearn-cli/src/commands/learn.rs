//! `selflearn learn`: the offline job ([`selflearn_engine::driver`]). Reads the event log
//! (never ground truth) one user at a time and writes one artifact set: the precomputed
//! rewrite table, the online layers, and the encoder and lexicon they were learned with, under
//! a manifest `serve` loads as one unit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use selflearn_engine::{OnlineLayersLearner, PrecomputedLearner, encoder_at, learn, lexicon_text};
use selflearn_log::EventLog;
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
}

/// Learns from the configured log.
pub fn run(args: LearnArgs, config: &Config) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let log = EventLog::open_read_only(&config.log.dir)?;
    let (encoder, untrained) = encoder_at(&args.encoder)?;
    if untrained {
        eprintln!(
            "the encoder at {} is the untrained random projection (run `selflearn train`)",
            args.encoder.display()
        );
    }
    let (lexicon, origin) = lexicon_text(args.lexicon.as_deref())?;
    let online = OnlineLayersLearner::new(
        encoder,
        Arc::new(Lexicon::parse(&lexicon, &origin)?),
        config.online,
    )
    .with_sensitive(config.sensitive.clone());
    // Drawn only on a terminal.
    let style =
        indicatif::ProgressStyle::with_template("learn {bar:40} {pos}/{len} events ({eta})");
    let bar = indicatif::ProgressBar::new(log.len()?).with_style(style?);
    let learned = learn(
        &log,
        &config.signals,
        PrecomputedLearner::new(config.miner).with_sensitive(config.sensitive.clone()),
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
