//! Text comparison for repeats and reformulations.

/// Lower-cased words without punctuation (apostrophes kept), single-spaced.
pub fn normalise(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != cb))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    1.0 - previous[b.len()] as f64 / longest as f64
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
