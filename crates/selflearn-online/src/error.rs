//! The online layers' one error type: what a user can fix (a file that is missing, malformed or
//! learned with another encoder) apart from what went wrong inside (a tensor operation, the
//! teacher model failing to run).

use std::path::PathBuf;

/// Everything the online layers can fail with.
#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    /// Reading or writing an encoder's weights failed, or they are not a `BUCKETS × DIM`
    /// matrix.
    #[error("{path}: {reason}")]
    Weights {
        /// The weights file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file is not a valid online artifact; the one in use stays.
    #[error("{path}: invalid online artifact: {reason}")]
    InvalidArtifact {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The artifact was learned with another encoder than the one given: its indices and
    /// rankers would be read against encodings they were not built for.
    #[error(
        "{path}: learned with encoder {learned_with}, not with the one given ({given}); load the encoder it was learned with"
    )]
    OtherEncoder {
        /// The file.
        path: String,
        /// Digest of the encoder it was learned with.
        learned_with: String,
        /// Digest of the encoder given.
        given: String,
    },
    /// A line of a pronunciation lexicon is not `{"word", "prons"}` (line 0: the file).
    #[error("{path}:{line}: {reason}")]
    Lexicon {
        /// The lexicon file.
        path: String,
        /// 1-based line, 0 for the file as a whole.
        line: usize,
        /// Why.
        reason: String,
    },
    /// A teacher file is missing or not what the model needs.
    #[error("{path}: {reason} (scripts/fetch-minilm.sh puts the model there)")]
    TeacherFiles {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Tokenising or running the teacher model failed (internal).
    #[error("teacher model: {0}")]
    TeacherRun(String),
    /// A tensor operation failed (internal).
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

impl OnlineError {
    /// Whether the error is the engine's own rather than something in the input a user can
    /// correct.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::TeacherRun(_) | Self::Tensor(_))
    }
}

/// The online layers' result.
pub type Result<T, E = OnlineError> = std::result::Result<T, E>;
