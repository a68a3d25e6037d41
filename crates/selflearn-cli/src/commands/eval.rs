//! `selflearn eval`: the closed loop on the world. Each arm lives the same days of the same
//! world (same seeds, people and goals); the precomputed arm learns a rewrite table from its
//! own event log every simulated night and consults it before NLU the next day. Reports each
//! arm's defect rate, relative defect reduction against control (with a 95% interval over
//! seeds), wins, losses and trigger rate, as markdown and optionally as JSON.
//!
//! The miner's thresholds come from the configuration (`[miner]`), or, with `--tune-seed`, from
//! a small grid searched on that seed alone, which must not be one of the reported seeds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use selflearn_miner::{MinerConfig, RewriteTable, mine};
use selflearn_signals::{SignalConfig, TurnSignals, friction, sessions};
use selflearn_types::{RewriteRequest, RewriteResponse};
use selflearn_world::Dataset;
use selflearn_world::config::WorldConfig;
use selflearn_world::nlu::corpus::training_examples;
use selflearn_world::nlu::{Nlu, TrainConfig};
use selflearn_world::sim::{Collected, RewriteHook, World};
use serde::Serialize;

use super::Outcome;
use super::world::default_data_dir;
use crate::config::Config;

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value_os_t = default_data_dir(), value_name = "DIR")]
    pub data: PathBuf,
    /// World file (TOML); the defaults of config/world.toml when absent.
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
    /// World seeds; one paired A/B run per seed.
    #[arg(long, value_delimiter = ',', default_values_t = [101, 102, 103])]
    pub seeds: Vec<u64>,
    /// Arms, each adding a layer to control.
    #[arg(long, value_delimiter = ',', default_values_t = [Arm::Control, Arm::Precomputed])]
    pub arms: Vec<Arm>,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Choose the miner's thresholds on this world seed (a grid search) before reporting on
    /// `--seeds`; without it, the configuration's `[miner]` thresholds are used.
    #[arg(long, value_name = "SEED")]
    pub tune_seed: Option<u64>,
}

/// An A/B arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The assistant as it is.
    Control,
    /// Precomputed rewrites mined nightly with the absorbing Markov chain.
    Precomputed,
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arm::Control => "control",
            Arm::Precomputed => "precomputed",
        })
    }
}

/// One arm on one seed.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct ArmRun {
    pub(crate) turns: u64,
    pub(crate) defects: u64,
    pub(crate) rewritten: u64,
    pub(crate) wins: u64,
    pub(crate) losses: u64,
}

impl ArmRun {
    pub(crate) fn of(out: &Collected) -> Self {
        let mut run = ArmRun::default();
        for truth in &out.truth {
            run.turns += 1;
            run.defects += u64::from(truth.defect);
            if truth.rewritten {
                run.rewritten += 1;
                match truth.original_defect {
                    Some(true) if !truth.defect => run.wins += 1,
                    Some(false) if truth.defect => run.losses += 1,
                    _ => {}
                }
            }
        }
        run
    }

    pub(crate) fn defect_rate(&self) -> f64 {
        ratio(self.defects, self.turns)
    }
}

/// The JSON report.
#[derive(Debug, Serialize)]
struct Report {
    data: PathBuf,
    world: Option<PathBuf>,
    seeds: Vec<u64>,
    /// The thresholds every arm learned with.
    miner: MinerConfig,
    /// How they were chosen, when tuned.
    tuning: Option<Tuning>,
    arms: BTreeMap<String, ArmReport>,
}

/// The threshold search on the tuning seed.
#[derive(Debug, Serialize)]
struct Tuning {
    seed: u64,
    grid: Vec<TuningRow>,
}

/// One candidate of the grid, on the tuning seed.
#[derive(Debug, Serialize)]
struct TuningRow {
    miner: MinerConfig,
    relative_defect_reduction: f64,
    wins: u64,
    losses: u64,
}

/// One arm over all seeds.
#[derive(Debug, Serialize)]
struct ArmReport {
    defect_rate: f64,
    relative_defect_reduction: f64,
    ci95: [f64; 2],
    wins: u64,
    losses: u64,
    win_loss: Option<f64>,
    trigger_rate: f64,
    per_seed: Vec<ArmRun>,
}

