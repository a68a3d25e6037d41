//! `selflearn world …`: the evaluation world built from real data.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};
use selflearn_eval::signals::score_signals;
use selflearn_eval::world_report::{nlu_quality, world_stats};
use selflearn_signals::SignalConfig;
use selflearn_world::Dataset;
use selflearn_world::config::WorldConfig;
use selflearn_world::jsonl::JsonlFiles;
use selflearn_world::nlu::TrainConfig;
use selflearn_world::sim::{Collected, World};

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
    #[arg(long, default_value_os_t = Dataset::default_dir(), value_name = "DIR")]
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
        let config = WorldConfig::load_or_default(self.world.as_deref(), self.seed)?;
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
    #[arg(long, default_value_os_t = Dataset::default_dir(), value_name = "DIR")]
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
    let (h, d, seed) = (config.households, config.days, config.seed);
    println!(
        "world: {h} households, {d} days, seed {seed}; {}",
        report.markdown()
    );
    if let Some(path) = &args.json {
        fs_err::write(path, serde_json::to_string_pretty(&report.scores)?)?;
    }
    Ok(Outcome::Clean)
}

fn generate(args: GenerateArgs) -> anyhow::Result<Outcome> {
    let (mut world, config) = args.source.build()?;
    let mut sink = JsonlFiles::create(&args.out)?;
    let started = Instant::now();
    world.run(&mut sink)?;
    sink.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} turns ({} households, {} days, seed {}) in {seconds:.2} s ({:.0} turns/min)",
        sink.turns,
        config.households,
        config.days,
        config.seed,
        sink.turns as f64 / seconds * 60.0
    );
    println!("{}", JsonlFiles::describe(&args.out));
    Ok(Outcome::Clean)
}

fn stats(args: StatsArgs) -> anyhow::Result<Outcome> {
    let config = WorldConfig::load_or_default(args.source.world.as_deref(), args.source.seed)?;
    let seeds = if args.seeds.is_empty() {
        vec![config.seed]
    } else {
        args.seeds.clone()
    };
    let data = Dataset::load(&args.source.data)?;
    let label = args.source.data.display().to_string();
    let (markdown, json) = world_stats(&config, &data, &label, &seeds)?;
    print!("{markdown}");
    if let Some(path) = &args.json {
        fs_err::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    Ok(Outcome::Clean)
}

fn nlu(args: NluArgs) -> anyhow::Result<Outcome> {
    let data = Dataset::load(&args.data)?;
    let world = WorldConfig::load_or_default(args.world.as_deref(), args.world_seed)?;
    let label = args.data.display().to_string();
    let (markdown, report) = nlu_quality(&data, &label, args.seed, args.epochs, world);
    print!("{markdown}");
    if let Some(path) = &args.json {
        fs_err::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(Outcome::Clean)
}
