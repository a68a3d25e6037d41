//! `selflearn world …`: the evaluation world built from real data.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use selflearn_world::Dataset;
use selflearn_world::asr::data_wer;
use selflearn_world::nlu::corpus::{asr_examples, gold_examples, training_examples};
use selflearn_world::nlu::eval::{NluScores, score};
use selflearn_world::nlu::{Nlu, TrainConfig};
use serde::Serialize;

use super::Outcome;

/// Arguments of `world`.
#[derive(Debug, Args)]
pub struct WorldArgs {
    /// What to do.
    #[command(subcommand)]
    pub what: WorldWhat,
}

/// World subcommands.
#[derive(Debug, Subcommand)]
pub enum WorldWhat {
    /// Train the reference assistant's NLU and report its quality on held-apart sentences.
    Nlu(NluArgs),
}

/// Arguments of `world nlu`.
#[derive(Debug, Args)]
pub struct NluArgs {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value_os_t = default_data_dir(), value_name = "DIR")]
    pub data: PathBuf,
    /// Seed of the training order.
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    pub seed: u64,
    /// Training passes.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    pub epochs: usize,
    /// Also write the figures as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The vendored data: `data/` of the working directory.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

#[derive(Debug, Serialize)]
struct NluReport {
    data: PathBuf,
    seed: u64,
    epochs: usize,
    training_examples: usize,
    real_asr_wer_test: f64,
    rows: Vec<(String, NluScores)>,
}

/// Runs a world subcommand.
pub fn run(args: WorldArgs) -> anyhow::Result<Outcome> {
    match args.what {
        WorldWhat::Nlu(args) => nlu(args),
    }
}

fn nlu(args: NluArgs) -> anyhow::Result<Outcome> {
    let data = Dataset::load(&args.data)?;
    let training = training_examples(&data);
    let config = TrainConfig {
        epochs: args.epochs,
        seed: args.seed,
    };
    let started = std::time::Instant::now();
    let nlu = Nlu::train(&training, config);
    eprintln!(
        "trained on {} sentences in {:.1} s",
        training.len(),
        started.elapsed().as_secs_f64()
    );
    let sets = [
        ("devel, gold text", gold_examples(&data, "devel")),
        (
            "devel, synthetic voice + domain LM",
            asr_examples(&data, "devel", Some("slurp-domain-3gram")),
        ),
        (
            "devel, synthetic voice + generic LM",
            asr_examples(&data, "devel", Some("en-us-generic-3gram")),
        ),
        ("test, gold text", gold_examples(&data, "test")),
        (
            "test, real recordings (SLURP ASR)",
            asr_examples(&data, "test", None),
        ),
    ];
    let rows: Vec<(String, NluScores)> = sets
        .iter()
        .map(|(name, set)| (name.to_string(), score(&nlu, set)))
        .collect();
    println!(
        "NLU trained on {} sentences (SLURP train + HWU64, no spoken sentence), seed {}, {} epochs; data {}",
        training.len(),
        args.seed,
        args.epochs,
        args.data.display()
    );
    println!("| evaluated on | sentences | intent accuracy | slot P | slot R | slot F1 |");
    println!("|---|---|---|---|---|---|");
    for (name, s) in &rows {
        println!(
            "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            s.examples, s.intent_accuracy, s.slot_precision, s.slot_recall, s.slot_f1
        );
    }
    let (real_wer, synthetic) = data_wer(&data);
    println!(
        "\nWER of the recognisers on this data: real recordings {:.1}%",
        real_wer * 100.0
    );
    for (lm, wer) in &synthetic {
        println!("  synthetic voices, {lm}: {:.1}%", wer * 100.0);
    }
    if let Some(path) = &args.json {
        let report = NluReport {
            data: args.data.clone(),
            seed: args.seed,
            epochs: args.epochs,
            training_examples: training.len(),
            real_asr_wer_test: real_wer,
            rows,
        };
        fs_err::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(Outcome::Clean)
}