/// Consults a rewrite table, as the assistant's integration would.
struct TableHook<'a>(&'a RewriteTable);

impl RewriteHook for TableHook<'_> {
    fn rewrite(&mut self, request: &RewriteRequest) -> RewriteResponse {
        self.0.rewrite(request)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The candidates of the threshold search: the configured thresholds, loosened and tightened
/// along the three that decide most (support in users, how bad a source must be, how much
/// better the target).
fn grid(base: MinerConfig) -> Vec<MinerConfig> {
    let mut grid = Vec::new();
    for min_users in [2, 3] {
        for max_source_success in [0.5, 0.7] {
            for min_gain in [0.2, 0.4] {
                grid.push(MinerConfig {
                    min_users,
                    max_source_success,
                    min_gain,
                    ..base
                });
            }
        }
    }
    grid
}

/// Picks thresholds on one seed: the largest relative defect reduction with no more losses
/// than a tenth of the wins (ties keep the earlier, more conservative candidate).
fn tune(world: &World, seed: u64, base: MinerConfig) -> (MinerConfig, Tuning) {
    let control = ArmRun::of(&live(world.clone(), Arm::Control, seed, base));
    let mut rows = Vec::new();
    for miner in grid(base) {
        let run = ArmRun::of(&live(world.clone(), Arm::Precomputed, seed, miner));
        let reduction = (control.defect_rate() - run.defect_rate())
            / control.defect_rate().max(f64::MIN_POSITIVE);
        eprintln!(
            "tuning on seed {seed}: min_users {}, max_source_success {}, min_gain {}: reduction {:+.2}%, {} wins, {} losses",
            miner.min_users,
            miner.max_source_success,
            miner.min_gain,
            100.0 * reduction,
            run.wins,
            run.losses
        );
        rows.push(TuningRow {
            miner,
            relative_defect_reduction: reduction,
            wins: run.wins,
            losses: run.losses,
        });
    }
    let chosen = rows
        .iter()
        .filter(|r| r.losses * 10 <= r.wins)
        .fold(None::<&TuningRow>, |best, r| match best {
            Some(b) if b.relative_defect_reduction >= r.relative_defect_reduction => Some(b),
            _ => Some(r),
        })
        .map_or(base, |r| r.miner);
    (chosen, Tuning { seed, grid: rows })
}

/// Runs every arm on every seed and reports.
pub fn run(args: EvalArgs, config: &Config) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        args.tune_seed.is_none_or(|t| !args.seeds.contains(&t)),
        "the tuning seed {} is also a reported seed; report on seeds the thresholds were not chosen on",
        args.tune_seed.unwrap_or_default()
    );
    let data = Dataset::load(&args.data)?;
    let base = match &args.world {
        Some(path) => WorldConfig::load(path)?,
        None => WorldConfig::default(),
    };
    let nlu = Nlu::train(&training_examples(&data), TrainConfig::default());
    let world_of = |seed: u64| {
        World::build_with_nlu(
            WorldConfig {
                seed,
                ..base.clone()
            },
            &data,
            nlu.clone(),
        )
    };
    let (miner, tuning) = match args.tune_seed {
        Some(seed) => {
            let (miner, tuning) = tune(&world_of(seed), seed, config.miner);
            (miner, Some(tuning))
        }
        None => (config.miner, None),
    };
    let mut arms: Vec<Arm> = args.arms.clone();
    if !arms.contains(&Arm::Control) {
        arms.insert(0, Arm::Control);
    }
    arms.sort();
    arms.dedup();
    let mut runs: BTreeMap<Arm, Vec<ArmRun>> = BTreeMap::new();
    for &seed in &args.seeds {
        let world = world_of(seed);
        for &arm in &arms {
            let out = live(world.clone(), arm, seed, miner);
            let run = ArmRun::of(&out);
            eprintln!(
                "seed {seed}, {arm}: {} turns, defect rate {:.4}, {} rewritten, {} wins, {} losses",
                run.turns,
                run.defect_rate(),
                run.rewritten,
                run.wins,
                run.losses
            );
            runs.entry(arm).or_default().push(run);
        }
    }
    let control = &runs[&Arm::Control];
    let mut report = Report {
        data: args.data.clone(),
        world: args.world.clone(),
        seeds: args.seeds.clone(),
        miner,
        tuning,
        arms: BTreeMap::new(),
    };
    for (arm, per_seed) in &runs {
        let reductions: Vec<f64> = per_seed
            .iter()
            .zip(control)
            .map(|(t, c)| {
                (c.defect_rate() - t.defect_rate()) / c.defect_rate().max(f64::MIN_POSITIVE)
            })
            .collect();
        let total = |f: fn(&ArmRun) -> u64| per_seed.iter().map(f).sum::<u64>();
        let (turns, defects, control_defects, control_turns) = (
            total(|r| r.turns),
            total(|r| r.defects),
            control.iter().map(|r| r.defects).sum::<u64>(),
            control.iter().map(|r| r.turns).sum::<u64>(),
        );
        let pooled = (ratio(control_defects, control_turns) - ratio(defects, turns))
            / ratio(control_defects, control_turns).max(f64::MIN_POSITIVE);
        let (wins, losses) = (total(|r| r.wins), total(|r| r.losses));
        report.arms.insert(
            arm.to_string(),
            ArmReport {
                defect_rate: ratio(defects, turns),
                relative_defect_reduction: pooled,
                ci95: interval(&reductions),
                wins,
                losses,
                win_loss: (losses > 0).then(|| wins as f64 / losses as f64),
                trigger_rate: ratio(total(|r| r.rewritten), turns),
                per_seed: per_seed.clone(),
            },
        );
    }
    println!(
        "A/B on the world: seeds {:?}, {} days, {} households; data {}",
        args.seeds,
        base.days,
        base.households,
        args.data.display()
    );
    println!(
        "miner thresholds{}: min_users {}, max_source_success {}, min_target_success {}, min_gain {}\n",
        report
            .tuning
            .as_ref()
            .map_or(" (configured)".to_owned(), |t| format!(
                " (chosen on seed {})",
                t.seed
            )),
        miner.min_users,
        miner.max_source_success,
        miner.min_target_success,
        miner.min_gain
    );
    println!(
        "| arm | defect rate | relative defect reduction vs control | 95% interval over seeds | wins | losses | win:loss | trigger rate |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (arm, r) in &report.arms {
        println!(
            "| {arm} | {:.4} | {:+.2}% | [{:+.2}%, {:+.2}%] | {} | {} | {} | {:.2}% |",
            r.defect_rate,
            100.0 * r.relative_defect_reduction,
            100.0 * r.ci95[0],
            100.0 * r.ci95[1],
            r.wins,
            r.losses,
            r.win_loss.map_or("—".to_owned(), |w| format!("{w:.1}")),
            100.0 * r.trigger_rate
        );
    }
    if let Some(path) = &args.json {
        fs_err::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(Outcome::Clean)
}

