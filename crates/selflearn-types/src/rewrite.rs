//! The rewrite API: what an assistant sends before NLU and what it gets back.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::Device;

/// The `layer` of an answer from someone's own history: the service withholds it for a
/// person erased since the artifacts were learned.
pub const PERSONAL_LAYER: &str = "personal";

/// A request to rewrite one recognised utterance before NLU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RewriteRequest {
    /// The person speaking.
    pub user_id: String,
    /// The assistant installation asking; set by the service from the calling token when the
    /// token is bound to one, as on turn events. Personal rewrites answer only for a person of
    /// the same source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The device that heard the request.
    pub device: Device,
    /// The ASR 1-best text.
    pub text: String,
    /// Request time in milliseconds since the Unix epoch, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    /// Free-form request context, as in the turn event.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
}

/// The answer: the text to send to NLU, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RewriteResponse {
    /// The text NLU should receive: the request itself when nothing fired.
    pub text: String,
    /// Whether `text` differs from the request because a rewrite fired.
    pub rewritten: bool,
    /// Which layer fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// The layer's score for the rewrite, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// Evidence for the rewrite, readable by a person (counts, probabilities, users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Version of the learned artifact that fired, for the turn event's `rewrite` record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_version: Option<String>,
}

impl RewriteResponse {
    /// The answer when no rewrite applies: the request unchanged.
    pub fn unchanged(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            rewritten: false,
            layer: None,
            score: None,
            explanation: None,
            artifact_version: None,
        }
    }
}

/// Rewrites a request before NLU, or leaves it as it is. The one contract every rewriting
/// layer, their composition, the HTTP service and the evaluation world's assistant share, so
/// that what is measured is what is served.
pub trait Rewriter: Send + Sync + std::fmt::Debug {
    /// The answer for one request.
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse;

    /// The version of the learned artifacts answering, when there are any: what the service's
    /// readiness reports.
    fn artifact_version(&self) -> Option<String> {
        None
    }
}

/// The rewriter in force when nothing learned is loaded: never rewrites.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRewrites;

impl Rewriter for NoRewrites {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        RewriteResponse::unchanged(request.text.clone())
    }
}

impl<R: Rewriter + ?Sized> Rewriter for std::sync::Arc<R> {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        (**self).rewrite(request)
    }

    fn artifact_version(&self) -> Option<String> {
        (**self).artifact_version()
    }
}

impl<R: Rewriter + ?Sized> Rewriter for &R {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        (**self).rewrite(request)
    }

    fn artifact_version(&self) -> Option<String> {
        (**self).artifact_version()
    }
}
