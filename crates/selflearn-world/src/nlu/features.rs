//! Tokens and hashed features shared by the intent model and the slot tagger.

use std::hash::{DefaultHasher, Hash, Hasher};

/// Lower-cased words; punctuation other than apostrophes is dropped.
pub fn tokenize(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// A feature id: a 64-bit hash of its parts (deterministic: the hasher has fixed keys).
pub fn feature(parts: &[&str]) -> u64 {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenize_lowercases_and_keeps_apostrophes() {
        assert_eq!(
            tokenize("What's the Weather, today?"),
            ["what's", "the", "weather", "today"]
        );
    }
}
