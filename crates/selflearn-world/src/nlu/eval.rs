//! NLU quality: intent accuracy and slot micro-F1 over (type, value) pairs.

use std::collections::HashMap;

use serde::Serialize;

use super::{Example, Nlu};

/// Quality of an NLU on a set of examples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NluScores {
    /// Examples scored.
    pub examples: usize,
    /// Share of examples whose intent is right.
    pub intent_accuracy: f64,
    /// Share of examples whose whole frame (intent and every slot) is right.
    pub frame_accuracy: f64,
    /// Micro-averaged slot precision over (type, value) pairs.
    pub slot_precision: f64,
    /// Micro-averaged slot recall.
    pub slot_recall: f64,
    /// Harmonic mean of the two.
    pub slot_f1: f64,
}

/// Scores `nlu` on `examples`, interpreting each example's `text`.
pub fn score(nlu: &Nlu, examples: &[Example]) -> NluScores {
    let (mut right, mut true_positives, mut predicted, mut gold) = (0, 0, 0, 0);
    let mut frames_right = 0;
    for example in examples {
        let interpretation = nlu.interpret(&example.text);
        right += usize::from(interpretation.intent == example.intent);
        frames_right += usize::from(crate::assistant::same_frame(
            &interpretation,
            &example.intent,
            &example.slots,
        ));
        let mut remaining: HashMap<&(String, String), usize> = HashMap::new();
        for slot in &example.slots {
            *remaining.entry(slot).or_default() += 1;
        }
        for slot in &interpretation.slots {
            if let Some(count) = remaining.get_mut(slot).filter(|c| **c > 0) {
                *count -= 1;
                true_positives += 1;
            }
        }
        predicted += interpretation.slots.len();
        gold += example.slots.len();
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (precision, recall) = (
        ratio(true_positives, predicted),
        ratio(true_positives, gold),
    );
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    NluScores {
        examples: examples.len(),
        intent_accuracy: ratio(right, examples.len()),
        frame_accuracy: ratio(frames_right, examples.len()),
        slot_precision: precision,
        slot_recall: recall,
        slot_f1: f1,
    }
}
