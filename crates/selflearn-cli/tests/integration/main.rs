//! End-to-end tests of the `selflearn` binary.

mod ingest;
mod serve;

use std::path::Path;
use std::process::{Command, Output};

use selflearn_log::{EventLog, LogOptions};

/// Runs `selflearn` with `args` on the log in `log_dir`.
pub fn selflearn(log_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_selflearn"))
        .arg("--log-dir")
        .arg(log_dir)
        .args(args)
        .output()
        .unwrap()
}

/// Number of events stored in the log at `dir`.
pub fn stored(dir: &Path) -> u64 {
    EventLog::open(dir, &LogOptions::default())
        .unwrap()
        .len()
        .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
