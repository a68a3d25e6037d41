//! A bounded cache of one model's answers. Traffic repeats itself (a few requests make up much
//! of it), and an answer depends only on the model and on [`AnswerKey`]: the normalised request,
//! the device kind, the hour and, only where a personal index answers, the user. A repeated
//! request then costs a hash lookup instead of encoding, retrieval and ranking.
//!
//! A cache belongs to one model: a new version of the artifact comes with an empty one. Keys
//! carry the user exactly where the answer is personal, so one user's answers are never served
//! to another.

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
    answers: Option<Cache<AnswerKey, Option<RewriteResponse>>>,
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
    /// `model`'s `layers`, remembering up to `capacity` answers (none when 0).
    pub fn new(model: OnlineModel, layers: Layers, capacity: usize) -> Self {
        Self {
            model,
            layers,
            answers: (capacity > 0).then(|| Cache::new(capacity)),
        }
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
