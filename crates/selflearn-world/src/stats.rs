//! `world stats`: how realistic a world is — defect rate, where turns fail, how people react,
//! what the assistant heard — so it can be compared with SLURP's published error rates and the
//! source article.

use std::collections::{BTreeMap, HashMap, HashSet};

use selflearn_types::TurnEvent;
use serde::Serialize;

use crate::sim::WorldSink;
use crate::truth::{Act, FailurePoint, GoalTruth, TurnTruth};
use crate::wer::word_errors;

/// Accumulates statistics as the world runs.
#[derive(Debug, Default)]
pub struct StatsSink {
    turns: u64,
    defects: u64,
    failure_points: BTreeMap<&'static str, u64>,
    acts: BTreeMap<&'static str, u64>,
    barge_ins_on_defects: u64,
    barge_ins_on_correct: u64,
    correct_turns: u64,
    wer: BTreeMap<&'static str, (u64, u64)>,
    intent_right: u64,
    intent_scored: u64,
    by_device: BTreeMap<String, (u64, u64)>,
    goals: u64,
    goals_succeeded: u64,
    goals_abandoned: u64,
    goal_turns: u64,
    /// Per gold frame (intent and sorted slots): defective turns, whether any turn of it was
    /// correct, and its defects per failure point.
    frames: HashMap<String, (u64, bool, BTreeMap<&'static str, u64>)>,
    first_requests: u64,
    first_request_defects: u64,
    /// Frames whose sentences the NLU was built with, when known.
    covered: Option<HashSet<String>>,
    /// Defective turns of goals whose frame is not covered.
    defects_on_uncovered: u64,
    /// Defective turns per goal not yet ended (a goal's frame is known when it ends).
    pending_goal_defects: HashMap<u64, u64>,
}

/// The statistics of a world run.
#[derive(Debug, Clone, Serialize)]
pub struct WorldStats {
    /// Turns logged.
    pub turns: u64,
    /// Defective turns over all turns.
    pub defect_rate: f64,
    /// Defective first requests of goals over first requests (retries excluded).
    pub first_request_defect_rate: f64,
    /// Share of defective turns per failure point.
    pub failure_points: BTreeMap<String, f64>,
    /// Share of all turns per act of the person.
    pub acts: BTreeMap<String, f64>,
    /// Barge-ins on defective turns over defective turns.
    pub barge_in_rate_on_defects: f64,
    /// Barge-ins on correct turns over correct turns.
    pub barge_in_rate_on_correct: f64,
    /// Goals pursued.
    pub goals: u64,
    /// Goals achieved over goals.
    pub goal_success: f64,
    /// Goals given up over goals.
    pub abandonment_rate: f64,
    /// Mean turns per goal.
    pub turns_per_goal: f64,
    /// WER of what the assistant heard: `real_first` (first requests from real recordings),
    /// `real_all`, `synthetic`.
    pub heard_wer: BTreeMap<String, f64>,
    /// The NLU's intent accuracy on what it heard (requests only).
    pub heard_intent_accuracy: f64,
    /// Turns and defect rate per device kind.
    pub by_device_kind: BTreeMap<String, (u64, f64)>,
    /// Share of defective requests whose request (gold frame) some turn of the run fulfilled:
    /// the most that rewriting to a request that worked for someone could ever fix.
    pub reachable_share: f64,
    /// Where the unreachable defects (of requests nobody got right) failed: share of all
    /// defective turns per failure point.
    pub unreachable_failure_points: BTreeMap<String, f64>,
    /// Share of defective turns that were for goals the NLU was not built for (when the
    /// world's coverage was known to the sink).
    pub defects_on_uncovered_goals: Option<f64>,
}

impl StatsSink {
    /// A sink that also splits defects by whether the NLU covers their goal.
    pub fn with_covered_frames(covered: HashSet<String>) -> Self {
        Self {
            covered: Some(covered),
            ..Self::default()
        }
    }
}

impl WorldSink for StatsSink {
    fn turn(&mut self, event: &TurnEvent, truth: &TurnTruth) -> crate::Result<()> {
        self.turns += 1;
        self.defects += u64::from(truth.defect);
        if truth.defect {
            *self
                .failure_points
                .entry(truth.failure_point.name())
                .or_default() += 1;
            if let Some(goal) = truth.goal_id {
                *self.pending_goal_defects.entry(goal).or_default() += 1;
            }
        }
        if truth.act == Act::NewGoal {
            self.first_requests += 1;
            self.first_request_defects += u64::from(truth.defect);
        }
        *self.acts.entry(act_name(truth.act)).or_default() += 1;
        if truth.defect {
            self.barge_ins_on_defects += u64::from(truth.barged_in);
        } else {
            self.correct_turns += 1;
            self.barge_ins_on_correct += u64::from(truth.barged_in);
        }
        if let (Some(intent), true) = (&truth.gold_intent, truth.act != Act::Teach) {
            let mut slots = truth.gold_slots.clone();
            slots.sort();
            let frame = self
                .frames
                .entry(format!("{intent} {slots:?}"))
                .or_default();
            frame.0 += u64::from(truth.defect);
            frame.1 |= !truth.defect;
            if truth.defect {
                *frame.2.entry(truth.failure_point.name()).or_default() += 1;
            }
        }
        let kind = event.device.kind.as_str().to_owned();
        let device = self.by_device.entry(kind).or_default();
        device.0 += 1;
        device.1 += u64::from(truth.defect);
        if let (Some(spoken), true) = (&truth.spoken_text, truth.act != Act::Teach) {
            let (errors, words) = word_errors(spoken, &event.asr.text);
            let mut add = |key: &'static str| {
                let entry = self.wer.entry(key).or_default();
                entry.0 += errors as u64;
                entry.1 += words as u64;
            };
            if truth.asr_source == "real" {
                add("real_all");
                if truth.act == Act::NewGoal {
                    add("real_first");
                }
            } else {
                add("synthetic");
            }
            self.intent_scored += 1;
            let predicted = event.nlu.as_ref().map(|n| n.intent.as_str());
            self.intent_right += u64::from(predicted == truth.gold_intent.as_deref());
        }
        Ok(())
    }

