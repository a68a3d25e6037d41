//! `selflearn serve`: the HTTP service over the configured event log, until SIGTERM or Ctrl-C.
//! `POST /v1/rewrite` answers from the artifact set `learn` wrote, through the engine's layered
//! rewriter (the composition the A/B measures); a watcher swaps in each new set whole when its
//! manifest changes, and refuses one whose digests do not match (the old one stays). Answers
//! pass the operator's block list; `GET /` is the dashboard.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use selflearn_dashboard::Dashboard;
use selflearn_engine::{Layered, LoadedSet, manifest::MANIFEST_FILE};
use selflearn_log::EventLog;
use selflearn_server::{AdminViews, NoRewrites, Rewriter, Watched};
use selflearn_types::blocked::{BlockList, Blocking};
use selflearn_types::shard::ShardRange;

use super::Outcome;
use crate::config::Config;

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; overrides `server.bind`.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// The artifact set `selflearn learn` writes (default selflearn-data/artifacts, when it
    /// holds one; without a set, every request is answered unchanged).
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// How often to look for a new set, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub reload_every_ms: u64,
    /// Run as a rewrite replica for the people of these shards only (such as `0-3/16`; the
    /// count is the set's, `learn --personal-shards`): it loads only their personal indices,
    /// opens no log, answers 421 for events and for people of other shards, and reads the
    /// block list in `log.dir` again whenever it changes.
    #[arg(long, value_name = "FIRST-LAST/COUNT")]
    pub shards: Option<ShardRange>,
}

/// Where `learn` writes its set by default.
const DEFAULT_ARTIFACTS: &str = "selflearn-data/artifacts";

/// The set in `dir` as `serve` runs it, watched for the life of the process: each new set
/// whose digests match is swapped in whole.
fn watch(
    dir: &Path,
    every: Duration,
    cache_bytes: u64,
    shards: Option<ShardRange>,
) -> anyhow::Result<Arc<Watched<Layered>>> {
    let root = dir.to_path_buf();
    let watched = Watched::open(&dir.join(MANIFEST_FILE), move |_| {
        let set = LoadedSet::load_shards(&root, shards)?;
        let version = set.manifest.version.clone();
        Ok((set.serving(cache_bytes), version))
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let what = format!("artifact set {}", dir.display());
    Ok(Watched::check_every(watched, every, what))
}

/// Serves until asked to stop; prints `listening on http://ADDR` once ready.
pub fn run(args: ServeArgs, mut config: Config) -> anyhow::Result<Outcome> {
    if let Some(bind) = args.bind.clone() {
        config.server.bind = bind;
    }
    if let Some(shards) = args.shards {
        return replica(args, config, shards);
    }
    let log = EventLog::open(&config.log.dir, &config.log.options())?;
    let every = Duration::from_millis(args.reload_every_ms.max(10));
    let dir = args
        .artifacts
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ARTIFACTS));
    let rewriter: Arc<dyn Rewriter> = if args.artifacts.is_some()
        || dir.join(MANIFEST_FILE).is_file()
    {
        watch(&dir, every, config.server.answer_cache_bytes, None)?
    } else {
        selflearn_server::note(format_args!(
            "no artifact set at {}; answering every rewrite request unchanged (run `selflearn learn`)",
            dir.display()
        ));
        Arc::new(NoRewrites)
    };
    // Blocks outlive every set: kept beside the log, they veto whatever layer answers.
    let blocks =
        Arc::new(BlockList::open(&config.log.dir).with_context(|| "cannot read the block list")?);
    let rewriter: Arc<dyn Rewriter> = Arc::new(Blocking::new(rewriter, blocks.clone()));
    let dashboard: Arc<dyn AdminViews> = Arc::new(Dashboard::new(&dir, &config.log.dir, blocks));
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.server.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.bind))?;
        let address = listener.local_addr()?;
        selflearn_server::check_exposure(&config.server, address)?;
        selflearn_server::Tokens::from_config(&config.server.tokens)?;
        println!(
            "listening on http://{address} (log {})",
            config.log.dir.display()
        );
        std::io::stdout().flush()?;
        selflearn_server::serve_with_dashboard(
            listener,
            log,
            config.server,
            rewriter,
            Some(dashboard),
            selflearn_server::shutdown_signal(),
        )
        .await
        .context("the service failed")
    })?;
    Ok(Outcome::Clean)
}

/// `serve --shards`: a rewrite replica of the set in `--artifacts`, for the people of
/// `shards`, with no log; it stops on SIGTERM or Ctrl-C.
fn replica(args: ServeArgs, config: Config, shards: ShardRange) -> anyhow::Result<Outcome> {
    let every = Duration::from_millis(args.reload_every_ms.max(10));
    let dir = args
        .artifacts
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ARTIFACTS));
    let rewriter = watch(&dir, every, config.server.answer_cache_bytes, Some(shards))
        .with_context(|| format!("a replica needs the artifact set in {}", dir.display()))?;
    let blocks =
        Arc::new(BlockList::open(&config.log.dir).with_context(|| "cannot read the block list")?);
    let reread = blocks.clone();
    // The replica writes no blocks; it follows the list the operator's tooling copies in.
    std::thread::Builder::new()
        .name("block-list".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                match reread.reload() {
                    Ok(true) => selflearn_server::note(format_args!("the block list changed")),
                    Ok(false) => {}
                    Err(e) => {
                        selflearn_server::note(format_args!("{e}; the blocks stay as they were"))
                    }
                }
            }
        })?;
    let rewriter: Arc<dyn Rewriter> = Arc::new(Blocking::new(rewriter, blocks));
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.server.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.bind))?;
        let address = listener.local_addr()?;
        println!("listening on http://{address} (rewrite replica of shards {shards})");
        std::io::stdout().flush()?;
        selflearn_server::serve_replica(
            listener,
            config.server,
            rewriter,
            shards,
            selflearn_server::shutdown_signal(),
        )
        .await
        .context("the service failed")
    })?;
    Ok(Outcome::Clean)
}
