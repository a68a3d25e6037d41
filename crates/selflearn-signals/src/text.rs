//! Text comparison for repeats and reformulations.

use selflearn_types::text::{edit_distance, words};

/// Lower-cased words without punctuation (apostrophes kept), single-spaced.
pub fn normalise(text: &str) -> String {
    words(text).join(" ")
}

/// Normalised character similarity in [0, 1]: 1 − Levenshtein distance / longer length.
pub fn similarity(a: &str, b: &str) -> f64 {
    let (a, b): (Vec<char>, Vec<char>) = (
        normalise(a).chars().collect(),
        normalise(b).chars().collect(),
    );
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    1.0 - edit_distance(&a, &b) as f64 / longest as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_one_for_equal_normalised_text_and_falls_with_edits() {
        assert_eq!(similarity("Play Jazz!", "play jazz"), 1.0);
        assert!((similarity("abcd", "abcx") - 0.75).abs() < 1e-12);
        assert!(similarity("play jazz", "what time is it") < 0.3);
    }
}
