//! The one composition of the rewriting layers. `serve` answers `POST /v1/rewrite` with it,
//! the evaluation world's assistant consults it before NLU, and the benchmarks time it, so the
//! A/B measures what is served.
//!
//! Layers answer in order: what the user taught (their own words for what they mean, when a
//! taught layer is present), the precomputed table (rewrites mined offline, the most certain
//! of the learned ones), then the online layers (global, then personal within one model). The
//! first layer that rewrites wins; a layer that declines passes the request on unchanged.

use std::sync::Arc;

use selflearn_miner::RewriteTable;
use selflearn_online::CachedModel;
use selflearn_types::{RewriteRequest, RewriteResponse, Rewriter};

/// The layers in force, each optional.
#[derive(Debug, Clone, Default)]
pub struct Layered {
    taught: Option<Arc<dyn Rewriter>>,
    precomputed: Option<Arc<dyn Rewriter>>,
    online: Option<Arc<dyn Rewriter>>,
}

impl Layered {
    /// No layer: every request is answered unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// With a layer of what users taught, asked before anything learned from friction: a
    /// person's explicit word outranks what others' reformulations suggest.
    pub fn with_taught(mut self, layer: Arc<dyn Rewriter>) -> Self {
        self.taught = Some(layer);
        self
    }

    /// With the precomputed table (or anything answering in its place).
    pub fn with_precomputed(mut self, layer: Arc<dyn Rewriter>) -> Self {
        self.precomputed = Some(layer);
        self
    }

    /// With the online layers.
    pub fn with_online(mut self, layer: Arc<dyn Rewriter>) -> Self {
        self.online = Some(layer);
        self
    }

    /// The layers of what `learn` produced, as `serve` runs them and the A/B measures them:
    /// the table first, then the online model's layers behind their answer cache.
    pub fn serving(table: Option<RewriteTable>, online: Option<Arc<CachedModel>>) -> Self {
        let mut layered = Self::new();
        if let Some(table) = table {
            layered = layered.with_precomputed(Arc::new(table));
        }
        if let Some(online) = online {
            layered = layered.with_online(online);
        }
        layered
    }

    /// Whether any layer is present.
    pub fn is_empty(&self) -> bool {
        self.taught.is_none() && self.precomputed.is_none() && self.online.is_none()
    }
}

impl Rewriter for Layered {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        for layer in [&self.taught, &self.precomputed, &self.online]
            .into_iter()
            .flatten()
        {
            let answer = layer.rewrite(request);
            if answer.rewritten {
                return answer;
            }
        }
        RewriteResponse::unchanged(request.text.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use selflearn_types::testing::sample_event;

    use super::*;

    /// Rewrites `from` to `to`, counting the requests it is asked.
    #[derive(Debug)]
    struct Fixed {
        from: &'static str,
        to: &'static str,
        layer: &'static str,
        asked: AtomicUsize,
    }

    impl Fixed {
        fn new(from: &'static str, to: &'static str, layer: &'static str) -> Arc<Self> {
            Arc::new(Self {
                from,
                to,
                layer,
                asked: AtomicUsize::new(0),
            })
        }
    }

    impl Rewriter for Fixed {
        fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
            self.asked.fetch_add(1, Ordering::Relaxed);
            if request.text != self.from {
                return RewriteResponse::unchanged(request.text.clone());
            }
            RewriteResponse {
                text: self.to.into(),
                rewritten: true,
                layer: Some(self.layer.into()),
                score: None,
                explanation: None,
                artifact_version: None,
            }
        }
    }

    fn ask(layered: &Layered, text: &str) -> RewriteResponse {
        layered.rewrite(&RewriteRequest {
            user_id: "u".into(),
            source: None,
            device: sample_event().device,
            text: text.into(),
            timestamp_ms: None,
            context: Default::default(),
        })
    }

    #[test]
    fn the_first_layer_that_rewrites_wins_and_the_next_is_not_asked() {
        let precomputed = Fixed::new("a", "b", "precomputed");
        let online = Fixed::new("a", "c", "global");
        let layered = Layered::new()
            .with_precomputed(precomputed.clone())
            .with_online(online.clone());
        let answer = ask(&layered, "a");
        assert_eq!(
            (answer.text.as_str(), answer.layer.as_deref()),
            ("b", Some("precomputed"))
        );
        assert_eq!(online.asked.load(Ordering::Relaxed), 0);
        // Declined by the table, the request reaches the online layers.
        let online_only = Layered::new()
            .with_precomputed(Fixed::new("x", "y", "precomputed"))
            .with_online(online.clone());
        assert_eq!(ask(&online_only, "a").text, "c");
        let unchanged = ask(&online_only, "z");
        assert!(!unchanged.rewritten);
        assert_eq!(unchanged.text, "z");
        // A taught layer answers before the table.
        let taught = Layered::new()
            .with_taught(Fixed::new("a", "t", "taught"))
            .with_precomputed(precomputed.clone())
            .with_online(online.clone());
        assert_eq!(ask(&taught, "a").text, "t");
        assert_eq!(precomputed.asked.load(Ordering::Relaxed), 1);
        assert!(Layered::new().is_empty());
        assert!(!ask(&Layered::new(), "a").rewritten);
    }
}
