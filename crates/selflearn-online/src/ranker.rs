//! The ranker: a logistic model over documented features of (request, candidate), trained from
//! the logs with no ground truth. Positives are the reformulations people moved to and were
//! served by; negatives are the other candidates retrieved for the same failed request, and
//! candidates retrieved for requests that were served as heard (rewriting those would hurt).

use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use crate::index::Candidate;

/// One feature of a (request, candidate) pair; its discriminant is its position in
/// [`Features`], so code names a feature instead of counting to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Dense cosine of the two encodings.
    Cosine,
    /// Character similarity.
    Character,
    /// Word overlap (Jaccard).
    WordOverlap,
    /// The candidate's served turns, log-scaled.
    Served,
    /// The candidate's distinct users, log-scaled.
    Users,
    /// The user's own served turns with the candidate, log-scaled: the personal layer's only
    /// feature, masked out of the global ranker.
    Personal,
    /// Share of the candidate's served turns on this device kind.
    DeviceShare,
    /// Share of its served turns within two hours of this time.
    HourShare,
    /// How often the request itself failed as heard.
    Failure,
    /// Phonetic similarity.
    Phonetic,
}

impl Feature {
    /// Every feature, in [`Features`] order.
    pub const ALL: [Feature; 10] = [
        Feature::Cosine,
        Feature::Character,
        Feature::WordOverlap,
        Feature::Served,
        Feature::Users,
        Feature::Personal,
        Feature::DeviceShare,
        Feature::HourShare,
        Feature::Failure,
        Feature::Phonetic,
    ];

    /// Its position in [`Features`] and in a ranker's weights.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// What it measures, as explanations and reports name it.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::Cosine => "dense cosine",
            Feature::Character => "character similarity",
            Feature::WordOverlap => "word overlap (Jaccard)",
            Feature::Served => "candidate served turns, log-scaled",
            Feature::Users => "candidate distinct users, log-scaled",
            Feature::Personal => "the user's own served turns with it, log-scaled (personal layer)",
            Feature::DeviceShare => "share of its served turns on this device kind",
            Feature::HourShare => "share of its served turns within two hours of this time",
            Feature::Failure => {
                "how often the request itself failed as heard (0.5 when never heard)"
            }
            Feature::Phonetic => "phonetic similarity (CMUdict phones)",
        }
    }
}

/// Names of the features, in order.
pub const FEATURES: [&str; Feature::ALL.len()] = {
    let mut names = [""; Feature::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Feature::ALL[i].name();
        i += 1;
    }
    names
};

/// The features of one (request, candidate) pair, indexed by [`Feature::index`].
pub type Features = [f32; FEATURES.len()];

/// One feature's value.
pub fn value(features: &Features, feature: Feature) -> f32 {
    features[feature.index()]
}

/// What is known of the request when it is ranked.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The request, normalised.
    pub text: &'a str,
    /// Device kind it was heard on.
    pub device_kind: &'a str,
    /// Hour of the day (UTC).
    pub hour: usize,
    /// (times heard unrewritten, times served) of the request.
    pub history: (u32, u32),
}

/// Computes the features from the similarities of the request to the candidate (dense,
/// character and phonetic); `personal` is the user's own record of the candidate, if any.
pub fn features(
    query: &Query<'_>,
    candidate: &Candidate,
    [cosine, character, phonetic]: [f32; 3],
    personal: Option<&Candidate>,
) -> Features {
    let (said, served) = query.history;
    let failure = if said == 0 {
        0.5
    } else {
        1.0 - served as f32 / said as f32
    };
    let mut f = [0.0; FEATURES.len()];
    f[Feature::Cosine.index()] = cosine;
    f[Feature::Character.index()] = character;
    f[Feature::WordOverlap.index()] = jaccard(query.text, &candidate.text);
    f[Feature::Served.index()] = (1.0 + candidate.served as f32).ln() / 5.0;
    f[Feature::Users.index()] = (1.0 + candidate.users as f32).ln() / 3.0;
    f[Feature::Personal.index()] = personal.map_or(0.0, |p| (1.0 + p.served as f32).ln() / 3.0);
    f[Feature::DeviceShare.index()] = candidate.device_share(query.device_kind);
    f[Feature::HourShare.index()] = candidate.hour_share(query.hour);
    f[Feature::Failure.index()] = failure;
    f[Feature::Phonetic.index()] = phonetic;
    f
}

