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

impl JsonlFiles {
    /// Creates the three files in `dir` (created when missing).
    pub fn create(dir: &Path) -> crate::Result<Self> {
        fs_err::create_dir_all(dir)?;
        let create = |name: &str| {
            fs_err::File::create(dir.join(name)).map(|f| BufWriter::with_capacity(1 << 20, f))
        };
        Ok(Self {
            events: create("events.jsonl")?,
            truth: create("truth.jsonl")?,
            goals: create("goals.jsonl")?,
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
