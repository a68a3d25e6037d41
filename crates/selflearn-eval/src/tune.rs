//! Choosing what the reported seeds must not choose: the miner's thresholds (a small grid on
//! a tuning seed) and the online encoder (trained on a training seed's control traffic).

use selflearn_engine::{EncoderLearner, Learner, by_user};
use selflearn_miner::MinerConfig;
use selflearn_online::{Encoder, HeldApartReport, Teacher, TrainConfig};
use selflearn_signals::SignalConfig;
use selflearn_world::sim::World;
use serde::Serialize;

use crate::arms::Arm;
use crate::parallel;
use crate::run::live;
use crate::stats::ArmRun;

/// The threshold search on the tuning seed.
#[derive(Debug, Clone, Serialize)]
pub struct Tuning {
    /// The tuning seed.
    pub seed: u64,
    /// Every candidate and how it did.
    pub grid: Vec<TuningRow>,
}

/// One candidate of the grid, on the tuning seed.
#[derive(Debug, Clone, Serialize)]
pub struct TuningRow {
    /// The thresholds.
    pub miner: MinerConfig,
    /// Relative defect reduction against control on the tuning seed.
    pub relative_defect_reduction: f64,
    /// Rewrites that repaired a defect.
    pub wins: u64,
    /// Rewrites that broke a request that worked.
    pub losses: u64,
}

/// The candidates of the threshold search: the configured thresholds, loosened and tightened
/// along the three that decide most (support in users, how bad a source must be, how much
/// better the target).
pub fn grid(base: MinerConfig) -> Vec<MinerConfig> {
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

/// The candidate with the largest relative defect reduction among those with no more losses
/// than a tenth of their wins (ties keep the earlier, more conservative one); `base` when none
/// qualifies.
pub fn choose(rows: &[TuningRow], base: MinerConfig) -> MinerConfig {
    rows.iter()
        .filter(|r| r.losses * 10 <= r.wins)
        .fold(None::<&TuningRow>, |best, r| match best {
            Some(b) if b.relative_defect_reduction >= r.relative_defect_reduction => Some(b),
            _ => Some(r),
        })
        .map_or(base, |r| r.miner)
}

/// Picks thresholds on one seed's world ([`choose`] over [`grid`]).
pub fn tune(world: &World, seed: u64, base: MinerConfig) -> (MinerConfig, Tuning) {
    let control = ArmRun::of(&live(world.clone(), Arm::Control, seed, base, None, None));
    let candidates = grid(base);
    let runs = parallel::map(&candidates, parallel::cores(), |&miner| {
        ArmRun::of(&live(
            world.clone(),
            Arm::Precomputed,
            seed,
            miner,
            None,
            None,
        ))
    });
    let rows: Vec<TuningRow> = candidates
        .into_iter()
        .zip(runs)
        .map(|(miner, run)| {
            let reduction = (control.defect_rate() - run.defect_rate())
                / control.defect_rate().max(f64::MIN_POSITIVE);
            tracing::info!(
                seed,
                min_users = miner.min_users,
                max_source_success = miner.max_source_success,
                min_gain = miner.min_gain,
                reduction,
                wins = run.wins,
                losses = run.losses,
                "tuning candidate"
            );
            TuningRow {
                miner,
                relative_defect_reduction: reduction,
                wins: run.wins,
                losses: run.losses,
            }
        })
        .collect();
    (choose(&rows, base), Tuning { seed, grid: rows })
}

/// The encoder's training seed and retrieval quality.
#[derive(Debug, Clone, Serialize)]
pub struct EncoderReport {
    /// The world seed it was trained on.
    pub train_seed: u64,
    /// Recall on the users held apart from its training.
    #[serde(flatten)]
    pub held_apart: HeldApartReport,
}

/// Trains the encoder on the reformulation pairs of the training seed's control traffic, four
/// users in five; recall is measured on the fifth.
pub fn train_encoder(
    world: &World,
    seed: u64,
    teacher: Option<&Teacher>,
) -> crate::Result<(Encoder, EncoderReport)> {
    let out = live(
        world.clone(),
        Arm::Control,
        seed,
        MinerConfig::default(),
        None,
        None,
    );
    let mut learner = EncoderLearner::new(seed, TrainConfig::default(), teacher);
    for user in by_user(&out.events, &SignalConfig::default()) {
        learner.observe(&user);
    }
    let (encoder, held_apart) = learner.finish("")?;
    tracing::info!(seed, %held_apart, "encoder trained");
    Ok((
        encoder,
        EncoderReport {
            train_seed: seed,
            held_apart,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(min_users: u32, reduction: f64, wins: u64, losses: u64) -> TuningRow {
        TuningRow {
            miner: MinerConfig {
                min_users,
                ..MinerConfig::default()
            },
            relative_defect_reduction: reduction,
            wins,
            losses,
        }
    }

    #[test]
    fn the_best_reduction_wins_unless_it_loses_more_than_a_tenth_of_its_wins() {
        let base = MinerConfig {
            min_users: 9,
            ..MinerConfig::default()
        };
        let rows = [
            row(2, 0.10, 100, 5),
            row(3, 0.30, 100, 11),
            row(4, 0.20, 100, 10),
            row(5, 0.20, 50, 0),
        ];
        assert_eq!(choose(&rows, base).min_users, 4, "ties keep the earlier");
        assert_eq!(
            choose(&[row(2, 0.5, 10, 2)], base).min_users,
            9,
            "none qualifies"
        );
        assert_eq!(grid(base).len(), 8);
        assert!(
            grid(base)
                .iter()
                .all(|c| c.min_target_success == base.min_target_success)
        );
    }
}
