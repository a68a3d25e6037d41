//! Text helpers every layer compares utterances with, so that they agree on what a word is.

/// The token a recogniser writes for a word it heard but does not know.
pub const UNKNOWN_WORD: &str = "<unk>";

/// Lower-cased words; punctuation other than apostrophes is dropped. The recogniser's
/// unknown-word token stays one word of its own ([`UNKNOWN_WORD`]), never "unk".
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            if w == UNKNOWN_WORD {
                return UNKNOWN_WORD.to_owned();
            }
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Lower-cased words without punctuation (apostrophes kept), single-spaced: the form every
/// layer, the block list and the dashboard compare requests in.
pub fn normalise(text: &str) -> String {
    words(text).join(" ")
}

/// Levenshtein distance between two sequences (substitutions, insertions, deletions).
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(x != y);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_lowercase_and_keep_apostrophes() {
        assert_eq!(
            words("What's the Weather, today?"),
            ["what's", "the", "weather", "today"]
        );
        assert_eq!(words("play <unk> now"), ["play", "<unk>", "now"]);
    }

    #[test]
    fn edit_distance_counts_each_kind_of_edit() {
        assert_eq!(edit_distance(b"kitten", b"sitting"), 3);
        assert_eq!(edit_distance::<u8>(b"", b"abc"), 3);
        assert_eq!(edit_distance(&["a", "b"], &["a", "b"]), 0);
    }
}