    fn goal(&mut self, goal: &GoalTruth) -> crate::Result<()> {
        if let Some(covered) = &self.covered {
            let defects = self
                .pending_goal_defects
                .remove(&goal.goal_id)
                .unwrap_or_default();
            if !covered.contains(&goal.frame_id) {
                self.defects_on_uncovered += defects;
            }
        }
        self.goals += 1;
        self.goals_succeeded += u64::from(goal.success);
        self.goals_abandoned += u64::from(goal.abandoned);
        self.goal_turns += u64::from(goal.turns);
        Ok(())
    }
}

fn act_name(act: Act) -> &'static str {
    match act {
        Act::NewGoal => "new_goal",
        Act::Rephrase => "rephrase",
        Act::Repeat => "repeat",
        Act::Correction => "correction",
        Act::Teach => "teach",
        Act::FalseWake => "false_wake",
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl StatsSink {
    /// The statistics so far.
    pub fn report(&self) -> WorldStats {
        let share = |counts: &BTreeMap<&'static str, u64>, of: u64| {
            counts
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ratio(*v, of)))
                .collect()
        };
        let mut failure_points: BTreeMap<String, f64> = share(&self.failure_points, self.defects);
        for point in FailurePoint::ALL {
            if point != FailurePoint::Correct {
                failure_points.entry(point.name().to_owned()).or_insert(0.0);
            }
        }
        WorldStats {
            turns: self.turns,
            defect_rate: ratio(self.defects, self.turns),
            first_request_defect_rate: ratio(self.first_request_defects, self.first_requests),
            failure_points,
            acts: share(&self.acts, self.turns),
            barge_in_rate_on_defects: ratio(self.barge_ins_on_defects, self.defects),
            barge_in_rate_on_correct: ratio(self.barge_ins_on_correct, self.correct_turns),
            goals: self.goals,
            goal_success: ratio(self.goals_succeeded, self.goals),
            abandonment_rate: ratio(self.goals_abandoned, self.goals),
            turns_per_goal: ratio(self.goal_turns, self.goals),
            heard_wer: self
                .wer
                .iter()
                .map(|(k, (e, w))| ((*k).to_owned(), ratio(*e, *w)))
                .collect(),
            heard_intent_accuracy: ratio(self.intent_right, self.intent_scored),
            by_device_kind: self
                .by_device
                .iter()
                .map(|(k, (n, d))| (k.clone(), (*n, ratio(*d, *n))))
                .collect(),
            defects_on_uncovered_goals: self
                .covered
                .as_ref()
                .map(|_| ratio(self.defects_on_uncovered, self.defects)),
            reachable_share: {
                let (reachable, all) =
                    self.frames
                        .values()
                        .fold((0, 0), |(r, a), (defects, fulfilled, _)| {
                            (r + if *fulfilled { *defects } else { 0 }, a + defects)
                        });
                ratio(reachable, all)
            },
            unreachable_failure_points: {
                let mut points: BTreeMap<String, f64> = BTreeMap::new();
                for (_, _, by_point) in self.frames.values().filter(|f| !f.1) {
                    for (point, n) in by_point {
                        *points.entry((*point).to_owned()).or_default() += ratio(*n, self.defects);
                    }
                }
                points
            },
        }
    }
}

