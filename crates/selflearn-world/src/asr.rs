//! What the assistant hears: a real recogniser's hypothesis of a real recording of the spoken
//! sentence when one exists (SLURP's released 1-best, per speaker session and microphone), else
//! a real recogniser's hypothesis of a synthetic voice speaking it. No noise is made up.

use std::collections::HashMap;

use rand::Rng;
use rand::seq::IndexedRandom;

use crate::dataset::Dataset;
use crate::wer::corpus_wer;

/// Where a hypothesis came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsrSource {
    /// A real person's recording.
    Real {
        /// Recording session (speaker).
        session: String,
        /// `headset` or `far`.
        mic: String,
    },
    /// A synthetic voice, decoded with the named language model.
    Synthetic {
        /// Decoder language model.
        lm: String,
    },
}

/// One recognition of a sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// The recogniser's 1-best.
    pub text: String,
    /// The recogniser's confidence, when it gives one.
    pub confidence: Option<f32>,
    /// Where it came from.
    pub source: AsrSource,
}

/// A released hypothesis with the recogniser's unknown word written as one token: SLURP
/// writes it `@@UNKNOWN@@`, and its normalised text splits it into `< unk >`.
pub fn recogniser_text(hypothesis: &str) -> String {
    let unknown = selflearn_types::text::UNKNOWN_WORD;
    hypothesis
        .replace("< unk >", unknown)
        .replace("@@UNKNOWN@@", unknown)
}

/// Every real hypothesis of every sentence, by SLURP sentence id.
#[derive(Debug, Clone, Default)]
pub struct AsrChannel {
    real: HashMap<u64, Vec<Hypothesis>>,
    synthetic: HashMap<u64, Vec<Hypothesis>>,
}

impl AsrChannel {
    /// Indexes the hypotheses of `data`.
    pub fn new(data: &Dataset) -> Self {
        let mut channel = Self::default();
        for r in &data.real_asr {
            channel
                .real
                .entry(r.slurp_id)
                .or_default()
                .push(Hypothesis {
                    text: recogniser_text(&r.hyp_text_norm),
                    confidence: None,
                    source: AsrSource::Real {
                        session: r.session.clone(),
                        mic: r.mic.clone(),
                    },
                });
        }
        for s in &data.synth_asr {
            channel
                .synthetic
                .entry(s.slurp_id)
                .or_default()
                .push(Hypothesis {
                    text: s.hyp_text.clone(),
                    confidence: Some(s.confidence),
                    source: AsrSource::Synthetic { lm: s.lm.clone() },
                });
        }
        channel
    }

    /// Whether a real recording of the sentence exists.
    pub fn has_recording(&self, slurp_id: u64) -> bool {
        self.real.contains_key(&slurp_id)
    }

    /// Whether a real or synthetic-voice hypothesis exists for the sentence.
    pub fn can_hear(&self, slurp_id: u64) -> bool {
        self.real.contains_key(&slurp_id) || self.synthetic.contains_key(&slurp_id)
    }

    /// One hypothesis of the sentence, drawn uniformly among its real recordings, or among its
    /// synthetic-voice ones when it has no real recording; `None` when it has neither.
    pub fn hear(&self, slurp_id: u64, rng: &mut impl Rng) -> Option<&Hypothesis> {
        self.real
            .get(&slurp_id)
            .or_else(|| self.synthetic.get(&slurp_id))
            .and_then(|hypotheses| hypotheses.choose(rng))
    }
}

/// Corpus WER of every real recording, and of every synthetic-voice decoding per language
/// model, as the data itself gives them (each recording once).
pub fn data_wer(data: &Dataset) -> (f64, Vec<(String, f64)>) {
    let real = corpus_wer(
        data.real_asr
            .iter()
            .map(|r| (r.ref_text.clone(), recogniser_text(&r.hyp_text_norm)))
            .collect::<Vec<_>>()
            .iter()
            .map(|(r, h)| (r.as_str(), h.as_str())),
    );
    let mut lms: Vec<String> = data.synth_asr.iter().map(|s| s.lm.clone()).collect();
    lms.sort();
    lms.dedup();
    let synthetic = lms
        .into_iter()
        .map(|lm| {
            let wer = corpus_wer(
                data.synth_asr
                    .iter()
                    .filter(|s| s.lm == lm)
                    .map(|s| (s.ref_text.as_str(), s.hyp_text.as_str())),
            );
            (lm, wer)
        })
        .collect();
    (real, synthetic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn real_recordings_have_slurps_word_error_rate() {
        let data = Dataset::load(&Dataset::default_dir()).unwrap();
        let (real, synthetic) = data_wer(&data);
        assert!((0.15..=0.20).contains(&real), "real-speech WER {real}");
        assert!(
            synthetic.iter().all(|(_, wer)| *wer > real),
            "{synthetic:?}"
        );
    }

    #[test]
    fn the_unknown_word_is_one_token_as_the_recogniser_meant_it() {
        assert_eq!(
            recogniser_text("can you put on the < unk >"),
            "can you put on the <unk>"
        );
        assert_eq!(
            recogniser_text("keep playing world @@UNKNOWN@@"),
            "keep playing world <unk>"
        );
        let data = Dataset::load(&Dataset::default_dir()).unwrap();
        let channel = AsrChannel::new(&data);
        let heard: Vec<&Hypothesis> = channel.real.values().flatten().collect();
        assert!(heard.iter().any(|h| h.text.contains("<unk>")));
        assert!(
            heard
                .iter()
                .all(|h| !h.text.contains("< unk >") && !h.text.contains("@@"))
        );
    }

    #[test]
    fn hearing_prefers_real_recordings_and_never_invents_text() {
        let data = Dataset::load(&Dataset::default_dir()).unwrap();
        let channel = AsrChannel::new(&data);
        let mut rng = StdRng::seed_from_u64(7);
        let recorded = data.real_asr[0].slurp_id;
        for _ in 0..20 {
            let heard = channel.hear(recorded, &mut rng).unwrap();
            assert!(matches!(heard.source, AsrSource::Real { .. }));
            assert!(
                data.real_asr
                    .iter()
                    .any(|r| r.slurp_id == recorded
                        && recogniser_text(&r.hyp_text_norm) == heard.text)
            );
        }
        let synthetic_only = data
            .synth_asr
            .iter()
            .map(|s| s.slurp_id)
            .find(|id| !data.real_asr.iter().any(|r| r.slurp_id == *id))
            .unwrap();
        assert!(matches!(
            channel.hear(synthetic_only, &mut rng).unwrap().source,
            AsrSource::Synthetic { .. }
        ));
        let train = data
            .slurp
            .iter()
            .find(|s| s.split_official == "train")
            .unwrap()
            .slurp_id;
        assert!(
            channel.hear(train, &mut rng).is_none(),
            "training sentences have no recording here"
        );
    }
}
