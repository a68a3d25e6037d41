//! Mining rewrites from reformulation sessions: build the chain from sessions and their friction
//! signals, solve it, and keep, for each utterance form that usually fails, the reformulation
//! people moved to that most often ends in success.

use std::collections::{BTreeMap, HashMap, HashSet};

use selflearn_signals::{Session, TurnSignals, normalise};
use serde::{Deserialize, Serialize};

use crate::chain::{Chain, Target};

/// Support and confidence thresholds of the miner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinerConfig {
    /// Times a source form must have been said.
    pub min_source_count: u32,
    /// Times people must have moved from the source to the target.
    pub min_pair_count: u32,
    /// Distinct users who moved from the source to the target: a global rewrite is never
    /// learned from one person alone.
    pub min_users: u32,
    /// A source is rewritten only if saying it directly succeeded at most this often.
    pub max_source_success: f64,
    /// A target is used only if saying it directly succeeded at least this often.
    pub min_target_success: f64,
    /// Least gain in direct success from source to target.
    pub min_gain: f64,
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self {
            min_source_count: 2,
            min_pair_count: 2,
            min_users: 2,
            max_source_success: 0.5,
            min_target_success: 0.6,
            min_gain: 0.3,
        }
    }
}

/// One mined rewrite with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteEntry {
    /// The utterance form to rewrite (normalised).
    pub source: String,
    /// What to send to NLU instead (normalised).
    pub target: String,
    /// Times the source was said.
    pub source_count: u32,
    /// Times people reformulated the source into the target.
    pub pair_count: u32,
    /// Distinct users who did.
    pub pair_users: u32,
    /// How often saying the source directly ended in success (R[source][success]).
    pub source_success: f64,
    /// How often saying the target directly ended in success.
    pub target_success: f64,
    /// Probability that a path from the source ends in success at the target
    /// (N[source][target] · R[target][success]): what ranks the candidates.
    pub path_success: f64,
}

/// The chain's states and counts, before thresholds.
#[derive(Debug, Default)]
struct Observations {
    index: HashMap<String, usize>,
    forms: Vec<String>,
    said: Vec<u32>,
    pairs: BTreeMap<(usize, usize), (u32, HashSet<String>)>,
    transitions: Vec<(usize, Target)>,
}

impl Observations {
    fn state(&mut self, form: String) -> usize {
        if let Some(&i) = self.index.get(&form) {
            return i;
        }
        let i = self.forms.len();
        self.index.insert(form.clone(), i);
        self.forms.push(form);
        self.said.push(0);
        i
    }
}

/// The form a turn's utterance takes in the chain: what was heard, before any rewrite.
pub fn utterance_form(turn: &selflearn_types::TurnEvent) -> String {
    normalise(
        turn.rewrite
            .as_ref()
            .map_or(&turn.asr.text, |r| &r.original_text),
    )
}

