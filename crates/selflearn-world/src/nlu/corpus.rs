//! Which sentences the NLU learns from and is measured on.
//!
//! The world's people speak SLURP devel and test sentences (the ones with real or synthetic
//! recordings), so the NLU trains on SLURP's train split and on HWU64 minus every sentence that
//! SLURP has in devel or test: its errors on what people say are honest errors.

use std::collections::{HashMap, HashSet};

use super::Example;
use super::features::tokenize;
use crate::dataset::{Dataset, Slot};

fn slots(slots: &[Slot]) -> Vec<(String, String)> {
    slots
        .iter()
        .map(|s| (s.kind.clone(), s.value.clone()))
        .collect()
}

fn normalised(text: &str) -> String {
    tokenize(text).join(" ")
}

/// Normalised texts of every SLURP devel and test sentence.
pub fn spoken_texts(data: &Dataset) -> HashSet<String> {
    data.slurp
        .iter()
        .filter(|s| s.split_official != "train")
        .map(|s| normalised(&s.text))
        .collect()
}

/// The training examples.
pub fn training_examples(data: &Dataset) -> Vec<Example> {
    let spoken = spoken_texts(data);
    let slurp = data
        .slurp
        .iter()
        .filter(|s| s.split_official == "train" && !spoken.contains(&normalised(&s.text)))
        .map(|s| Example {
            text: s.text.clone(),
            intent: s.intent.clone(),
            slots: slots(&s.slots),
        });
    let hwu = data
        .hwu
        .iter()
        .filter(|h| !spoken.contains(&normalised(&h.text)))
        .map(|h| Example {
            text: h.text.clone(),
            intent: h.intent.clone(),
            slots: slots(&h.slots),
        });
    slurp.chain(hwu).collect()
}

/// SLURP sentences of one split, as written.
pub fn gold_examples(data: &Dataset, split: &str) -> Vec<Example> {
    data.slurp
        .iter()
        .filter(|s| s.split_official == split)
        .map(|s| Example {
            text: s.text.clone(),
            intent: s.intent.clone(),
            slots: slots(&s.slots),
        })
        .collect()
}

/// Recogniser output for the sentences of one split, each labelled with its sentence's gold
/// intent and slots: real recordings (`lm = None`) or synthetic voices decoded with `lm`.
pub fn asr_examples(data: &Dataset, split: &str, lm: Option<&str>) -> Vec<Example> {
    let gold: HashMap<u64, _> = data
        .slurp
        .iter()
        .filter(|s| s.split_official == split)
        .map(|s| (s.slurp_id, s))
        .collect();
    let label = |id: u64, text: &str| {
        gold.get(&id).map(|s| Example {
            text: text.to_owned(),
            intent: s.intent.clone(),
            slots: slots(&s.slots),
        })
    };
    match lm {
        None => data
            .real_asr
            .iter()
            .filter_map(|r| label(r.slurp_id, &crate::asr::recogniser_text(&r.hyp_text_norm)))
            .collect(),
        Some(lm) => data
            .synth_asr
            .iter()
            .filter(|s| s.lm == lm)
            .filter_map(|s| label(s.slurp_id, &s.hyp_text))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::eval::score;
    use crate::nlu::{Nlu, TrainConfig};

    #[test]
    fn training_never_holds_a_sentence_people_speak() {
        let data = Dataset::load(&Dataset::default_dir()).unwrap();
        let spoken = spoken_texts(&data);
        let training = training_examples(&data);
        assert!(training.len() > 8000, "{}", training.len());
        assert!(
            training
                .iter()
                .all(|e| !spoken.contains(&normalised(&e.text)))
        );
    }

    #[test]
    fn the_trained_nlu_understands_unseen_sentences() {
        let data = Dataset::load(&Dataset::default_dir()).unwrap();
        let nlu = Nlu::train(&training_examples(&data), TrainConfig::default());
        let gold = score(&nlu, &gold_examples(&data, "devel"));
        assert!(gold.intent_accuracy > 0.75, "{gold:?}");
        assert!(gold.slot_f1 > 0.5, "{gold:?}");
        let heard = score(
            &nlu,
            &asr_examples(&data, "devel", Some("slurp-domain-3gram")),
        );
        assert!(
            heard.intent_accuracy < gold.intent_accuracy,
            "recognition errors cost accuracy: {heard:?}"
        );
    }
}
