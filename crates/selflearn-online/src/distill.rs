//! Distilling the pretrained teacher ([`crate::teacher`]) into the fast encoder: the encoder's
//! projection is fitted so that the cosines between its encodings of a batch of texts match the
//! teacher's cosines between the same texts (a similarity-preserving loss, as in Tung and Mori,
//! "Similarity-preserving knowledge distillation", ICCV 2019). Matching cosines rather than
//! coordinates needs no mapping between the teacher's 384 dimensions and the encoder's 64.
//!
//! The target blends the teacher's cosines with those of the starting encoder
//! (`teacher_share` of the first): the encoder keeps the character-trigram closeness that
//! matches misrecognised words ("maj and dragons", "imagine dragons"), which the teacher lacks,
//! and gains what the teacher knows of meaning ("switch" near "turn", "lamp" near "light").

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::encoder::{DIM, Encoder};
use crate::features::BUCKETS;
use crate::fit::{Schedule, encode, feature_matrix, fit};

/// Distillation settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistillConfig {
    /// Passes over the texts.
    pub epochs: usize,
    /// Texts per batch; the loss compares all pairs of a batch.
    pub batch: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// Weight of the teacher's cosines in the target; the rest is the starting encoder's.
    pub teacher_share: f64,
    /// Seed of the batch order.
    pub seed: u64,
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self {
            epochs: 8,
            batch: 64,
            learning_rate: 2e-3,
            teacher_share: 0.5,
            seed: 13,
        }
    }
}

/// Fits a copy of `start` to the teacher's embeddings `targets` (one unit vector per text);
/// returns it and the mean loss of each epoch.
pub fn distill(
    start: &Encoder,
    texts: &[String],
    targets: &[Vec<f32>],
    config: &DistillConfig,
) -> crate::Result<(Encoder, Vec<f32>)> {
    assert_eq!(texts.len(), targets.len(), "one teacher embedding per text");
    let fixed_start = Tensor::from_slice(&start.projection, (BUCKETS, DIM), &Device::Cpu)?;
    let schedule = Schedule {
        epochs: config.epochs,
        batch: config.batch,
        learning_rate: config.learning_rate,
        weight_decay: 0.0,
        seed: config.seed,
    };
    Ok(fit(start, texts.len(), schedule, |chunk, projection| {
        let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
        let teacher: Vec<f32> = chunk.iter().flat_map(|&i| targets[i].clone()).collect();
        let teacher = Tensor::from_vec(
            teacher,
            (chunk.len(), targets[chunk[0]].len()),
            &Device::Cpu,
        )?;
        let x = feature_matrix(&batch)?;
        let surface = encode(&x, &fixed_start)?;
        let wanted = (teacher
            .matmul(&teacher.t()?)?
            .affine(config.teacher_share, 0.0)?
            + surface
                .matmul(&surface.t()?)?
                .affine(1.0 - config.teacher_share, 0.0)?)?;
        let student = encode(&x, projection)?;
        let got = student.matmul(&student.t()?)?;
        (got - wanted)?.sqr()?.mean_all()
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::dot;
    use crate::features::features;

    /// A made-up teacher that knows "switch" means "turn" and "lamp" means "light": texts that
    /// differ only by those words get the same embedding, every other meaning its own axis.
    fn synonym_teacher(texts: &[String]) -> Vec<Vec<f32>> {
        let meaning = |t: &str| t.replace("switch", "turn").replace("lamp", "light");
        let mut meanings: Vec<String> = texts.iter().map(|t| meaning(t)).collect();
        meanings.sort();
        meanings.dedup();
        texts
            .iter()
            .map(|t| {
                let axis = meanings.binary_search(&meaning(t)).unwrap();
                (0..meanings.len())
                    .map(|i| if i == axis { 1.0 } else { 0.0 })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn distillation_moves_the_encoder_towards_the_teachers_similarities() {
        let rooms = ["kitchen", "bedroom", "hall", "office", "garage", "attic"];
        let mut texts = Vec::new();
        for room in rooms {
            for verb in ["turn", "switch"] {
                for thing in ["light", "lamp"] {
                    texts.push(format!("{verb} on the {room} {thing}"));
                }
            }
            texts.push(format!("what is the temperature in the {room}"));
        }
        let targets = synonym_teacher(&texts);
        let start = Encoder::random(5);
        let config = DistillConfig {
            epochs: 60,
            batch: 16,
            teacher_share: 1.0,
            ..DistillConfig::default()
        };
        let (student, losses) = distill(&start, &texts, &targets, &config).unwrap();
        assert!(losses.last().unwrap() < &(losses[0] * 0.5), "{losses:?}");
        let same = |e: &Encoder| {
            dot(
                &e.encode("switch on the hall lamp"),
                &e.encode("turn on the hall light"),
            )
        };
        let different = |e: &Encoder| {
            dot(
                &e.encode("turn on the hall light"),
                &e.encode("turn on the attic light"),
            )
        };
        assert!(same(&student) > same(&start) + 0.2);
        assert!(same(&student) > different(&student));
        // The loss reaches every projection row the texts use.
        for (bucket, _) in features("switch on the hall lamp") {
            let row = bucket as usize * DIM..(bucket as usize + 1) * DIM;
            assert_ne!(student.projection[row.clone()], start.projection[row]);
        }
    }
}
