//! `GET /v1/health` (liveness: the process answers) and `GET /v1/ready` (readiness: events
//! can be stored, and which artifacts answer rewrites).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::AppState;

/// Liveness answer.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Health {
    /// Always `ok` while the service answers.
    pub status: String,
    /// The service's version.
    pub version: String,
}

/// The service is up and accepting requests.
pub async fn get_health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Readiness answer.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ready {
    /// `ready`, or `not_ready` when events cannot be stored.
    pub status: String,
    /// The event writer: `running`, `stopped` (the process then exits non-zero for its
    /// supervisor to restart it), or `none` on a rewrite replica.
    pub writer: String,
    /// Version of the artifact set answering rewrites; absent when none is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_version: Option<String>,
    /// Batches refused since start because an event id was re-sent with other content.
    pub conflicting_batches: u64,
    /// On a rewrite replica, the shards of people it answers for (such as `0-3/16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<String>,
}

/// 200 when events can be stored, 503 when not; both with the details.
pub async fn get_ready(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    // A replica has no writer and is ready as long as it answers.
    let running = state.writer.as_ref().is_none_or(|w| w.is_running());
    let writer = match &state.writer {
        None => "none",
        Some(_) if running => "running",
        Some(_) => "stopped",
    };
    let ready = Ready {
        status: if running { "ready" } else { "not_ready" }.into(),
        writer: writer.into(),
        artifact_version: state.rewriter.artifact_version(),
        conflicting_batches: state.conflicts.load(std::sync::atomic::Ordering::Relaxed),
        shards: state.shards.map(|s| s.to_string()),
    };
    let status = if running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(ready))
}
