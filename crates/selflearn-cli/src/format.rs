//! File formats the commands read and write.

use std::path::Path;

/// An event file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// JSON Lines, one event per line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The explicit choice, else guessed from the extension (`.parquet`, else JSONL).
    pub fn of(path: &Path, explicit: Option<Format>) -> Format {
        explicit.unwrap_or_else(|| {
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
            {
                Format::Parquet
            } else {
                Format::Jsonl
            }
        })
    }
}
