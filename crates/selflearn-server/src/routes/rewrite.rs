//! `POST /v1/rewrite`: the text NLU should receive for one recognised request.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use selflearn_types::{RewriteRequest, RewriteResponse};

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
    let body = json_body(&headers, body, state.config.max_body_bytes)?;
    let mut request: RewriteRequest = parse_json(&body)?;
    selflearn_types::validate_request(&request).map_err(|e| ApiError::InvalidRequest {
        field: e.field,
        reason: e.reason,
    })?;
    request.source = stamped_source(&caller, request.source.take(), 0)?;
    Ok(Json(state.rewriter.rewrite(&request)))
}
