//! Phonetic similarity from a pronunciation lexicon (CMUdict's ARPAbet phones): recognisers
//! confuse words that sound alike ("chopin" / "shopping"), which characters alone miss.

use crate::error::OnlineError;
use std::collections::HashMap;
use std::path::Path;

use selflearn_signals::normalise;
use serde::Deserialize;

/// Word → first pronunciation, stress marks removed, as phone codes (see [`code`]).
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    phones: HashMap<String, Vec<u16>>,
}

/// The ARPAbet phones, by class: vowels, nasals, sibilants, then the stop pairs, then the rest.
const ARPABET: [&str; 39] = [
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH",
    "UW", // vowels
    "M", "N", "NG", // nasals
    "S", "Z", "SH", "ZH", "CH", "JH", // sibilants
    "P", "B", "T", "D", "K", "G", // stops, voiceless and voiced pairs
    "DH", "F", "HH", "L", "R", "TH", "V", "W", "Y",
];

/// Code of a phone: its place in [`ARPABET`]; a letter spelt out is 100 + its byte.
fn code(phone: &str) -> u16 {
    ARPABET.iter().position(|p| *p == phone).map_or_else(
        || 100 + u16::from(phone.bytes().next().unwrap_or(0)),
        |i| i as u16,
    )
}

/// The class of a phone code, when recognisers confuse phones within it.
fn class(code: u16) -> Option<u8> {
    match code {
        0..=14 => Some(0),
        15..=17 => Some(1),
        18..=23 => Some(2),
        24..=29 => Some(3 + (code - 24) as u8 / 2),
        _ => None,
    }
}

/// One record of the lexicon file.
#[derive(Debug, Deserialize)]
struct Entry {
    word: String,
    prons: Vec<Vec<String>>,
}

impl Lexicon {
    /// The CMU Pronouncing Dictionary entries of the vendored data's words
    /// (`data/cmudict_vocab.jsonl`, BSD-2-Clause), built into the binary so that learning
    /// never depends on the directory it runs in.
    pub const EMBEDDED: &'static str = include_str!("../../../data/cmudict_vocab.jsonl");

    /// Reads a JSON-lines lexicon file (see [`Lexicon::parse`]).
    pub fn load(path: &Path) -> Result<Self, OnlineError> {
        let text = fs_err::read_to_string(path).map_err(|e| OnlineError::Lexicon {
            path: path.display().to_string(),
            line: 0,
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a JSON-lines lexicon: `{"word": "chopin", "prons": [["SH", "OW1", "P", "AE2", "N"]]}`
    /// per line; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, OnlineError> {
        let error = |line: usize, reason: String| OnlineError::Lexicon {
            path: origin.to_owned(),
            line,
            reason,
        };
        let mut phones = HashMap::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let entry: Entry =
                serde_json::from_str(line).map_err(|e| error(i + 1, e.to_string()))?;
            if let Some(first) = entry.prons.into_iter().next() {
                let plain = first
                    .iter()
                    .map(|p| code(p.trim_end_matches(|c: char| c.is_ascii_digit())))
                    .collect();
                phones.insert(entry.word, plain);
            }
        }
        Ok(Self { phones })
    }

    /// Words it can pronounce.
    pub fn len(&self) -> usize {
        self.phones.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.phones.is_empty()
    }

    /// The phones of a text, word by word; a word it does not know is spelt out letter by
    /// letter, so that similarity degrades to a character comparison.
    pub fn phones(&self, text: &str) -> Vec<u16> {
        let mut out = Vec::new();
        for word in normalise(text).split(' ').filter(|w| !w.is_empty()) {
            match self.phones.get(word) {
                Some(p) => out.extend(p.iter().copied()),
                None => out.extend(word.bytes().map(|b| 100 + u16::from(b))),
            }
        }
        out
    }

    /// 1 − weighted phone edit distance / longer phone sequence, where swapping two phones of
    /// one class (two vowels, two nasals, two sibilants, a voiced and a voiceless stop) costs
    /// less than swapping unrelated ones: the confusions recognisers make.
    pub fn similarity(&self, a: &str, b: &str) -> f32 {
        self.similarity_to(&self.phones(a), b)
    }

    /// [`Lexicon::similarity`] of a text whose [`Lexicon::phones`] are known to another text:
    /// one request compared with many candidates is pronounced once.
    pub fn similarity_to(&self, a: &[u16], b: &str) -> f32 {
        let b = self.phones(b);
        let longer = a.len().max(b.len());
        if longer == 0 {
            return 1.0;
        }
        1.0 - weighted_edit_distance(a, &b) / longer as f32
    }
}

/// Cost of substituting one phone for another of the same class.
const SAME_CLASS: f32 = 0.4;

/// Levenshtein distance with cheaper substitutions within a phone class.
fn weighted_edit_distance(a: &[u16], b: &[u16]) -> f32 {
    let mut previous: Vec<f32> = (0..=b.len()).map(|j| j as f32).collect();
    let mut current = vec![0.0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        current[0] = (i + 1) as f32;
        for (j, y) in b.iter().enumerate() {
            let substitution = if x == y {
                0.0
            } else if class(*x).is_some() && class(*x) == class(*y) {
                SAME_CLASS
            } else {
                1.0
            };
            current[j + 1] = (previous[j] + substitution)
                .min(previous[j + 1] + 1.0)
                .min(current[j] + 1.0);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_that_sound_alike_are_closer_in_phones_than_in_letters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lexicon.jsonl");
        fs_err::write(
            &path,
            concat!(
                "{\"word\":\"play\",\"prons\":[[\"P\",\"L\",\"EY1\"]]}\n",
                "{\"word\":\"chopin\",\"prons\":[[\"SH\",\"OW1\",\"P\",\"AE2\",\"N\"]]}\n",
                "{\"word\":\"shopping\",\"prons\":[[\"SH\",\"AA1\",\"P\",\"IH0\",\"NG\"]]}\n",
            ),
        )
        .unwrap();
        let lexicon = Lexicon::load(&path).unwrap();
        assert_eq!(lexicon.len(), 3);
        let phonetic = lexicon.similarity("chopin", "shopping");
        let letters = selflearn_signals::similarity("chopin", "shopping") as f32;
        assert!(phonetic > letters, "phones {phonetic} vs letters {letters}");
        assert_eq!(
            lexicon.phones("play zz"),
            [
                code("P"),
                code("L"),
                code("EY"),
                100 + u16::from(b'z'),
                100 + u16::from(b'z')
            ]
        );
        assert_eq!(class(code("B")), class(code("P")));
        assert_ne!(class(code("B")), class(code("T")));
        assert_eq!(class(code("L")), None);
        assert!((lexicon.similarity("play", "play") - 1.0).abs() < 1e-6);
        assert!(lexicon.similarity("play", "chopin") < 0.3);
        fs_err::write(&path, "{\"word\": 3}\n").unwrap();
        let err = Lexicon::load(&path).unwrap_err().to_string();
        assert!(err.contains(":1:"), "{err}");
    }
}
