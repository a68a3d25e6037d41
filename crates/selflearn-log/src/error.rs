//! Errors of the event log.

use std::path::PathBuf;

use selflearn_types::EventError;

/// Where a refused record was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// 1-based line of a JSONL file.
    Line(usize),
    /// 0-based index in a batch or a Parquet file.
    Index(usize),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Line(line) => write!(f, "line {line}"),
            Position::Index(index) => write!(f, "record {index}"),
        }
    }
}

/// Errors of the event log. `InvalidRecord`, `DuplicateInBatch`, `ConflictingId` and `BadFile`
/// are caused by the input and nothing of the input was stored; the others are internal or
/// environmental.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A record failed to parse or validate.
    #[error("{position}: {source}")]
    InvalidRecord {
        /// Where the record is.
        position: Position,
        /// What is wrong with it.
        source: EventError,
    },
    /// The same event id occurs twice in one batch or file.
    #[error("{position}: event_id `{event_id}` repeats the one at {first}")]
    DuplicateInBatch {
        /// Where the repeat is.
        position: Position,
        /// Where the id first occurred.
        first: Position,
        /// The repeated id.
        event_id: String,
    },
    /// An event id that is already stored, with other content: whoever sent it first owns it,
    /// and a different event under it would silently be lost.
    #[error("{position}: event_id `{event_id}` is already stored with other content")]
    ConflictingId {
        /// Where the record is.
        position: Position,
        /// The id.
        event_id: String,
    },
    /// A file could not be read as the format it claims to be.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The embedded store failed.
    #[error("event store {path}: {source}")]
    Store {
        /// The store's database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A stored event no longer parses: the store was changed outside selflearn.
    #[error("event store {path}: stored event {seq} is corrupt: {reason}")]
    Corrupt {
        /// The store's database file.
        path: PathBuf,
        /// The row's sequence number.
        seq: i64,
        /// The parse error.
        reason: String,
    },
    /// Another process holds the log directory for writing.
    #[error("{path} is locked: another process is writing this log")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The log was opened read-only.
    #[error("{path} was opened read-only")]
    ReadOnly {
        /// The store's database file.
        path: PathBuf,
    },
    /// Converting to or from Arrow failed.
    #[error("columnar conversion: {0}")]
    Columnar(String),
}

impl LogError {
    /// Whether the error was caused by the input (a client error) rather than by the system.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            LogError::InvalidRecord { .. }
                | LogError::DuplicateInBatch { .. }
                | LogError::ConflictingId { .. }
                | LogError::BadFile { .. }
        )
    }
}

/// Result of the event log.
pub type Result<T, E = LogError> = std::result::Result<T, E>;
