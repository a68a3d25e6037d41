//! `selflearn serve`: the HTTP service over the configured event log, until SIGTERM or Ctrl-C.
//! With `--rewrite-table` and `--online`, `POST /v1/rewrite` answers from the precomputed table,
//! then the online layers; a watcher thread per artifact swaps in each new version `learn`
//! writes (an invalid one is refused; the old one stays).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use selflearn_log::EventLog;
use selflearn_miner::RewriteTable;
use selflearn_online::{ArtifactError, CachedModel, Encoder, Layers, OnlineModel};
use selflearn_server::{NoRewrites, Reload, Rewriter, Watched};
use selflearn_types::{RewriteRequest, RewriteResponse};

use super::Outcome;
use crate::config::Config;

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; overrides `server.bind`.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// A rewrite table written by `selflearn learn`, consulted by `POST /v1/rewrite`.
    #[arg(long, value_name = "FILE")]
    pub rewrite_table: Option<std::path::PathBuf>,
    /// How often to look for a new version of the rewrite table, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub reload_every_ms: u64,
    /// The online layers written by `selflearn learn`, consulted when no precomputed rewrite
    /// applies (global and personal layers); reloaded when the file changes.
    #[arg(long, value_name = "FILE")]
    pub online: Option<std::path::PathBuf>,
    /// The encoder the online layers were learned with.
    #[arg(
        long,
        default_value = "selflearn-data/artifacts/encoder.safetensors",
        value_name = "FILE"
    )]
    pub encoder: std::path::PathBuf,
    /// The pronunciation lexicon the online layers were learned with.
    #[arg(long, default_value = "data/cmudict_vocab.jsonl", value_name = "FILE")]
    pub lexicon: std::path::PathBuf,
}

/// The layers in order: the precomputed table in force, then the online layers in force.
#[derive(Debug)]
struct LayeredRewriter {
    table: Option<Arc<Watched<RewriteTable>>>,
    online: Option<Arc<Watched<CachedModel>>>,
}

impl Rewriter for LayeredRewriter {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        if let Some(table) = &self.table {
            let answer = table.current().rewrite(request);
            if answer.rewritten {
                return answer;
            }
        }
        match &self.online {
            Some(model) => model.current().rewrite(request, Layers::GlobalAndPersonal),
            None => RewriteResponse::unchanged(request.text.clone()),
        }
    }
}

/// Opens an artifact and looks at its file every `every` for the life of the process,
/// reporting each swap and each refusal.
fn watch<T: Send + Sync + 'static>(
    what: &'static str,
    path: &Path,
    every: Duration,
    load: impl Fn(&Path) -> Result<(T, String), String> + Send + Sync + 'static,
) -> anyhow::Result<Arc<Watched<T>>> {
    let watched = Arc::new(Watched::open(path, load).map_err(anyhow::Error::msg)?);
    eprintln!("{what} {} (version {})", path.display(), watched.version());
    let (seen, path) = (watched.clone(), path.to_path_buf());
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(every);
            match seen.check() {
                Reload::Unchanged => {}
                Reload::Loaded { version } => {
                    eprintln!("{what} {}: now serving version {version}", path.display());
                }
                Reload::Refused { error, kept } => {
                    eprintln!("{error}; still serving version {kept}");
                }
            }
        }
    });
    Ok(watched)
}

/// Serves until asked to stop; prints `listening on http://ADDR` once ready.
pub fn run(args: ServeArgs, mut config: Config) -> anyhow::Result<Outcome> {
    if let Some(bind) = args.bind {
        config.server.bind = bind;
    }
    let log = EventLog::open(&config.log.dir, &config.log.options())?;
    let every = Duration::from_millis(args.reload_every_ms.max(10));
    let table = match &args.rewrite_table {
        Some(path) => Some(watch("rewrite table", path, every, |path| {
            let table = RewriteTable::load(path).map_err(|e| e.to_string())?;
            let version = table.version.clone();
            Ok((table, version))
        })?),
        None => None,
    };
    let online = match &args.online {
        Some(path) => {
            let encoder_path = args.encoder.clone();
            let encoder = std::sync::Mutex::new(Encoder::load(&encoder_path)?);
            let lexicon = super::learn::lexicon_at(&args.lexicon)?;
            let cache = config.server.answer_cache;
            Some(watch("online layers", path, every, move |path| {
                let mut encoder = encoder.lock().map_err(|e| e.to_string())?;
                let model = match OnlineModel::load(path, encoder.clone()) {
                    // Learned with another encoder (`train` wrote a new one, then `learn` used
                    // it): load the encoder file again, and swap in both or neither.
                    Err(ArtifactError::OtherEncoder { .. }) => {
                        let fresh = Encoder::load(&encoder_path).map_err(|e| e.to_string())?;
                        let model = OnlineModel::load(path, fresh.clone()).map_err(|e| {
                            format!(
                                "{e} (the encoder file {} is not it either)",
                                encoder_path.display()
                            )
                        })?;
                        *encoder = fresh;
                        model
                    }
                    other => other.map_err(|e| e.to_string())?,
                }
                .with_lexicon(lexicon.clone());
                let version = model.version().to_owned();
                Ok((CachedModel::new(model, cache), version))
            })?)
        }
        None => None,
    };
    let rewriter: Arc<dyn Rewriter> = if table.is_none() && online.is_none() {
        Arc::new(NoRewrites)
    } else {
        Arc::new(LayeredRewriter { table, online })
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.server.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.bind))?;
        let address = listener.local_addr()?;
        println!(
            "listening on http://{address} (log {})",
            config.log.dir.display()
        );
        std::io::stdout().flush()?;
        selflearn_server::serve(
            listener,
            log,
            config.server,
            rewriter,
            selflearn_server::shutdown_signal(),
        )
        .await
        .context("the service failed")
    })?;
    Ok(Outcome::Clean)
}
