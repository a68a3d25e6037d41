//! `selflearn eval`: the closed loop on the world. Each arm lives the same days of the same
//! world (same seeds, people and goals); the precomputed arm learns a rewrite table from its
//! own event log every simulated night and consults it before NLU the next day. Reports each
//! arm's defect rate, relative defect reduction against control (with a 95% interval over
//! seeds), wins, losses and trigger rate, as markdown and optionally as JSON.

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
    arms: BTreeMap<String, ArmReport>,
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

/// Runs every arm on every seed and reports.
pub fn run(args: EvalArgs) -> anyhow::Result<Outcome> {
    let data = Dataset::load(&args.data)?;
    let base = match &args.world {
        Some(path) => WorldConfig::load(path)?,
        None => WorldConfig::default(),
    };
    let nlu = Nlu::train(&training_examples(&data), TrainConfig::default());
    let mut arms: Vec<Arm> = args.arms.clone();
    if !arms.contains(&Arm::Control) {
        arms.insert(0, Arm::Control);
    }
    arms.sort();
    arms.dedup();
    let mut runs: BTreeMap<Arm, Vec<ArmRun>> = BTreeMap::new();
    for &seed in &args.seeds {
        let world = World::build_with_nlu(
            WorldConfig {
                seed,
                ..base.clone()
            },
            &data,
            nlu.clone(),
        );
        for &arm in &arms {
            let out = live(world.clone(), arm, seed);
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
        "A/B on the world: seeds {:?}, {} days, {} households; data {}\n",
        args.seeds,
        base.days,
        base.households,
        args.data.display()
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
pub(crate) fn live(mut world: World, arm: Arm, seed: u64) -> Collected {
    let signal_config = SignalConfig::default();
    let miner_config = MinerConfig::default();
    let mut out = Collected::default();
    let mut table = RewriteTable::new(format!("{seed}-empty"), miner_config, Vec::new());
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
