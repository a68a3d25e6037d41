//! Contrastive training of the encoder on reformulation pairs (in-batch negatives, InfoNCE, as
//! in DPR: Karpukhin et al., 2020): the encoding of a failed request should be closer to the
//! reformulation that worked than to the other reformulations of the batch.

use crate::error::OnlineError;
use candle_core::{Device, Tensor};
use candle_nn::loss;
use serde::{Deserialize, Serialize};

use crate::distill::{DistillConfig, distill};
use crate::encoder::Encoder;
use crate::fit::{Schedule, encode, feature_matrix, fit};
use crate::teacher::Teacher;

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Passes over the pairs.
    pub epochs: usize,
    /// Pairs per batch (each pair's negatives are the batch's other reformulations).
    pub batch: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay, which pulls the projection back towards small weights.
    pub weight_decay: f64,
    /// Softmax temperature of the similarity logits.
    pub temperature: f64,
    /// Seed of the batch order.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch: 64,
            learning_rate: 2e-3,
            weight_decay: 0.01,
            temperature: 0.1,
            seed: 11,
        }
    }
}

/// Trains a copy of `start` on (failed, worked) pairs; returns it and the mean loss of each
/// epoch.
pub fn train(
    start: &Encoder,
    pairs: &[(String, String)],
    config: &TrainConfig,
) -> crate::Result<(Encoder, Vec<f32>)> {
    let schedule = Schedule {
        epochs: config.epochs,
        batch: config.batch,
        learning_rate: config.learning_rate,
        weight_decay: config.weight_decay,
        seed: config.seed,
    };
    Ok(fit(start, pairs.len(), schedule, |chunk, projection| {
        let failed: Vec<&str> = chunk.iter().map(|&i| pairs[i].0.as_str()).collect();
        let worked: Vec<&str> = chunk.iter().map(|&i| pairs[i].1.as_str()).collect();
        let a = encode(&feature_matrix(&failed)?, projection)?;
        let b = encode(&feature_matrix(&worked)?, projection)?;
        let logits = a.matmul(&b.t()?)?.affine(1.0 / config.temperature, 0.0)?;
        let labels = Tensor::arange(0u32, chunk.len() as u32, &Device::Cpu)?;
        (loss::cross_entropy(&logits, &labels)? + loss::cross_entropy(&logits.t()?, &labels)?)?
            * 0.5
    })?)
}

/// Recall@1 and @5 of retrieving each pair's reformulation among `pool` (distinct texts) by
/// encoding, never counting the failed text itself as a candidate.
pub fn recall(encoder: &Encoder, pairs: &[(String, String)], pool: &[String]) -> (f64, f64) {
    recall_by(|text| encoder.encode(text), pairs, pool)
}

/// [`recall`] with any embedding of unit vectors (`embed` is called once per pool text and
/// once per pair's failed text).
pub fn recall_by(
    embed: impl Fn(&str) -> Vec<f32>,
    pairs: &[(String, String)],
    pool: &[String],
) -> (f64, f64) {
    let encoded: Vec<Vec<f32>> = pool.iter().map(|t| embed(t)).collect();
    let of = |text: &str| match pool.binary_search_by(|p| p.as_str().cmp(text)) {
        Ok(i) => encoded[i].clone(),
        Err(_) => embed(text),
    };
    let (mut at1, mut at5) = (0usize, 0usize);
    for (failed, worked) in pairs {
        let query = of(failed);
        let target_score = crate::encoder::dot(&query, &of(worked));
        let better = pool
            .iter()
            .zip(&encoded)
            .filter(|(text, _)| *text != failed && *text != worked)
            .filter(|(_, e)| crate::encoder::dot(&query, e) > target_score)
            .count();
        at1 += usize::from(better == 0);
        at5 += usize::from(better < 5);
    }
    let n = pairs.len().max(1) as f64;
    (at1 as f64 / n, at5 as f64 / n)
}

