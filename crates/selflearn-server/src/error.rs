//! The API's errors: one enum, one exhaustive mapping to HTTP status and a stable code, and one
//! body shape `{"error": {"code", "message"}}` (plus `index` and `field` for a bad record).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request had no body.
    #[error("the request body is empty")]
    EmptyBody,
    /// The body is not valid JSON of the expected shape.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    /// One record of a batch is invalid; the batch was not stored.
    #[error("record {index}: field `{field}`: {reason}")]
    InvalidEvent {
        /// 0-based index of the record in the batch.
        index: usize,
        /// JSON path of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// An event id occurs twice in the batch; the batch was not stored.
    #[error("record {index}: event_id `{event_id}` repeats record {first}")]
    DuplicateEvent {
        /// Index of the repeat.
        index: usize,
        /// Index of the first occurrence.
        first: usize,
        /// The repeated id.
        event_id: String,
    },
    /// An event id already stored with other content; nothing of the batch was stored.
    #[error("record {index}: event_id `{event_id}` is already stored with other content")]
    ConflictingEventId {
        /// Index of the record in the batch.
        index: usize,
        /// The id.
        event_id: String,
    },
    /// The body is larger than the configured limit.
    #[error("the request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The batch has more events than the configured limit.
    #[error("the batch has {count} events, at most {limit} allowed")]
    BatchTooLarge {
        /// Events in the batch.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The body's content type is not JSON.
    #[error("expected Content-Type application/json, in UTF-8")]
    UnsupportedMediaType,
    /// No token, or one the service does not know.
    #[error("{0}; send `Authorization: Bearer <token>`")]
    Unauthorized(&'static str),
    /// The token lacks the role the route needs.
    #[error("the token {token:?} lacks the {role} role")]
    Forbidden {
        /// The token's name.
        token: String,
        /// The role the route needs.
        role: crate::auth::Role,
    },
    /// A record names another source than the token is bound to; nothing was stored.
    #[error("record {index}: source {given:?}, but the token speaks for {bound:?}")]
    OtherSource {
        /// Index of the record (0 for a rewrite request).
        index: usize,
        /// The source the record named.
        given: String,
        /// The token's source.
        bound: String,
    },
    /// A rewrite request that no event could carry (an id that validation refuses).
    #[error("field `{field}`: {reason}")]
    InvalidRequest {
        /// JSON path of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// No such route.
    #[error("no route for {0}")]
    NotFound(String),
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body did not arrive within the configured time.
    #[error("the request body did not arrive within {limit_ms} ms")]
    BodyTimeout {
        /// The limit.
        limit_ms: u64,
    },
    /// Too many requests in flight; retry after a second.
    #[error("the service is handling {limit} requests already; retry shortly")]
    Overloaded {
        /// Requests handled at once.
        limit: usize,
    },
    /// The server is shutting down and takes no more writes.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Storing failed; nothing of the batch was acknowledged.
    #[error("internal error: {0}")]
    Storage(std::sync::Arc<selflearn_log::LogError>),
    /// A bug: something that should not fail did.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// What a view reads (the artifact set, the log, the block list) cannot be read now.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// This process does not serve the request: a rewrite replica asked for a person of
    /// another shard, or for what only the ingest service does (the load balancer's routing
    /// is wrong).
    #[error("misdirected: {0}")]
    Misdirected(String),
}

impl ApiError {
    /// HTTP status and stable machine-readable code, for every variant.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::EmptyBody => (StatusCode::BAD_REQUEST, "empty_body"),
            ApiError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            ApiError::InvalidEvent { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_event"),
            ApiError::DuplicateEvent { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "duplicate_event_id")
            }
            ApiError::ConflictingEventId { .. } => (StatusCode::CONFLICT, "conflicting_event_id"),
            ApiError::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::BatchTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::OtherSource { .. } => (StatusCode::FORBIDDEN, "other_source"),
            ApiError::InvalidRequest { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            ApiError::Overloaded { .. } => (StatusCode::TOO_MANY_REQUESTS, "overloaded"),
            ApiError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Misdirected(_) => (StatusCode::MISDIRECTED_REQUEST, "misdirected"),
            ApiError::Storage(_) | ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

/// The error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error object inside [`ErrorBody`].
#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Message for a person.
    pub message: String,
    /// Index of the offending record in a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// JSON path of the offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let (index, field) = match &self {
            ApiError::InvalidEvent { index, field, .. } => (Some(*index), Some(field.clone())),
            ApiError::DuplicateEvent { index, .. } => (Some(*index), Some("event_id".to_owned())),
            ApiError::OtherSource { index, .. } => (Some(*index), Some("source".to_owned())),
            ApiError::ConflictingEventId { index, .. } => {
                (Some(*index), Some("event_id".to_owned()))
            }
            ApiError::InvalidRequest { field, .. } => (None, Some(field.clone())),
            _ => (None, None),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.to_string(),
                index,
                field,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}