impl WorldStats {
    /// The statistics as a markdown report.
    pub fn markdown(&self) -> String {
        let pct = |x: f64| format!("{:.1}%", 100.0 * x);
        let mut out = String::new();
        out.push_str(&format!(
            "turns: {}, goals: {}, turns per goal: {:.2}\n\n",
            self.turns, self.goals, self.turns_per_goal
        ));
        out.push_str("| measure | value |\n|---|---|\n");
        out.push_str(&format!(
            "| defect rate (all turns) | {} |\n",
            pct(self.defect_rate)
        ));
        out.push_str(&format!(
            "| first-request defect rate | {} |\n",
            pct(self.first_request_defect_rate)
        ));
        out.push_str(&format!(
            "| goal success rate | {} |\n",
            pct(self.goal_success)
        ));
        out.push_str(&format!(
            "| abandonment rate (goals given up) | {} |\n",
            pct(self.abandonment_rate)
        ));
        out.push_str(&format!(
            "| barge-in rate on defective turns | {} |\n",
            pct(self.barge_in_rate_on_defects)
        ));
        out.push_str(&format!(
            "| barge-in rate on correct turns | {} |\n",
            pct(self.barge_in_rate_on_correct)
        ));
        out.push_str(&format!(
            "| NLU intent accuracy on what it heard | {} |\n",
            pct(self.heard_intent_accuracy)
        ));
        out.push_str(&format!(
            "| defective requests whose request someone got right (reachable by rewriting) | {} |\n",
            pct(self.reachable_share)
        ));
        if let Some(uncovered) = self.defects_on_uncovered_goals {
            out.push_str(&format!(
                "| defective turns on goals the NLU was not built for | {} |\n",
                pct(uncovered)
            ));
        }
        for (source, wer) in &self.heard_wer {
            out.push_str(&format!("| WER heard, {source} | {} |\n", pct(*wer)));
        }
        out.push_str(
            "\n| failure point | share of defective turns | of which on requests nobody got right |\n|---|---|---|\n",
        );
        for (point, share) in &self.failure_points {
            let unreachable = self
                .unreachable_failure_points
                .get(point)
                .copied()
                .unwrap_or_default();
            out.push_str(&format!(
                "| {point} | {} | {} |\n",
                pct(*share),
                pct(unreachable)
            ));
        }
        out.push_str("\n| act | share of turns |\n|---|---|\n");
        for (act, share) in &self.acts {
            out.push_str(&format!("| {act} | {} |\n", pct(*share)));
        }
        out.push_str("\n| device kind | turns | defect rate |\n|---|---|---|\n");
        for (kind, (turns, rate)) in &self.by_device_kind {
            out.push_str(&format!("| {kind} | {turns} | {} |\n", pct(*rate)));
        }
        out
    }
}

