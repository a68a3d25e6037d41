//! The paired A/B: every arm lives the same days of the same world per seed (same people,
//! same goals at the same times), and is compared with control and with the arm it adds a
//! layer to.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use selflearn_miner::MinerConfig;
use selflearn_online::{Lexicon, OnlineConfig, Teacher};
use selflearn_world::sim::World;
use serde::Serialize;

use crate::arms::Arm;
use crate::error::{EvalError, Result};
use crate::funnel::{Funnel, funnel};
use crate::parallel;
use crate::run::{OnlineSetup, live};
use crate::stats::{ArmRun, compare, ratio};
use crate::tune::{EncoderReport, Tuning, train_encoder, tune};

/// The world seed the online encoder is trained on when no tuning seed is given.
pub const DEFAULT_TRAIN_SEED: u64 = 7;

/// What to run.
#[derive(Debug)]
pub struct Plan<'t> {
    /// World seeds reported on; one paired run per seed.
    pub seeds: Vec<u64>,
    /// Arms besides control (control always runs).
    pub arms: Vec<Arm>,
    /// The seed the miner's thresholds are chosen on (they are the configured ones without).
    pub tune_seed: Option<u64>,
    /// The configured thresholds.
    pub miner: MinerConfig,
    /// The online layers' settings.
    pub online: OnlineConfig,
    /// Bytes of answers the online layers remember, as `serve` is configured.
    pub answer_cache_bytes: u64,
    /// Whether to trace where the online layers lose the defects they are consulted on.
    pub funnel: bool,
    /// A pretrained sentence encoder to distil before training on pairs.
    pub teacher: Option<&'t Teacher>,
}

/// The A/B's results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Seeds reported on.
    pub seeds: Vec<u64>,
    /// The thresholds every arm learned with.
    pub miner: MinerConfig,
    /// How they were chosen, when tuned.
    pub tuning: Option<Tuning>,
    /// The online encoder's training and retrieval quality, when an online arm ran.
    pub encoder: Option<EncoderReport>,
    /// Each arm over all seeds.
    pub arms: BTreeMap<Arm, ArmReport>,
}

/// One arm over all seeds.
#[derive(Debug, Clone, Serialize)]
pub struct ArmReport {
    /// Defects per turn, over all seeds' turns.
    pub defect_rate: f64,
    /// Mean of the per-seed relative defect reductions against control.
    pub relative_defect_reduction: f64,
    /// Its 95% Student's t interval over seeds.
    pub ci95: [f64; 2],
    /// Rewrites that repaired a defect.
    pub wins: u64,
    /// Rewrites that broke a request that worked.
    pub losses: u64,
    /// Wins per loss.
    pub win_loss: Option<f64>,
    /// Rewritten turns per turn.
    pub trigger_rate: f64,
    /// Against the arm this one adds a layer to, when that arm ran.
    pub vs_previous: Option<Comparison>,
    /// Where the online layer lost the defects it was consulted on, over all seeds.
    pub online_funnel: Option<Funnel>,
    /// The counts of each seed.
    pub per_seed: Vec<ArmRun>,
}

/// Relative defect reduction of an arm against another.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The other arm.
    pub arm: Arm,
    /// Mean of the per-seed reductions.
    pub relative_defect_reduction: f64,
    /// Its 95% Student's t interval over seeds.
    pub ci95: [f64; 2],
}

