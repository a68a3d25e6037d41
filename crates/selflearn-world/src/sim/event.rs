//! The turn event an assistant logs for one turn: all an engine may read, and nothing of the
//! world's truth.

use std::collections::BTreeMap;

use rand::Rng;
use rand::rngs::StdRng;
use selflearn_types::{Asr, Feedback, Nlu as NluEvent, Response, SCHEMA_VERSION, Slot, TurnEvent};

use super::people::{DeviceSpec, Person, device_of};
use crate::asr::{AsrSource, Hypothesis};
use crate::assistant::Handled;

/// One turn as the assistant saw it: who spoke to which device when, what it heard, what it
/// did, and any feedback the person gave with it.
#[derive(Debug)]
pub(super) struct Exchange<'a> {
    pub(super) person: &'a Person,
    pub(super) device: &'a DeviceSpec,
    /// When it was spoken, in ms since the Unix epoch.
    pub(super) time: i64,
    pub(super) heard: &'a Hypothesis,
    pub(super) handled: &'a Handled,
    pub(super) feedback: Option<Feedback>,
}

/// The event logged for one turn. Draws its id, then the wake-word confidence; a barge-in or
/// a rewrite is the caller's to add.
pub(super) fn turn_event(exchange: Exchange<'_>, rng: &mut StdRng) -> TurnEvent {
    let Exchange {
        person,
        device,
        time,
        heard,
        handled,
        feedback,
    } = exchange;
    TurnEvent {
        schema_version: SCHEMA_VERSION,
        event_id: format!("{:016x}", rng.random::<u64>()),
        timestamp_ms: time,
        user_id: person.user_id.clone(),
        source: None,
        device: device_of(device),
        session_hint: None,
        asr: Asr {
            text: heard.text.clone(),
            confidence: heard.confidence.map(|c| c.clamp(0.0, 1.0)),
            nbest: Vec::new(),
            wake_confidence: Some(rng.random_range(0.7..1.0)),
        },
        nlu: handled.interpretation.as_ref().map(|i| NluEvent {
            domain: i.intent.split('_').next().map(str::to_owned),
            intent: i.intent.clone(),
            slots: i
                .slots
                .iter()
                .map(|(name, value)| Slot {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            confidence: Some(i.confidence.clamp(0.0, 1.0)),
        }),
        entities: handled.entities.clone(),
        response: Response {
            text: handled.response.clone(),
            outcome: handled.outcome,
            duration_ms: Some(response_duration(&handled.response)),
        },
        barge_in: None,
        feedback,
        rewrite: None,
        context: BTreeMap::from([("location".to_owned(), person.location.clone())]),
    }
}

/// What the world's truth calls a hypothesis's source.
pub(super) fn source_name(source: &AsrSource) -> &'static str {
    match source {
        AsrSource::Real { .. } => "real",
        AsrSource::Synthetic { .. } => "synthetic",
    }
}

/// A text as the NLU's tokenizer sees it, words joined by single spaces.
pub(super) fn normalised(text: &str) -> String {
    crate::nlu::tokenize(text).join(" ")
}

/// Speaking time of a response: ~14 characters a second, plus a little.
fn response_duration(text: &str) -> u32 {
    400 + 70 * text.chars().count() as u32
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::sim::test_support::small_world;

    #[test]
    fn events_carry_no_ground_truth() {
        let (out, data) = small_world(5);
        let goal_frames: HashSet<&str> = data.slurp.iter().map(|s| s.frame_id.as_str()).collect();
        for event in &out.events {
            let json = serde_json::to_string(event).unwrap();
            for forbidden in [
                "goal",
                "gold",
                "frame_id",
                "failure_point",
                "defect",
                "spoken",
            ] {
                assert!(!json.contains(forbidden), "{forbidden} leaks into {json}");
            }
            assert!(
                !goal_frames.iter().any(|f| json.contains(f)),
                "a frame id leaks into {json}"
            );
            selflearn_types::validate(event).unwrap();
        }
    }
}
