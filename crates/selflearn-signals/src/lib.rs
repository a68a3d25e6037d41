//! Sessions and friction signals: how people reacted to each turn, read from the turn events
//! alone (never from ground truth). The offline learners build on these: a turn followed by a
//! quick reformulation, an interruption, an explicit "no" or silence after a failure is a turn
//! that probably went wrong.
//!
//! ```
//! use selflearn_signals::{SignalConfig, friction, sessions};
//! use selflearn_types::testing::sample_event;
//!
//! let events = vec![sample_event()];
//! let sessions = sessions(&events, &SignalConfig::default());
//! let signals = friction(&sessions[0], &SignalConfig::default());
//! assert!(signals[0].system_failure);
//! ```

#![warn(missing_docs)]

mod friction;
mod session;
mod text;

pub use friction::{TurnSignals, friction};
pub use session::{Session, sessions};
pub use text::{normalise, normalised_chars, received_form, similarity, similarity_to};

use serde::{Deserialize, Serialize};

/// Windows and thresholds of session building and friction detection.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalConfig {
    /// A new session starts when a user is silent this long after a response ends.
    pub session_gap_ms: i64,
    /// A next request starting within this time after a response ends is a reformulation
    /// candidate.
    pub rephrase_window_ms: i64,
    /// Character similarity at or above which a next request repeats this one.
    pub repeat_similarity: f64,
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            session_gap_ms: 45_000,
            rephrase_window_ms: 20_000,
            repeat_similarity: 0.8,
        }
    }
}
