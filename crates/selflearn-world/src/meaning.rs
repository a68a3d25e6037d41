//! Meaning-level comparison of slot values: two values are the same when they say the same
//! thing, not only when they are the same characters. Number words equal digits ("five" = "5",
//! "twenty first" = "21st" = "21"), and function words at a value's edges ("the", "at", "for",
//! "my", …) do not count, since annotators and taggers disagree on whether a slot includes
//! them ("at five am" vs "five am"). Words that carry meaning always count: "this week" is not
//! "last week", and "us elections" keeps "us".

use crate::nlu::tokenize;

/// Words that may stand at the edge of a value without changing what it means.
const EDGE_FUNCTION_WORDS: [&str; 17] = [
    "the", "a", "an", "my", "at", "in", "on", "for", "of", "to", "from", "by", "with", "about",
    "around", "please", "some",
];

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const ORDINAL_UNITS: [&str; 20] = [
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const ORDINAL_TENS: [&str; 8] = [
    "twentieth",
    "thirtieth",
    "fortieth",
    "fiftieth",
    "sixtieth",
    "seventieth",
    "eightieth",
    "ninetieth",
];

/// The value of one number word (cardinal or ordinal), if it is one.
fn number_word(word: &str) -> Option<u32> {
    let position = |list: &[&str]| list.iter().position(|w| *w == word).map(|i| i as u32);
    position(&UNITS)
        .or_else(|| position(&ORDINAL_UNITS))
        .or_else(|| position(&TENS).map(|i| 20 + 10 * i))
        .or_else(|| position(&ORDINAL_TENS).map(|i| 20 + 10 * i))
}

/// A digit token without an ordinal suffix ("21st" → "21"); other tokens unchanged.
fn digits(word: &str) -> Option<String> {
    let number = word
        .strip_suffix("st")
        .or_else(|| word.strip_suffix("nd"))
        .or_else(|| word.strip_suffix("rd"))
        .or_else(|| word.strip_suffix("th"))
        .unwrap_or(word);
    (!number.is_empty() && number.chars().all(|c| c.is_ascii_digit()))
        .then(|| number.trim_start_matches('0').to_owned())
        .map(|n| if n.is_empty() { "0".to_owned() } else { n })
}

/// Tokens with numbers written as digits: "twenty five" → "25", "third" → "3", "3rd" → "3".
fn numbers_as_digits(tokens: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if let Some(n) = digits(&tokens[i]) {
            out.push(n);
            i += 1;
            continue;
        }
        match number_word(&tokens[i]) {
            Some(tens) if tens >= 20 && tens % 10 == 0 => {
                let unit = tokens
                    .get(i + 1)
                    .and_then(|w| number_word(w))
                    .filter(|u| (1..10).contains(u));
                match unit {
                    Some(unit) => {
                        out.push((tens + unit).to_string());
                        i += 2;
                    }
                    None => {
                        out.push(tens.to_string());
                        i += 1;
                    }
                }
            }
            Some(n) => {
                out.push(n.to_string());
                i += 1;
            }
            None => {
                out.push(tokens[i].clone());
                i += 1;
            }
        }
    }
    out
}

/// What a value means, as a key: its words, numbers as digits, function words at the edges
/// dropped (unless nothing else is left), and no possessive "'s" on the last word (annotators
/// write "keane's" where a tagger finds "keane"). Two values mean the same iff their keys are
/// equal.
pub fn value_key(value: &str) -> String {
    let mut tokens = numbers_as_digits(tokenize(value));
    if let Some(last) = tokens.last_mut()
        && let Some(stem) = last.strip_suffix("'s").filter(|s| !s.is_empty())
    {
        *last = stem.to_owned();
    }
    let is_function = |w: &String| EDGE_FUNCTION_WORDS.contains(&w.as_str());
    let start = tokens.iter().position(|w| !is_function(w));
    let Some(start) = start else {
        return tokens.join(" ");
    };
    let end = tokens
        .iter()
        .rposition(|w| !is_function(w))
        .unwrap_or(start);
    tokens[start..=end].join(" ")
}

/// Whether two slot values mean the same.
pub fn same_value(a: &str, b: &str) -> bool {
    value_key(a) == value_key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_words_at_the_edges_do_not_count() {
        assert!(same_value("at five am", "five am"));
        assert!(same_value("the beatles", "Beatles"));
        assert!(same_value("for tomorrow", "tomorrow"));
        assert!(same_value("in the kitchen", "kitchen"));
        assert!(same_value("keane's", "keane"));
        assert!(!same_value("keane's", "kean"));
        // Inside a value they do.
        assert!(!same_value("house of cards", "house cards"));
    }

    #[test]
    fn words_that_carry_meaning_always_count() {
        assert!(!same_value("this week", "last week"));
        assert!(!same_value("this week", "week"));
        assert!(!same_value("us elections", "elections"));
        assert!(!same_value("next friday", "friday"));
    }

    #[test]
    fn number_words_equal_digits() {
        assert!(same_value("five am", "5 am"));
        assert!(same_value("twenty five minutes", "25 minutes"));
        assert!(same_value("march twenty first", "march 21st"));
        assert!(same_value("the third", "3rd"));
        assert!(same_value("twenty", "20"));
        assert!(!same_value("five am", "six am"));
        assert!(!same_value("twenty five", "twenty"));
    }

    #[test]
    fn a_value_of_only_function_words_keeps_them() {
        assert_eq!(value_key("the"), "the");
        assert!(!same_value("the", "a"));
    }
}
