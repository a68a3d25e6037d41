//! The closed loop: households of people pursue goals on their devices, the reference
//! assistant answers what it heard, and people react. Emits the turn events (all an engine may
//! read) and, separately, the ground truth.
//!
//! The world is built once (`building`) from the people, homes and devices it holds
//! (`people`); each day, people plan when they pursue which goals (`planning`), pursue
//! them turn by turn and react to the answers (`pursuit`), each turn heard, understood and
//! judged (`turn`) and logged as the event an assistant writes (`event`).

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use selflearn_types::{Rewriter, TurnEvent};

use crate::asr::{AsrChannel, Hypothesis};
use crate::assistant::ReferenceAssistant;
use crate::config::WorldConfig;
use crate::dataset::Dataset;
use crate::nlu::{Example, Nlu, TrainConfig};
use crate::truth::{GoalTruth, TurnTruth};

use building::Plan;
use people::{Goal, Household, Who};
use planning::goal_id;
use pursuit::{Episode, Pursuit};

mod building;
mod event;
mod people;
mod planning;
mod pursuit;
#[cfg(test)]
mod test_support;
mod turn;

const DAY_MS: i64 = 86_400_000;

/// Receives what the world produces, in time order within each day.
pub trait WorldSink {
    /// One turn: the event an assistant logs, and its truth.
    fn turn(&mut self, event: &TurnEvent, truth: &TurnTruth) -> crate::Result<()>;
    /// One finished goal.
    fn goal(&mut self, goal: &GoalTruth) -> crate::Result<()>;
}

/// Everything built once per world: goals, homes, the trained assistant.
#[derive(Debug, Clone)]
pub struct World {
    config: WorldConfig,
    goals: Vec<Goal>,
    households: Vec<Household>,
    channel: AsrChannel,
    assistant: ReferenceAssistant,
    /// Real hypotheses of sentences nobody in the world asks for: background speech.
    background: Vec<Hypothesis>,
    /// Goals that stop what is playing at once ("mute the music": muting, with no duration).
    stop_goals: Vec<usize>,
    /// How often each goal is asked for by anyone (Zipf over a seeded ranking).
    popularity: WeightedIndex<f64>,
    /// Whether the assistant's NLU was built with each goal's sentences.
    covered: Vec<bool>,
    /// The lights of each area at the start of a day, from the home fixture.
    morning_lights: BTreeMap<String, bool>,
}

/// The intent of requests that stop playback.
const STOP_INTENT: &str = "audio_volume_mute";

/// One pending turn, buffered so that a day's turns are emitted in time order.
#[derive(Debug)]
struct Pending {
    event: TurnEvent,
    truth: TurnTruth,
}

impl World {
    /// Builds the world: draws which requests are popular, trains the assistant's NLU on the
    /// training split and the sentences of the covered (most popular) goals, indexes
    /// recordings, draws households.
    pub fn build(config: WorldConfig, data: &Dataset) -> Self {
        let plan = Plan::new(&config, data);
        let nlu = Nlu::train(
            &plan.nlu_training_examples(),
            TrainConfig {
                seed: config.seed,
                ..TrainConfig::default()
            },
        );
        Self::assemble(plan, config, data, nlu)
    }

    /// What the world's NLU is trained on: the training split (no sentence people speak) and
    /// every sentence of the goals its coverage holds.
    pub fn nlu_training_examples(config: &WorldConfig, data: &Dataset) -> Vec<Example> {
        Plan::new(config, data).nlu_training_examples()
    }

    /// Builds the world around an already trained NLU (one trained with
    /// [`World::nlu_training_examples`] of this config makes the world [`World::build`] makes).
    pub fn build_with_nlu(config: WorldConfig, data: &Dataset, nlu: Nlu) -> Self {
        Self::assemble(Plan::new(&config, data), config, data, nlu)
    }

    /// Frame ids of the goals whose sentences the NLU was built with.
    pub fn covered_frames(&self) -> HashSet<String> {
        self.goals
            .iter()
            .zip(&self.covered)
            .filter(|(_, c)| **c)
            .map(|(g, _)| g.frame_id.clone())
            .collect()
    }

