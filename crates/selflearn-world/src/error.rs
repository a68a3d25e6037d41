//! Errors of the world.

use std::path::PathBuf;

/// Errors of the world.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// A data file is missing from the data directory.
    #[error("{path}: missing; a data directory needs the same files as the vendored data/")]
    MissingFile {
        /// The expected file.
        path: PathBuf,
    },
    /// A record of a data file could not be read.
    #[error("{path}:{line}: {reason}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Reading a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result of the world.
pub type Result<T, E = WorldError> = std::result::Result<T, E>;
