//! The HTTP routes, one module per resource.

pub mod admin;
pub mod events;
pub mod health;
pub mod openapi;
pub mod rewrite;
pub mod users;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, Uri, header};

use crate::error::ApiError;

/// Checks the content type and reads the body, mapping failures to API errors.
pub(crate) fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    config: &crate::ServerConfig,
) -> Result<Bytes, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge {
                limit: config.max_body_bytes,
            }
        } else if timed_out(&rejection) {
            ApiError::BodyTimeout {
                limit_ms: config.body_read_timeout_ms,
            }
        } else {
            ApiError::InvalidJson(rejection.body_text())
        }
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::EmptyBody);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_utf8_json(content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(body)
}

/// `application/json`, with no charset or UTF-8's (the only one JSON allows, RFC 8259): a
/// body declared UTF-16 would otherwise be read as UTF-8.
fn is_utf8_json(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let is_json = parts
        .next()
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    is_json
        && parts.all(|parameter| match parameter.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                let value = value.trim().trim_matches('"');
                value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
            }
            _ => true,
        })
}

/// Whether reading the body failed because its deadline passed.
fn timed_out(rejection: &BytesRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Parses a JSON body into `T`, naming the offending field on failure.
pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let error = e.into_inner();
        if error.is_data() {
            // Valid JSON of the wrong shape: say which field, not that the JSON is bad.
            ApiError::InvalidRequest {
                field,
                reason: error.to_string(),
            }
        } else {
            ApiError::InvalidJson(format!("field `{field}`: {error}"))
        }
    })?;
    de.end().map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    Ok(value)
}

/// Answer for an unknown route.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().to_owned())
}

/// Answer for a known route with the wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
