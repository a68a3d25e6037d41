//! Word error rate: word-level Levenshtein distance over the reference length.

/// Word edits (substitutions, insertions, deletions) turning `reference` into `hypothesis`,
/// and the number of reference words.
pub fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let r: Vec<&str> = reference.split_whitespace().collect();
    let h: Vec<&str> = hypothesis.split_whitespace().collect();
    (selflearn_types::text::edit_distance(&r, &h), r.len())
}

/// Corpus WER: total word errors over total reference words.
pub fn corpus_wer<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> f64 {
    let (errors, words) = pairs
        .into_iter()
        .fold((0, 0), |(e, w), (reference, hypothesis)| {
            let (errors, words) = word_errors(reference, hypothesis);
            (e + errors, w + words)
        });
    if words == 0 {
        0.0
    } else {
        errors as f64 / words as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_substitutions_insertions_and_deletions() {
        assert_eq!(
            word_errors("play imagine dragons", "play imagine dragons"),
            (0, 3)
        );
        assert_eq!(
            word_errors("play imagine dragons", "play maj and dragons"),
            (2, 3)
        );
        assert_eq!(
            word_errors("turn the lights off", "turn lights off"),
            (1, 4)
        );
        assert_eq!(word_errors("hi", "hi there"), (1, 1));
        assert_eq!(word_errors("", "noise"), (1, 0));
    }

    #[test]
    fn corpus_wer_weights_by_reference_length() {
        let wer = corpus_wer([("a b c d", "a b c x"), ("e f", "e f")]);
        assert!((wer - 1.0 / 6.0).abs() < 1e-12);
    }
}