    /// The NLU's frame accuracy on the gold sentences of covered and of uncovered goals (the
    /// meaning-level comparison the world judges turns by).
    pub fn coverage_report(&mut self) -> CoverageReport {
        let mut counts = [(0u64, 0u64); 2];
        for (goal, covered) in self.goals.iter().zip(&self.covered) {
            for (_, text) in &goal.paraphrases {
                let right = self.assistant.understands(text, &goal.intent, &goal.slots);
                let entry = &mut counts[usize::from(*covered)];
                entry.0 += u64::from(right);
                entry.1 += 1;
            }
        }
        let ratio = |(a, b): (u64, u64)| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        CoverageReport {
            goals: self.goals.len() as u64,
            covered_goals: self.covered.iter().filter(|c| **c).count() as u64,
            covered_sentences: counts[1].1,
            covered_frame_accuracy: ratio(counts[1]),
            uncovered_sentences: counts[0].1,
            uncovered_frame_accuracy: ratio(counts[0]),
        }
    }

    /// Number of distinct requests people can make.
    pub fn goal_count(&self) -> usize {
        self.goals.len()
    }

    /// Runs every day of the world into `sink`, with no rewriting before the NLU.
    pub fn run(&mut self, sink: &mut impl WorldSink) -> crate::Result<()> {
        for day in 0..self.config.days {
            self.run_day(day, sink, None)?;
        }
        Ok(())
    }

    /// Days in this world.
    pub fn days(&self) -> u32 {
        self.config.days
    }

    /// Runs one day. With a `hook`, the assistant asks it to rewrite every request before NLU,
    /// as a real integration calls selflearn, and logs the rewrite in the turn event.
    ///
    /// Randomness is drawn per person-day (when, what) and per goal (how it unfolds), so two
    /// runs of the same world with different hooks pursue the same goals at the same times:
    /// paired A/B arms.
    pub fn run_day(
        &mut self,
        day: u32,
        sink: &mut impl WorldSink,
        hook: Option<&dyn Rewriter>,
    ) -> crate::Result<()> {
        let mut pending: Vec<Pending> = Vec::new();
        let mut finished: Vec<GoalTruth> = Vec::new();
        let day_start = self.config.start_ms + i64::from(day) * DAY_MS;
        for household in &mut self.households {
            household.lights.clone_from(&self.morning_lights);
            for device in &mut household.devices {
                device.playing = false; // nothing plays overnight
            }
        }
        for h in 0..self.households.len() {
            for p in 0..self.households[h].people.len() {
                let who = Who {
                    household: h,
                    person: p,
                };
                let mut busy_until = day_start;
                for (k, planned) in self.day_plan(day, who, day_start).into_iter().enumerate() {
                    let mut rng = StdRng::seed_from_u64(planned.seed);
                    let start = planned.start.max(busy_until);
                    if rng.random_bool(self.config.assistant.false_wake_rate) {
                        let wake_time = start - rng.random_range(60_000..600_000);
                        pending.push(self.false_wake(who, wake_time.max(day_start), &mut rng));
                    }
                    let goal = planned
                        .routine
                        .unwrap_or_else(|| self.pick_goal(who, &mut rng));
                    let mut episode = Episode {
                        pending: &mut pending,
                        finished: &mut finished,
                        hook,
                    };
                    let pursuit = Pursuit {
                        who,
                        goal,
                        goal_id: goal_id(day, h, p, k),
                        start,
                        device: None,
                    };
                    busy_until = self.pursue(pursuit, &mut episode, &mut rng);
                }
            }
        }
        pending.sort_by(|a, b| {
            (a.event.timestamp_ms, &a.event.event_id)
                .cmp(&(b.event.timestamp_ms, &b.event.event_id))
        });
        for turn in &pending {
            sink.turn(&turn.event, &turn.truth)?;
        }
        for goal in &finished {
            sink.goal(goal)?;
        }
        Ok(())
    }
}

/// How well the world's NLU knows the goals it covers and the ones it does not.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoverageReport {
    /// Goals people can make.
    pub goals: u64,
    /// Goals whose sentences the NLU was built with.
    pub covered_goals: u64,
    /// Gold sentences of covered goals.
    pub covered_sentences: u64,
    /// Frame accuracy on them.
    pub covered_frame_accuracy: f64,
    /// Gold sentences of uncovered goals.
    pub uncovered_sentences: u64,
    /// Frame accuracy on them.
    pub uncovered_frame_accuracy: f64,
}

/// Collects a world's output in memory (for tests and small worlds).
#[derive(Debug, Default)]
pub struct Collected {
    /// Turn events in emission order.
    pub events: Vec<TurnEvent>,
    /// Truth of each turn, in the same order.
    pub truth: Vec<TurnTruth>,
    /// Finished goals.
    pub goals: Vec<GoalTruth>,
}

