//! Slot-value catalogues: the named things the assistant can find (artists, songs, places,
//! people, apps, …), every value the datasets name for those slot types. Resolution is what a
//! real entity resolver does: an exact name; else the one clearly closest name (which recovers
//! a slightly misheard or misspelt one); else, when several names are about as close, an
//! ambiguity the assistant must ask about; else nothing.

use std::collections::HashMap;

use selflearn_types::text::edit_distance;

use crate::dataset::Dataset;
use crate::meaning::value_key;

/// Slot types whose values must be found in a catalogue. Other types (dates, times, free text)
/// resolve to themselves; rooms resolve against the home.
pub const CATALOGUE_KINDS: [&str; 17] = [
    "artist_name",
    "song_name",
    "playlist_name",
    "podcast_name",
    "radio_name",
    "audiobook_name",
    "audiobook_author",
    "movie_name",
    "game_name",
    "app_name",
    "place_name",
    "business_name",
    "person",
    "media_type",
    "device_type",
    "music_genre",
    "transport_agency",
];

/// Least character similarity (1 − edit distance / longer length) of a close name.
const CLOSE: f64 = 0.8;
/// Names within this similarity of the closest one are as plausible: an ambiguity.
const AS_CLOSE: f64 = 0.04;

/// How a slot value resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// A free-text slot type: the value stands for itself.
    Free(String),
    /// The catalogue has exactly this name.
    Exact(String),
    /// The one catalogue name clearly closest to what was understood.
    Corrected(String),
    /// Several names are about as close; the assistant must ask which.
    Ambiguous(Vec<String>),
    /// Nothing in the catalogue is close.
    NotFound,
}

impl Resolution {
    /// The resolved value, when there is exactly one.
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::Free(v) | Self::Exact(v) | Self::Corrected(v) => Some(v),
            Self::Ambiguous(_) | Self::NotFound => None,
        }
    }
}

/// Names per catalogue slot type, as meaning keys ([`value_key`]), with the spelling variants
/// the data writes for one name merged into it.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    names: HashMap<String, Vec<String>>,
    /// Per slot type, each merged spelling variant and the name it is a variant of.
    aliases: HashMap<String, HashMap<String, String>>,
}

impl Catalogue {
    /// Every value the data names for each catalogue slot type (SLURP, all splits, and HWU64),
    /// with near-duplicate spellings merged into the most frequent one.
    pub fn from_data(data: &Dataset) -> Self {
        let slots = data
            .slurp
            .iter()
            .flat_map(|s| &s.slots)
            .chain(data.hwu.iter().flat_map(|s| &s.slots));
        let mut counts: HashMap<&str, HashMap<String, u32>> = HashMap::new();
        for slot in slots {
            if CATALOGUE_KINDS.contains(&slot.kind.as_str()) {
                *counts
                    .entry(slot.kind.as_str())
                    .or_default()
                    .entry(value_key(&slot.value))
                    .or_default() += 1;
            }
        }
        let mut catalogue = Self::default();
        for (kind, counts) in counts {
            let (names, aliases) = merge_spellings(counts);
            catalogue.names.insert(kind.to_owned(), names);
            catalogue.aliases.insert(kind.to_owned(), aliases);
        }
        catalogue
    }

    /// Adds one name (ignored for slot types without a catalogue); the names must be sorted
    /// again (`sort`) before resolving.
    pub fn add(&mut self, kind: &str, value: &str) {
        if CATALOGUE_KINDS.contains(&kind) {
            self.names
                .entry(kind.to_owned())
                .or_default()
                .push(value_key(value));
        }
    }

    /// Sorts and deduplicates the names after [`Catalogue::add`].
    pub fn sort(&mut self) {
        for names in self.names.values_mut() {
            names.sort();
            names.dedup();
        }
    }

    /// The name a value stands for when it is a known spelling (the value's meaning key
    /// otherwise): what gold slot values are compared as.
    pub fn canonical(&self, kind: &str, value: &str) -> String {
        let key = value_key(value);
        self.aliases
            .get(kind)
            .and_then(|a| a.get(&key))
            .cloned()
            .unwrap_or(key)
    }

    /// Merged spelling variants (variant, name) of one slot type.
    pub fn variants(&self, kind: &str) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self
            .aliases
            .get(kind)
            .into_iter()
            .flatten()
            .map(|(v, n)| (v.as_str(), n.as_str()))
            .collect();
        out.sort_unstable();
        out
    }

    /// Resolves one understood slot value.
    pub fn resolve(&self, kind: &str, value: &str) -> Resolution {
        let spoken = self.canonical(kind, value);
        let Some(names) = self.names.get(kind) else {
            return Resolution::Free(spoken);
        };
        if names.binary_search(&spoken).is_ok() {
            return Resolution::Exact(spoken);
        }
        let spoken_chars: Vec<char> = spoken.chars().collect();
        let mut scored: Vec<(f64, &String)> = names
            .iter()
            .map(|name| (similarity(&spoken_chars, name), name))
            .filter(|(s, _)| *s >= CLOSE)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        match scored.as_slice() {
            [] => Resolution::NotFound,
            [(best, name), rest @ ..] => {
                let rivals: Vec<String> = rest
                    .iter()
                    .take_while(|(s, _)| best - s <= AS_CLOSE)
                    .map(|(_, n)| (*n).clone())
                    .collect();
                if rivals.is_empty() {
                    Resolution::Corrected((*name).clone())
                } else {
                    Resolution::Ambiguous(std::iter::once((*name).clone()).chain(rivals).collect())
                }
            }
        }
    }
}

/// Least character similarity of two spellings of one name.
const SAME_NAME: f64 = 0.9;

