//! `selflearn world …`: the evaluation world built from real data.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};

use selflearn_eval::signals::score_signals;
use selflearn_signals::SignalConfig;
use selflearn_types::TurnEvent;
use selflearn_world::Dataset;
use selflearn_world::asr::data_wer;
use selflearn_world::config::WorldConfig;
use selflearn_world::nlu::corpus::{asr_examples, gold_examples, training_examples};
use selflearn_world::nlu::eval::{NluScores, score};
use selflearn_world::nlu::{Nlu, TrainConfig};
use selflearn_world::sim::{Collected, World, WorldSink};
use selflearn_world::stats::{averaged, over_seeds};
use selflearn_world::truth::{GoalTruth, TurnTruth};
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
    /// Run a world and write its turn events and, separately, its ground truth.
    Generate(GenerateArgs),
    /// Run a world and report how realistic it is.
    Stats(StatsArgs),
    /// Run a world, derive friction signals from its events alone, and score them against the
    /// world's truth.
    Signals(SignalsArgs),
}

/// Arguments of `world signals`.
#[derive(Debug, Args)]
pub struct SignalsArgs {
    /// Which world.
    #[command(flatten)]
    pub source: WorldSource,
    /// Also write the scores as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Which world to build.
#[derive(Debug, Args)]
pub struct WorldSource {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value_os_t = default_data_dir(), value_name = "DIR")]
    pub data: PathBuf,
    /// World file (TOML); the defaults of config/world.toml when absent.
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
    /// Overrides the world file's seed.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl WorldSource {
    fn build(&self) -> anyhow::Result<(World, WorldConfig)> {
        let mut config = match &self.world {
            Some(path) => WorldConfig::load(path)?,
            None => WorldConfig::default(),
        };
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        let data = Dataset::load(&self.data)?;
        let started = Instant::now();
        let world = World::build(config.clone(), &data);
        eprintln!(
            "built the world ({} requests people can make) in {:.1} s",
            world.goal_count(),
            started.elapsed().as_secs_f64()
        );
        Ok((world, config))
    }
}

/// Arguments of `world generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Which world.
    #[command(flatten)]
    pub source: WorldSource,
    /// Output directory: events.jsonl (what an engine may read), truth.jsonl and goals.jsonl
    /// (the evaluator's).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Arguments of `world stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Which world.
    #[command(flatten)]
    pub source: WorldSource,
    /// Run the world with each of these seeds (each with its own popularity, coverage and
    /// NLU) and report the mean with the per-seed values; overrides `--seed`.
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    pub seeds: Vec<u64>,
    /// Also write the statistics as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
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
    /// World file whose goals' coverage is also reported (the defaults when absent).
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
    /// Overrides the world file's seed (which goals are popular, and so covered).
    #[arg(long, value_name = "SEED")]
    pub world_seed: Option<u64>,
    /// Also write the figures as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The vendored data: `data/` of the working directory when it has the data's files, else the
