//! What answers `POST /v1/rewrite`. Learners provide implementations; until one is loaded the
//! service answers every request unchanged.

use selflearn_types::{RewriteRequest, RewriteResponse};

/// Rewrites a request before NLU, or leaves it as it is.
pub trait Rewriter: Send + Sync + std::fmt::Debug {
    /// The answer for one request.
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse;
}

/// The rewriter in force when no learned artifact is loaded: never rewrites.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRewrites;

impl Rewriter for NoRewrites {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        RewriteResponse::unchanged(request.text.clone())
    }
}