/// A name's letters without spaces, apostrophes and a final "s": "domino's", "dominos" and
/// "pizza hut", "pizzahut" spell one name each.
fn spelling(name: &str) -> String {
    let letters: String = name
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\'')
        .collect();
    letters
        .strip_suffix('s')
        .filter(|l| l.chars().count() >= 3)
        .map_or(letters.clone(), str::to_owned)
}

/// Merges near-duplicate spellings (same letters up to spaces, apostrophes and a final "s",
/// or character similarity at least 0.9, which takes a name of ten letters or more) into the
/// most frequent spelling. Short names never merge on similarity alone: "jon" and "jan" are
/// two people. Returns the sorted names and the variant → name map.
fn merge_spellings(counts: HashMap<String, u32>) -> (Vec<String>, HashMap<String, String>) {
    let mut by_frequency: Vec<(String, u32)> = counts.into_iter().collect();
    by_frequency.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut names: Vec<(String, String, Vec<char>)> = Vec::new();
    let mut aliases = HashMap::new();
    for (name, _) in by_frequency {
        let letters = spelling(&name);
        let chars: Vec<char> = name.chars().collect();
        let same = names.iter().find(|(kept, kept_letters, kept_chars)| {
            *kept_letters == letters
                || (chars.len().max(kept_chars.len()) >= 10
                    && similarity(&chars, kept) >= SAME_NAME)
        });
        match same {
            Some((kept, _, _)) => {
                aliases.insert(name, kept.clone());
            }
            None => names.push((name, letters, chars)),
        }
    }
    let mut names: Vec<String> = names.into_iter().map(|(n, _, _)| n).collect();
    names.sort();
    (names, aliases)
}

fn similarity(a: &[char], b: &str) -> f64 {
    let b: Vec<char> = b.chars().collect();
    let longer = a.len().max(b.len()).max(1);
    1.0 - edit_distance(a, &b) as f64 / longer as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue(names: &[(&str, &str)]) -> Catalogue {
        let mut c = Catalogue::default();
        for (kind, name) in names {
            c.add(kind, name);
        }
        c.sort();
        c
    }

    #[test]
    fn names_resolve_exactly_closely_ambiguously_or_not_at_all() {
        let c = catalogue(&[
            ("artist_name", "Imagine Dragons"),
            ("artist_name", "Shakira"),
            ("person", "jon"),
            ("person", "jan"),
        ]);
        assert_eq!(
            c.resolve("artist_name", "imagine dragons"),
            Resolution::Exact("imagine dragons".into())
        );
        assert_eq!(
            c.resolve("artist_name", "imagine dragon"),
            Resolution::Corrected("imagine dragons".into())
        );
        assert_eq!(
            c.resolve("artist_name", "maj and dragons"),
            Resolution::NotFound
        );
        assert!(matches!(
            c.resolve("person", "jen"),
            Resolution::NotFound | Resolution::Ambiguous(_)
        ));
        let c2 = catalogue(&[("person", "martina"), ("person", "martine")]);
        assert_eq!(
            c2.resolve("person", "martin"),
            Resolution::Ambiguous(vec!["martina".into(), "martine".into()])
        );
        assert_eq!(
            c.resolve("date", "Tomorrow"),
            Resolution::Free("tomorrow".into())
        );
    }

    #[test]
    fn spelling_variants_merge_into_the_most_frequent_spelling_and_distinct_names_do_not() {
        let counts = |names: &[(&str, u32)]| {
            names
                .iter()
                .map(|(n, c)| (value_key(n), *c))
                .collect::<HashMap<String, u32>>()
        };
        let (names, aliases) = merge_spellings(counts(&[
            ("ella fitzgerald", 5),
            ("ella fitzgeral", 1),
            ("ella fitzgeralds", 1),
            ("domino's", 3),
            ("dominos", 1),
            ("pizza hut", 2),
            ("pizzahut", 1),
            ("jon", 2),
            ("jan", 2),
            ("laos", 1),
            ("lagos", 1),
            ("ireland", 1),
            ("iceland", 1),
        ]));
        assert_eq!(aliases["ella fitzgeral"], "ella fitzgerald");
        assert_eq!(aliases["ella fitzgeralds"], "ella fitzgerald");
        // Meaning keys drop the possessive: "domino's" is the name "domino".
        assert_eq!(aliases["dominos"], "domino");
        assert_eq!(aliases["pizzahut"], "pizza hut");
        for distinct in ["jon", "jan", "laos", "lagos", "ireland", "iceland"] {
            assert!(
                names.contains(&distinct.to_owned()),
                "{distinct} was merged"
            );
        }
        assert_eq!(names.len(), 9, "{names:?}");
    }

    #[test]
    fn a_variant_spelling_resolves_to_its_name_without_asking() {
        let data = Dataset::load(&Dataset::default_dir()).unwrap();
        let c = Catalogue::from_data(&data);
        let variants = c.variants("artist_name");
        assert!(!variants.is_empty());
        for (variant, name) in variants {
            assert_eq!(
                c.resolve("artist_name", variant),
                Resolution::Exact(name.to_owned())
            );
            assert_eq!(c.canonical("artist_name", variant), name);
        }
    }

    #[test]
    fn the_data_catalogue_holds_every_named_value() {
        let data = Dataset::load(&Dataset::default_dir()).unwrap();
        let c = Catalogue::from_data(&data);
        let s = data
            .slurp
            .iter()
            .flat_map(|s| &s.slots)
            .find(|s| s.kind == "artist_name")
            .unwrap();
        assert!(matches!(
            c.resolve("artist_name", &s.value),
            Resolution::Exact(_)
        ));
        // Meaning keys: an edge function word does not make another name.
        assert_eq!(
            c.resolve("artist_name", &format!("the {}", s.value)),
            c.resolve("artist_name", &s.value)
        );
    }
}
