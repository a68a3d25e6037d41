//! The ground truth: what really happened in each turn. Only the evaluator reads it; nothing
//! of it appears in the turn events.

use serde::{Deserialize, Serialize};

/// The earliest irrecoverable failing stage of a turn (design brief §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePoint {
    /// Background speech accepted as a request, and it produced an action.
    FalseWake,
    /// Recognition changed the words, and the NLU would have understood the spoken words.
    Asr,
    /// The NLU misunderstands the request even as spoken.
    Nlu,
    /// Understood, but a slot value could not be resolved against the home or catalogues.
    Entity,
    /// Understood and resolved, but carrying it out failed.
    Result,
    /// No failure (including upstream errors the pipeline recovered from).
    Correct,
}

impl FailurePoint {
    /// All points, in pipeline order.
    pub const ALL: [FailurePoint; 6] = [
        FailurePoint::FalseWake,
        FailurePoint::Asr,
        FailurePoint::Nlu,
        FailurePoint::Entity,
        FailurePoint::Result,
        FailurePoint::Correct,
    ];

    /// The snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            FailurePoint::FalseWake => "false_wake",
            FailurePoint::Asr => "asr",
            FailurePoint::Nlu => "nlu",
            FailurePoint::Entity => "entity",
            FailurePoint::Result => "result",
            FailurePoint::Correct => "correct",
        }
    }
}

/// What the person did in the turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// First request of a goal.
    NewGoal,
    /// Another paraphrase of the same request after a failure.
    Rephrase,
    /// The same sentence again after a failure.
    Repeat,
    /// "No, I meant …" with a paraphrase.
    Correction,
    /// Teaching the assistant what a failed request meant.
    Teach,
    /// Not a request: background speech accepted by the wake word detector.
    FalseWake,
}

/// The truth of one turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnTruth {
    /// The turn event this describes.
    pub event_id: String,
    /// The goal the turn serves (absent for false wakes).
    pub goal_id: Option<u64>,
    /// Whether the turn starts a new goal.
    pub starts_goal: bool,
    /// What the person did.
    pub act: Act,
    /// The sentence spoken (absent for false wakes).
    pub spoken_text: Option<String>,
    /// Where the hypothesis came from: `real` or `synthetic`.
    pub asr_source: String,
    /// Gold intent of the goal.
    pub gold_intent: Option<String>,
    /// Gold slots of the goal as (type, value).
    pub gold_slots: Vec<(String, String)>,
    /// Whether the turn is a defect (design brief §5).
    pub defect: bool,
    /// The earliest irrecoverable failure.
    pub failure_point: FailurePoint,
    /// Whether the person barged in on the response.
    pub barged_in: bool,
    /// Whether a rewrite was applied before NLU.
    pub rewritten: bool,
    /// For a rewritten turn: whether the original request would have been a defect (for
    /// win/loss accounting).
    pub original_defect: Option<bool>,
}

/// The truth of one goal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalTruth {
    /// Goal id.
    pub goal_id: u64,
    /// The person.
    pub user_id: String,
    /// The request's frame (paraphrase group).
    pub frame_id: String,
    /// Turns spent on it.
    pub turns: u32,
    /// Whether the last turn achieved it.
    pub success: bool,
    /// Whether the person gave up.
    pub abandoned: bool,
}
