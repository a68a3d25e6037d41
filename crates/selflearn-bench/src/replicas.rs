//! `selflearn-bench replicas`: what a rewrite replica (`serve --shards`) loads against a whole
//! process. One world log is learned into an artifact set cut into shards; then, each in a
//! fresh child process so that memory does not carry over, the set is loaded whole and for
//! each replica range asked: load time, resident memory after the load, people held.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use selflearn_engine::LoadedSet;
use selflearn_log::EventLog;
use selflearn_types::shard::ShardRange;
use serde::{Deserialize, Serialize};

use crate::bench::{generate_in_child, learn_set, status_mib};

/// Parameters of the replica benchmark.
#[derive(Debug, Args)]
pub struct ReplicaBench {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value = "data", value_name = "DIR")]
    pub data: PathBuf,
    /// Size of the world log learned, in turns.
    #[arg(long, default_value_t = 1_000_000)]
    pub turns: usize,
    /// Shards the set is cut into.
    #[arg(long, default_value_t = 16)]
    pub shards: u32,
    /// Replica ranges loaded (each against the whole set, loaded first).
    #[arg(long, value_delimiter = ',', default_values = ["0-7/16", "0-3/16", "0/16"])]
    pub ranges: Vec<ShardRange>,
    /// Learn into and load from this directory (kept); a temporary one when absent. An
    /// existing set there is loaded without learning again.
    #[arg(long, value_name = "DIR")]
    pub set: Option<PathBuf>,
    /// Write the figures as JSON to this file too (`runs[]`).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Only load the set in this directory with `--range` and print one JSON line (how the
    /// benchmark runs each load in a child process).
    #[arg(long, hide = true, value_name = "DIR")]
    pub load_only: Option<PathBuf>,
    /// The range `--load-only` loads; the whole set when absent.
    #[arg(long, hide = true)]
    pub range: Option<ShardRange>,
}

/// One load of the set.
#[derive(Debug, Serialize, Deserialize)]
struct Load {
    /// The replica's range, or `all`.
    shards: String,
    seconds: f64,
    /// Resident memory after the load (the process does nothing else).
    rss_mib: f64,
    /// Peak resident memory during the load.
    peak_rss_mib: f64,
    /// People whose personal index it holds.
    personal_users: usize,
    /// Bytes of the personal shard files it read.
    personal_bytes: u64,
}

/// Runs the benchmark.
pub fn run(bench: ReplicaBench) -> anyhow::Result<()> {
    if let Some(dir) = &bench.load_only {
        let load = load(dir, bench.range)?;
        println!("{}", serde_json::to_string(&load)?);
        return Ok(());
    }
    let temporary = tempfile::tempdir()?;
    let set_dir = bench
        .set
        .clone()
        .unwrap_or_else(|| temporary.path().join("set"));
    if !set_dir
        .join(selflearn_engine::manifest::MANIFEST_FILE)
        .is_file()
    {
        let log_dir = temporary.path().join("log");
        generate_in_child(&bench.data, bench.turns, &log_dir)?;
        let log = EventLog::open_read_only(&log_dir)?;
        let lexicon = Arc::new(selflearn_online::Lexicon::parse(
            selflearn_online::Lexicon::EMBEDDED,
            "built-in lexicon",
        )?);
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let started = Instant::now();
        let set = learn_set(&log, &lexicon, threads)?;
        set.save_sharded(&set_dir, bench.shards)?;
        println!(
            "learned {} turns into {} in {:.1} s",
            bench.turns,
            set_dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "| replica of | load time | resident memory after load | peak during load | people held | personal shard bytes read |"
    );
    println!("|---|---|---|---|---|---|");
    let mut runs: Vec<Load> = Vec::new();
    for range in std::iter::once(None).chain(bench.ranges.iter().copied().map(Some)) {
        let mut child = std::process::Command::new(std::env::current_exe()?);
        child.args(["replicas", "--load-only"]).arg(&set_dir);
        if let Some(range) = range {
            child.args(["--range", &range.to_string()]);
        }
        let out = child.output()?;
        anyhow::ensure!(
            out.status.success(),
            "loading {range:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let load: Load = serde_json::from_slice(&out.stdout).context("a load's figures")?;
        println!(
            "| {} | {:.2} s | {:.0} MiB | {:.0} MiB | {} | {} |",
            load.shards,
            load.seconds,
            load.rss_mib,
            load.peak_rss_mib,
            load.personal_users,
            load.personal_bytes
        );
        runs.push(load);
    }
    if let Some(path) = &bench.json {
        fs_err::write(
            path,
            serde_json::to_string_pretty(&serde_json::json!({ "runs": runs }))?,
        )?;
    }
    Ok(())
}

/// Loads the set in `dir` as `serve --shards range` does.
fn load(dir: &std::path::Path, range: Option<ShardRange>) -> anyhow::Result<Load> {
    let started = Instant::now();
    let set = LoadedSet::load_shards(dir, range)?;
    let seconds = started.elapsed().as_secs_f64();
    let personal_bytes = set
        .manifest
        .artifacts
        .iter()
        .filter(|a| a.kind == selflearn_engine::Kind::Personal)
        .filter(|a| {
            a.shard
                .zip(range)
                .is_none_or(|(shard, range)| range.contains(shard.first))
        })
        .map(|a| fs_err::metadata(dir.join(&a.file)).map_or(0, |m| m.len()))
        .sum();
    let online = set.online.as_ref().context("the set has online layers")?;
    Ok(Load {
        shards: range.map_or_else(|| "all".to_owned(), |r| r.to_string()),
        seconds,
        rss_mib: status_mib("VmRSS:").unwrap_or(0.0),
        peak_rss_mib: status_mib("VmHWM:").unwrap_or(0.0),
        personal_users: online.personal_users().count(),
        personal_bytes,
    })
}