/// Mines rewrites from sessions and the signals of their turns (`signals[i]` belongs to
/// `sessions[i]`).
pub fn mine(
    sessions: &[Session],
    signals: &[Vec<TurnSignals>],
    config: &MinerConfig,
) -> Vec<RewriteEntry> {
    let _span = tracing::info_span!("mine", sessions = sessions.len()).entered();
    let mut seen = Observations::default();
    for (session, signals) in sessions.iter().zip(signals) {
        let states: Vec<usize> = session
            .turns
            .iter()
            .map(|t| seen.state(utterance_form(t)))
            .collect();
        for (i, (&state, signal)) in states.iter().zip(signals).enumerate() {
            seen.said[state] += 1;
            let reformulated = signal.rephrase || signal.repeat;
            let target = match states.get(i + 1) {
                Some(&next) if reformulated => {
                    let pair = seen.pairs.entry((state, next)).or_default();
                    pair.0 += 1;
                    pair.1.insert(session.user_id.clone());
                    Target::State(next)
                }
                _ if signal.likely_defect() => Target::Failure,
                _ => Target::Success,
            };
            seen.transitions.push((state, target));
        }
    }
    let mut chain = Chain::new(seen.forms.len());
    for &(from, to) in &seen.transitions {
        chain.add(from, to, 1.0);
    }
    let direct = chain.direct_success();
    let mut candidates: BTreeMap<usize, Vec<(usize, u32, u32)>> = BTreeMap::new();
    for (&(source, target), (count, users)) in &seen.pairs {
        let supported = source != target
            && seen.said[source] >= config.min_source_count
            && *count >= config.min_pair_count
            && users.len() as u32 >= config.min_users
            && direct[source] <= config.max_source_success
            && direct[target] >= config.min_target_success
            && direct[target] - direct[source] >= config.min_gain;
        if supported {
            candidates
                .entry(source)
                .or_default()
                .push((target, *count, users.len() as u32));
        }
    }
    let mut best: BTreeMap<usize, RewriteEntry> = BTreeMap::new();
    for (source, targets) in candidates {
        let visits = chain.visits_from(source, 1e-10, 10_000);
        for (target, pair_count, pair_users) in targets {
            let candidate = RewriteEntry {
                source: seen.forms[source].clone(),
                target: seen.forms[target].clone(),
                source_count: seen.said[source],
                pair_count,
                pair_users,
                source_success: direct[source],
                target_success: direct[target],
                path_success: visits[target] * direct[target],
            };
            if best
                .get(&source)
                .is_none_or(|b| candidate.path_success > b.path_success)
            {
                best.insert(source, candidate);
            }
        }
    }
    best.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use selflearn_signals::{SignalConfig, friction, sessions};
    use selflearn_types::testing::turn_saying as turn;
    use selflearn_types::{Outcome, TurnEvent};
    /// Each user says the bad form, fails, and succeeds with the good one; they also use the
    /// good form directly sometimes.
    fn planted(users: usize) -> Vec<TurnEvent> {
        let mut events = Vec::new();
        for u in 0..users {
            let user = format!("u{u}");
            for k in 0..2 {
                let base = (k * 600_000) as i64;
                events.push(turn(
                    &user,
                    &format!("{user}-{k}-a"),
                    base,
                    "play maj and dragons",
                    Outcome::Failure,
                ));
                events.push(turn(
                    &user,
                    &format!("{user}-{k}-b"),
                    base + 5_000,
                    "play imagine dragons",
                    Outcome::Success,
                ));
            }
            events.push(turn(
                &user,
                &format!("{user}-c"),
                3_000_000,
                "play imagine dragons",
                Outcome::Success,
            ));
        }
        events
    }

    fn mined(events: &[TurnEvent]) -> Vec<RewriteEntry> {
        let config = SignalConfig::default();
        let sessions = sessions(events, &config);
        let signals: Vec<Vec<TurnSignals>> =
            sessions.iter().map(|s| friction(s, &config)).collect();
        mine(&sessions, &signals, &MinerConfig::default())
    }

    #[test]
    fn a_planted_rewrite_is_mined_with_its_probabilities() {
        let table = mined(&planted(3));
        assert_eq!(table.len(), 1, "{table:?}");
        let entry = &table[0];
        assert_eq!(
            (entry.source.as_str(), entry.target.as_str()),
            ("play maj and dragons", "play imagine dragons")
        );
        assert_eq!(
            (entry.source_count, entry.pair_count, entry.pair_users),
            (6, 6, 3)
        );
        // The bad form always moves to the good one, which always succeeds.
        assert!((entry.source_success - 1.0).abs() < 1e-9 || entry.source_success <= 0.5);
        assert!((entry.target_success - 1.0).abs() < 1e-9, "{entry:?}");
    }

    #[test]
    fn a_rewrite_seen_from_one_user_only_is_not_learned() {
        assert!(mined(&planted(1)).is_empty());
    }
}
