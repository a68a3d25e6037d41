//! End-to-end tests of the `selflearn` binary.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

mod eval;
mod ingest;
mod learn;
mod serve;
mod world;

use std::path::Path;
use std::process::{Command, Output};

use selflearn_log::EventLog;

/// Runs `selflearn` with `args` on the log in `log_dir`.
pub fn selflearn(log_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_selflearn"))
        .arg("--log-dir")
        .arg(log_dir)
        .args(args)
        .output()
        .unwrap()
}

/// Runs `selflearn` with `args` alone: for the commands that read and write no event log
/// (they refuse `--log-dir`).
pub fn selflearn_without_log(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_selflearn"))
        .args(args)
        .output()
        .unwrap()
}

/// Number of events stored in the log at `dir`.
pub fn stored(dir: &Path) -> u64 {
    EventLog::open_read_only(dir).unwrap().len().unwrap()
}

/// Ids of the events stored in the log at `dir`.
pub fn stored_ids(dir: &Path) -> std::collections::HashSet<String> {
    let mut ids = std::collections::HashSet::new();
    EventLog::open_read_only(dir)
        .unwrap()
        .scan(selflearn_log::ScanOrder::Arrival, |e| {
            ids.insert(e.event_id);
            Ok(())
        })
        .unwrap();
    ids
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
