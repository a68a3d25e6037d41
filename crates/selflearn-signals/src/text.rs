//! Text comparison for repeats and reformulations.

pub use selflearn_types::text::normalise;

/// Normalised character similarity in [0, 1]: 1 − Levenshtein distance / longer length.
pub fn similarity(a: &str, b: &str) -> f64 {
    similarity_to(&normalised_chars(a), b)
}

/// The characters [`similarity_to`] compares: those of the normalised text.
pub fn normalised_chars(text: &str) -> Vec<char> {
    normalise(text).chars().collect()
}

/// [`similarity`] of a text already turned into [`normalised_chars`] to another text: one text
/// compared with many is prepared once.
pub fn similarity_to(a: &[char], b: &str) -> f64 {
    let b = normalised_chars(b);
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let distance = rapidfuzz::distance::levenshtein::distance(a.iter().copied(), b);
    1.0 - distance as f64 / longest as f64
}

/// The form a turn's request reached NLU in, normalised: the rewrite when one fired, else what
/// was heard. The miner's chain states and the online layers' candidates both count turns by
/// it, so a request's own record counts only the times it reached NLU as it was heard.
pub fn received_form(turn: &selflearn_types::TurnEvent) -> String {
    normalise(
        turn.rewrite
            .as_ref()
            .map_or(&turn.asr.text, |r| &r.rewritten_text),
    )
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

    proptest::proptest! {
        /// The bit-parallel distance is the Levenshtein distance of the plain dynamic program.
        #[test]
        fn similarity_matches_the_dynamic_program(a in "[a-eé ']{0,70}", b in "[a-eé ']{0,70}") {
            let (x, y) = (normalised_chars(&a), normalised_chars(&b));
            let longest = x.len().max(y.len());
            let expected = if longest == 0 {
                1.0
            } else {
                1.0 - selflearn_types::text::edit_distance(&x, &y) as f64 / longest as f64
            };
            proptest::prop_assert!((similarity(&a, &b) - expected).abs() < 1e-12);
        }
    }
}
