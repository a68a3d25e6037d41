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
}

/// Where `learn` writes its set by default.
const DEFAULT_ARTIFACTS: &str = "selflearn-data/artifacts";

/// The set in `dir` as `serve` runs it, watched for the life of the process: each new set
/// whose digests match is swapped in whole.
fn watch(dir: &Path, every: Duration, cache_bytes: u64) -> anyhow::Result<Arc<Watched<Layered>>> {
    let root = dir.to_path_buf();
    let watched = Watched::open(&dir.join(MANIFEST_FILE), move |_| {
        let set = LoadedSet::load(&root)?;
        let version = set.manifest.version.clone();
        Ok((set.serving(cache_bytes), version))
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let what = format!("artifact set {}", dir.display());
    Ok(Watched::check_every(watched, every, what))
}

/// Serves until asked to stop; prints `listening on http://ADDR` once ready.
pub fn run(args: ServeArgs, mut config: Config) -> anyhow::Result<Outcome> {
    if let Some(bind) = args.bind {
        config.server.bind = bind;
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
        watch(&dir, every, config.server.answer_cache_bytes)?
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
