//! Service configuration (the `[server]` section of the config file).

use serde::{Deserialize, Serialize};

use crate::auth::TokenConfig;

/// Service configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Bearer tokens and their roles. With none, every route is open, which `serve` allows
    /// only on a loopback address unless `allow_unauthenticated` says otherwise.
    pub tokens: Vec<TokenConfig>,
    /// Serve without tokens on a non-loopback address (behind a proxy that authenticates).
    pub allow_unauthenticated: bool,
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free port).
    pub bind: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events accepted in one `POST /v1/events` batch.
    pub max_batch_events: usize,
    /// Bytes of online answers (their keys included) remembered per loaded version (0: none),
    /// so that repeated requests skip retrieval and ranking.
    pub answer_cache_bytes: u64,
    /// Longest `text` of a rewrite request, in bytes: no spoken request is longer, and each
    /// byte costs encoding and retrieval on the request path.
    pub max_rewrite_text_bytes: usize,
    /// Most open connections; further ones are closed as they are accepted.
    pub max_connections: usize,
    /// Most requests to the guarded routes handled at once; more are answered 429
    /// `overloaded` with `Retry-After` (health and readiness are never refused).
    pub max_concurrent_requests: usize,
    /// A request's headers must arrive within this many milliseconds of the connection's
    /// start or of the previous response: slow headers and idle keep-alive connections are
    /// closed after it.
    pub header_read_timeout_ms: u64,
    /// A request's whole body must arrive within this many milliseconds (408 otherwise).
    pub body_read_timeout_ms: u64,
    /// After SIGTERM, in-flight requests get this many milliseconds; then their connections
    /// are closed and the process exits.
    pub shutdown_drain_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            allow_unauthenticated: false,
            bind: "127.0.0.1:8080".into(),
            max_body_bytes: 16 * 1024 * 1024,
            max_batch_events: 10_000,
            answer_cache_bytes: 64 * 1024 * 1024,
            max_rewrite_text_bytes: 1024,
            max_connections: 1024,
            max_concurrent_requests: 64,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            shutdown_drain_ms: 10_000,
        }
    }
}

impl ServerConfig {
    /// The connection-level limits.
    pub fn limits(&self) -> crate::listen::Limits {
        crate::listen::Limits {
            max_connections: self.max_connections.max(1),
            header_read_timeout: std::time::Duration::from_millis(self.header_read_timeout_ms),
            shutdown_drain: std::time::Duration::from_millis(self.shutdown_drain_ms),
        }
    }
}
