//! Request-level limits: how many guarded requests run at once, and bodies that announce more
//! than the service accepts.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// `response` to a request refused before its body was read, saying `Connection: close`: the
/// unread body makes the connection unusable for another request, and a client that is not
/// told so (aiohttp's keep-alive pool) sends its next request into a closed socket.
pub fn refused_unread(request: &Request, mut response: Response) -> Response {
    let has_body = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() != "0")
        && (request.headers().contains_key(CONTENT_LENGTH)
            || request
                .headers()
                .contains_key(axum::http::header::TRANSFER_ENCODING));
    if has_body {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Runs the request if one of `slots` is free, else answers 429 `overloaded` at once: under
/// overload, a quick refusal the client can retry beats a queue that grows without bound.
pub async fn one_of(slots: Arc<Semaphore>, limit: usize, request: Request, next: Next) -> Response {
    match slots.try_acquire() {
        Ok(_slot) => next.run(request).await,
        Err(_) => refused_unread(&request, ApiError::Overloaded { limit }.into_response()),
    }
}

/// Refuses a body whose declared `Content-Length` exceeds `limit` before reading any of it,
/// so that a client announcing gigabytes is answered at once instead of being read from.
pub async fn declared_size(limit: usize, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => {
            refused_unread(&request, ApiError::BodyTooLarge { limit }.into_response())
        }
        _ => next.run(request).await,
    }
}
