//! Multiclass averaged perceptron over word unigrams and bigrams.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::averaged::AveragedWeights;
use super::features::{feature, tokenize};
use super::{Example, TrainConfig};

/// The intent classifier.
#[derive(Debug, Clone)]
pub struct IntentModel {
    labels: Vec<String>,
    index: HashMap<u64, usize>,
    /// Row per feature, one column per label.
    weights: Vec<f32>,
}

fn features(tokens: &[String]) -> Vec<u64> {
    let mut out = vec![feature(&["bias"])];
    for (i, token) in tokens.iter().enumerate() {
        out.push(feature(&["w", token]));
        let stem: String = token.chars().take(5).collect();
        if stem.len() < token.len() {
            out.push(feature(&["stem", &stem]));
        }
        let previous = if i == 0 {
            "<s>"
        } else {
            tokens[i - 1].as_str()
        };
        out.push(feature(&["b", previous, token]));
    }
    if let Some(last) = tokens.last() {
        out.push(feature(&["b", last, "</s>"]));
    }
    out
}

impl IntentModel {
    /// Trains on `examples`.
    pub fn train(examples: &[Example], config: TrainConfig) -> Self {
        let mut labels: Vec<String> = examples.iter().map(|e| e.intent.clone()).collect();
        labels.sort();
        labels.dedup();
        let label_of: HashMap<&str, usize> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        let mut index = HashMap::new();
        let encoded: Vec<(Vec<usize>, usize)> = examples
            .iter()
            .map(|e| {
                let ids = features(&tokenize(&e.text))
                    .into_iter()
                    .map(|f| {
                        let next = index.len();
                        *index.entry(f).or_insert(next)
                    })
                    .collect();
                (ids, label_of[e.intent.as_str()])
            })
            .collect();
        let n = labels.len();
        let mut weights = AveragedWeights::new(index.len() * n);
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        let mut rng = StdRng::seed_from_u64(config.seed);
        for _ in 0..config.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let (ids, gold) = &encoded[i];
                let predicted = argmax(&scores(ids, n, |k| weights.get(k)));
                if predicted != *gold {
                    for &f in ids {
                        weights.update(f * n + gold, 1.0);
                        weights.update(f * n + predicted, -1.0);
                    }
                }
                weights.tick();
            }
        }
        Self {
            labels,
            index,
            weights: weights.average(),
        }
    }

    /// The best intent and a confidence in [0, 1] (softmax probability of the best).
    pub fn predict(&self, tokens: &[String]) -> (String, f32) {
        let n = self.labels.len();
        let ids: Vec<usize> = features(tokens)
            .iter()
            .filter_map(|f| self.index.get(f).copied())
            .collect();
        let scores = scores(&ids, n, |k| self.weights[k]);
        let best = argmax(&scores);
        let max = scores[best];
        let total: f32 = scores.iter().map(|s| (s - max).exp()).sum();
        (self.labels[best].clone(), 1.0 / total)
    }
}

fn scores(ids: &[usize], n: usize, weight: impl Fn(usize) -> f32) -> Vec<f32> {
    let mut scores = vec![0.0; n];
    for &f in ids {
        for (label, score) in scores.iter_mut().enumerate() {
            *score += weight(f * n + label);
        }
    }
    scores
}

fn argmax(scores: &[f32]) -> usize {
    scores
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &s)| {
            if s > best.1 { (i, s) } else { best }
        })
        .0
}
