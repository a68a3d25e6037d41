//! `world stats`: how realistic a world is — defect rate, where turns fail, how people react,
//! what the assistant heard — so it can be compared with SLURP's published error rates and the
//! source article.

use std::collections::{BTreeMap, HashMap};

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
    /// Per gold frame (intent and sorted slots): defective turns, and whether any turn of it
    /// was correct.
    frames: HashMap<String, (u64, bool)>,
}

/// The statistics of a world run.
#[derive(Debug, Clone, Serialize)]
pub struct WorldStats {
    /// Turns logged.
    pub turns: u64,
    /// Defective turns over all turns.
    pub defect_rate: f64,
    /// Share of all turns per failure point.
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
    pub goal_success_rate: f64,
    /// Goals given up over goals.
    pub abandonment_rate: f64,
    /// Mean turns per goal.
    pub turns_per_goal: f64,
    /// WER of what the assistant heard, by source (`real, first requests`, `real, all`,
    /// `synthetic`).
    pub wer: BTreeMap<String, f64>,
    /// The NLU's intent accuracy on what it heard (requests only).
    pub heard_intent_accuracy: f64,
    /// Turns and defect rate per device kind.
    pub by_device_kind: BTreeMap<String, (u64, f64)>,
    /// Share of defective requests whose request (gold frame) some turn of the run fulfilled:
    /// the most that rewriting to a request that worked for someone could ever fix.
    pub reachable_defect_share: f64,
}

impl WorldSink for StatsSink {
    fn turn(&mut self, event: &TurnEvent, truth: &TurnTruth) -> crate::Result<()> {
        self.turns += 1;
        self.defects += u64::from(truth.defect);
        *self
            .failure_points
            .entry(truth.failure_point.name())
            .or_default() += 1;
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
                add("real, all requests");
                if truth.act == Act::NewGoal {
                    add("real, first requests");
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
        let share = |counts: &BTreeMap<&'static str, u64>| {
            counts
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ratio(*v, self.turns)))
                .collect()
        };
        let mut failure_points: BTreeMap<String, f64> = share(&self.failure_points);
        for point in FailurePoint::ALL {
            failure_points.entry(point.name().to_owned()).or_insert(0.0);
        }
        WorldStats {
            turns: self.turns,
            defect_rate: ratio(self.defects, self.turns),
            failure_points,
            acts: share(&self.acts),
            barge_in_rate_on_defects: ratio(self.barge_ins_on_defects, self.defects),
            barge_in_rate_on_correct: ratio(self.barge_ins_on_correct, self.correct_turns),
            goals: self.goals,
            goal_success_rate: ratio(self.goals_succeeded, self.goals),
            abandonment_rate: ratio(self.goals_abandoned, self.goals),
            turns_per_goal: ratio(self.goal_turns, self.goals),
            wer: self
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
            reachable_defect_share: {
                let (reachable, all) =
                    self.frames
                        .values()
                        .fold((0, 0), |(r, a), (defects, fulfilled)| {
                            (r + if *fulfilled { *defects } else { 0 }, a + defects)
                        });
                ratio(reachable, all)
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
            "| goal success rate | {} |\n",
            pct(self.goal_success_rate)
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
            pct(self.reachable_defect_share)
        ));
        for (source, wer) in &self.wer {
            out.push_str(&format!("| WER heard, {source} | {} |\n", pct(*wer)));
        }
        out.push_str("\n| failure point | share of turns |\n|---|---|\n");
        for point in FailurePoint::ALL {
            out.push_str(&format!(
                "| {} | {} |\n",
                point.name(),
                pct(self.failure_points[point.name()])
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
