//! The selflearn HTTP service: turn-event ingestion into the durable log, the rewrite API,
//! health, and its OpenAPI document.
//!
//! Writes go through one writer thread with group commit ([`writer`]); a batch is answered
//! only after it is durable, so a crash loses no acknowledged event, and a graceful shutdown
//! (SIGTERM, Ctrl-C) finishes in-flight batches before the process exits.

#![warn(missing_docs)]

pub mod artifact;
pub mod auth;
pub mod config;
pub mod error;
pub mod limit;
pub mod listen;
pub mod routes;
pub mod writer;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post};
use selflearn_log::EventLog;
use selflearn_types::shard::ShardRange;
use tokio::net::TcpListener;

pub use artifact::{LoadError, Reload, Watched};
pub use auth::{Caller, Role, TokenConfig, Tokens};
pub use config::ServerConfig;
pub use error::ApiError;
pub use routes::admin::AdminViews;
pub use selflearn_types::{NoRewrites, Rewriter};
use writer::LogWriter;

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The log's writer; `None` on a rewrite replica, which has no log.
    pub writer: Option<LogWriter>,
    /// The shards of people a rewrite replica answers for; `None`: everyone.
    pub shards: Option<ShardRange>,
    /// What answers rewrite requests.
    pub rewriter: Arc<dyn Rewriter>,
    /// Limits and settings.
    pub config: Arc<ServerConfig>,
    /// The configured tokens (none: every route open).
    pub tokens: Arc<Tokens>,
    /// Batches refused because an event id was re-sent with other content.
    pub conflicts: Arc<std::sync::atomic::AtomicU64>,
    /// People erased while this process runs.
    pub forgotten: Arc<Forgotten>,
    /// What the dashboard shows; `None`: its routes answer 404.
    pub admin: Option<Arc<dyn AdminViews>>,
}

/// People erased while this process runs, as (source, or `None` for every source; user id):
/// the loaded artifacts hold their personal index until the next `learn`, so their personal
/// answers are withheld until then.
#[derive(Debug, Default)]
pub struct Forgotten(std::sync::RwLock<std::collections::HashSet<(Option<String>, String)>>);

impl Forgotten {
    /// Records an erasure.
    pub fn record(&self, user_id: &str, source: Option<&str>) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((source.map(str::to_owned), user_id.to_owned()));
    }

    /// Whether the person (`user_id` of `source`) was erased.
    pub fn contains(&self, user_id: &str, source: Option<&str>) -> bool {
        let erased = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        !erased.is_empty()
            && (erased.contains(&(None, user_id.to_owned()))
                || source
                    .is_some_and(|s| erased.contains(&(Some(s.to_owned()), user_id.to_owned()))))
    }
}

/// One route: method, path, the role it needs (`None`: public) and its handler.
pub type Route = (
    &'static str,
    &'static str,
    Option<Role>,
    MethodRouter<AppState>,
);

/// Every route of the service. The router is built from this table alone, and the OpenAPI
/// document is tested against it.
pub fn route_table() -> [Route; 12] {
    [
        ("get", "/", None, get(routes::admin::get_page)),
        (
            "get",
            "/v1/admin/overview",
            Some(Role::Admin),
            get(routes::admin::get_overview),
        ),
        (
            "get",
            "/v1/admin/sessions/{user_id}",
            Some(Role::Admin),
            get(routes::admin::get_session),
        ),
        (
            "get",
            "/v1/admin/blocks",
            Some(Role::Admin),
            get(routes::admin::get_blocks),
        ),
        (
            "post",
            "/v1/admin/blocks",
            Some(Role::Admin),
            post(routes::admin::post_block),
        ),
        (
            "delete",
            "/v1/admin/blocks",
            Some(Role::Admin),
            delete(routes::admin::delete_block),
        ),
        (
            "post",
            "/v1/events",
            Some(Role::Ingest),
            post(routes::events::post_events),
        ),
        ("get", "/v1/health", None, get(routes::health::get_health)),
        ("get", "/v1/ready", None, get(routes::health::get_ready)),
        (
            "post",
            "/v1/rewrite",
            Some(Role::Rewrite),
            post(routes::rewrite::post_rewrite),
        ),
        (
            "delete",
            "/v1/users/{user_id}",
            Some(Role::Admin),
            delete(routes::users::delete_user),
        ),
        (
            "get",
            "/v1/openapi.json",
            None,
            get(routes::openapi::get_openapi),
        ),
    ]
}

