//! The selflearn HTTP service: turn-event ingestion into the durable log, the rewrite API,
//! health, and its OpenAPI document.
//!
//! Writes go through one writer thread with group commit ([`writer`]); a batch is answered
//! only after it is durable, so a crash loses no acknowledged event, and a graceful shutdown
//! (SIGTERM, Ctrl-C) finishes in-flight batches before the process exits.

#![warn(missing_docs)]

pub mod artifact;
pub mod config;
pub mod error;
pub mod routes;
pub mod writer;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get, post};
use selflearn_log::EventLog;
use tokio::net::TcpListener;

pub use artifact::{LoadError, Reload, Watched};
pub use config::ServerConfig;
pub use error::ApiError;
pub use selflearn_types::{NoRewrites, Rewriter};
use writer::LogWriter;

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The log's writer.
    pub writer: LogWriter,
    /// What answers rewrite requests.
    pub rewriter: Arc<dyn Rewriter>,
    /// Limits and settings.
    pub config: Arc<ServerConfig>,
}

/// Every route of the service: method, path and handler. The router is built from this table
/// alone, and the OpenAPI document is tested against it.
pub fn route_table() -> [(&'static str, &'static str, MethodRouter<AppState>); 4] {
    [
        ("post", "/v1/events", post(routes::events::post_events)),
        ("get", "/v1/health", get(routes::health::get_health)),
        ("post", "/v1/rewrite", post(routes::rewrite::post_rewrite)),
        ("get", "/v1/openapi.json", get(routes::openapi::get_openapi)),
    ]
}

/// The service's routes.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    route_table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves, then lets in-flight requests finish and
/// waits until every acknowledged batch is committed.
pub async fn serve(
    listener: TcpListener,
    log: EventLog,
    config: ServerConfig,
    rewriter: Arc<dyn Rewriter>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (writer, writer_thread) = LogWriter::spawn(log);
    let app = router(AppState {
        writer,
        rewriter,
        config: Arc::new(config),
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tokio::task::spawn_blocking(move || writer_thread.join())
        .await
        .map_err(std::io::Error::other)?
        .map_err(|_| std::io::Error::other("the log writer thread panicked"))?;
    tracing::info!("stopped; every acknowledged event is committed");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
