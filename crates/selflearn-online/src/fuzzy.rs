//! The peer baseline: what Home Assistant and OpenVoiceOS users can get today. Rewrite a
//! request to the known successful request closest by character similarity, when it is close
//! enough; no ranking, no guard beyond an exact match.

use selflearn_signals::{normalise, similarity};
use selflearn_types::{RewriteRequest, RewriteResponse, Rewriter};

/// Fuzzy matching against a list of requests known to work.
#[derive(Debug, Clone)]
pub struct FuzzyRewriter {
    known: Vec<String>,
    threshold: f64,
}

/// Layer name of the baseline.
pub const FUZZY: &str = "fuzzy";

impl FuzzyRewriter {
    /// A baseline over `known` requests with a similarity threshold.
    pub fn new(known: Vec<String>, threshold: f64) -> Self {
        Self { known, threshold }
    }
}

impl Rewriter for FuzzyRewriter {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        let text = normalise(&request.text);
        let unchanged = RewriteResponse::unchanged(request.text.clone());
        if text.is_empty() || self.known.contains(&text) {
            return unchanged;
        }
        let best = self
            .known
            .iter()
            .map(|k| (k, similarity(&text, k)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(a.0)));
        match best {
            Some((k, s)) if s >= self.threshold => RewriteResponse {
                text: k.clone(),
                rewritten: true,
                layer: Some(FUZZY.into()),
                score: Some(s as f32),
                explanation: Some(format!(
                    "closest known request, character similarity {s:.2}"
                )),
                artifact_version: None,
            },
            _ => unchanged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_requests_are_rewritten_and_known_ones_left_alone() {
        let fuzzy = FuzzyRewriter::new(vec!["play imagine dragons".into()], 0.8);
        let mut request = RewriteRequest {
            user_id: "u".into(),
            source: None,
            device: selflearn_types::testing::sample_event().device,
            text: "play imagine dragon".into(),
            timestamp_ms: None,
            context: Default::default(),
        };
        assert_eq!(fuzzy.rewrite(&request).text, "play imagine dragons");
        request.text = "Play Imagine Dragons".into();
        assert!(!fuzzy.rewrite(&request).rewritten);
        request.text = "what is the weather".into();
        assert!(!fuzzy.rewrite(&request).rewritten);
    }
}
