//! `POST /v1/rewrite`: the text NLU should receive for one recognised request.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use selflearn_types::{PERSONAL_LAYER, RewriteRequest, RewriteResponse};

use crate::AppState;
use crate::auth::{Caller, stamped_source};
use crate::error::ApiError;
use crate::routes::{json_body, parse_json};

/// Asks the loaded rewriter for the caller's source; answers the request unchanged when
/// nothing fires.
#[tracing::instrument(skip_all)]
pub async fn post_rewrite(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RewriteResponse>, ApiError> {
    let body = json_body(&headers, body, &state.config)?;
    let mut request: RewriteRequest = parse_json(&body)?;
    selflearn_types::validate_request(&request).map_err(|e| ApiError::InvalidRequest {
        field: e.field,
        reason: e.reason,
    })?;
    let limit = state.config.max_rewrite_text_bytes;
    if request.text.len() > limit {
        return Err(ApiError::InvalidRequest {
            field: "text".into(),
            reason: format!(
                "is {} bytes long, at most {limit} allowed",
                request.text.len()
            ),
        });
    }
    if let Some(shards) = state.shards.filter(|s| !s.holds(&request.user_id)) {
        return Err(ApiError::Misdirected(format!(
            "user {:?} is in shard {} of {}; this replica answers for {shards}",
            request.user_id,
            selflearn_types::shard::shard_of(&request.user_id, shards.count),
            shards.count
        )));
    }
    request.source = stamped_source(&caller, request.source.take(), 0)?;
    // Encoding and retrieval are CPU work: off the threads that drive every connection.
    let rewriter = state.rewriter.clone();
    let (request, answer) = tokio::task::spawn_blocking(move || {
        let answer = rewriter.rewrite(&request);
        (request, answer)
    })
    .await
    .map_err(|_| ApiError::Internal("the rewriter panicked"))?;
    if answer.layer.as_deref() == Some(PERSONAL_LAYER)
        && state
            .forgotten
            .contains(&request.user_id, request.source.as_deref())
    {
        return Ok(Json(RewriteResponse::unchanged(request.text)));
    }
    Ok(Json(answer))
}
