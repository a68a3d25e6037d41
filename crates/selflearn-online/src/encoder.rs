//! The retrieval encoder: a text's hashed features ([`crate::features`]) times a learned
//! projection, L2-normalised, so that the dot product of two encodings is their cosine.
//!
//! It starts as a seeded random projection (a Johnson–Lindenstrauss sketch of the features,
//! which already keeps their cosine) and is trained contrastively by [`crate::train`] on pairs
//! the logs provide: a request that failed and the reformulation that then succeeded.

use crate::error::OnlineError;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::features::{BUCKETS, features};

/// Dimensions of an encoding.
pub const DIM: usize = 64;

/// A text encoder: one projection row per feature bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoder {
    /// `BUCKETS × DIM`, row-major.
    pub(crate) projection: Vec<f32>,
}

impl Encoder {
    /// The untrained encoder: a random projection drawn from `seed`.
    pub fn random(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let scale = 1.0 / (DIM as f32).sqrt();
        Self {
            projection: (0..BUCKETS * DIM)
                .map(|_| {
                    let draw: f32 = StandardNormal.sample(&mut rng);
                    draw * scale
                })
                .collect(),
        }
    }

    /// The encoding of a text (all zeros for a text without words).
    pub fn encode(&self, text: &str) -> Vec<f32> {
        let mut out = vec![0.0; DIM];
        for (bucket, weight) in features(text) {
            let row = &self.projection[bucket as usize * DIM..(bucket as usize + 1) * DIM];
            for (o, r) in out.iter_mut().zip(row) {
                *o += weight * r;
            }
        }
        normalise(&mut out);
        out
    }

    /// A digest of the projection (XXH3-128 of its weights, hex): what an online artifact
    /// records of the encoder it was learned with, so that it is never served with another.
    pub fn digest(&self) -> String {
        let bytes: Vec<u8> = self
            .projection
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        format!("{:032x}", twox_hash::XxHash3_128::oneshot(&bytes))
    }

    /// The projection as a safetensors file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, OnlineError> {
        let error = |reason: String| OnlineError::Weights {
            path: "an encoder in memory".into(),
            reason,
        };
        let tensor = Tensor::from_slice(&self.projection, (BUCKETS, DIM), &Device::Cpu)
            .map_err(|e| error(e.to_string()))?;
        safetensors::serialize([("projection", &tensor)], None).map_err(|e| error(e.to_string()))
    }

    /// Saves the projection as a safetensors file, durably.
    pub fn save(&self, path: &Path) -> Result<(), OnlineError> {
        let bytes = self.to_bytes()?;
        selflearn_types::durable::write_atomically(path, &bytes).map_err(|e| OnlineError::Weights {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Loads a projection saved by [`Encoder::save`], refusing one of the wrong shape.
    pub fn load(path: &Path) -> Result<Self, OnlineError> {
        let bytes = fs_err::read(path).map_err(|e| OnlineError::Weights {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Reads a projection from a safetensors file's bytes; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, OnlineError> {
        let error = |reason: String| OnlineError::Weights {
            path: origin.to_owned(),
            reason,
        };
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| error(e.to_string()))?;
        let tensor = tensors
            .get("projection")
            .ok_or_else(|| error("no tensor named projection".into()))?;
        if tensor.dims() != [BUCKETS, DIM] || tensor.dtype() != DType::F32 {
            return Err(error(format!(
                "projection is {:?} {:?}, not [{BUCKETS}, {DIM}] f32",
                tensor.dims(),
                tensor.dtype()
            )));
        }
        let projection = tensor
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| error(e.to_string()))?;
        if projection.iter().any(|x| !x.is_finite()) {
            return Err(error("projection has a non-finite weight".into()));
        }
        Ok(Self { projection })
    }
}

/// Scales a vector to unit length (a zero vector stays zero).
pub fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v {
            *x /= norm;
        }
    }
}

/// Dot product of two encodings: their cosine. Eight independent partial sums let the
/// compiler use SIMD lanes (one running sum would force strictly ordered float additions).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lane_wise_dot_product_equals_the_plain_one() {
        let a: Vec<f32> = (0..67).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..67).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }

    #[test]
    fn encodings_are_unit_length_and_keep_closeness() {
        let encoder = Encoder::random(1);
        let a = encoder.encode("play yelawolf");
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
        let near = dot(&a, &encoder.encode("play yellow wolf"));
        let far = dot(&a, &encoder.encode("what is the weather in paris"));
        assert!(near > far + 0.2, "near {near}, far {far}");
        assert!(encoder.encode("").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn weights_round_trip_and_a_wrong_shape_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("encoder.safetensors");
        let encoder = Encoder::random(2);
        encoder.save(&path).unwrap();
        assert_eq!(Encoder::load(&path).unwrap(), encoder);
        let wrong = Tensor::zeros((3, 4), DType::F32, &Device::Cpu).unwrap();
        candle_core::safetensors::save(
            &std::collections::HashMap::from([("projection".to_owned(), wrong)]),
            &path,
        )
        .unwrap();
        let err = Encoder::load(&path).unwrap_err().to_string();
        assert!(err.contains("not [16384, 64]"), "{err}");
    }
}
