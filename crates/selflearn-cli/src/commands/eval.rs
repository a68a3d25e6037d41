//! `selflearn eval`: the paired A/B on the world ([`selflearn_eval`]): each arm lives the same
//! days of the same world per seed, learning nightly with the engine and answering with the
//! layered rewriter `serve` runs; reports each arm against control and against the arm it adds
//! a layer to, with 95% Student's t intervals over seeds, as markdown and optionally JSON.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use selflearn_eval::{Arm, Plan, evaluate};
use selflearn_online::{Lexicon, Teacher};
use selflearn_world::Dataset;
use selflearn_world::config::WorldConfig;
use selflearn_world::sim::World;

use super::Outcome;
use crate::config::Config;

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value_os_t = Dataset::default_dir(), value_name = "DIR")]
    pub data: PathBuf,
    /// World file (TOML); the defaults of config/world.toml when absent.
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
    /// Households of the A/B's world; without it, the world file's, or 300 when no world file
    /// is given: global rewrites live on the same request recurring across many people, so the
    /// A/B needs more of them than the demo's default world.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub households: Option<u32>,
    /// Simulated days of the A/B's world; without it, the world file's, or 14 when no world
    /// file is given.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub days: Option<u32>,
    /// World seeds; one paired A/B run per seed.
    #[arg(long, value_delimiter = ',', default_values_t = [101, 102, 103])]
    pub seeds: Vec<u64>,
    /// Arms, each adding a layer to control: control, precomputed, global, personal, fuzzy.
    #[arg(long, value_delimiter = ',', default_values_t = [Arm::Control, Arm::Precomputed])]
    pub arms: Vec<Arm>,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Choose the miner's thresholds on this world seed (a grid search) before reporting on
    /// `--seeds`; without it, the configuration's `[miner]` thresholds are used.
    #[arg(long, value_name = "SEED")]
    pub tune_seed: Option<u64>,
    /// Also report, for the online arms, where they lose the defects they are consulted on
    /// (guard, retrieval, similarity floor, ranking, threshold), joined with the truth.
    #[arg(long)]
    pub funnel: bool,
    /// A pretrained sentence encoder (all-MiniLM-L6-v2, from `scripts/fetch-minilm.sh`) to
    /// distil into the online encoder before it trains on pairs.
    #[arg(long, value_name = "DIR")]
    pub teacher: Option<PathBuf>,
}

/// Households of the A/B's world when neither `--households` nor a world file says.
const EVAL_HOUSEHOLDS: u32 = 300;
/// Days of the A/B's world when neither `--days` nor a world file says.
const EVAL_DAYS: u32 = 14;

/// The JSON report: the inputs, then the A/B's results.
#[derive(Debug, serde::Serialize)]
struct Saved<'a> {
    data: &'a std::path::Path,
    world: Option<&'a std::path::Path>,
    #[serde(flatten)]
    report: &'a selflearn_eval::Report,
}

/// Runs every arm on every seed and reports.
pub fn run(args: EvalArgs, config: &Config) -> anyhow::Result<Outcome> {
    let mut plan = Plan {
        seeds: args.seeds.clone(),
        arms: args.arms.clone(),
        tune_seed: args.tune_seed,
        miner: config.miner,
        online: config.online,
        answer_cache_bytes: config.server.answer_cache_bytes,
        funnel: args.funnel,
        teacher: None,
    };
    plan.check()?;
    let data = Dataset::load(&args.data)?;
    let mut base = WorldConfig::load_or_default(args.world.as_deref(), None)?;
    if args.world.is_none() {
        (base.households, base.days) = (EVAL_HOUSEHOLDS, EVAL_DAYS);
    }
    base.households = args.households.unwrap_or(base.households);
    base.days = args.days.unwrap_or(base.days);
    let teacher = args.teacher.as_deref().map(Teacher::load).transpose()?;
    plan.teacher = teacher.as_ref();
    // Popularity, and so the NLU's coverage, is drawn by the seed: each seed's world trains
    // its own NLU, the same one in every arm of that seed.
    let world_of = |seed: u64| {
        World::build(
            WorldConfig {
                seed,
                ..base.clone()
            },
            &data,
        )
    };
    let lexicon = Arc::new(Lexicon::parse(Lexicon::EMBEDDED, "built-in lexicon")?);
    let report = evaluate(&plan, world_of, lexicon)?;
    println!(
        "A/B on the world: seeds {:?}, {} days, {} households; data {}",
        args.seeds,
        base.days,
        base.households,
        args.data.display()
    );
    print!("{}", report.markdown());
    if let Some(path) = &args.json {
        let saved = Saved {
            data: &args.data,
            world: args.world.as_deref(),
            report: &report,
        };
        fs_err::write(path, serde_json::to_string_pretty(&saved)?)?;
    }
    Ok(Outcome::Clean)
}
