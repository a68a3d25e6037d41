//! The dashboard: `GET /` is the page (public: it holds no data, only the script that asks for
//! a token), and the `admin` routes it calls serve the server-rendered fragments and edit the
//! block list. What the fragments show comes from an [`AdminViews`], which the command line
//! wires to the artifact set and the log.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, body::Bytes};
use serde::{Deserialize, Serialize};

use selflearn_types::blocked::{Block, BlockList};

use crate::AppState;
use crate::auth::{Caller, stamped_source};
use crate::error::ApiError;
use crate::routes::{json_body, parse_json};

/// What the dashboard's fragments are made of; an implementation reads the artifact set and
/// the log, on a blocking thread.
pub trait AdminViews: Send + Sync + std::fmt::Debug {
    /// The overview, as HTML; `in_force` is the artifact version the service answers with.
    fn overview(&self, in_force: Option<&str>) -> Result<String, String>;
    /// One person's sessions, as HTML.
    fn session(&self, user_id: &str, source: Option<&str>) -> Result<String, String>;
    /// The block list the service's answers are vetoed by.
    fn blocks(&self) -> &Arc<BlockList>;
}

/// The page's shell: styles and the script that fetches the fragments with the token.
const PAGE: &str = include_str!("dashboard.html");

/// `GET /`: the dashboard page.
pub async fn get_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(PAGE),
    )
        .into_response()
}

fn views(state: &AppState) -> Result<Arc<dyn AdminViews>, ApiError> {
    state.admin.clone().ok_or_else(|| {
        ApiError::Unavailable("this service runs without the dashboard's views".into())
    })
}

/// A fragment made on a blocking thread: reading the set or the log must not hold up the
/// threads that drive connections.
async fn fragment(
    make: impl FnOnce() -> Result<String, String> + Send + 'static,
) -> Result<Response, ApiError> {
    let html = tokio::task::spawn_blocking(make)
        .await
        .map_err(|_| ApiError::Internal("a dashboard view panicked"))?
        .map_err(ApiError::Unavailable)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

/// `GET /v1/admin/overview` (admin): the overview fragment.
pub async fn get_overview(State(state): State<AppState>) -> Result<Response, ApiError> {
    let views = views(&state)?;
    let in_force = state.rewriter.artifact_version();
    fragment(move || views.overview(in_force.as_deref())).await
}

/// Whose sessions: the person's installation, when user ids are per installation.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SessionQuery {
    /// The installation (source) of the person.
    pub source: Option<String>,
}

/// `GET /v1/admin/sessions/{user_id}` (admin): one person's sessions. A token bound to a
/// source sees only its own installation's people.
pub async fn get_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(user_id): Path<String>,
    Query(query): Query<SessionQuery>,
) -> Result<Response, ApiError> {
    selflearn_types::validate_id("user_id", &user_id).map_err(|e| ApiError::InvalidRequest {
        field: e.field,
        reason: e.reason,
    })?;
    let source = stamped_source(&caller, query.source.filter(|s| !s.is_empty()), 0)?;
    let views = views(&state)?;
    fragment(move || views.session(&user_id, source.as_deref())).await
}

/// A block to make or lift: the rewrite's target, and its source (absent: every rewrite into
/// the target).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// The request the rewrite rewrote; absent or empty for every request.
    #[serde(default)]
    pub source: Option<String>,
    /// What it rewrote the request to.
    pub target: String,
}

/// The block list after a change.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BlocksReply {
    /// Whether the request changed the list.
    pub changed: bool,
    /// Every block, oldest first.
    pub blocks: Vec<BlockView>,
}

/// One block as the API shows it.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BlockView {
    /// The request it blocks the rewrite of; absent: every request.
    pub source: Option<String>,
    /// The blocked target.
    pub target: String,
    /// When it was made (Unix ms).
    pub at_ms: i64,
}

fn reply(changed: bool, blocks: Vec<Block>) -> Json<BlocksReply> {
    Json(BlocksReply {
        changed,
        blocks: blocks
            .into_iter()
            .map(|b| BlockView {
                source: b.source,
                target: b.target,
                at_ms: b.at_ms,
            })
            .collect(),
    })
}

/// `GET /v1/admin/blocks` (admin): the block list.
pub async fn get_blocks(State(state): State<AppState>) -> Result<Json<BlocksReply>, ApiError> {
    Ok(reply(false, views(&state)?.blocks().blocks()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn change(
    state: AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    block: bool,
) -> Result<Json<BlocksReply>, ApiError> {
    let body = json_body(&headers, body, &state.config)?;
    let request: BlockRequest = parse_json(&body)?;
    let limit = state.config.max_rewrite_text_bytes;
    for (field, text) in [
        ("source", request.source.as_deref().unwrap_or("")),
        ("target", &request.target),
    ] {
        if text.len() > limit {
            return Err(ApiError::InvalidRequest {
                field: field.into(),
                reason: format!(
                    "{} bytes, more than max_rewrite_text_bytes ({limit})",
                    text.len()
                ),
            });
        }
    }
    let blocks = views(&state)?.blocks().clone();
    let source = request.source.filter(|s| !s.trim().is_empty());
    // The list is saved (fsynced) before the answer: a block acknowledged is a block kept.
    let changed = tokio::task::spawn_blocking(move || {
        let changed = if block {
            blocks.block(source.as_deref(), &request.target, now_ms())
        } else {
            blocks.unblock(source.as_deref(), &request.target)
        };
        changed.map(|c| (c, blocks.blocks()))
    })
    .await
    .map_err(|_| ApiError::Internal("saving the block list panicked"))?;
    match changed {
        Ok((changed, list)) => {
            tracing::info!(block, changed, "block list edited");
            Ok(reply(changed, list))
        }
        Err(selflearn_types::blocked::BlockError::EmptyTarget) => Err(ApiError::InvalidRequest {
            field: "target".into(),
            reason: "a block needs a target with words in it".into(),
        }),
        Err(e) => Err(ApiError::Unavailable(e.to_string())),
    }
}

/// `POST /v1/admin/blocks` (admin): blocks a rewrite; from this answer on it is never served.
pub async fn post_block(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BlocksReply>, ApiError> {
    change(state, headers, body, true).await
}

/// `DELETE /v1/admin/blocks` (admin): lifts a block.
pub async fn delete_block(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BlocksReply>, ApiError> {
    change(state, headers, body, false).await
}
