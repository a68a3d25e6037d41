//! `selflearn train`: trains the online layers' retrieval encoder contrastively on the
//! reformulation pairs of the event log (four users in five), reports its recall on the pairs
//! of the fifth, and writes it for `learn` and `serve`. With `--teacher`, the encoder first
//! learns the similarities a pretrained sentence encoder gives the same users' texts.

use std::path::PathBuf;

use clap::Args;
use selflearn_engine::{EncoderLearner, Learner, for_each_user};
use selflearn_log::EventLog;
use selflearn_online::{Teacher, TrainConfig};

use super::Outcome;
use crate::config::Config;

/// Arguments of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Where to write the encoder.
    #[arg(
        long,
        default_value = "selflearn-data/encoder.safetensors",
        value_name = "FILE"
    )]
    pub out: PathBuf,
    /// Seed of the initial random projection and of the batch order.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Passes over the pairs.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    pub epochs: usize,
    /// A pretrained sentence encoder (all-MiniLM-L6-v2, from `scripts/fetch-minilm.sh`) to
    /// distil first.
    #[arg(long, value_name = "DIR")]
    pub teacher: Option<PathBuf>,
}

/// Trains from the configured log.
pub fn run(args: TrainArgs, config: &Config) -> anyhow::Result<Outcome> {
    let log = EventLog::open_read_only(&config.log.dir)?;
    let train_config = TrainConfig {
        epochs: args.epochs,
        seed: args.seed,
        ..TrainConfig::default()
    };
    let teacher = args.teacher.as_deref().map(Teacher::load).transpose()?;
    let mut learner = EncoderLearner::new(args.seed, train_config, teacher.as_ref());
    for_each_user(&log, &config.signals, |user| learner.observe(user), |_| {})?;
    let (encoder, report) = learner.finish("")?;
    anyhow::ensure!(
        report.train_pairs > 0,
        "the log has no reformulation pairs to train on (a failed request followed by one that worked)"
    );
    if let Some(parent) = args.out.parent() {
        fs_err::create_dir_all(parent)?;
    }
    encoder.save(&args.out)?;
    println!(
        "trained on {} reformulation pairs ({} epochs, losses {:?})",
        report.train_pairs, args.epochs, report.epoch_losses
    );
    println!("{report}");
    println!("encoder {}", args.out.display());
    Ok(Outcome::Clean)
}
