//! Per-turn friction signals and a defect estimate.
//!
//! The estimate is a noisy-OR of the signals with fixed prior strengths (how often each signal
//! means a failure); an explicit "no" dominates. It reads only what an assistant logs.

use selflearn_types::{FeedbackKind, Outcome, TurnEvent};
use serde::Serialize;

use crate::session::{Session, response_end};
use crate::{SignalConfig, similarity};

/// How people reacted to one turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnSignals {
    /// The turn.
    pub event_id: String,
    /// The assistant itself reported a failure or did not understand.
    pub system_failure: bool,
    /// The person interrupted the spoken response.
    pub barge_in: bool,
    /// The next request came quickly and said something else: a rephrase candidate.
    pub rephrase: bool,
    /// The next request came quickly and said (nearly) the same thing again.
    pub repeat: bool,
    /// The next request said "no" or "no, I meant …".
    pub explicit_negative: bool,
    /// The session ended right after a turn that failed or was interrupted.
    pub abandonment: bool,
    /// Estimated probability that the turn was a defect.
    pub defect_estimate: f64,
}

impl TurnSignals {
    /// Whether the estimate says defect.
    pub fn likely_defect(&self) -> bool {
        self.defect_estimate >= 0.5
    }
}

/// Strength of each signal as evidence of a defect (noisy-OR parameters).
const SYSTEM_FAILURE: f64 = 0.6;
const BARGE_IN: f64 = 0.45;
const REPHRASE: f64 = 0.35;
const REPEAT: f64 = 0.55;
const ABANDONMENT: f64 = 0.3;
const EXPLICIT_NEGATIVE: f64 = 0.9;

/// The signals of every turn of a session.
pub fn friction(session: &Session, config: &SignalConfig) -> Vec<TurnSignals> {
    let turns = &session.turns;
    turns
        .iter()
        .enumerate()
        .map(|(i, turn)| {
            let next = turns
                .get(i + 1)
                .filter(|next| next.timestamp_ms - response_end(turn) <= config.rephrase_window_ms);
            let system_failure = matches!(
                turn.response.outcome,
                Outcome::Failure | Outcome::NotUnderstood
            );
            let barge_in = turn
                .barge_in
                .is_some_and(|b| turn.response.duration_ms.is_none_or(|d| b.at_ms < d));
            let repeat = next.is_some_and(|n| {
                similarity(&turn.asr.text, &n.asr.text) >= config.repeat_similarity
            });
            let rephrase = next.is_some() && !repeat && !is_feedback_only(next);
            let explicit_negative = next.and_then(|n| n.feedback.as_ref()).is_some_and(|f| {
                matches!(f.kind, FeedbackKind::Negative | FeedbackKind::Correction)
            });
            let abandonment = i + 1 == turns.len() && (system_failure || barge_in);
            let evidence = [
                (system_failure, SYSTEM_FAILURE),
                (barge_in, BARGE_IN),
                (rephrase, REPHRASE),
                (repeat, REPEAT),
                (abandonment, ABANDONMENT),
                (explicit_negative, EXPLICIT_NEGATIVE),
            ];
            let defect_estimate = 1.0
                - evidence
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, p)| 1.0 - p)
                    .product::<f64>();
            TurnSignals {
                event_id: turn.event_id.clone(),
                system_failure,
                barge_in,
                rephrase,
                repeat,
                explicit_negative,
                abandonment,
                defect_estimate,
            }
        })
        .collect()
}

/// A turn that teaches or praises rather than asking again.
fn is_feedback_only(next: Option<&TurnEvent>) -> bool {
    next.and_then(|n| n.feedback.as_ref())
        .is_some_and(|f| matches!(f.kind, FeedbackKind::Teach | FeedbackKind::Positive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::sessions;
    use selflearn_types::{BargeIn, Feedback};

    fn turn(id: &str, at_ms: i64, text: &str, outcome: Outcome) -> TurnEvent {
        selflearn_types::testing::turn_saying("user-ana", id, at_ms, text, outcome)
    }

    fn signals(events: Vec<TurnEvent>) -> Vec<TurnSignals> {
        let config = SignalConfig::default();
        let sessions = sessions(&events, &config);
        sessions.iter().flat_map(|s| friction(s, &config)).collect()
    }

    #[test]
    fn a_quick_repeat_after_a_failure_is_friction_and_the_success_is_not() {
        let s = signals(vec![
            turn("1", 0, "play maj and dragons", Outcome::Failure),
            turn("2", 5_000, "play maj and dragon", Outcome::Success),
        ]);
        assert!(s[0].repeat && s[0].system_failure && !s[0].rephrase);
        assert!(s[0].likely_defect());
        assert!(!s[1].likely_defect(), "{:?}", s[1]);
    }

    #[test]
    fn a_different_request_soon_after_is_a_rephrase_candidate_and_a_late_one_is_not() {
        let s = signals(vec![
            turn("1", 0, "play maj and dragons", Outcome::Success),
            turn("2", 5_000, "play imagine dragons", Outcome::Success),
            turn("3", 40_000, "what time is it", Outcome::Success),
        ]);
        assert!(s[0].rephrase);
        assert!(!s[1].rephrase && !s[1].repeat);
    }

    #[test]
    fn talking_over_music_is_not_a_barge_in_on_the_response() {
        let mut played = turn("1", 0, "play some jazz", Outcome::Success);
        played.barge_in = Some(BargeIn { at_ms: 300_000 });
        let mut interrupted = turn("2", 400_000, "tell me a joke", Outcome::Success);
        interrupted.barge_in = Some(BargeIn { at_ms: 800 });
        let s = signals(vec![played, interrupted]);
        assert!(!s[0].barge_in);
        assert!(s[1].barge_in && s[1].abandonment);
    }

    #[test]
    fn an_explicit_correction_marks_the_turn_before_it() {
        let mut correction = turn("2", 4_000, "play imagine dragons", Outcome::Success);
        correction.feedback = Some(Feedback {
            kind: FeedbackKind::Correction,
            text: None,
        });
        let s = signals(vec![
            turn("1", 0, "play maj and dragons", Outcome::Success),
            correction,
        ]);
        assert!(s[0].explicit_negative && s[0].defect_estimate > 0.9);
    }

    #[test]
    fn silence_after_a_failure_is_abandonment() {
        let s = signals(vec![turn(
            "1",
            0,
            "frobnicate the lights",
            Outcome::NotUnderstood,
        )]);
        assert!(s[0].abandonment && s[0].system_failure);
    }
}
