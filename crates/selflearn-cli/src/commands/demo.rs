//! `selflearn demo`: runs the pipeline end to end on generated events in a fresh directory and
//! reports each step: write JSONL, ingest, re-ingest (idempotent), export Parquet, read back,
//! and the reads the learners use.

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::ensure;
use clap::Args;
use selflearn_log::jsonl::{read_jsonl, write_jsonl};
use selflearn_log::parquet::{read_parquet, write_parquet};
use selflearn_log::{EventLog, ScanOrder};
use selflearn_types::testing::generated_events;

use super::Outcome;
use crate::config::Config;

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory; emptied and refilled by every run.
    #[arg(long, default_value = "selflearn-data/demo", value_name = "DIR")]
    pub dir: PathBuf,
    /// Number of events to generate.
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    /// Number of distinct users among them.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
}

/// Runs the demo and prints where everything is.
pub fn run(args: DemoArgs, config: &Config) -> anyhow::Result<Outcome> {
    if args.dir.exists() {
        fs_err::remove_dir_all(&args.dir)?;
    }
    fs_err::create_dir_all(&args.dir)?;
    let jsonl_path = args.dir.join("events.jsonl");
    let parquet_path = args.dir.join("events.parquet");
    let log_dir = args.dir.join("log");

    let events = generated_events(args.events, args.users);
    write_jsonl(BufWriter::new(fs_err::File::create(&jsonl_path)?), &events)?;
    println!(
        "1. wrote {} generated turn events ({} users) to {}",
        events.len(),
        args.users,
        jsonl_path.display()
    );

    let mut log = EventLog::open(&log_dir, &config.log.options())?;
    let started = Instant::now();
    let reader = std::io::BufReader::new(fs_err::File::open(&jsonl_path)?);
    let first = log.append_records(read_jsonl(reader), &mut |_| {})?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "2. ingested: {} stored in {seconds:.2} s ({:.0} events/s, durable, validated)",
        first.inserted,
        first.inserted as f64 / seconds
    );

    let reader = std::io::BufReader::new(fs_err::File::open(&jsonl_path)?);
    let again = log.append_records(read_jsonl(reader), &mut |_| {})?;
    ensure!(
        again.inserted == 0,
        "re-ingesting stored {} events again",
        again.inserted
    );
    println!(
        "3. re-ingested the same file: {} already present, 0 stored again",
        again.duplicates
    );

    let mut stored = Vec::with_capacity(events.len());
    log.scan(ScanOrder::Arrival, |event| {
        stored.push(event);
        Ok(())
    })?;
    let written = write_parquet(&parquet_path, stored.iter().cloned())?;
    let read_back: Vec<_> = read_parquet(&parquet_path)?
        .map(|r| r.map(|(_, e)| e))
        .collect::<Result<_, _>>()?;
    ensure!(
        read_back == stored,
        "the Parquet export does not read back equal to the log"
    );
    println!(
        "4. exported {written} events to {} and read them back unchanged",
        parquet_path.display()
    );

    let mut users = 0;
    let mut previous: Option<String> = None;
    log.scan(ScanOrder::UserTime, |event| {
        if previous.as_deref() != Some(event.user_id.as_str()) {
            users += 1;
            previous = Some(event.user_id);
        }
        Ok(())
    })?;
    let first_user = events
        .first()
        .map(|e| e.user_id.clone())
        .unwrap_or_default();
    let history = log.user_events(&first_user, i64::MIN, i64::MAX)?;
    println!(
        "5. per-user time-ordered scan: {users} users; {first_user} has {} turns",
        history.len()
    );
    println!(
        "\nevent log: {}\nJSONL: {}\nParquet: {}",
        log.path().display(),
        jsonl_path.display(),
        parquet_path.display()
    );
    Ok(Outcome::Clean)
}
