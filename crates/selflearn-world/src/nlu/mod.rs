//! The reference assistant's NLU: an intent classifier and a slot tagger, trained in-project on
//! the training split of the text data and able to interpret any text (rewrites included).
//!
//! Both are averaged perceptrons (Collins, "Discriminative training methods for hidden Markov
//! models", EMNLP 2002): the intent model is multiclass over word n-gram features; the slot
//! tagger is a first-order structured perceptron over BIO tags decoded with Viterbi. They are
//! small, fast and deterministic for a seed, and their errors are real errors of a real model.

mod averaged;
pub mod corpus;
pub mod eval;
mod features;
mod intent;
mod tagger;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use features::tokenize;
use intent::IntentModel;
use tagger::SlotTagger;

/// One training or evaluation sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The sentence.
    pub text: String,
    /// Gold intent.
    pub intent: String,
    /// Gold slots as (type, value).
    pub slots: Vec<(String, String)>,
}

/// What the NLU makes of a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interpretation {
    /// Predicted intent.
    pub intent: String,
    /// Predicted slots as (type, value), in sentence order.
    pub slots: Vec<(String, String)>,
    /// Margin-based confidence of the intent, in [0, 1].
    pub confidence: f32,
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Seed of the example order.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 8,
            seed: 17,
        }
    }
}

/// The trained NLU.
#[derive(Debug, Clone)]
pub struct Nlu {
    intent: IntentModel,
    tagger: SlotTagger,
}

impl Nlu {
    /// Trains both models on `examples`.
    pub fn train(examples: &[Example], config: TrainConfig) -> Self {
        let _span = tracing::info_span!("train_nlu", examples = examples.len()).entered();
        Self {
            intent: IntentModel::train(examples, config),
            tagger: SlotTagger::train(examples, config),
        }
    }

    /// Interprets any text.
    pub fn interpret(&self, text: &str) -> Interpretation {
        let tokens = tokenize(text);
        let (intent, confidence) = self.intent.predict(&tokens);
        let slots = self.tagger.predict(&tokens, &intent);
        Interpretation {
            intent,
            slots,
            confidence,
        }
    }

    /// Interprets many texts, computing each distinct text once.
    pub fn interpret_all<'a>(
        &self,
        texts: impl IntoIterator<Item = &'a str>,
    ) -> HashMap<&'a str, Interpretation> {
        let mut cache = HashMap::new();
        for text in texts {
            cache.entry(text).or_insert_with(|| self.interpret(text));
        }
        cache
    }
}
