//! What the logs teach without annotation: reformulation pairs (a request that failed, and the
//! reformulation the same person then succeeded with) and, per utterance form, how often it
//! succeeded as heard.

use std::collections::HashMap;

use selflearn_signals::{Session, TurnSignals, normalise, received_form};
use selflearn_types::{Outcome, TurnEvent};
use serde::{Deserialize, Serialize};

/// A failed request and the reformulation that then worked for the same person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pair {
    /// The person.
    pub user_id: String,
    /// What was heard when it failed (normalised).
    pub failed: String,
    /// What reached NLU when it worked (normalised).
    pub worked: String,
    /// Index of the failed turn in its session.
    pub failed_turn: usize,
}

/// The form a turn was heard as, before any rewrite.
pub fn heard_form(turn: &TurnEvent) -> String {
    normalise(
        turn.rewrite
            .as_ref()
            .map_or(&turn.asr.text, |r| &r.original_text),
    )
}

/// Whether a turn looks served: the assistant acted and nothing signals a defect.
pub fn served(turn: &TurnEvent, signals: &TurnSignals) -> bool {
    turn.response.outcome == Outcome::Success && !signals.likely_defect()
}

/// Every failed request of a reformulation chain paired with the reformulation that ended it
/// in success.
pub fn reformulation_pairs(session: &Session, signals: &[TurnSignals]) -> Vec<Pair> {
    let mut pairs = Vec::new();
    let mut failed: Vec<(usize, String)> = Vec::new();
    for (index, (turn, signal)) in session.turns.iter().zip(signals).enumerate() {
        if served(turn, signal) {
            let worked = received_form(turn);
            pairs.extend(
                failed
                    .drain(..)
                    .filter(|(_, f)| *f != worked)
                    .map(|(failed_turn, f)| Pair {
                        user_id: session.user_id.clone(),
                        failed: f,
                        worked: worked.clone(),
                        failed_turn,
                    }),
            );
        } else if signal.rephrase || signal.repeat {
            failed.push((index, heard_form(turn)));
        } else {
            failed.clear();
        }
    }
    pairs
}

/// How often each heard form, reaching NLU unrewritten, was served.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormStats {
    /// Written in key order, so that one learn writes the same bytes as another.
    #[serde(serialize_with = "in_key_order")]
    said: HashMap<String, (u32, u32)>,
}

/// Serialises a map sorted by key.
fn in_key_order<S: serde::Serializer>(
    map: &HashMap<String, (u32, u32)>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let sorted: std::collections::BTreeMap<&String, &(u32, u32)> = map.iter().collect();
    Serialize::serialize(&sorted, serializer)
}

impl FormStats {
    /// Counts one turn.
    pub fn observe(&mut self, turn: &TurnEvent, signals: &TurnSignals) {
        if turn.rewrite.is_none() {
            let entry = self.said.entry(heard_form(turn)).or_default();
            entry.0 += 1;
            entry.1 += u32::from(served(turn, signals));
        }
    }

    /// Adds another accumulation's counts.
    pub fn merge(&mut self, other: FormStats) {
        for (form, (said, served)) in other.said {
            let entry = self.said.entry(form).or_default();
            entry.0 += said;
            entry.1 += served;
        }
    }

    /// (times said unrewritten, times served) of a form.
    pub fn of(&self, form: &str) -> (u32, u32) {
        self.said.get(form).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use selflearn_signals::{SignalConfig, friction, sessions};
    use selflearn_types::testing::turn_saying as turn;

    use super::*;

    #[test]
    fn a_failed_chain_pairs_each_failure_with_the_reformulation_that_worked() {
        let events = vec![
            turn("u", "1", 0, "play maj and dragons", Outcome::Failure),
            turn("u", "2", 6_000, "play madge and dragons", Outcome::Failure),
            turn("u", "3", 12_000, "play imagine dragons", Outcome::Success),
            turn("u", "4", 900_000, "what time is it", Outcome::Success),
        ];
        let config = SignalConfig::default();
        let sessions = sessions(&events, &config);
        let pairs: Vec<Pair> = sessions
            .iter()
            .flat_map(|s| reformulation_pairs(s, &friction(s, &config)))
            .collect();
        let texts: Vec<(&str, &str)> = pairs
            .iter()
            .map(|p| (p.failed.as_str(), p.worked.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                ("play maj and dragons", "play imagine dragons"),
                ("play madge and dragons", "play imagine dragons")
            ]
        );
        let failed_turns: Vec<usize> = pairs.iter().map(|p| p.failed_turn).collect();
        assert_eq!(failed_turns, [0, 1]);
    }
}