impl WorldSink for Collected {
    fn turn(&mut self, event: &TurnEvent, truth: &TurnTruth) -> crate::Result<()> {
        self.events.push(event.clone());
        self.truth.push(truth.clone());
        Ok(())
    }

    fn goal(&mut self, goal: &GoalTruth) -> crate::Result<()> {
        self.goals.push(goal.clone());
        Ok(())
    }
}

/// Looks up the truth of an event by id.
pub fn truth_by_event(truth: &[TurnTruth]) -> HashMap<&str, &TurnTruth> {
    truth.iter().map(|t| (t.event_id.as_str(), t)).collect()
}

#[cfg(test)]
mod tests {
    use selflearn_types::{RewriteRequest, RewriteResponse};

    use super::planning::CHAIN_MASK;
    use super::test_support::{shared, small_world};
    use super::*;

    #[test]
    fn the_same_seed_gives_byte_identical_output_and_another_seed_does_not() {
        let (a, _) = small_world(3);
        let (b, _) = small_world(3);
        let (c, _) = small_world(4);
        let bytes =
            |o: &Collected| serde_json::to_string(&(&o.events, &o.truth, &o.goals)).unwrap();
        assert!(!a.events.is_empty());
        assert_eq!(bytes(&a), bytes(&b));
        assert_ne!(bytes(&a), bytes(&c));
    }

    /// Rewrites every request to one fixed text.
    #[derive(Debug)]
    struct Always(&'static str);

    impl Rewriter for Always {
        fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
            if request.text == self.0 {
                return RewriteResponse::unchanged(self.0);
            }
            RewriteResponse {
                text: self.0.into(),
                rewritten: true,
                layer: Some("test".into()),
                score: Some(0.5),
                explanation: None,
                artifact_version: Some("test-1".into()),
            }
        }
    }

    /// Never rewrites.
    #[derive(Debug)]
    struct Never;

    impl Rewriter for Never {
        fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
            RewriteResponse::unchanged(request.text.clone())
        }
    }

    fn arm(hook: Option<&dyn Rewriter>) -> Collected {
        let (data, nlu) = shared();
        let config = WorldConfig {
            seed: 21,
            days: 1,
            households: 10,
            ..WorldConfig::default()
        };
        let mut world = World::build_with_nlu(config, data, nlu.clone());
        let mut out = Collected::default();
        world.run_day(0, &mut out, hook).unwrap();
        out
    }

    #[test]
    fn a_hook_that_never_rewrites_changes_nothing() {
        let bytes = |o: &Collected| serde_json::to_string(&(&o.events, &o.truth)).unwrap();
        assert_eq!(bytes(&arm(None)), bytes(&arm(Some(&Never))));
    }

    #[test]
    fn rewrites_are_logged_judged_against_the_original_and_arms_stay_paired() {
        let control = arm(None);
        let treated = arm(Some(&Always("what time is it")));
        let rewritten: Vec<_> = treated
            .events
            .iter()
            .filter(|e| e.rewrite.is_some())
            .collect();
        assert!(!rewritten.is_empty());
        for event in &rewritten {
            let applied = event.rewrite.as_ref().unwrap();
            assert_eq!(applied.rewritten_text, "what time is it");
            assert_eq!(
                applied.original_text, event.asr.text,
                "the log keeps what was heard"
            );
            assert_eq!(applied.layer, "test");
            assert_eq!(applied.artifact_version.as_deref(), Some("test-1"));
        }
        let by_event = truth_by_event(&treated.truth);
        let judged = rewritten.iter().map(|e| by_event[e.event_id.as_str()]);
        assert!(
            judged
                .clone()
                .all(|t| t.rewritten && t.original_defect.is_some())
        );
        // Rewriting everything to one request wins where that was the goal, loses elsewhere.
        assert!(
            judged
                .clone()
                .any(|t| t.original_defect == Some(false) && t.defect),
            "no loss recorded"
        );
        // The same planned goals in both arms (a goal may start later if an earlier one of
        // the same person took longer).
        let planned = |o: &Collected| -> Vec<u64> {
            o.events
                .iter()
                .zip(&o.truth)
                .filter(|(_, t)| t.starts_goal && t.goal_id.is_some_and(|g| g & CHAIN_MASK == 0))
                .map(|(_, t)| t.goal_id.unwrap())
                .collect()
        };
        let (mut a, mut b) = (planned(&control), planned(&treated));
        a.sort_unstable();
        b.sort_unstable();
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }
}
