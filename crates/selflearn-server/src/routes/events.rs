//! `POST /v1/events`: a batch of turn events, stored atomically and durably.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::AppState;
use crate::auth::{Caller, stamped_source};
use crate::error::ApiError;
use crate::routes::{json_body, parse_json};

/// The answer to an accepted batch.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IngestReply {
    /// Events in the batch.
    pub accepted: u64,
    /// Events newly stored.
    pub inserted: u64,
    /// Events whose id was already stored (idempotent retries).
    pub duplicates: u64,
}

/// Validates the whole batch first; stores it only if every record is valid and no id repeats.
#[tracing::instrument(skip_all, fields(bytes = body.as_ref().map_or(0, |b| b.len())))]
pub async fn post_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestReply>, ApiError> {
    let writer = state.writer.clone().ok_or_else(|| {
        ApiError::Misdirected(
            "this is a rewrite replica, which stores no events; send them to the ingest service"
                .into(),
        )
    })?;
    let body = json_body(&headers, body, &state.config)?;
    let records: Vec<&RawValue> = parse_json(&body)?;
    let limit = state.config.max_batch_events;
    if records.len() > limit {
        return Err(ApiError::BatchTooLarge {
            count: records.len(),
            limit,
        });
    }
    let mut events = Vec::with_capacity(records.len());
    let mut first_seen: HashMap<&str, usize> = HashMap::with_capacity(records.len());
    for (index, raw) in records.iter().enumerate() {
        let mut event =
            selflearn_types::parse_event(raw.get()).map_err(|e| ApiError::InvalidEvent {
                index,
                field: e.field,
                reason: e.reason,
            })?;
        event.source = stamped_source(&caller, event.source.take(), index)?;
        events.push(event);
    }
    for (index, event) in events.iter().enumerate() {
        if let Some(&first) = first_seen.get(event.event_id.as_str()) {
            return Err(ApiError::DuplicateEvent {
                index,
                first,
                event_id: event.event_id.clone(),
            });
        }
        first_seen.insert(&event.event_id, index);
    }
    let accepted = events.len() as u64;
    let summary = writer
        .append(events)
        .await
        .ok_or(ApiError::ShuttingDown)?
        .map_err(|error| match &*error {
            selflearn_log::LogError::ConflictingId {
                position: selflearn_log::Position::Index(index),
                event_id,
            } => {
                state
                    .conflicts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(%event_id, "an event id was re-sent with other content; refused");
                ApiError::ConflictingEventId {
                    index: *index,
                    event_id: event_id.clone(),
                }
            }
            _ => ApiError::Storage(error),
        })?;
    Ok(Json(IngestReply {
        accepted,
        inserted: summary.inserted,
        duplicates: summary.duplicates,
    }))
}
