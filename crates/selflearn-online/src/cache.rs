//! A bounded cache of one model's answers. Traffic repeats itself (a few requests make up much
//! of it), and an answer depends only on the model and on [`AnswerKey`]: the normalised request,
//! the device kind, the hour and, only where a personal index answers, the user. A repeated
//! request then costs a hash lookup instead of encoding, retrieval and ranking.
//!
//! A cache belongs to one model: a new version of the artifact comes with an empty one. Keys
//! carry the user exactly where the answer is personal, so one user's answers are never served
//! to another. It is bounded by the bytes its keys and answers hold, not by their number:
//! requests of any length cannot make it grow past its budget.

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use selflearn_types::{RewriteRequest, RewriteResponse, Rewriter};

use crate::online::{AnswerKey, Layers, OnlineModel};

/// A model, the layers of it that answer, and the answers it gave, most recently useful
/// first.
pub struct CachedModel {
    model: OnlineModel,
    layers: Layers,
    /// The rewrite of each remembered key; `None` when the request was left as it is (its
    /// answer then repeats the text as each request said it).
    answers: Option<Cache<AnswerKey, Option<RewriteResponse>, AnswerBytes>>,
}

/// Bytes an entry is assumed to take besides its strings: the structs, the map's slot.
const ENTRY_OVERHEAD: u64 = 256;

/// Weighs an entry by the bytes it holds.
#[derive(Debug, Clone, Copy)]
struct AnswerBytes;

impl Weighter<AnswerKey, Option<RewriteResponse>> for AnswerBytes {
    fn weight(&self, key: &AnswerKey, answer: &Option<RewriteResponse>) -> u64 {
        let answer = answer.as_ref().map_or(0, |a| {
            a.text.len()
                + a.layer.as_ref().map_or(0, String::len)
                + a.explanation.as_ref().map_or(0, String::len)
                + a.artifact_version.as_ref().map_or(0, String::len)
        });
        ENTRY_OVERHEAD + (key.heap_bytes() + answer) as u64
    }
}

impl std::fmt::Debug for CachedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CachedModel({}, {} answers remembered)",
            self.model.version(),
            self.answers.as_ref().map_or(0, Cache::len)
        )
    }
}

impl CachedModel {
    /// `model`'s `layers`, remembering answers that hold up to `max_bytes` in all (none when
    /// 0).
    pub fn new(model: OnlineModel, layers: Layers, max_bytes: u64) -> Self {
        let estimated_items = (max_bytes / (2 * ENTRY_OVERHEAD)).max(1) as usize;
        Self {
            model,
            layers,
            answers: (max_bytes > 0)
                .then(|| Cache::with_weighter(estimated_items, max_bytes, AnswerBytes)),
        }
    }

    /// Bytes the remembered answers hold, as the cache weighs them.
    pub fn cached_bytes(&self) -> u64 {
        self.answers.as_ref().map_or(0, Cache::weight)
    }

    /// The model that answers.
    pub fn model(&self) -> &OnlineModel {
        &self.model
    }

    /// The layers that answer.
    pub fn layers(&self) -> Layers {
        self.layers
    }
}

impl Rewriter for CachedModel {
    /// The model's answer, from the cache when the same key was answered before.
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        let layers = self.layers;
        let Some(answers) = &self.answers else {
            return self.model.rewrite(request, layers);
        };
        let key = self.model.answer_key(request, layers);
        let remembered = match answers.get(&key) {
            Some(remembered) => remembered,
            None => {
                let answer = self.model.answer(&key, &request.text);
                answers.insert(key, answer.rewritten.then(|| answer.clone()));
                return answer;
            }
        };
        remembered.unwrap_or_else(|| RewriteResponse::unchanged(request.text.clone()))
    }
}