/// The arms' summary from each arm's per-seed runs (same seed order in every arm).
pub fn summarise(
    runs: &BTreeMap<Arm, Vec<ArmRun>>,
    funnels: &BTreeMap<Arm, Funnel>,
) -> BTreeMap<Arm, ArmReport> {
    let control = &runs[&Arm::Control];
    runs.iter()
        .map(|(&arm, per_seed)| {
            let total = |f: fn(&ArmRun) -> u64| per_seed.iter().map(f).sum::<u64>();
            let (reduction, ci95) = compare(control, per_seed);
            let vs_previous = arm
                .previous()
                .filter(|p| *p != Arm::Control)
                .and_then(|p| runs.get(&p).map(|base| (p, base)))
                .map(|(p, base)| {
                    let (reduction, ci95) = compare(base, per_seed);
                    Comparison {
                        arm: p,
                        relative_defect_reduction: reduction,
                        ci95,
                    }
                });
            let (wins, losses) = (total(|r| r.wins), total(|r| r.losses));
            let report = ArmReport {
                defect_rate: ratio(total(|r| r.defects), total(|r| r.turns)),
                relative_defect_reduction: reduction,
                ci95,
                wins,
                losses,
                win_loss: (losses > 0).then(|| wins as f64 / losses as f64),
                trigger_rate: ratio(total(|r| r.rewritten), total(|r| r.turns)),
                vs_previous,
                online_funnel: funnels.get(&arm).copied(),
                per_seed: per_seed.clone(),
            };
            (arm, report)
        })
        .collect()
}

impl Plan<'_> {
    /// Refuses a plan that would report on a seed something was chosen on: the tuning seed,
    /// or the encoder's training seed when an online arm runs.
    pub fn check(&self) -> Result<()> {
        if let Some(seed) = self.tune_seed.filter(|s| self.seeds.contains(s)) {
            return Err(EvalError::SeedReused {
                what: "tuning",
                seed,
            });
        }
        let train_seed = self.tune_seed.unwrap_or(DEFAULT_TRAIN_SEED);
        if self.arms.iter().any(|a| a.online()) && self.seeds.contains(&train_seed) {
            return Err(EvalError::SeedReused {
                what: "encoder's training",
                seed: train_seed,
            });
        }
        Ok(())
    }
}