/// Mean ± 1.96 standard errors of per-seed values (a single seed gives a zero-width interval).
fn interval(values: &[f64]) -> [f64; 2] {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return [mean, mean];
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = 1.96 * (variance / n).sqrt();
    [mean - half, mean + half]
}

/// Lives every day of `world` in one arm; the precomputed arm learns each night from its own log.
pub(crate) fn live(mut world: World, arm: Arm, seed: u64, miner_config: MinerConfig) -> Collected {
    let signal_config = SignalConfig::default();
    let mut out = Collected::default();
    let mut table = RewriteTable::new(format!("{seed}-empty"), miner_config, Default::default());
    for day in 0..world.days() {
        match arm {
            Arm::Control => world.run_day(day, &mut out, None),
            Arm::Precomputed => world.run_day(day, &mut out, Some(&mut TableHook(&table))),
        }
        .expect("an in-memory world run cannot fail");
        if arm == Arm::Precomputed {
            let sessions = sessions(&out.events, &signal_config);
            let signals: Vec<Vec<TurnSignals>> = sessions
                .iter()
                .map(|s| friction(s, &signal_config))
                .collect();
            table = RewriteTable::new(
                format!("{seed}-night-{day}"),
                miner_config,
                mine(&sessions, &signals, &miner_config),
            );
        }
    }
    out
}
