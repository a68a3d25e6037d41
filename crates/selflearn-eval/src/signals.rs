//! How well each friction signal, computed from events alone, predicts the world's truth of
//! which turns were defects.

use std::collections::HashMap;

use selflearn_engine::by_user;
use selflearn_signals::{SignalConfig, TurnSignals};
use selflearn_world::sim::Collected;
use serde::Serialize;

use crate::stats::ratio;

/// How well one signal predicts a defect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalScore {
    /// The signal.
    pub signal: &'static str,
    /// Turns it fired on.
    pub fired: u64,
    /// Of them, defects.
    pub precision: f64,
    /// Of the defects, how many it fired on.
    pub recall: f64,
}

/// Every signal's score on a lived world, with the number of turns and of defects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalReport {
    /// Turns scored.
    pub turns: u64,
    /// Of them, defects (by the truth).
    pub defects: u64,
    /// One row per signal.
    pub scores: Vec<SignalScore>,
}

impl SignalReport {
    /// The turns and defects scored, then one table row per signal.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "{} turns, {} defects ({:.1}%)\n\n| signal (from events only) | turns it fired on | precision | recall |\n|---|---|---|---|\n",
            self.turns,
            self.defects,
            100.0 * ratio(self.defects, self.turns)
        );
        for s in &self.scores {
            out += &format!(
                "| {} | {} | {:.3} | {:.3} |\n",
                s.signal, s.fired, s.precision, s.recall
            );
        }
        out
    }
}

type Fires = fn(&TurnSignals) -> bool;

/// The signals of `out`'s events against its truth.
pub fn score_signals(out: &Collected, config: &SignalConfig) -> SignalReport {
    let signals: Vec<TurnSignals> = by_user(&out.events, config)
        .into_iter()
        .flat_map(|u| u.signals.into_iter().flatten())
        .collect();
    let defects: HashMap<&str, bool> = out
        .truth
        .iter()
        .map(|t| (t.event_id.as_str(), t.defect))
        .collect();
    let total = defects.values().filter(|d| **d).count() as u64;
    let checks: [(&'static str, Fires); 7] = [
        ("system failure", |s| s.system_failure),
        ("barge-in", |s| s.barge_in),
        ("rephrase", |s| s.rephrase),
        ("repeat", |s| s.repeat),
        ("explicit negative", |s| s.explicit_negative),
        ("abandonment", |s| s.abandonment),
        ("defect estimate ≥ 0.5", TurnSignals::likely_defect),
    ];
    let scores = checks
        .iter()
        .map(|(name, fires)| {
            let fired: Vec<&TurnSignals> = signals.iter().filter(|s| fires(s)).collect();
            let hits = fired
                .iter()
                .filter(|s| defects.get(s.event_id.as_str()).copied().unwrap_or(false))
                .count() as u64;
            SignalScore {
                signal: name,
                fired: fired.len() as u64,
                precision: ratio(hits, fired.len() as u64),
                recall: ratio(hits, total),
            }
        })
        .collect();
    SignalReport {
        turns: signals.len() as u64,
        defects: total,
        scores,
    }
}

#[cfg(test)]
mod tests {
    use selflearn_types::Outcome;
    use selflearn_types::testing::turn_saying;
    use selflearn_world::truth::{Act, FailurePoint, TurnTruth};

    use super::*;

    fn truth(event_id: &str, defect: bool) -> TurnTruth {
        TurnTruth {
            event_id: event_id.into(),
            goal_id: Some(1),
            starts_goal: true,
            act: Act::NewGoal,
            spoken_text: None,
            asr_source: "real".into(),
            gold_intent: None,
            gold_slots: Vec::new(),
            defect,
            failure_point: FailurePoint::Asr,
            barged_in: false,
            rewritten: false,
            original_defect: None,
        }
    }

    #[test]
    fn precision_and_recall_count_the_turns_the_truth_calls_defects() {
        let mut out = Collected::default();
        // A failure (a defect), and a success the truth also calls a defect (wrong action).
        out.events
            .push(turn_saying("u", "1", 0, "lights on", Outcome::Failure));
        out.events.push(turn_saying(
            "u",
            "2",
            60_000,
            "what time is it",
            Outcome::Success,
        ));
        out.truth.push(truth("1", true));
        out.truth.push(truth("2", true));
        let report = score_signals(&out, &SignalConfig::default());
        assert_eq!((report.turns, report.defects), (2, 2));
        let failure = &report.scores[0];
        assert_eq!(failure.signal, "system failure");
        assert_eq!(failure.fired, 1);
        assert_eq!((failure.precision, failure.recall), (1.0, 0.5));
    }
}
