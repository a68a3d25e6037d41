//! `selflearn demo`: the whole loop on a small world built from the vendored data, in a fresh
//! directory. People use an assistant for a week; in one arm selflearn learns every night from
//! how they reacted and rewrites failing requests before NLU; the other arm is left alone. It
//! prints the A/B report and where the event log and the learned rewrite table are.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use selflearn_engine::{Learner, PrecomputedLearner, by_user};
use selflearn_eval::{Arm, ArmRun, live};
use selflearn_log::EventLog;
use selflearn_world::Dataset;
use selflearn_world::config::WorldConfig;
use selflearn_world::sim::World;

use super::Outcome;
use crate::config::Config;

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory; emptied and refilled by every run (a directory the demo did not
    /// create is refused unless it is empty).
    #[arg(long, default_value = "selflearn-data/demo", value_name = "DIR")]
    pub dir: PathBuf,
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value_os_t = Dataset::default_dir(), value_name = "DIR")]
    pub data: PathBuf,
    /// World seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// Runs the demo and prints where everything is; the event log goes to `log_dir` when
/// `--log-dir` is given, else under the demo's directory.
pub fn run(args: DemoArgs, config: &Config, log_dir: Option<PathBuf>) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    selflearn_types::durable::fresh_dir_of_ours(&args.dir, ".selflearn-demo")
        .with_context(|| format!("--dir {}", args.dir.display()))?;
    let data = Dataset::load(&args.data)?;
    let world_config = WorldConfig {
        seed: args.seed,
        ..WorldConfig::default()
    };
    println!(
        "1. building a world from {}: {} households, {} days, seed {} (trains the assistant's NLU)…",
        args.data.display(),
        world_config.households,
        world_config.days,
        world_config.seed
    );
    let world = World::build(world_config.clone(), &data);

    println!("2. living the week twice: control, and with selflearn learning every night…");
    let control = ArmRun::of(&live(
        world.clone(),
        Arm::Control,
        args.seed,
        config.miner,
        None,
        None,
    ));
    let treated_out = live(world, Arm::Precomputed, args.seed, config.miner, None, None);
    let treated = ArmRun::of(&treated_out);

    let log_dir = log_dir.unwrap_or_else(|| args.dir.join("log"));
    let mut log = EventLog::open(&log_dir, &config.log.options())?;
    for batch in treated_out.events.chunks(500) {
        log.append(batch)?;
    }
    let mut learner = PrecomputedLearner::new(config.miner);
    for user in by_user(&treated_out.events, &config.signals) {
        learner.observe(&user);
    }
    let table = learner.finish(&format!("demo-seed-{}", args.seed))?;
    let table_path = args.dir.join("rewrite-table.json");
    table.save(&table_path)?;
    println!(
        "3. stored the selflearn arm's {} turn events and learned from them\n",
        log.len()?
    );

    print!(
        "{}",
        selflearn_eval::stats::versus_control(&control, "precomputed rewrites", &treated)
    );
    if let Some(example) = table.entries.iter().max_by_key(|e| e.pair_count) {
        println!(
            "\nfor example: \"{}\" -> \"{}\" ({} users reformulated it this way {} times)",
            example.source, example.target, example.pair_users, example.pair_count
        );
    }
    println!(
        "\nevent log: {}\nrewrite table ({} rewrites): {}\ndone in {:.0} s; more seeds and arms: selflearn eval",
        log.path().display(),
        table.entries.len(),
        table_path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Clean)
}
