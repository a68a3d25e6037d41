//! `selflearn-bench ingest-at`: what opening a large log and ingesting into it cost, by the
//! number of events already stored: the writer's start-up time and memory (its id index), the
//! durable ingest rate of fresh events, and that a resent batch of old events is stored once.
//!
//! Each log is filled in this process, then measured in a child process of its own, so that
//! the memory read after opening is the writer's and not what filling left in the allocator.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, ensure};
use clap::Args;
use selflearn_log::{EventLog, LogOptions, SyncPolicy};
use selflearn_types::TurnEvent;
use selflearn_types::testing::generated_events;
use serde::{Deserialize, Serialize};

use crate::bench::status_mib;

/// Parameters of the benchmark.
#[derive(Debug, Args)]
pub struct IngestScaleBench {
    /// Events stored before each measurement.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000_000usize, 10_000_000])]
    pub stored: Vec<usize>,
    /// Fresh events ingested durably into each filled log.
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Events per durable batch.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Where the logs are built (a temporary directory by default); each is removed after.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Write the figures as JSON to this file too.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Only measure the log in this directory, holding `--stored` events (how the benchmark
    /// runs each measurement in a child process).
    #[arg(long, hide = true, value_name = "DIR")]
    pub measure: Option<PathBuf>,
}

/// One measurement.
#[derive(Debug, Serialize, Deserialize)]
struct Run {
    stored: usize,
    open_seconds: f64,
    /// Resident memory the open added, MiB.
    open_rss_mib: f64,
    ingest_events: usize,
    ingest_events_per_s: f64,
    /// Of a resent batch of already stored events, how many were stored again (must be 0).
    resent_stored_again: u64,
    peak_rss_mib: f64,
}

/// Distinct generated events: a pool of varied bodies, each copy with its own id and a time
/// 250 ms after the previous event (10M events span 29 days).
struct Events {
    pool: Vec<TurnEvent>,
}

impl Events {
    fn new() -> Self {
        Self {
            pool: generated_events(20_000, 1000),
        }
    }

    /// Events `from..to` of the sequence.
    fn range(&self, from: usize, to: usize) -> Vec<TurnEvent> {
        (from..to)
            .map(|i| {
                let mut event = self.pool[i % self.pool.len()].clone();
                event.event_id = format!(
                    "evt-{:016x}",
                    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                );
                event.user_id = format!("user-{:05}", (i * 7919) % 100_000);
                event.timestamp_ms = 1_767_225_600_000 + i as i64 * 250;
                event
            })
            .collect()
    }
}

/// Runs the benchmark (or, with `--measure`, one measurement).
pub fn run(bench: IngestScaleBench) -> anyhow::Result<()> {
    ensure!(
        bench.events > 0 && bench.batch > 0,
        "events and batch must be positive"
    );
    if let Some(dir) = &bench.measure {
        let stored = *bench
            .stored
            .first()
            .context("--measure needs one --stored")?;
        let run = measure(dir, stored, bench.events, bench.batch)?;
        println!("{}", serde_json::to_string(&run)?);
        return Ok(());
    }
    let events = Events::new();
    let temp = tempfile::tempdir_in(bench.dir.as_deref().unwrap_or(&std::env::temp_dir()))?;
    let mut runs = Vec::new();
    for &stored in &bench.stored {
        let dir = temp.path().join(format!("log-{stored}"));
        eprintln!("filling a log with {stored} events…");
        fill(&dir, &events, stored)?;
        let output = std::process::Command::new(std::env::current_exe()?)
            .args(["ingest-at", "--stored", &stored.to_string()])
            .args(["--events", &bench.events.to_string()])
            .args(["--batch", &bench.batch.to_string()])
            .arg("--measure")
            .arg(&dir)
            .output()?;
        ensure!(
            output.status.success(),
            "the measurement at {stored} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let run: Run = serde_json::from_slice(&output.stdout)?;
        eprintln!("{run:?}");
        runs.push(run);
        fs_err::remove_dir_all(&dir)?;
    }
    println!(
        "| stored events | open (s) | memory of the open (MiB) | durable ingest, batches of {} (events/s) | resent stored again | peak RSS (MiB) |",
        bench.batch
    );
    println!("|---|---|---|---|---|---|");
    for r in &runs {
        println!(
            "| {} | {:.3} | {:.1} | {:.0} | {} | {:.0} |",
            r.stored,
            r.open_seconds,
            r.open_rss_mib,
            r.ingest_events_per_s,
            r.resent_stored_again,
            r.peak_rss_mib
        );
    }
    if let Some(path) = &bench.json {
        fs_err::write(path, serde_json::to_string_pretty(&runs)?)?;
    }
    Ok(())
}

/// Stores events `0..stored` in large batches without an fsync per batch (filling is not what
/// is measured).
fn fill(dir: &Path, events: &Events, stored: usize) -> anyhow::Result<()> {
    let mut log = EventLog::open(
        dir,
        &LogOptions {
            sync: SyncPolicy::Normal,
        },
    )?;
    let started = Instant::now();
    for from in (0..stored).step_by(20_000) {
        log.append(&events.range(from, (from + 20_000).min(stored)))?;
    }
    ensure!(
        log.len()? == stored as u64,
        "the filled log holds every event"
    );
    eprintln!("filled in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn measure(dir: &Path, stored: usize, fresh: usize, batch: usize) -> anyhow::Result<Run> {
    let events = Events::new();
    let new = events.range(stored, stored + fresh);
    let resent = events.range(stored / 2, stored / 2 + batch);
    let before = status_mib("VmRSS:").context("no /proc/self/status")?;
    let started = Instant::now();
    let mut log = EventLog::open(
        dir,
        &LogOptions {
            sync: SyncPolicy::Full,
        },
    )?;
    let open_seconds = started.elapsed().as_secs_f64();
    let open_rss_mib = status_mib("VmRSS:").unwrap_or(before) - before;
    let started = Instant::now();
    for chunk in new.chunks(batch) {
        log.append(chunk)?;
    }
    let ingest_events_per_s = fresh as f64 / started.elapsed().as_secs_f64();
    let again = log.append(&resent)?;
    Ok(Run {
        stored,
        open_seconds,
        open_rss_mib,
        ingest_events: fresh,
        ingest_events_per_s,
        resent_stored_again: again.inserted,
        peak_rss_mib: status_mib("VmHWM:").unwrap_or(0.0),
    })
}