fn jaccard(a: &str, b: &str) -> f32 {
    let a: std::collections::BTreeSet<&str> = a.split(' ').collect();
    let b: std::collections::BTreeSet<&str> = b.split(' ').collect();
    let union = a.union(&b).count().max(1);
    a.intersection(&b).count() as f32 / union as f32
}

/// Mean log loss of logits `z` against 0/1 labels `y`, in the stable form
/// softplus(z) − y·z = max(z, 0) + ln(1 + e^−|z|) − y·z. candle's
/// `binary_cross_entropy_with_logit` takes the log of a sigmoid, which saturates to 0 or 1 on
/// separable examples and turns the loss and every gradient into NaN.
fn log_loss(z: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    let softplus = (z.relu()? + z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?;
    (softplus - (y * z)?)?.mean_all()
}

/// A trained ranker and the score above which it rewrites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ranker {
    /// One weight per feature, in [`FEATURES`] order.
    pub weights: Vec<f32>,
    /// Intercept.
    pub bias: f32,
    /// Least probability to rewrite.
    pub threshold: f32,
}

impl Ranker {
    /// The ranker of a layer with nothing to learn from yet (no reformulation in the log): it
    /// never clears the threshold.
    pub fn never(threshold: f32) -> Self {
        Self {
            weights: vec![0.0; FEATURES.len()],
            bias: -30.0,
            threshold,
        }
    }

    /// The probability that rewriting to the candidate serves the request.
    pub fn score(&self, f: &Features) -> f32 {
        let z: f32 = self.bias + self.weights.iter().zip(f).map(|(w, x)| w * x).sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }

    /// Fits the logistic model to labelled feature rows (full-batch AdamW on the log loss).
    /// `mask` zeroes features the layer must not use (the global layer never sees personal
    /// affinity).
    pub fn train(
        examples: &[(Features, bool)],
        mask: &[bool; FEATURES.len()],
        threshold: f32,
    ) -> crate::Result<Self> {
        let n = FEATURES.len();
        let mut x = Vec::with_capacity(examples.len() * n);
        for (f, _) in examples {
            x.extend(
                f.iter()
                    .zip(mask)
                    .map(|(v, keep)| if *keep { *v } else { 0.0 }),
            );
        }
        let y: Vec<f32> = examples
            .iter()
            .map(|(_, l)| f32::from(u8::from(*l)))
            .collect();
        let x = Tensor::from_vec(x, (examples.len(), n), &Device::Cpu)?;
        let y = Tensor::from_vec(y, (examples.len(), 1), &Device::Cpu)?;
        let w = Var::zeros((n, 1), candle_core::DType::F32, &Device::Cpu)?;
        let b = Var::zeros((1, 1), candle_core::DType::F32, &Device::Cpu)?;
        let mut optimizer = AdamW::new(
            vec![w.clone(), b.clone()],
            ParamsAdamW {
                lr: 0.05,
                weight_decay: 0.0,
                ..ParamsAdamW::default()
            },
        )?;
        for _ in 0..400 {
            let logits = x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            optimizer.backward_step(&log_loss(&logits, &y)?)?;
        }
        let ranker = Self {
            weights: w.as_tensor().flatten_all()?.to_vec1()?,
            bias: b.as_tensor().flatten_all()?.to_vec1::<f32>()?[0],
            threshold,
        };
        let finite = ranker
            .weights
            .iter()
            .chain([&ranker.bias])
            .all(|w| w.is_finite());
        Ok(if finite {
            ranker
        } else {
            Self::never(threshold)
        })
    }
}

/// The candidates one request retrieved, each with its features and whether rewriting to it
/// is what the log shows working (the reformulation the person moved to and was served by).
pub type Retrieved = Vec<(Features, bool)>;

/// Least right rewrites a calibrated threshold must rest on: fewer, and the precision it
/// promises is noise.
const LEAST_RIGHT_DECISIONS: usize = 5;

