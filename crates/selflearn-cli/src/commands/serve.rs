//! `selflearn serve`: the HTTP service over the configured event log, until SIGTERM or Ctrl-C.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use selflearn_log::EventLog;
use selflearn_miner::RewriteTable;
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
}

/// Serves a mined rewrite table through the service's rewriter interface.
#[derive(Debug)]
struct TableRewriter(RewriteTable);

impl Rewriter for TableRewriter {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        self.0.rewrite(request)
    }
}

/// Serves until asked to stop; prints `listening on http://ADDR` once ready.
pub fn run(args: ServeArgs, mut config: Config) -> anyhow::Result<Outcome> {
    if let Some(bind) = args.bind {
        config.server.bind = bind;
    }
    let log = EventLog::open(&config.log.dir, &config.log.options())?;
    let rewriter: Arc<dyn Rewriter> = match &args.rewrite_table {
        Some(path) => {
            let table = RewriteTable::load(path)?;
            eprintln!(
                "rewrite table {} (version {}, {} rewrites)",
                path.display(),
                table.version,
                table.entries.len()
            );
            Arc::new(TableRewriter(table))
        }
        None => Arc::new(NoRewrites),
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