/// One seed's world: its statistics and how well its NLU knows its goals.
#[derive(Debug, Clone, Serialize)]
pub struct SeedStats {
    /// The world seed.
    pub seed: u64,
    /// The run's statistics.
    #[serde(flatten)]
    pub stats: WorldStats,
    /// The NLU on covered and uncovered goals.
    pub nlu: crate::sim::CoverageReport,
}

/// Builds the world of `config` with each seed (its own popularity, coverage and NLU), runs it
/// and collects its statistics; the seeds run on separate threads.
pub fn over_seeds(
    config: &crate::config::WorldConfig,
    data: &crate::Dataset,
    seeds: &[u64],
) -> crate::Result<Vec<SeedStats>> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = seeds
            .iter()
            .map(|&seed| {
                scope.spawn(move || -> crate::Result<SeedStats> {
                    let config = crate::config::WorldConfig {
                        seed,
                        ..config.clone()
                    };
                    let mut world = crate::sim::World::build(config, data);
                    let nlu = world.coverage_report();
                    let mut sink = StatsSink::with_covered_frames(world.covered_frames());
                    world.run(&mut sink)?;
                    Ok(SeedStats {
                        seed,
                        stats: sink.report(),
                        nlu,
                    })
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("a world run does not panic"))
            .collect()
    })
}

/// The mean over seeds of every number of their reports (objects averaged key by key), with
/// the per-seed reports under `per_seed`.
pub fn averaged(runs: &[SeedStats]) -> serde_json::Value {
    let values: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| serde_json::to_value(r).expect("statistics serialise"))
        .collect();
    let mut mean = mean_of(&values.iter().collect::<Vec<_>>());
    if let serde_json::Value::Object(map) = &mut mean {
        map.remove("seed");
        map.insert(
            "seeds".into(),
            runs.iter().map(|r| r.seed).collect::<Vec<_>>().into(),
        );
        map.insert("per_seed".into(), values.into());
    }
    mean
}

fn mean_of(values: &[&serde_json::Value]) -> serde_json::Value {
    use serde_json::Value;
    match values.first() {
        Some(Value::Number(_)) => {
            let numbers: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
            serde_json::json!(numbers.iter().sum::<f64>() / numbers.len().max(1) as f64)
        }
        Some(Value::Object(first)) => Value::Object(
            first
                .keys()
                .map(|key| {
                    let children: Vec<&Value> = values.iter().filter_map(|v| v.get(key)).collect();
                    (key.clone(), mean_of(&children))
                })
                .collect(),
        ),
        Some(Value::Array(first)) => Value::Array(
            (0..first.len())
                .map(|i| {
                    let children: Vec<&Value> = values.iter().filter_map(|v| v.get(i)).collect();
                    mean_of(&children)
                })
                .collect(),
        ),
        Some(other) => (*other).clone(),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_numbers_key_by_key_and_keeps_the_seeds() {
        let a = serde_json::json!({"seed": 1, "x": 1.0, "m": {"k": 2.0}, "p": [1, 3.0]});
        let b = serde_json::json!({"seed": 2, "x": 3.0, "m": {"k": 4.0}, "p": [3, 5.0]});
        let mean = mean_of(&[&a, &b]);
        assert_eq!(mean["x"], 2.0);
        assert_eq!(mean["m"]["k"], 3.0);
        assert_eq!(mean["p"][1], 4.0);
    }
}
