//! `selflearn eval`: the closed loop on the world. Each arm lives the same days of the same
//! world (same seeds, people and goals); the precomputed arm learns a rewrite table from its
//! own event log every simulated night and consults it before NLU the next day. Reports each
//! arm's defect rate, relative defect reduction against control (with a 95% Student's t
//! interval over seeds), wins, losses and trigger rate, as markdown and optionally as JSON.
//!
//! The miner's thresholds come from the configuration (`[miner]`), or, with `--tune-seed`, from
//! a small grid searched on that seed alone, which must not be one of the reported seeds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use selflearn_miner::{Miner, MinerConfig, RewriteTable};
use selflearn_online::fuzzy::FuzzyRewriter;
use std::sync::Arc;

use selflearn_online::{
    Encoder, HeldApartReport, Layers, Lexicon, OnlineConfig, OnlineLearner, OnlineModel, Teacher,
    Teaching, TrainConfig as EncoderTrainConfig, train_held_apart,
};
use selflearn_signals::{SignalConfig, friction, sessions};
use selflearn_types::{RewriteRequest, RewriteResponse};
use selflearn_world::Dataset;
use selflearn_world::config::WorldConfig;
use selflearn_world::sim::{Collected, RewriteHook, World};
use serde::Serialize;

use super::Outcome;
use super::funnel::{Consulted, Funnel, funnel};
use super::world::default_data_dir;
use crate::config::Config;
use crate::parallel;

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value_os_t = default_data_dir(), value_name = "DIR")]
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

/// An A/B arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The assistant as it is.
    Control,
    /// Precomputed rewrites mined nightly with the absorbing Markov chain.
    Precomputed,
    /// Precomputed, then the global online layer.
    Global,
    /// Precomputed, then the global and the personal online layers.
    Personal,
    /// The peer baseline alone: fuzzy matching to a known successful request.
    Fuzzy,
}

impl Arm {
    /// The arm this one adds a layer to (none for control and the baseline).
    fn previous(self) -> Option<Arm> {
        match self {
            Arm::Control | Arm::Fuzzy => None,
            Arm::Precomputed => Some(Arm::Control),
            Arm::Global => Some(Arm::Precomputed),
            Arm::Personal => Some(Arm::Global),
        }
    }

    fn online(self) -> bool {
        matches!(self, Arm::Global | Arm::Personal | Arm::Fuzzy)
    }
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arm::Control => "control",
            Arm::Precomputed => "precomputed",
            Arm::Global => "global",
            Arm::Personal => "personal",
            Arm::Fuzzy => "fuzzy",
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
    /// The online encoder's training and retrieval quality, when an online arm ran.
    encoder: Option<EncoderReport>,
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
    /// Against the arm this one adds a layer to, when that arm ran.
    vs_previous: Option<Comparison>,
    /// Where the online layer lost the defects it was consulted on, over all seeds (with
    /// `--funnel`).
    online_funnel: Option<Funnel>,
    per_seed: Vec<ArmRun>,
}

/// Relative defect reduction of an arm against another.
#[derive(Debug, Serialize)]
struct Comparison {
    arm: String,
    relative_defect_reduction: f64,
    ci95: [f64; 2],
}

