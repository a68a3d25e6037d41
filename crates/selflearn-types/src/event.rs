//! The turn event, schema v1: one record per assistant turn, as an assistant logs it.
//!
//! Everything here is visible to the engine; nothing is ground truth. Optional parts are
//! omitted from the JSON when absent, and unknown fields are rejected at every level so that a
//! typo in an integration is an error instead of silently lost data.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The schema version this crate reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// One assistant turn: what was heard, how it was understood, what happened, how the person
/// reacted during it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TurnEvent {
    /// Always 1 for this schema.
    pub schema_version: u32,
    /// Unique id of this event, chosen by the assistant; re-sending the same id is idempotent.
    pub event_id: String,
    /// When the request started, in milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// The person speaking, as the assistant identifies them (account or voice profile).
    pub user_id: String,
    /// The assistant installation that logged the turn. Set by the service from the calling
    /// token when the token is bound to one (a client may omit it or repeat it, never name
    /// another); user ids are that installation's own, so one person is (source, user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The device that heard the request.
    pub device: Device,
    /// The assistant's own session id, when it keeps one; a hint, not a goal boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_hint: Option<String>,
    /// Speech recognition output.
    pub asr: Asr,
    /// The interpretation the assistant acted on; absent when NLU produced none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nlu: Option<Nlu>,
    /// Entity-resolution results for the interpretation's slots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<ResolvedEntity>,
    /// What the assistant answered and whether the action succeeded as far as it knows.
    pub response: Response,
    /// Set when the person interrupted the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barge_in: Option<BargeIn>,
    /// Explicit feedback given in this turn ("no, I meant …", "that's right", teaching).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Feedback>,
    /// Set when a rewrite was applied before NLU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<AppliedRewrite>,
    /// Free-form request context, e.g. `location`, `locale`, `time_zone`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
}

impl TurnEvent {
    /// The person this turn is from: its user id within its source (see [`person_key`]).
    pub fn person(&self) -> std::borrow::Cow<'_, str> {
        person_key(&self.user_id, self.source.as_deref())
    }

    /// Who vouches for this turn where evidence must come from several independent parties:
    /// its source (one installation, whatever user ids it sends) when it has one, else its
    /// person alone. Never equal to a source: it then starts with [`PERSON_SEPARATOR`].
    pub fn provenance(&self) -> std::borrow::Cow<'_, str> {
        match &self.source {
            Some(source) => std::borrow::Cow::Borrowed(source),
            None => std::borrow::Cow::Owned(format!("{PERSON_SEPARATOR}{}", self.user_id)),
        }
    }
}

/// Separates a source from a user id in a [`person_key`]; validated ids never contain it (it
/// is a control character), so no user id can pass for another source's person.
pub const PERSON_SEPARATOR: char = '\u{1f}';

/// Who a user id is: the user id alone for turns logged without a source, else the source and
/// the user id, joined by [`PERSON_SEPARATOR`]. Two installations' "alice" are two people,
/// and what one learned of its person answers only for that installation's.
pub fn person_key<'a>(user_id: &'a str, source: Option<&str>) -> std::borrow::Cow<'a, str> {
    match source {
        None => std::borrow::Cow::Borrowed(user_id),
        Some(source) => std::borrow::Cow::Owned(format!("{source}{PERSON_SEPARATOR}{user_id}")),
    }
}

/// The device that heard the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Stable device id.
    pub id: String,
    /// What kind of device this is.
    pub kind: DeviceKind,
    /// Whether the device can show a visual answer.
    pub has_screen: bool,
    /// Relevant device or home state at request time, e.g. `media: playing`, `oven: on`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state: BTreeMap<String, String>,
}

/// Kinds of device an assistant runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A smart speaker without a screen.
    Speaker,
    /// A smart speaker with a screen.
    ScreenSpeaker,
    /// A phone or tablet app.
    Phone,
    /// A television or set-top box.
    Tv,
    /// An in-car assistant.
    Car,
    /// A watch, earbuds or glasses.
    Wearable,
    /// Anything else.
    Other,
}

impl DeviceKind {
    /// The kind's name as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Speaker => "speaker",
            DeviceKind::ScreenSpeaker => "screen_speaker",
            DeviceKind::Phone => "phone",
            DeviceKind::Tv => "tv",
            DeviceKind::Car => "car",
            DeviceKind::Wearable => "wearable",
            DeviceKind::Other => "other",
        }
    }
}

/// Speech recognition output for the turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Asr {
    /// The 1-best hypothesis; empty when nothing was recognised.
    pub text: String,
    /// Confidence of the 1-best hypothesis, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Further hypotheses, best first, when the recogniser gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nbest: Vec<Hypothesis>,
    /// Wake-word detector confidence, in [0, 1], when the turn was started by a wake word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_confidence: Option<f32>,
}

/// One recognition hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hypothesis {
    /// Hypothesis text.
    pub text: String,
    /// Confidence in [0, 1], when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

/// The NLU interpretation the assistant acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Nlu {
    /// Domain or scenario, when the NLU has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Intent name.
    pub intent: String,
    /// Slots as the NLU tagged them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<Slot>,
    /// Intent confidence, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

/// A slot as tagged by the NLU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    /// Slot type, e.g. `place_name`.
    pub name: String,
    /// The words of the request that fill it.
    pub value: String,
}

/// The outcome of resolving one slot value against the assistant's catalogues or the home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolvedEntity {
    /// The slot this resolves.
    pub slot: String,
    /// The spoken value.
    pub value: String,
    /// The entity or canonical value chosen; absent when resolution failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// How many candidates matched (0: none, more than 1: ambiguous).
    pub candidates: u32,
}

/// What the assistant did and said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// The response text (spoken or shown); empty when the assistant stayed silent.
    #[serde(default)]
    pub text: String,
    /// The outcome as far as the system knows.
    pub outcome: Outcome,
    /// How long the spoken response lasted, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u32>,
}

/// The outcome of a turn as the assistant itself saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The action was carried out or the question answered.
    Success,
    /// The system reported a failure (device offline, service error).
    Failure,
    /// The assistant did not understand or cannot do it ("sorry, I don't know that").
    NotUnderstood,
    /// The assistant asked a clarifying question.
    Clarification,
    /// The assistant did nothing visible (e.g. an empty request).
    NoAction,
}

/// An interruption of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BargeIn {
    /// Milliseconds after the response started.
    pub at_ms: u32,
}

/// Explicit feedback in a turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// What kind of feedback it is.
    pub kind: FeedbackKind,
    /// The feedback's words, e.g. the correction after "no, I meant".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Kinds of explicit feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    /// "Thanks", "that's right".
    Positive,
    /// "No", "that's wrong", "stop".
    Negative,
    /// "No, I meant …": a negative with the intended request.
    Correction,
    /// "When I say X, do Y", "I'm a Warriors fan".
    Teach,
}

/// A rewrite applied before NLU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppliedRewrite {
    /// The request as recognised.
    pub original_text: String,
    /// The request NLU received instead.
    pub rewritten_text: String,
    /// Which layer produced it, e.g. `precomputed`, `global`, `personal`.
    pub layer: String,
    /// Version of the artifact that held the rewrite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_version: Option<String>,
    /// The layer's score for the rewrite, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_kind_names_match_their_json() {
        for kind in [
            DeviceKind::Speaker,
            DeviceKind::ScreenSpeaker,
            DeviceKind::Phone,
            DeviceKind::Tv,
            DeviceKind::Car,
            DeviceKind::Wearable,
            DeviceKind::Other,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
