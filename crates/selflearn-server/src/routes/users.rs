//! `DELETE /v1/users/{user_id}`: erasure through the running service.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::{Caller, stamped_source};
use crate::error::ApiError;

/// Which of the user's events: of one source (installation), or of all when absent. A token
/// bound to a source erases within its source only.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ForgetQuery {
    /// The installation whose user to forget.
    pub source: Option<String>,
}

/// The answer to an erasure.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ForgetReply {
    /// The user.
    pub user_id: String,
    /// The source the erasure was limited to, if any.
    pub source: Option<String>,
    /// Events deleted from the log.
    pub deleted_events: u64,
    /// Whether the log's write-ahead file was emptied as well; `false` while a reader (a
    /// `learn` in progress) holds an older snapshot, until its next checkpoint.
    pub wal_truncated: bool,
    /// `true` on a rewrite replica, which has no log: it deleted nothing and only withholds
    /// the person's personal answers from now on; the erasure itself is the ingest service's.
    #[serde(default)]
    pub withheld_only: bool,
}

/// Deletes the user's events durably before answering; from then on this process gives the
/// user no personal rewrite, and the next `learn` drops them from every artifact.
#[tracing::instrument(skip_all)]
pub async fn delete_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(user_id): Path<String>,
    Query(query): Query<ForgetQuery>,
) -> Result<Json<ForgetReply>, ApiError> {
    selflearn_types::validate_id("user_id", &user_id).map_err(|e| ApiError::InvalidRequest {
        field: e.field,
        reason: e.reason,
    })?;
    let source = stamped_source(&caller, query.source, 0)?;
    let Some(writer) = state.writer.clone() else {
        state.forgotten.record(&user_id, source.as_deref());
        tracing::info!("a user's personal answers are withheld on this replica");
        return Ok(Json(ForgetReply {
            user_id,
            source,
            deleted_events: 0,
            wal_truncated: false,
            withheld_only: true,
        }));
    };
    let erased = writer
        .forget(user_id.clone(), source.clone())
        .await
        .ok_or(ApiError::ShuttingDown)?
        .map_err(ApiError::Storage)?;
    state.forgotten.record(&user_id, source.as_deref());
    tracing::info!(events = erased.events, "a user was forgotten");
    Ok(Json(ForgetReply {
        user_id,
        source,
        deleted_events: erased.events,
        wal_truncated: erased.wal_truncated,
        withheld_only: false,
    }))
}
