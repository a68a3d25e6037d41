//! Slot-value catalogues: the named things the assistant can find (artists, songs, places,
//! people, apps, …), every value the datasets name for those slot types. Resolution is what a
//! real entity resolver does: an exact name; else the one clearly closest name (which recovers
//! a slightly misheard or misspelt one); else, when several names are about as close, an
//! ambiguity the assistant must ask about; else nothing.

use std::collections::HashMap;

use selflearn_types::text::edit_distance;

use crate::dataset::Dataset;
use crate::nlu::tokenize;

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

/// Normalised names per catalogue slot type.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    names: HashMap<String, Vec<String>>,
}

impl Catalogue {
    /// Every value the data names for each catalogue slot type (SLURP, all splits, and HWU64).
    pub fn from_data(data: &Dataset) -> Self {
        let slots = data
            .slurp
            .iter()
            .flat_map(|s| &s.slots)
            .chain(data.hwu.iter().flat_map(|s| &s.slots));
        let mut catalogue = Self::default();
        for slot in slots {
            catalogue.add(&slot.kind, &slot.value);
        }
        for names in catalogue.names.values_mut() {
            names.sort();
            names.dedup();
        }
        catalogue
    }

    /// Adds one name (ignored for slot types without a catalogue).
    pub fn add(&mut self, kind: &str, value: &str) {
        if CATALOGUE_KINDS.contains(&kind) {
            self.names
                .entry(kind.to_owned())
                .or_default()
                .push(normalise(value));
        }
    }

    /// Resolves one understood slot value.
    pub fn resolve(&self, kind: &str, value: &str) -> Resolution {
        let spoken = normalise(value);
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

fn normalise(value: &str) -> String {
    tokenize(value).join(" ")
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
        for names in c.names.values_mut() {
            names.sort();
        }
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
        let mut c2 = catalogue(&[("person", "martina"), ("person", "martine")]);
        c2.names.get_mut("person").unwrap().sort();
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
    }
}