/// Retrieval quality of an encoder trained with some users' pairs held apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldApartReport {
    /// Distinct pairs trained on.
    pub train_pairs: usize,
    /// Distinct pairs of the held-apart users.
    pub held_apart_pairs: usize,
    /// Distinct reformulations retrieved among.
    pub candidate_pool: usize,
    /// Mean loss of each epoch.
    pub epoch_losses: Vec<f32>,
    /// Recall@1 and @5 of the untrained (random projection) encoder.
    pub recall_untrained: [f64; 2],
    /// Recall@1 and @5 after training.
    pub recall_trained: [f64; 2],
    /// With a teacher: what it taught and how well it retrieves itself.
    pub teaching: Option<TeachingReport>,
    /// Median time to encode one request with the encoder, in µs.
    pub encode_micros: f64,
}

impl std::fmt::Display for HeldApartReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pairs trained on; recall@1/@5 on {} held-apart pairs among {} candidates: trained {:.3}/{:.3}, untrained {:.3}/{:.3}",
            self.train_pairs,
            self.held_apart_pairs,
            self.candidate_pool,
            self.recall_trained[0],
            self.recall_trained[1],
            self.recall_untrained[0],
            self.recall_untrained[1]
        )?;
        if let Some(t) = &self.teaching {
            write!(
                f,
                ", distilled from the teacher on {} texts {:.3}/{:.3}, the teacher itself {:.3}/{:.3}",
                t.texts,
                t.recall_distilled[0],
                t.recall_distilled[1],
                t.recall_teacher[0],
                t.recall_teacher[1]
            )?;
        }
        write!(f, "; one request encodes in {:.1} µs", self.encode_micros)?;
        if let Some(t) = &self.teaching {
            write!(
                f,
                " (the teacher: {:.1} ms)",
                t.teacher_encode_micros / 1000.0
            )?;
        }
        Ok(())
    }
}

/// What distillation from the pretrained teacher did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeachingReport {
    /// Distinct texts of the training users distilled on.
    pub texts: usize,
    /// Mean loss of each distillation epoch.
    pub epoch_losses: Vec<f32>,
    /// Recall@1 and @5 after distillation, before training on pairs.
    pub recall_distilled: [f64; 2],
    /// Recall@1 and @5 of the teacher itself (full model, its own 384 dimensions).
    pub recall_teacher: [f64; 2],
    /// Median time for the teacher to embed one request, in µs.
    pub teacher_encode_micros: f64,
}

/// A teacher and the texts it teaches on (texts of the training users only).
#[derive(Debug)]
pub struct Teaching<'t> {
    /// The pretrained model.
    pub teacher: &'t Teacher,
    /// Distinct texts to distil on.
    pub texts: Vec<String>,
    /// Distillation settings.
    pub config: DistillConfig,
}

impl<'t> Teaching<'t> {
    /// The teacher on the texts of the users [`train_held_apart`] trains on, never those of
    /// the users it holds apart, with the default settings.
    pub fn of_training_users(teacher: &'t Teacher, learner: &crate::OnlineLearner) -> Self {
        Self {
            teacher,
            texts: learner.texts_of(|user| !held_apart(user)),
            config: DistillConfig::default(),
        }
    }
}

/// Whether a user's pairs are held apart from training: one user in five, by a hash of the id.
pub fn held_apart(user_id: &str) -> bool {
    user_id
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 5
        == 0
}