/// Runs every arm of `plan` on every seed's world (`world_of(seed)`), all on all cores.
pub fn evaluate(
    plan: &Plan<'_>,
    world_of: impl Fn(u64) -> World + Sync,
    lexicon: Arc<Lexicon>,
) -> Result<Report> {
    plan.check()?;
    let (miner, tuning) = match plan.tune_seed {
        Some(seed) => {
            let (miner, tuning) = tune(&world_of(seed), seed, plan.miner);
            (miner, Some(tuning))
        }
        None => (plan.miner, None),
    };
    let mut arms = plan.arms.clone();
    arms.push(Arm::Control);
    arms.sort();
    arms.dedup();
    let any_online = arms.iter().any(|a| a.online());
    let train_seed = plan.tune_seed.unwrap_or(DEFAULT_TRAIN_SEED);
    let (online, encoder) = if any_online {
        let (encoder, report) = train_encoder(&world_of(train_seed), train_seed, plan.teacher)?;
        let setup = OnlineSetup {
            encoder,
            lexicon,
            config: plan.online,
            answer_cache_bytes: plan.answer_cache_bytes,
        };
        (Some(setup), Some(report))
    } else {
        (None, None)
    };
    let worlds: Vec<World> = parallel::map(&plan.seeds, parallel::cores(), |&seed| world_of(seed));
    let jobs: Vec<(usize, Arm)> = (0..plan.seeds.len())
        .flat_map(|s| arms.iter().map(move |&arm| (s, arm)))
        .collect();
    let results = parallel::map(&jobs, parallel::cores(), |&(s, arm)| {
        let seed = plan.seeds[s];
        let traced = plan.funnel && matches!(arm, Arm::Global | Arm::Personal);
        let trace = traced.then(|| Arc::new(Mutex::new(Vec::new())));
        let out = live(
            worlds[s].clone(),
            arm,
            seed,
            miner,
            online.as_ref(),
            trace.clone(),
        );
        let run = ArmRun::of(&out);
        let funnel = trace.map(|t| {
            funnel(
                &out,
                &t.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            )
        });
        tracing::info!(
            seed,
            %arm,
            turns = run.turns,
            defect_rate = run.defect_rate(),
            rewritten = run.rewritten,
            wins = run.wins,
            losses = run.losses,
            "arm lived"
        );
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
    Ok(Report {
        seeds: plan.seeds.clone(),
        miner,
        tuning,
        encoder,
        arms: summarise(&runs, &funnels),
    })
}

impl Report {
    /// The report as markdown: thresholds, encoder, one table row per arm, the funnels.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.miner;
        let chosen = self
            .tuning
            .as_ref()
            .map_or(" (configured)".to_owned(), |t| {
                format!(" (chosen on seed {})", t.seed)
            });
        out += &format!(
            "miner thresholds{chosen}: min_users {}, max_source_success {}, min_target_success {}, min_gain {}\n\n",
            m.min_users, m.max_source_success, m.min_target_success, m.min_gain
        );
        if let Some(e) = &self.encoder {
            out += &format!(
                "encoder, trained on seed {}: {}\n\n",
                e.train_seed, e.held_apart
            );
        }
        out += "| arm | defect rate | relative defect reduction vs control | 95% t interval over seeds | vs the arm before | wins | losses | win:loss | trigger rate |\n";
        out += "|---|---|---|---|---|---|---|---|---|\n";
        for (arm, r) in &self.arms {
            let previous = r.vs_previous.as_ref().map_or("—".to_owned(), |c| {
                format!(
                    "{:+.2}% vs {} [{:+.2}%, {:+.2}%]",
                    100.0 * c.relative_defect_reduction,
                    c.arm,
                    100.0 * c.ci95[0],
                    100.0 * c.ci95[1]
                )
            });
            out += &format!(
                "| {arm} | {:.4} | {:+.2}% | [{:+.2}%, {:+.2}%] | {previous} | {} | {} | {} | {:.2}% |\n",
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
        for (arm, r) in &self.arms {
            if let Some(funnel) = &r.online_funnel {
                out += &format!("\n{arm} layer, over all seeds: {funnel}\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(turns: u64, defects: u64, wins: u64, losses: u64) -> ArmRun {
        ArmRun {
            turns,
            defects,
            rewritten: wins + losses,
            wins,
            losses,
        }
    }

    #[test]
    fn each_arm_is_compared_with_control_and_with_the_arm_it_adds_a_layer_to() {
        // Known by construction: precomputed removes 20% of control's defects on every seed,
        // global a further 25% of precomputed's.
        let runs = BTreeMap::from([
            (
                Arm::Control,
                vec![run(1000, 400, 0, 0), run(2000, 600, 0, 0)],
            ),
            (
                Arm::Precomputed,
                vec![run(1000, 320, 90, 10), run(2000, 480, 130, 10)],
            ),
            (
                Arm::Global,
                vec![run(1000, 240, 170, 10), run(2000, 360, 250, 10)],
            ),
        ]);
        let report = summarise(&runs, &BTreeMap::new());
        let pre = &report[&Arm::Precomputed];
        assert!((pre.relative_defect_reduction - 0.2).abs() < 1e-12);
        assert!(
            (pre.ci95[1] - pre.ci95[0]).abs() < 1e-12,
            "the same on both seeds"
        );
        assert!(
            pre.vs_previous.is_none(),
            "control is not 'the arm before' twice"
        );
        assert_eq!((pre.wins, pre.losses), (220, 20));
        assert!((pre.win_loss.unwrap() - 11.0).abs() < 1e-12);
        assert!((pre.defect_rate - 800.0 / 3000.0).abs() < 1e-12);
        let global = &report[&Arm::Global];
        let vs = global.vs_previous.as_ref().unwrap();
        assert_eq!(vs.arm, Arm::Precomputed);
        assert!((vs.relative_defect_reduction - 0.25).abs() < 1e-12);
        assert!((global.relative_defect_reduction - 0.4).abs() < 1e-12);
        assert_eq!(report[&Arm::Control].relative_defect_reduction, 0.0);
    }
}
