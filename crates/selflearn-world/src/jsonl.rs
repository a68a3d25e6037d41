//! Writing a world's three streams as JSON Lines: `events.jsonl` (what an engine may read),
//! `truth.jsonl` and `goals.jsonl` (the evaluator's only).

use std::io::{BufWriter, Write};
use std::path::Path;

use selflearn_types::TurnEvent;

use crate::sim::WorldSink;
use crate::truth::{GoalTruth, TurnTruth};

/// Writes the three streams as JSON Lines.
#[derive(Debug)]
pub struct JsonlFiles {
    events: BufWriter<fs_err::File>,
    truth: BufWriter<fs_err::File>,
    goals: BufWriter<fs_err::File>,
    /// Turns written.
    pub turns: u64,
}

/// The files [`JsonlFiles::create`] writes in its directory: what an engine may read, then
/// the evaluator's truth.
pub const FILES: [&str; 3] = ["events.jsonl", "truth.jsonl", "goals.jsonl"];

impl JsonlFiles {
    /// Where each file is, for a person: `dir` as [`JsonlFiles::create`] was given it.
    pub fn describe(dir: &Path) -> String {
        let [events, truth, goals] = FILES.map(|name| dir.join(name).display().to_string());
        format!(
            "events (the engine's input): {events}\ntruth (the evaluator's only): {truth}, {goals}"
        )
    }

    /// Creates the three files in `dir` (created when missing).
    pub fn create(dir: &Path) -> crate::Result<Self> {
        fs_err::create_dir_all(dir)?;
        let create = |name: &str| {
            fs_err::File::create(dir.join(name)).map(|f| BufWriter::with_capacity(1 << 20, f))
        };
        Ok(Self {
            events: create(FILES[0])?,
            truth: create(FILES[1])?,
            goals: create(FILES[2])?,
            turns: 0,
        })
    }

    /// Flushes every file.
    pub fn flush(&mut self) -> crate::Result<()> {
        self.events.flush()?;
        self.truth.flush()?;
        self.goals.flush()?;
        Ok(())
    }
}

fn io_error(e: impl Into<std::io::Error>) -> crate::WorldError {
    crate::WorldError::Io(e.into())
}

impl WorldSink for JsonlFiles {
    fn turn(&mut self, event: &TurnEvent, truth: &TurnTruth) -> crate::Result<()> {
        serde_json::to_writer(&mut self.events, event).map_err(io_error)?;
        self.events.write_all(b"\n")?;
        serde_json::to_writer(&mut self.truth, truth).map_err(io_error)?;
        self.truth.write_all(b"\n")?;
        self.turns += 1;
        Ok(())
    }

    fn goal(&mut self, goal: &GoalTruth) -> crate::Result<()> {
        serde_json::to_writer(&mut self.goals, goal).map_err(io_error)?;
        self.goals.write_all(b"\n")?;
        Ok(())
    }
}
