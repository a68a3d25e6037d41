//! `selflearn serve`: the HTTP service over the configured event log, until SIGTERM or Ctrl-C.
//! With `--rewrite-table`, `POST /v1/rewrite` answers from the table, and a watcher thread swaps
//! in each new version `learn` writes there (an invalid one is refused; the old one stays).

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use selflearn_log::EventLog;
use selflearn_miner::{Reload, WatchedTable};
use selflearn_online::{Encoder, Layers, OnlineModel};
use selflearn_server::{NoRewrites, Rewriter};
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
    /// applies (global and personal layers).
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

/// The layers in order: the precomputed table in force, then the online layers.
#[derive(Debug)]
struct LayeredRewriter {
    table: Option<Arc<WatchedTable>>,
    online: Option<OnlineModel>,
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
            Some(model) => model.rewrite(request, Layers::GlobalAndPersonal),
            None => RewriteResponse::unchanged(request.text.clone()),
        }
    }
}

/// Looks at the table file every `every` and reports what changed, for the life of the process.
fn watch(table: Arc<WatchedTable>, path: std::path::PathBuf, every: std::time::Duration) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(every);
            match table.check() {
                Reload::Unchanged => {}
                Reload::Loaded { version, entries } => eprintln!(
                    "rewrite table {}: now serving version {version} ({entries} rewrites)",
                    path.display()
                ),
                Reload::Refused { error, kept } => {
                    eprintln!("{error:#}; still serving version {kept}");
                }
            }
        }
    });
}

/// Serves until asked to stop; prints `listening on http://ADDR` once ready.
pub fn run(args: ServeArgs, mut config: Config) -> anyhow::Result<Outcome> {
    if let Some(bind) = args.bind {
        config.server.bind = bind;
    }
    let log = EventLog::open(&config.log.dir, &config.log.options())?;
    let table = match &args.rewrite_table {
        Some(path) => {
            let table = Arc::new(WatchedTable::open(path)?);
            let current = table.current();
            eprintln!(
                "rewrite table {} (version {}, {} rewrites)",
                path.display(),
                current.version,
                current.entries.len()
            );
            watch(
                table.clone(),
                path.clone(),
                std::time::Duration::from_millis(args.reload_every_ms.max(10)),
            );
            Some(table)
        }
        None => None,
    };
    let online = match &args.online {
        Some(path) => {
            let model = OnlineModel::load(path, Encoder::load(&args.encoder)?)?
                .with_lexicon(super::learn::lexicon_at(&args.lexicon)?);
            eprintln!(
                "online layers {} (version {}, {} global candidates, {} personal indices)",
                path.display(),
                model.version(),
                model.global_len(),
                model.personal_users().count()
            );
            Some(model)
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
