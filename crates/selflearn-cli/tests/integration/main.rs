//! End-to-end tests of the `selflearn` binary.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

mod dashboard;
mod eval;
mod ingest;
mod learn;
mod serve;
mod trust;
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

/// Spawns a `selflearn ... serve` command with its standard output piped and reads the
/// banner; returns the process and the base URL it listens on.
pub fn spawn_serve(command: &mut Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("unexpected banner {line:?}"))
        .to_owned();
    (child, url)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
