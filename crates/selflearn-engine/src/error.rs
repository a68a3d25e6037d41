//! The engine's one error type: what a user can fix (a set that does not match its manifest,
//! a missing file) apart from what failed in a layer underneath.

use std::path::PathBuf;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The manifest of an artifact set is missing, malformed, or of another format.
    #[error("{path}: invalid artifact set manifest: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An artifact of a set is not the one its manifest names (another digest, another
    /// encoder, a missing file): the set is refused as a whole.
    #[error("{path}: {reason}; the artifact set is refused as a whole")]
    Mismatch {
        /// The artifact file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// A partial learner's file (`learn --partial`) is unreadable, of another format, or of
    /// another job's settings.
    #[error("{path}: {reason}")]
    Partial {
        /// The partial file.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// The events given to a partial learn are not grouped by user.
    #[error("{path}: {reason}")]
    Ungrouped {
        /// The events file.
        path: PathBuf,
        /// Which user came back after others.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The event log failed.
    #[error(transparent)]
    Log(#[from] selflearn_log::LogError),
    /// The rewrite table did not load.
    #[error(transparent)]
    Table(#[from] selflearn_miner::TableError),
    /// The online layers failed (loading, or training their rankers).
    #[error(transparent)]
    Online(#[from] selflearn_online::OnlineError),
}

impl EngineError {
    /// Whether the error is the engine's own rather than something in the input a user can
    /// correct.
    pub fn is_internal(&self) -> bool {
        match self {
            Self::Online(e) => e.is_internal(),
            Self::Log(_) => true,
            _ => false,
        }
    }
}

/// The engine's result.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
