//! Fitting the encoder's projection by minibatch gradient descent: what contrastive training
//! on pairs ([`crate::train`]) and distillation from a teacher ([`crate::distill`]) share.

use candle_core::{D, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::encoder::{DIM, Encoder};
use crate::features::{BUCKETS, features};

/// The batch's texts as a dense `len × BUCKETS` feature matrix.
pub(crate) fn feature_matrix(texts: &[&str]) -> candle_core::Result<Tensor> {
    let mut dense = vec![0.0f32; texts.len() * BUCKETS];
    for (row, text) in texts.iter().enumerate() {
        for (bucket, weight) in features(text) {
            dense[row * BUCKETS + bucket as usize] = weight;
        }
    }
    Tensor::from_vec(dense, (texts.len(), BUCKETS), &Device::Cpu)
}

/// Encodes a feature matrix with the projection and normalises each row (differentiably).
pub(crate) fn encode(x: &Tensor, projection: &Tensor) -> candle_core::Result<Tensor> {
    let e = x.matmul(projection)?;
    let norm = e.sqr()?.sum_keepdim(D::Minus1)?.affine(1.0, 1e-6)?.sqrt()?;
    e.broadcast_div(&norm)
}

/// How a projection is fitted: shuffled minibatches of item indices, AdamW.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// Passes over the items.
    pub epochs: usize,
    /// Items per batch (at least 2: the losses compare the items of a batch).
    pub batch: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Seed of the batch order.
    pub seed: u64,
}

/// Fits a copy of `start`'s projection over `items` items by minimising `batch_loss` (the
/// batch's item indices, the projection in training); returns the encoder and the mean loss of
/// each epoch. A batch of a single item is skipped.
pub(crate) fn fit(
    start: &Encoder,
    items: usize,
    schedule: Schedule,
    mut batch_loss: impl FnMut(&[usize], &Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<(Encoder, Vec<f32>)> {
    let projection = Var::from_slice(&start.projection, (BUCKETS, DIM), &Device::Cpu)?;
    let mut optimizer = AdamW::new(
        vec![projection.clone()],
        ParamsAdamW {
            lr: schedule.learning_rate,
            weight_decay: schedule.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let mut order: Vec<usize> = (0..items).collect();
    let mut rng = StdRng::seed_from_u64(schedule.seed);
    let mut losses = Vec::new();
    for _ in 0..schedule.epochs {
        order.shuffle(&mut rng);
        let (mut total, mut batches) = (0.0f32, 0usize);
        for chunk in order.chunks(schedule.batch.max(2)) {
            if chunk.len() < 2 {
                continue;
            }
            let l = batch_loss(chunk, projection.as_tensor())?;
            optimizer.backward_step(&l)?;
            total += l.to_scalar::<f32>()?;
            batches += 1;
        }
        losses.push(total / batches.max(1) as f32);
    }
    let projection = projection.as_tensor().flatten_all()?.to_vec1::<f32>()?;
    Ok((Encoder { projection }, losses))
}
