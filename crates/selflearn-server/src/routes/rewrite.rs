//! `POST /v1/rewrite`: the text NLU should receive for one recognised request.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use selflearn_types::{RewriteRequest, RewriteResponse};

use crate::AppState;
use crate::error::ApiError;
use crate::routes::{json_body, parse_json};

/// Asks the loaded rewriter; answers the request unchanged when nothing fires.
#[tracing::instrument(skip_all)]
pub async fn post_rewrite(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RewriteResponse>, ApiError> {
    let body = json_body(&headers, body, state.config.max_body_bytes)?;
    let request: RewriteRequest = parse_json(&body)?;
    Ok(Json(state.rewriter.rewrite(&request)))
}