/// The threshold at which `ranker`, deciding as it does at request time (the best-scoring
/// candidate that clears the similarity `floor` — `floor_of` says which do — is the rewrite),
/// is right at least `precision` of the times it fires on `requests`: it fires on the most
/// decisions whose precision stays that high, and sits halfway between the lowest of them and
/// the next decision below (at `least` when there is none: nothing below argues for more).
/// Each request comes with
/// its weight, the requests of the log it stands for (samples of kinds of request kept at
/// different rates must count as often as the kinds occur). Requests held apart from the
/// ranker's training keep the estimate honest. Never below `least`; with no such score (or too
/// few right decisions to trust it), 1.0: the layer does not fire.
pub fn calibrate(
    ranker: &Ranker,
    requests: &[(f64, Retrieved)],
    floor_of: impl Fn(&Features) -> bool,
    precision: f32,
    least: f32,
) -> f32 {
    let mut decisions: Vec<(f32, bool, f64)> = requests
        .iter()
        .filter_map(|(weight, retrieved)| {
            retrieved
                .iter()
                .filter(|(f, _)| floor_of(f))
                .map(|(f, right)| (ranker.score(f), *right, *weight))
                .max_by(|a, b| a.0.total_cmp(&b.0))
        })
        .filter(|(score, _, _)| score.is_finite())
        .collect();
    decisions.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut right, mut right_weight, mut fired_weight, mut best) = (0usize, 0.0, 0.0, None);
    for (i, &(score, is_right, weight)) in decisions.iter().enumerate() {
        fired_weight += weight;
        if is_right {
            right += 1;
            right_weight += weight;
        }
        // Cut only between distinct scores: every decision with this score fires alike.
        let last_of_its_score = decisions.get(i + 1).is_none_or(|next| next.0 < score);
        if last_of_its_score
            && right >= LEAST_RIGHT_DECISIONS
            && right_weight >= f64::from(precision) * fired_weight
        {
            best = Some(i);
        }
    }
    best.map_or(1.0, |i| {
        decisions
            .get(i + 1)
            .map_or(least, |next| (decisions[i].0 + next.0) / 2.0)
            .max(least)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_feature_sits_at_its_own_index_with_its_own_name() {
        for (i, feature) in Feature::ALL.iter().enumerate() {
            assert_eq!(feature.index(), i);
            assert_eq!(FEATURES[i], feature.name());
        }
        let names: std::collections::BTreeSet<_> = FEATURES.iter().collect();
        assert_eq!(names.len(), FEATURES.len());
    }

    #[test]
    fn features_are_computed_into_their_named_slots() {
        let candidate = Candidate {
            text: "play jazz".into(),
            served: 0,
            users: 0,
            ..Candidate::default()
        };
        let query = Query {
            text: "play jam",
            device_kind: "speaker",
            hour: 9,
            history: (4, 1),
        };
        let f = features(&query, &candidate, [0.1, 0.2, 0.3], None);
        assert_eq!(value(&f, Feature::Cosine), 0.1);
        assert_eq!(value(&f, Feature::Character), 0.2);
        assert_eq!(value(&f, Feature::Phonetic), 0.3);
        assert_eq!(value(&f, Feature::WordOverlap), 1.0 / 3.0);
        assert_eq!(value(&f, Feature::Failure), 0.75);
        assert_eq!(value(&f, Feature::Personal), 0.0);
        let mine = Candidate {
            served: 2,
            ..candidate.clone()
        };
        let f = features(&query, &candidate, [0.1, 0.2, 0.3], Some(&mine));
        assert!(value(&f, Feature::Personal) > 0.0);
    }

    #[test]
    fn the_ranker_learns_which_features_predict_a_good_rewrite() {
        // Good rewrites are similar and popular; bad ones are not.
        let mut examples = Vec::new();
        for i in 0..200 {
            let t = i as f32 / 200.0;
            let good = [0.9, 0.8, 0.6, 0.5 + t * 0.1, 0.4, 0.0, 0.5, 0.3, 0.9, 0.8];
            let bad = [0.5, 0.3, 0.1, 0.1 * t, 0.2, 0.0, 0.5, 0.3, 0.9, 0.3];
            examples.push((good, true));
            examples.push((bad, false));
        }
        let mut mask = [true; FEATURES.len()];
        mask[Feature::Personal.index()] = false;
        let ranker = Ranker::train(&examples, &mask, 0.5).unwrap();
        assert!(ranker.score(&examples[0].0) > 0.8);
        assert!(ranker.score(&examples[1].0) < 0.2);
        assert_eq!(
            ranker.weights[Feature::Personal.index()],
            0.0,
            "a masked feature gets no weight"
        );
        assert!(
            ranker.weights[Feature::Cosine.index()] > 0.0
                && ranker.weights[Feature::Character.index()] > 0.0
        );
    }

    fn scored(score: f32) -> Features {
        let mut f = [0.0; FEATURES.len()];
        f[Feature::Cosine.index()] = score;
        f
    }

    /// A ranker whose score is the cosine feature's value (near enough: a steep logistic).
    fn identity() -> Ranker {
        let mut weights = vec![0.0; FEATURES.len()];
        weights[Feature::Cosine.index()] = 40.0;
        Ranker {
            weights,
            bias: -20.0,
            threshold: 0.5,
        }
    }

    #[test]
    fn calibration_finds_the_lowest_score_that_keeps_the_precision() {
        let ranker = identity();
        // Requests whose best candidate is right above 0.6 and wrong below; one wrong at 0.9.
        // Down to 0.48, 10 of 12 rewrites are right (0.83); at 0.46, 10 of 13 (0.77): the
        // threshold is halfway between the two.
        let mut requests: Vec<(f64, Retrieved)> = Vec::new();
        for i in 0..10 {
            let x = 0.62 + 0.03 * i as f32;
            requests.push((1.0, vec![(scored(x), true), (scored(0.1), false)]));
        }
        requests.push((1.0, vec![(scored(0.9), false)]));
        for i in 0..10 {
            requests.push((1.0, vec![(scored(0.3 + 0.02 * i as f32), false)]));
        }
        let all = |_: &Features| true;
        let threshold = calibrate(&ranker, &requests, all, 0.8, 0.0);
        let at = |x: f32| ranker.score(&scored(x));
        let halfway = (at(0.48) + at(0.46)) / 2.0;
        assert!(
            (threshold - halfway).abs() < 1e-6,
            "{threshold} vs {halfway}"
        );
        // When every decision is right, nothing argues for more than the least threshold.
        let right_only: Vec<(f64, Retrieved)> = requests[..10].to_vec();
        assert_eq!(calibrate(&ranker, &right_only, all, 0.8, 0.05), 0.05);
        // A stricter precision than the data allows: the layer never fires.
        assert_eq!(calibrate(&ranker, &requests, all, 0.99, 0.0), 1.0);
        // Never below the configured least threshold.
        assert_eq!(calibrate(&ranker, &requests, all, 0.8, 0.95), 0.95);
        // Candidates that do not clear the floor are never the decision.
        let floor = |f: &Features| value(f, Feature::Cosine) < 0.6;
        assert_eq!(calibrate(&ranker, &requests, floor, 0.8, 0.0), 1.0);
        // Too few right decisions to trust.
        assert_eq!(calibrate(&ranker, &requests[..3], all, 0.5, 0.0), 1.0);
        // The one wrong rewrite at 0.9 standing for many requests of its kind: precision 0.8
        // is out of reach at any score.
        requests[10].0 = 10.0;
        assert_eq!(calibrate(&ranker, &requests, all, 0.8, 0.0), 1.0);
    }

    /// Examples that one feature separates perfectly drive the logits far out, where a
    /// sigmoid rounds to exactly 0 or 1; the loss must stay finite there.
    #[test]
    fn separable_examples_train_to_finite_weights() {
        let mut examples = Vec::new();
        for i in 0..400 {
            let mut f = [0.0; FEATURES.len()];
            f[Feature::Cosine.index()] = if i % 2 == 0 { 50.0 } else { -50.0 };
            examples.push((f, i % 2 == 0));
        }
        let ranker = Ranker::train(&examples, &[true; FEATURES.len()], 0.5).unwrap();
        assert!(
            ranker.weights.iter().all(|w| w.is_finite()),
            "{:?}",
            ranker.weights
        );
        assert!(ranker.score(&examples[0].0) > 0.99);
        assert!(ranker.score(&examples[1].0) < 0.01);
    }
}