/// The service's routes, each behind the role it needs and, for the guarded ones, a share of
/// the concurrency limit; every body has a size limit and a deadline.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let tokens = state.tokens.clone();
    let concurrent = config.max_concurrent_requests.max(1);
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrent));
    let body_deadline = std::time::Duration::from_millis(config.body_read_timeout_ms);
    let max_body = config.max_body_bytes;
    // One method router per path: the table lists each method of a path on its own line.
    let mut paths: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for (_, path, role, handler) in route_table() {
        let handler = match role {
            Some(role) => {
                let tokens = tokens.clone();
                let slots = slots.clone();
                handler
                    .route_layer(axum::middleware::from_fn(
                        move |request: axum::extract::Request, next: axum::middleware::Next| {
                            auth::require(tokens.clone(), role, request, next)
                        },
                    ))
                    .route_layer(axum::middleware::from_fn(
                        move |request: axum::extract::Request, next: axum::middleware::Next| {
                            limit::one_of(slots.clone(), concurrent, request, next)
                        },
                    ))
            }
            None => handler,
        };
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(handler),
            None => paths.push((path, handler)),
        }
    }
    paths
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::RequestBodyDeadlineLayer::new(
            body_deadline,
        ))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                limit::declared_size(max_body, request, next)
            },
        ))
        .with_state(state)
}

/// Refuses to serve with no tokens on an address other hosts can reach, unless the
/// configuration says so (`allow_unauthenticated`, for a proxy that authenticates): an open
/// service lets anyone write the log that rewrites are learned from.
pub fn check_exposure(config: &ServerConfig, address: std::net::SocketAddr) -> std::io::Result<()> {
    if config.tokens.is_empty() && !address.ip().is_loopback() && !config.allow_unauthenticated {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "refusing to serve {address} without tokens: anyone who reaches it could write \
                 the log rewrites are learned from; add [[server.tokens]] (see `selflearn token`), \
                 bind a loopback address, or set server.allow_unauthenticated = true behind a \
                 proxy that authenticates"
            ),
        ));
    }
    Ok(())
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
    serve_with_dashboard(listener, log, config, rewriter, None, shutdown).await
}

/// As [`serve`], with the dashboard's views (`GET /` and the `/v1/admin` routes).
pub async fn serve_with_dashboard(
    listener: TcpListener,
    log: EventLog,
    config: ServerConfig,
    rewriter: Arc<dyn Rewriter>,
    admin: Option<Arc<dyn AdminViews>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    check_exposure(&config, listener.local_addr()?)?;
    let tokens = Tokens::from_config(&config.tokens).map_err(std::io::Error::other)?;
    let limits = config.limits();
    let (writer, writer_thread) = LogWriter::spawn(log);
    let app = router(AppState {
        writer: Some(writer),
        shards: None,
        rewriter,
        config: Arc::new(config),
        tokens: Arc::new(tokens),
        conflicts: Arc::default(),
        forgotten: Arc::default(),
        admin,
    });
    supervise(listener, app, writer_thread, limits, shutdown).await
}

/// A rewrite replica on `listener`: no log, no dashboard, rewrites for the people of `shards`
/// only (421 for anyone else, and for events, which go to the ingest service), until
/// `shutdown` resolves. Stateless, so any number run behind a balancer that routes by the
/// user's shard ([`selflearn_types::shard`]).
pub async fn serve_replica(
    listener: TcpListener,
    config: ServerConfig,
    rewriter: Arc<dyn Rewriter>,
    shards: ShardRange,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    check_exposure(&config, listener.local_addr()?)?;
    let tokens = Tokens::from_config(&config.tokens).map_err(std::io::Error::other)?;
    let limits = config.limits();
    let app = router(AppState {
        writer: None,
        shards: Some(shards),
        rewriter,
        config: Arc::new(config),
        tokens: Arc::new(tokens),
        conflicts: Arc::default(),
        forgotten: Arc::default(),
        admin: None,
    });
    listen::serve_connections(listener, app, limits, shutdown).await
}

/// Serves `app` until `shutdown` resolves and the writer has committed every acknowledged
/// batch, or until the writer thread ends on its own, which is an error: a service that can
/// no longer store events exits (non-zero, from the command line) for its supervisor to
/// restart it, rather than answering 503 behind a healthy face. Restarting in process would
/// hide a failure that repeats.
pub async fn supervise(
    listener: TcpListener,
    app: Router,
    writer_thread: std::thread::JoinHandle<()>,
    limits: listen::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut writer_done = tokio::task::spawn_blocking(move || writer_thread.join());
    let server = listen::serve_connections(listener, app, limits, shutdown);
    tokio::select! {
        served = server => {
            served?;
            writer_done
                .await
                .map_err(std::io::Error::other)?
                .map_err(|_| std::io::Error::other("the log writer thread panicked"))?;
            tracing::info!("stopped; every acknowledged event is committed");
            Ok(())
        }
        ended = &mut writer_done => {
            let how = match ended {
                Ok(Ok(())) => "ended",
                _ => "panicked",
            };
            tracing::error!(how, "the log writer stopped; no event can be stored, exiting");
            Err(std::io::Error::other(format!(
                "the log writer thread {how} while serving; events can no longer be stored"
            )))
        }
    }
}

/// Writes an operator's note to standard error, dropping it if stderr cannot be written (a
/// full disk): `eprintln!` would panic the thread instead.
pub fn note(message: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{message}");
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
