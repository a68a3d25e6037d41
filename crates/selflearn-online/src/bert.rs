//! The BERT encoder (Devlin et al., NAACL 2019) that the teacher runs, forward only: token,
//! position and segment embeddings, then post-norm transformer layers. Written here on
//! candle-core and candle-nn because it is all of BERT the teacher needs, and pulling in
//! candle-transformers (every model it ships) cost minutes of every clean build.
//!
//! Inference only, so candle-nn's fused LayerNorm and softmax, which drop gradients, are fine
//! here. Weights are read under Hugging Face's names (`embeddings.word_embeddings.weight`,
//! `encoder.layer.N.attention.self.query.weight`, ...), with or without a `bert.` prefix.

use candle_core::{D, DType, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use serde::Deserialize;

/// The fields of a Hugging Face BERT `config.json` the forward pass reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: Activation,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
}

/// The feed-forward activation, under the names `config.json` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Activation {
    /// The exact GELU (erf), Hugging Face's `gelu`.
    #[serde(rename = "gelu")]
    Gelu,
    /// The tanh approximation of GELU.
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh")]
    GeluTanh,
    #[serde(rename = "relu")]
    Relu,
}

impl Activation {
    fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::Gelu => xs.gelu_erf(),
            Self::GeluTanh => xs.gelu(),
            Self::Relu => xs.relu(),
        }
    }
}

/// Token, position and segment embeddings, summed and normalised.
#[derive(Debug)]
struct Embeddings {
    words: Embedding,
    positions: Embedding,
    segments: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, c: &BertConfig) -> Result<Self> {
        Ok(Self {
            words: embedding(c.vocab_size, c.hidden_size, vb.pp("word_embeddings"))?,
            positions: embedding(
                c.max_position_embeddings,
                c.hidden_size,
                vb.pp("position_embeddings"),
            )?,
            segments: embedding(
                c.type_vocab_size,
                c.hidden_size,
                vb.pp("token_type_embeddings"),
            )?,
            norm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    fn forward(&self, ids: &Tensor, segments: &Tensor) -> Result<Tensor> {
        let (_, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, ids.device())?;
        let summed = (self.words.forward(ids)? + self.segments.forward(segments)?)?
            .broadcast_add(&self.positions.forward(&positions)?)?;
        self.norm.forward(&summed)
    }
}

/// One transformer layer: self-attention and a feed-forward block, each with a residual
/// connection followed by layer normalisation.
#[derive(Debug)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    out: Linear,
    out_norm: LayerNorm,
    heads: usize,
    activation: Activation,
}

impl Layer {
    fn load(vb: VarBuilder, c: &BertConfig) -> Result<Self> {
        let (h, attention) = (c.hidden_size, vb.pp("attention"));
        Ok(Self {
            query: linear(h, h, attention.pp("self").pp("query"))?,
            key: linear(h, h, attention.pp("self").pp("key"))?,
            value: linear(h, h, attention.pp("self").pp("value"))?,
            attention_out: linear(h, h, attention.pp("output").pp("dense"))?,
            attention_norm: layer_norm(
                h,
                c.layer_norm_eps,
                attention.pp("output").pp("LayerNorm"),
            )?,
            intermediate: linear(h, c.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            out: linear(c.intermediate_size, h, vb.pp("output").pp("dense"))?,
            out_norm: layer_norm(h, c.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            heads: c.num_attention_heads,
            activation: c.hidden_act,
        })
    }

    /// `xs` is (batch, tokens, hidden); `bias` is added to every attention score, large and
    /// negative on padding, broadcast over heads and query positions.
    fn forward(&self, xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (batch, len, hidden) = xs.dims3()?;
        let head_dim = hidden / self.heads;
        let split = |t: Tensor| {
            t.reshape((batch, len, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(xs)?)?;
        let k = split(self.key.forward(xs)?)?;
        let v = split(self.value.forward(xs)?)?;
        let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?.broadcast_add(bias)?;
        let weights = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let context = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .flatten_from(D::Minus2)?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context)? + xs)?)?;
        let inner = self
            .activation
            .apply(&self.intermediate.forward(&attended)?)?;
        self.out_norm
            .forward(&(self.out.forward(&inner)? + &attended)?)
    }
}

/// A BERT encoder: the last layer's token states for a batch of token ids.
#[derive(Debug)]
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl Bert {
    /// Loads the weights from `vb` (names with or without the `bert.` prefix).
    pub fn load(vb: VarBuilder, config: &BertConfig) -> Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let encoder = vb.pp("encoder");
        Ok(Self {
            embeddings: Embeddings::load(vb.pp("embeddings"), config)?,
            layers: (0..config.num_hidden_layers)
                .map(|i| Layer::load(encoder.pp(format!("layer.{i}")), config))
                .collect::<Result<_>>()?,
        })
    }

    /// The (batch, tokens, hidden) states of the last layer; `mask` is 1 on real tokens and 0
    /// on padding, which no token attends to.
    pub fn forward(&self, ids: &Tensor, segments: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let mut xs = self.embeddings.forward(ids, segments)?;
        let keep = mask.to_dtype(DType::F32)?.unsqueeze(1)?.unsqueeze(1)?;
        let bias = ((keep.ones_like()? - &keep)? * f64::from(f32::MIN))?;
        for layer in &self.layers {
            xs = layer.forward(&xs, &bias)?;
        }
        Ok(xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    fn tiny() -> BertConfig {
        serde_json::from_value(serde_json::json!({
            "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu",
            "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12
        }))
        .unwrap()
    }

    #[test]
    fn padding_changes_nothing_of_the_real_tokens_states() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let bert = Bert::load(vb, &tiny()).unwrap();
        let run = |ids: &[u32], mask: &[u32]| {
            let shape = (1, ids.len());
            let ids = Tensor::from_slice(ids, shape, &Device::Cpu).unwrap();
            let mask = Tensor::from_slice(mask, shape, &Device::Cpu).unwrap();
            bert.forward(&ids, &ids.zeros_like().unwrap(), &mask)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        };
        let alone = run(&[2, 5, 7, 3], &[1, 1, 1, 1]);
        let padded = run(&[2, 5, 7, 3, 0, 0], &[1, 1, 1, 1, 0, 0]);
        for (a, b) in alone.iter().zip(&padded) {
            assert!(
                a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5),
                "{a:?} {b:?}"
            );
        }
        // Without the mask the padding is attended to and the states move.
        let unmasked = run(&[2, 5, 7, 3, 0, 0], &[1; 6]);
        assert!(
            alone[0]
                .iter()
                .zip(&unmasked[0])
                .any(|(x, y)| (x - y).abs() > 1e-4)
        );
    }

    #[test]
    fn an_unknown_activation_is_refused_by_name() {
        let err = serde_json::from_str::<Activation>("\"swish\"").unwrap_err();
        assert!(err.to_string().contains("swish"), "{err}");
    }
}
