//! Tokens and hashed features shared by the intent model and the slot tagger.

use std::hash::{DefaultHasher, Hash, Hasher};

/// Lower-cased words; punctuation other than apostrophes is dropped.
pub fn tokenize(text: &str) -> Vec<String> {
    selflearn_types::text::words(text)
}

/// A feature id: a 64-bit hash of its parts (deterministic: the hasher has fixed keys).
pub fn feature(parts: &[&str]) -> u64 {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}
