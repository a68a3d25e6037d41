//! `GET /v1/health`.

use axum::Json;
use serde::{Deserialize, Serialize};

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
