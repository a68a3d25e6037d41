//! A person's day: how many goals they pursue and when, the routines they keep, which goal
//! each one is, and the ids that name goals the same way in every arm of an A/B run.

use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::World;
use super::people::Who;

/// One goal a person plans for the day, before it is known what it is (unless it is a
/// routine's): ordered by start, so a day's plan sorts into the order it is lived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PlannedGoal {
    /// When they mean to start, in ms since the Unix epoch.
    pub(super) start: i64,
    /// Seed of how it unfolds: which goal, what they say, how they react.
    pub(super) seed: u64,
    /// The goal, when it is one of their routines.
    pub(super) routine: Option<usize>,
}

impl World {
    /// What `who` plans for `day` (starting at `day_start`), in time order: goals at random
    /// times between 07:00 and 23:00, and the routines they keep that day. Drawn from the
    /// person-day's own seed, so every arm of an A/B run plans the same day.
    pub(super) fn day_plan(&self, day: u32, who: Who, day_start: i64) -> Vec<PlannedGoal> {
        let mut plan_rng = StdRng::seed_from_u64(mix(&[
            self.config.seed,
            u64::from(day),
            who.household as u64,
            who.person as u64,
        ]));
        let behaviour = &self.config.behaviour;
        let count = draws(behaviour.goals_per_day, &mut plan_rng);
        let mut plan: Vec<PlannedGoal> = (0..count)
            .map(|_| PlannedGoal {
                start: day_start + plan_rng.random_range(7 * 3_600_000..23 * 3_600_000),
                seed: plan_rng.random(),
                routine: None,
            })
            .collect();
        let jitter = i64::from(behaviour.routine_jitter_min) * 60_000;
        for routine in &self.person(who).routines {
            if plan_rng.random_bool(behaviour.routine_keep) {
                let at = day_start
                    + i64::from(routine.minute_of_day) * 60_000
                    + plan_rng.random_range(-jitter..=jitter);
                plan.push(PlannedGoal {
                    start: at,
                    seed: plan_rng.random(),
                    routine: Some(routine.goal),
                });
            }
        }
        plan.sort_unstable();
        plan
    }

    /// The goal of a planned slot that is no routine: a favourite, or any goal by popularity.
    pub(super) fn pick_goal(&self, who: Who, rng: &mut StdRng) -> usize {
        let person = self.person(who);
        if !person.favourites.is_empty() && rng.random_bool(self.config.behaviour.favourite_share) {
            *person.favourites.choose(rng).expect("not empty")
        } else {
            self.popularity.sample(rng)
        }
    }
}

/// Low bits of a goal id that number goals chained after a success.
pub(super) const CHAIN_MASK: u64 = 0xF;

/// A goal id that is the same in every arm of an A/B run: day, household, person, plan slot,
/// and chain position in the low bits.
pub(super) fn goal_id(day: u32, h: usize, p: usize, k: usize) -> u64 {
    (u64::from(day) << 44)
        | ((h as u64) << 24)
        | ((p as u64 & 0xFF) << 16)
        | ((k as u64 & 0xFFF) << 4)
}

/// A seed from several numbers (splitmix64 steps).
fn mix(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x9E37_79B9_7F4A_7C15_u64, |state, &part| {
            let mut z = state ^ part.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
}

/// A count with mean `mean`: the sum of Bernoulli(½) draws over `2·mean` trials.
fn draws(mean: f64, rng: &mut StdRng) -> usize {
    let trials = (2.0 * mean).round() as usize;
    (0..trials).filter(|_| rng.random_bool(0.5)).count()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::WorldConfig;
    use crate::sim::DAY_MS;
    use crate::sim::test_support::{first_requests, world};

    #[test]
    fn routines_come_back_at_about_the_same_time_each_day() {
        let mut config = WorldConfig {
            seed: 21,
            days: 4,
            households: 10,
            ..WorldConfig::default()
        };
        config.behaviour.goals_per_day = 0.0; // only routines
        config.behaviour.chain_after_success = 0.0;
        config.behaviour.stop_playing = 0.0;
        config.behaviour.routine_keep = 1.0;
        config.population.routines = 1;
        let (out, _) = world(config);
        let mut minutes: HashMap<&str, Vec<i64>> = HashMap::new();
        for (event, _) in first_requests(&out) {
            let minute = (event.timestamp_ms.rem_euclid(DAY_MS)) / 60_000;
            minutes.entry(&event.user_id).or_default().push(minute);
        }
        assert!(!minutes.is_empty(), "nobody has a routine");
        for (user, at) in minutes {
            assert_eq!(at.len(), 4, "{user} kept their routine every day");
            let spread = at.iter().max().unwrap() - at.iter().min().unwrap();
            assert!(spread <= 30, "{user}'s routine strays {spread} minutes");
        }
    }
}
