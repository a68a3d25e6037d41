//! The accept loop, with the limits a service on a network needs: a connection limit, a
//! deadline for each request's headers that also closes idle keep-alive connections, and a
//! bounded drain at shutdown. `axum::serve` has none of these: one slow or idle client per
//! socket could hold the process open forever.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Connection-level limits (from [`crate::ServerConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most open connections; more are closed as they are accepted.
    pub max_connections: usize,
    /// A request's headers must arrive within this from the connection's start or from the
    /// previous response (so an idle keep-alive connection is closed after it, too).
    pub header_read_timeout: Duration,
    /// Connections still open this long after shutdown began are closed.
    pub shutdown_drain: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish for at most [`Limits::shutdown_drain`] and closes what is left. Returns
/// once every connection (and so every handle on the app's state) is gone.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::warn!(
                limit = limits.max_connections,
                "connection limit reached; closing a new connection"
            );
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let still_open = connections.len();
    if tokio::time::timeout(limits.shutdown_drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            still_open,
            drain_s = limits.shutdown_drain.as_secs_f64(),
            "connections still open after the drain; closing them"
        );
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}