/// repository's `data/` this binary was built from, so that a command run elsewhere still
/// finds it (and a missing file is an error naming it, never a silent fallback).
pub fn default_data_dir() -> PathBuf {
    let here = PathBuf::from("data");
    if here.join("slurp_text.jsonl").is_file() {
        return here;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data"))
}

#[derive(Debug, Serialize)]
struct NluReport {
    data: PathBuf,
    seed: u64,
    epochs: usize,
    training_examples: usize,
    real_asr_wer_test: f64,
    rows: Vec<(String, NluScores)>,
    /// The world's own NLU (training split plus its covered goals) on covered and uncovered
    /// goals.
    world_seed: u64,
    coverage: selflearn_world::sim::CoverageReport,
}

/// Runs a world subcommand.
pub fn run(args: WorldArgs) -> anyhow::Result<Outcome> {
    match args.what {
        WorldWhat::Nlu(args) => nlu(args),
        WorldWhat::Generate(args) => generate(args),
        WorldWhat::Stats(args) => stats(args),
        WorldWhat::Signals(args) => signals(args),
    }
}

fn signals(args: SignalsArgs) -> anyhow::Result<Outcome> {
    let (mut world, config) = args.source.build()?;
    let mut out = Collected::default();
    world.run(&mut out)?;
    let report = score_signals(&out, &SignalConfig::default());
    println!(
        "world: {} households, {} days, seed {}; {} turns, {} defects ({:.1}%)\n",
        config.households,
        config.days,
        config.seed,
        report.turns,
        report.defects,
        100.0 * report.defects as f64 / report.turns.max(1) as f64
    );
    println!("| signal (from events only) | turns it fired on | precision | recall |");
    println!("|---|---|---|---|");
    for s in &report.scores {
        println!(
            "| {} | {} | {:.3} | {:.3} |",
            s.signal, s.fired, s.precision, s.recall
        );
    }
    if let Some(path) = &args.json {
        fs_err::write(path, serde_json::to_string_pretty(&report.scores)?)?;
    }
    Ok(Outcome::Clean)
}

/// Writes the three streams as JSON Lines.
struct FileSink {
    events: BufWriter<fs_err::File>,
    truth: BufWriter<fs_err::File>,
    goals: BufWriter<fs_err::File>,
    turns: u64,
}

fn io_error(e: impl Into<std::io::Error>) -> selflearn_world::WorldError {
    selflearn_world::WorldError::Io(e.into())
}

impl WorldSink for FileSink {
    fn turn(&mut self, event: &TurnEvent, truth: &TurnTruth) -> selflearn_world::Result<()> {
        serde_json::to_writer(&mut self.events, event).map_err(io_error)?;
        self.events.write_all(b"\n")?;
        serde_json::to_writer(&mut self.truth, truth).map_err(io_error)?;
        self.truth.write_all(b"\n")?;
        self.turns += 1;
        Ok(())
    }

    fn goal(&mut self, goal: &GoalTruth) -> selflearn_world::Result<()> {
        serde_json::to_writer(&mut self.goals, goal).map_err(io_error)?;
        self.goals.write_all(b"\n")?;
        Ok(())
    }
}

fn generate(args: GenerateArgs) -> anyhow::Result<Outcome> {
    let (mut world, config) = args.source.build()?;
    fs_err::create_dir_all(&args.out)?;
    let create = |name: &str| {
        fs_err::File::create(args.out.join(name)).map(|f| BufWriter::with_capacity(1 << 20, f))
    };
    let mut sink = FileSink {
        events: create("events.jsonl")?,
        truth: create("truth.jsonl")?,
        goals: create("goals.jsonl")?,
        turns: 0,
    };
    let started = Instant::now();
    world.run(&mut sink)?;
    sink.events.flush()?;
    sink.truth.flush()?;
    sink.goals.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} turns ({} households, {} days, seed {}) in {seconds:.2} s ({:.0} turns/min)",
        sink.turns,
        config.households,
        config.days,
        config.seed,
        sink.turns as f64 / seconds * 60.0
    );
    println!(
        "events (the engine's input): {}",
        args.out.join("events.jsonl").display()
    );
    println!(
        "truth (the evaluator's only): {}, {}",
        args.out.join("truth.jsonl").display(),
        args.out.join("goals.jsonl").display()
    );
    Ok(Outcome::Clean)
}

