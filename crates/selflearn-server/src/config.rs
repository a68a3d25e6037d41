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
    /// Answers of the online layers remembered per loaded version (0: none), so that repeated
    /// requests skip retrieval and ranking.
    pub answer_cache: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            allow_unauthenticated: false,
            bind: "127.0.0.1:8080".into(),
            max_body_bytes: 16 * 1024 * 1024,
            max_batch_events: 10_000,
            answer_cache: 100_000,
        }
    }
}
