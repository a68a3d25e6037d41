//! The durable turn-event log of selflearn.
//!
//! An [`EventLog`] lives in one directory on local disk (an embedded SQLite store, no external
//! service). Appends are atomic per batch and durable when acknowledged; re-appending an event
//! id stores it once. Reads serve the online side (by user, by time) and the offline jobs (a
//! per-user time-ordered scan). JSONL and Parquet import/export let other engines read the log.
//!
//! ```
//! use selflearn_log::{EventLog, LogOptions};
//! use selflearn_types::testing::sample_event;
//!
//! let dir = tempfile::tempdir()?;
//! let mut log = EventLog::open(dir.path(), &LogOptions::default())?;
//! let summary = log.append(&[sample_event()])?;
//! assert_eq!(summary.inserted, 1);
//! assert_eq!(log.append(&[sample_event()])?.duplicates, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod files;
pub mod jsonl;
pub mod parquet;
pub mod store;

pub use config::LogConfig;
pub use error::{LogError, Position, Result};
pub use store::{AppendSummary, CheckReport, Erasure, EventLog, LogOptions, ScanOrder, SyncPolicy};