fn stats(args: StatsArgs) -> anyhow::Result<Outcome> {
    let mut config = match &args.source.world {
        Some(path) => WorldConfig::load(path)?,
        None => WorldConfig::default(),
    };
    if let Some(seed) = args.source.seed {
        config.seed = seed;
    }
    let seeds = if args.seeds.is_empty() {
        vec![config.seed]
    } else {
        args.seeds.clone()
    };
    let data = Dataset::load(&args.source.data)?;
    let started = Instant::now();
    let runs = over_seeds(&config, &data, &seeds)?;
    let seconds = started.elapsed().as_secs_f64();
    for run in &runs {
        println!(
            "world: {} households, {} days, seed {}; data {}\n",
            config.households,
            config.days,
            run.seed,
            args.source.data.display()
        );
        print!("{}", run.stats.markdown());
        println!(
            "\nNLU frame accuracy on gold sentences: covered goals {:.3} ({} sentences of {} goals), uncovered {:.3} ({} sentences of {} goals)\n",
            run.nlu.covered_frame_accuracy,
            run.nlu.covered_sentences,
            run.nlu.covered_goals,
            run.nlu.uncovered_frame_accuracy,
            run.nlu.uncovered_sentences,
            run.nlu.goals - run.nlu.covered_goals
        );
    }
    let mean = averaged(&runs);
    if runs.len() > 1 {
        println!("mean over seeds {seeds:?}:\n");
        println!("| measure | mean | per seed |\n|---|---|---|");
        let rows = [
            ("defect rate", "/defect_rate"),
            ("first-request defect rate", "/first_request_defect_rate"),
            ("goal success", "/goal_success"),
            ("reachable share of defects", "/reachable_share"),
            (
                "heard WER, real recordings, first requests",
                "/heard_wer/real_first",
            ),
            ("repeats (share of turns)", "/acts/repeat"),
            ("rephrases (share of turns)", "/acts/rephrase"),
            (
                "NLU frame accuracy, covered goals",
                "/nlu/covered_frame_accuracy",
            ),
            (
                "NLU frame accuracy, uncovered goals",
                "/nlu/uncovered_frame_accuracy",
            ),
            ("defects on uncovered goals", "/defects_on_uncovered_goals"),
        ];
        for (name, pointer) in rows {
            let per_seed: Vec<String> = mean["per_seed"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    format!(
                        "{:.3}",
                        r.pointer(pointer)
                            .and_then(|v| v.as_f64())
                            .unwrap_or(f64::NAN)
                    )
                })
                .collect();
            println!(
                "| {name} | {:.3} | {} |",
                mean.pointer(pointer)
                    .and_then(|v| v.as_f64())
                    .unwrap_or(f64::NAN),
                per_seed.join(", ")
            );
        }
    }
    let turns: u64 = runs.iter().map(|r| r.stats.turns).sum();
    println!(
        "\nbuilt and simulated {} seeds ({turns} turns) in {seconds:.1} s",
        runs.len()
    );
    if let Some(path) = &args.json {
        fs_err::write(path, serde_json::to_string_pretty(&mean)?)?;
    }
    Ok(Outcome::Clean)
}

fn nlu(args: NluArgs) -> anyhow::Result<Outcome> {
    let data = Dataset::load(&args.data)?;
    let training = training_examples(&data);
    let config = TrainConfig {
        epochs: args.epochs,
        seed: args.seed,
    };
    let started = Instant::now();
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
    println!(
        "| evaluated on | sentences | intent accuracy | frame accuracy | slot P | slot R | slot F1 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, s) in &rows {
        println!(
            "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            s.examples,
            s.intent_accuracy,
            s.frame_accuracy,
            s.slot_precision,
            s.slot_recall,
            s.slot_f1
        );
    }
    let mut world_config = match &args.world {
        Some(path) => WorldConfig::load(path)?,
        None => WorldConfig::default(),
    };
    if let Some(seed) = args.world_seed {
        world_config.seed = seed;
    }
    let world_seed = world_config.seed;
    let coverage = World::build(world_config, &data).coverage_report();
    println!(
        "\nThe world's NLU (seed {world_seed}: the training split plus the sentences of the {} most popular of {} goals), frame accuracy on gold text:",
        coverage.covered_goals, coverage.goals
    );
    println!("| goals | sentences | frame accuracy |\n|---|---|---|");
    println!(
        "| covered (built for) | {} | {:.3} |",
        coverage.covered_sentences, coverage.covered_frame_accuracy
    );
    println!(
        "| uncovered (the tail) | {} | {:.3} |",
        coverage.uncovered_sentences, coverage.uncovered_frame_accuracy
    );
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
            world_seed,
            coverage,
        };
        fs_err::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(Outcome::Clean)
}