/// Median wall time of `work` over `inputs`, in µs.
fn median_micros<T>(inputs: &[T], mut work: impl FnMut(&T)) -> f64 {
    let mut times: Vec<f64> = inputs
        .iter()
        .map(|input| {
            let started = std::time::Instant::now();
            work(input);
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(0.0)
}

/// Trains from the random projection of `seed` (first distilled from the teacher, when one is
/// given) on the pairs of users not held apart, and measures recall on the pairs of those held
/// apart.
pub fn train_held_apart<'p>(
    pairs: impl Iterator<Item = &'p crate::pairs::Pair>,
    seed: u64,
    config: &TrainConfig,
    teaching: Option<Teaching<'_>>,
) -> Result<(Encoder, HeldApartReport), OnlineError> {
    let mut trained_on: Vec<(String, String)> = Vec::new();
    let mut held: Vec<(String, String)> = Vec::new();
    for pair in pairs {
        let texts = (pair.failed.clone(), pair.worked.clone());
        if held_apart(&pair.user_id) {
            held.push(texts);
        } else {
            trained_on.push(texts);
        }
    }
    for list in [&mut trained_on, &mut held] {
        list.sort();
        list.dedup();
    }
    let mut pool: Vec<String> = trained_on
        .iter()
        .chain(&held)
        .map(|(_, worked)| worked.clone())
        .collect();
    pool.sort();
    pool.dedup();
    // Requests whose encoding time is measured.
    let queries: Vec<&str> = held.iter().take(50).map(|(f, _)| f.as_str()).collect();
    let random = Encoder::random(seed);
    let (start, teaching) = match teaching {
        None => (random.clone(), None),
        Some(Teaching {
            teacher,
            texts,
            config: distill_config,
        }) => {
            let targets = teacher.embed_all(&texts, 64)?;
            let (distilled, epoch_losses) = distill(&random, &texts, &targets, &distill_config)?;
            let (d1, d5) = recall(&distilled, &held, &pool);
            // Every text recall looks at, embedded up front so that a failure is an error.
            let mut needed: Vec<String> = pool
                .iter()
                .chain(held.iter().map(|(failed, _)| failed))
                .cloned()
                .collect();
            needed.sort();
            needed.dedup();
            let embedded = teacher.embed_all(&needed, 64)?;
            let embed = |text: &str| {
                needed
                    .binary_search_by(|n| n.as_str().cmp(text))
                    .map(|i| embedded[i].clone())
                    .expect("every text recall asks for is embedded")
            };
            let (t1, t5) = recall_by(embed, &held, &pool);
            let teacher_encode_micros = median_micros(&queries, |q| {
                std::hint::black_box(teacher.embed(&[q]).ok());
            });
            let report = TeachingReport {
                texts: texts.len(),
                epoch_losses,
                recall_distilled: [d1, d5],
                recall_teacher: [t1, t5],
                teacher_encode_micros,
            };
            (distilled, Some(report))
        }
    };
    let (encoder, epoch_losses) = train(&start, &trained_on, config)?;
    let (u1, u5) = recall(&random, &held, &pool);
    let (t1, t5) = recall(&encoder, &held, &pool);
    let encode_micros = median_micros(&queries, |q| {
        std::hint::black_box(encoder.encode(q));
    });
    Ok((
        encoder,
        HeldApartReport {
            train_pairs: trained_on.len(),
            held_apart_pairs: held.len(),
            candidate_pool: pool.len(),
            epoch_losses,
            recall_untrained: [u1, u5],
            recall_trained: [t1, t5],
            teaching,
            encode_micros,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::DIM;
    use crate::features::features;

    /// A hidden ASR confusion: some word is always heard as another; training on pairs that
    /// show it should make the two forms closer than the random projection has them.
    #[test]
    fn training_pulls_confused_forms_together_and_every_weight_gets_a_gradient() {
        let confusions = [
            ("imagine", "maj and"),
            ("yelawolf", "yellow walk"),
            ("chopin", "shopping"),
            ("adele", "a dell"),
        ];
        let mut pairs = Vec::new();
        for (right, heard) in confusions {
            for verb in ["play", "put on", "i want to hear", "start", "listen to"] {
                pairs.push((format!("{verb} {heard}"), format!("{verb} {right}")));
            }
        }
        let start = Encoder::random(3);
        let config = TrainConfig {
            epochs: 30,
            batch: 8,
            ..TrainConfig::default()
        };
        let (trained, losses) = train(&start, &pairs, &config).unwrap();
        assert!(losses.last().unwrap() < &(losses[0] * 0.7), "{losses:?}");
        let closeness =
            |e: &Encoder| crate::encoder::dot(&e.encode("play shopping"), &e.encode("play chopin"));
        assert!(closeness(&trained) > closeness(&start) + 0.05);
        // Every row the pairs touch moved: gradients reached the whole projection in use.
        for text in ["play maj and", "play imagine"] {
            for (bucket, _) in features(text) {
                let row = bucket as usize * DIM..(bucket as usize + 1) * DIM;
                assert_ne!(trained.projection[row.clone()], start.projection[row]);
            }
        }
    }
}