/// Relative defect reduction of `treated` against `base`: the mean of the per-seed (paired)
/// reductions, and its 95% Student's t interval over seeds, so the point and the interval are
/// of the same quantity.
fn compare(base: &[ArmRun], treated: &[ArmRun]) -> (f64, [f64; 2]) {
    let per_seed: Vec<f64> = treated
        .iter()
        .zip(base)
        .map(|(t, b)| (b.defect_rate() - t.defect_rate()) / b.defect_rate().max(f64::MIN_POSITIVE))
        .collect();
    let interval = interval(&per_seed);
    let mean = per_seed.iter().sum::<f64>() / per_seed.len().max(1) as f64;
    (mean, interval)
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
    let control = ArmRun::of(&live(world.clone(), Arm::Control, seed, base, None));
    let candidates = grid(base);
    let runs = parallel::map(&candidates, parallel::cores(), |&miner| {
        ArmRun::of(&live(world.clone(), Arm::Precomputed, seed, miner, None))
    });
    let mut rows = Vec::new();
    for (miner, run) in candidates.into_iter().zip(runs) {
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

/// The world seed the online encoder is trained on when no tuning seed is given.
const DEFAULT_TRAIN_SEED: u64 = 7;

/// The encoder's training seed and retrieval quality.
#[derive(Debug, Serialize)]
struct EncoderReport {
    train_seed: u64,
    #[serde(flatten)]
    held_apart: HeldApartReport,
}

/// Trains the encoder on the reformulation pairs of the training seed's control traffic, four
/// users in five; recall is measured on the fifth.
fn train_encoder(
    world: &World,
    seed: u64,
    teacher: Option<&Teacher>,
) -> anyhow::Result<(Encoder, EncoderReport)> {
    let out = live(
        world.clone(),
        Arm::Control,
        seed,
        MinerConfig::default(),
        None,
    );
    let signal_config = SignalConfig::default();
    let mut learner = OnlineLearner::new();
    for session in sessions(&out.events, &signal_config) {
        learner.observe(&session, &friction(&session, &signal_config));
    }
    let teaching = teacher.map(|teacher| Teaching::of_training_users(teacher, &learner));
    let (encoder, held_apart) = train_held_apart(
        learner.pairs(),
        seed,
        &EncoderTrainConfig::default(),
        teaching,
    )?;
    eprintln!("encoder trained on seed {seed}: {held_apart}");
    Ok((
        encoder,
        EncoderReport {
            train_seed: seed,
            held_apart,
        },
    ))
}

/// Runs every arm on every seed and reports.
pub fn run(args: EvalArgs, config: &Config) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        args.tune_seed.is_none_or(|t| !args.seeds.contains(&t)),
        "the tuning seed {} is also a reported seed; report on seeds the thresholds were not chosen on",
        args.tune_seed.unwrap_or_default()
    );
    let data = Dataset::load(&args.data)?;
    let file = match &args.world {
        Some(path) => WorldConfig::load(path)?,
        None => WorldConfig {
            households: EVAL_HOUSEHOLDS,
            days: EVAL_DAYS,
            ..WorldConfig::default()
        },
    };
    let base = WorldConfig {
        households: args.households.unwrap_or(file.households),
        days: args.days.unwrap_or(file.days),
        ..file
    };
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
    let train_seed = args.tune_seed.unwrap_or(DEFAULT_TRAIN_SEED);
    anyhow::ensure!(
        !arms.iter().any(|a| a.online()) || !args.seeds.contains(&train_seed),
        "the encoder's training seed {train_seed} is also a reported seed; pass --tune-seed with another"
    );
    let (online, encoder_report) = if arms.iter().any(|a| a.online()) {
        let teacher = args.teacher.as_deref().map(Teacher::load).transpose()?;
        let (encoder, report) = train_encoder(&world_of(train_seed), train_seed, teacher.as_ref())?;
        (
            Some(OnlineSetup {
                encoder,
                lexicon: Arc::new(Lexicon::load(&args.data.join("cmudict_vocab.jsonl"))?),
                config: config.online,
            }),
            Some(report),
        )
    } else {
        (None, None)
    };
    // Every (seed, arm) run is independent: they run on all cores, a seed's world built once.
    let worlds: Vec<World> = parallel::map(&args.seeds, parallel::cores(), |&seed| world_of(seed));
    let jobs: Vec<(usize, Arm)> = (0..args.seeds.len())
        .flat_map(|s| arms.iter().map(move |&arm| (s, arm)))
        .collect();
    let results = parallel::map(&jobs, parallel::cores(), |&(s, arm)| {
        let seed = args.seeds[s];
        let mut consulted = Vec::new();
        let traced = args.funnel && matches!(arm, Arm::Global | Arm::Personal);
        let out = live_traced(
            worlds[s].clone(),
            arm,
            seed,
            miner,
            online.as_ref(),
            traced.then_some(&mut consulted),
        );
        let run = ArmRun::of(&out);
        let funnel = traced.then(|| funnel(&out, &consulted));
        eprintln!(
            "seed {seed}, {arm}: {} turns, defect rate {:.4}, {} rewritten, {} wins, {} losses",
            run.turns,
            run.defect_rate(),
            run.rewritten,
            run.wins,
            run.losses
        );
        if let Some(funnel) = &funnel {
            eprintln!("seed {seed}, {arm} funnel: {funnel}");
        }
        (run, funnel)
    });
    let mut runs: BTreeMap<Arm, Vec<ArmRun>> = BTreeMap::new();
    let mut funnels: BTreeMap<Arm, Funnel> = BTreeMap::new();
    for (&(_, arm), (run, funnel)) in jobs.iter().zip(results) {
        runs.entry(arm).or_default().push(run);
        if let Some(funnel) = funnel {
            *funnels.entry(arm).or_default() += funnel;
        }
    }
    let control = &runs[&Arm::Control];
    let mut report = Report {
        data: args.data.clone(),
        world: args.world.clone(),
        seeds: args.seeds.clone(),
        miner,
        tuning,
        encoder: encoder_report,
        arms: BTreeMap::new(),
    };
    for (arm, per_seed) in &runs {
        let total = |f: fn(&ArmRun) -> u64| per_seed.iter().map(f).sum::<u64>();
        let (pooled, ci95) = compare(control, per_seed);
        let vs_previous = arm
            .previous()
            .filter(|p| *p != Arm::Control)
            .and_then(|p| runs.get(&p).map(|base| (p, base)))
            .map(|(p, base)| {
                let (reduction, ci95) = compare(base, per_seed);
                Comparison {
                    arm: p.to_string(),
                    relative_defect_reduction: reduction,
                    ci95,
                }
            });
        let (wins, losses) = (total(|r| r.wins), total(|r| r.losses));
        report.arms.insert(
            arm.to_string(),
            ArmReport {
                defect_rate: ratio(total(|r| r.defects), total(|r| r.turns)),
                relative_defect_reduction: pooled,
                ci95,
                wins,
                losses,
                win_loss: (losses > 0).then(|| wins as f64 / losses as f64),
                trigger_rate: ratio(total(|r| r.rewritten), total(|r| r.turns)),
                vs_previous,
                online_funnel: funnels.get(arm).copied(),
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
    if let Some(e) = &report.encoder {
        println!(
            "encoder, trained on seed {}: {}\n",
            e.train_seed, e.held_apart
        );
    }
    println!(
        "| arm | defect rate | relative defect reduction vs control | 95% t interval over seeds | vs the arm before | wins | losses | win:loss | trigger rate |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for arm in runs.keys() {
        let r = &report.arms[&arm.to_string()];
        let previous = r.vs_previous.as_ref().map_or("—".to_owned(), |c| {
            format!(
                "{:+.2}% vs {} [{:+.2}%, {:+.2}%]",
                100.0 * c.relative_defect_reduction,
                c.arm,
                100.0 * c.ci95[0],
                100.0 * c.ci95[1]
            )
        });
        println!(
            "| {arm} | {:.4} | {:+.2}% | [{:+.2}%, {:+.2}%] | {previous} | {} | {} | {} | {:.2}% |",
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
    for (arm, funnel) in &funnels {
        println!("\n{arm} layer, over all seeds: {funnel}");
    }
    if let Some(path) = &args.json {
        fs_err::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(Outcome::Clean)
}

/// Mean ± t(0.975, n − 1) standard errors of per-seed values: Student's t, since a handful of
/// seeds is far from the normal limit (4.30 for 3 seeds, not 1.96). A single seed gives a
/// zero-width interval.
fn interval(values: &[f64]) -> [f64; 2] {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return [mean, mean];
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = t_975(values.len() - 1) * (variance / n).sqrt();
    [mean - half, mean + half]
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (tabulated to 30, then the
/// normal limit with the first correction term).
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => 1.959_964 + 2.4 / df as f64,
    }
}

/// What the online arms need from training: the encoder trained on the training seed.
#[derive(Debug, Clone)]
pub(crate) struct OnlineSetup {
    pub(crate) encoder: Encoder,
    pub(crate) lexicon: Arc<Lexicon>,
    pub(crate) config: OnlineConfig,
}

/// Consults, in order, the baseline (alone), the precomputed table, then the online layers.
struct LayeredHook<'a> {
    table: &'a RewriteTable,
    online: Option<(&'a OnlineModel, Layers)>,
    fuzzy: Option<&'a FuzzyRewriter>,
    /// Where to record what the online layer considered, for the funnel.
    trace: Option<&'a mut Vec<Consulted>>,
}

impl RewriteHook for LayeredHook<'_> {
    fn rewrite(&mut self, request: &RewriteRequest) -> RewriteResponse {
        if let Some(fuzzy) = self.fuzzy {
            return fuzzy.rewrite(request);
        }
        let precomputed = self.table.rewrite(request);
        match self.online {
            Some((model, layers)) if !precomputed.rewritten => {
                if let Some(trace) = self.trace.as_deref_mut() {
                    let (global, personal) = model.rankers();
                    let ranked = model.ranked(&model.answer_key(request, layers));
                    trace.push(Consulted {
                        user_id: request.user_id.clone(),
                        timestamp_ms: request.timestamp_ms.unwrap_or_default(),
                        templates: ranked
                            .iter()
                            .flatten()
                            .filter(|c| c.template.is_some())
                            .count(),
                        ranked: ranked.map(|r| {
                            r.iter()
                                .map(|c| (c.candidate.text.clone(), c.score, c.clears_floor))
                                .collect()
                        }),
                        threshold: match layers {
                            Layers::Global => global.threshold,
                            Layers::GlobalAndPersonal => personal.threshold,
                        },
                    });
                }
                model.rewrite(request, layers)
            }
            _ => precomputed,
        }
    }
}

/// Lives every day of `world` in one arm; each arm but control learns each night from its own
/// log: the precomputed table, and for the online arms the indices and rankers (the encoder
/// stays the one trained on the training seed). Learning is incremental, as a nightly job
/// would run it: the learners keep what they saw and observe only the day just lived (a night
/// separates the days, so no session spans two), then finish into the next day's layers.
pub(crate) fn live(
    world: World,
    arm: Arm,
    seed: u64,
    miner_config: MinerConfig,
    online: Option<&OnlineSetup>,
) -> Collected {
    live_traced(world, arm, seed, miner_config, online, None)
}

/// [`live`], recording into `trace` what the online layer considered for each request it was
/// asked about.
fn live_traced(
    mut world: World,
    arm: Arm,
    seed: u64,
    miner_config: MinerConfig,
    online: Option<&OnlineSetup>,
    mut trace: Option<&mut Vec<Consulted>>,
) -> Collected {
    let signal_config = SignalConfig::default();
    let mut out = Collected::default();
    let mut table = RewriteTable::new(format!("{seed}-empty"), miner_config, Default::default());
    let mut model: Option<OnlineModel> = None;
    let mut fuzzy: Option<FuzzyRewriter> = None;
    let mut miner = Miner::new();
    let mut learner = OnlineLearner::new();
    let layers = match arm {
        Arm::Personal => Layers::GlobalAndPersonal,
        _ => Layers::Global,
    };
    for day in 0..world.days() {
        let mut hook = LayeredHook {
            table: &table,
            online: model.as_ref().map(|m| (m, layers)),
            fuzzy: fuzzy.as_ref(),
            trace: trace.as_deref_mut(),
        };
        let seen = out.events.len();
        match arm {
            Arm::Control => world.run_day(day, &mut out, None),
            _ => world.run_day(day, &mut out, Some(&mut hook)),
        }
        .expect("an in-memory world run cannot fail");
        if arm == Arm::Control {
            continue;
        }
        for session in sessions(&out.events[seen..], &signal_config) {
            let signals = friction(&session, &signal_config);
            if arm != Arm::Fuzzy {
                miner.observe(&session, &signals);
            }
            if arm.online() {
                learner.observe(&session, &signals);
            }
        }
        let version = format!("{seed}-night-{day}");
        if arm != Arm::Fuzzy {
            table = RewriteTable::new(version.clone(), miner_config, miner.finish(&miner_config));
        }
        if let (true, Some(setup)) = (arm.online(), online) {
            if arm == Arm::Fuzzy {
                fuzzy = Some(learner.fuzzy_baseline(setup.config.min_users, FUZZY_THRESHOLD));
            } else {
                model = Some(
                    learner
                        .finish(
                            setup.encoder.clone(),
                            setup.lexicon.clone(),
                            setup.config,
                            version,
                        )
                        .expect("training the rankers on CPU tensors cannot fail"),
                );
            }
        }
    }
    out
}

/// Character similarity above which the fuzzy baseline rewrites.
const FUZZY_THRESHOLD: f64 = 0.8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_seeds_use_students_t_with_two_degrees_of_freedom() {
        let [low, high] = interval(&[0.1, 0.2, 0.3]);
        // mean 0.2, sd 0.1, se 0.1/sqrt(3); half-width 4.303 * se = 0.2484
        assert!((high - low - 2.0 * 4.303 * 0.1 / 3f64.sqrt()).abs() < 1e-9);
        assert!(((low + high) / 2.0 - 0.2).abs() < 1e-12);
        assert_eq!(interval(&[0.5]), [0.5, 0.5]);
        assert!((t_975(60) - 2.0).abs() < 0.01);
    }

    #[test]
    fn the_point_estimate_is_the_mean_of_the_paired_per_seed_reductions() {
        let run = |turns, defects| ArmRun {
            turns,
            defects,
            ..ArmRun::default()
        };
        // Seed 1: 0.5 -> 0.25 (50%); seed 2 (ten times the turns): 0.5 -> 0.45 (10%).
        let base = [run(100, 50), run(1000, 500)];
        let treated = [run(100, 25), run(1000, 450)];
        let (point, [low, high]) = compare(&base, &treated);
        assert!((point - 0.3).abs() < 1e-12, "{point}");
        assert!(low < point && point < high);
    }
}
