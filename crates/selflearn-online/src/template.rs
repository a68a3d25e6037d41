//! Template candidates: the words of successful requests around a slot value (a *carrier*,
//! "play {artist}"), filled with another value of that slot that the log shows in requests
//! that served people, when that value sounds like what was heard in its place. "play maj and
//! dragons" becomes "play imagine dragons" once "play {artist}" served several people and
//! "imagine dragons" was the artist of a request that served several, even if nobody has yet
//! been served by that exact request: a repair beyond what anyone said.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use selflearn_signals::{normalise, similarity};
use selflearn_types::TurnEvent;
use serde::{Deserialize, Serialize};

use crate::index::Candidate;
use crate::phonetic::Lexicon;

/// The words around one slot's value in requests that served people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Carrier {
    /// Words before the value (normalised, may be empty).
    pub before: String,
    /// Words after the value.
    pub after: String,
    /// The slot the value fills.
    pub slot: String,
    /// How often, for how many people, where and when requests of this carrier served.
    pub support: Candidate,
}

/// A slot value seen in requests that served several people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Value {
    /// The value as said (normalised).
    pub text: String,
    /// Distinct people it served.
    pub users: u32,
}

/// Carriers and values learned from the log ([`TemplateLearner`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// Carriers that served at least the global layer's `min_users` people.
    pub carriers: Vec<Carrier>,
    /// Per slot, values that served at least that many people.
    pub values: BTreeMap<String, Vec<Value>>,
    /// Carriers by (before, after), rebuilt after loading.
    #[serde(skip)]
    by_context: HashMap<(String, String), Vec<usize>>,
}

/// One request filled into a carrier ([`Templates::fill`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Filled<'t> {
    /// The request with the heard words replaced by the value.
    pub text: String,
    /// The carrier it was filled into.
    pub carrier: &'t Carrier,
    /// The value put in.
    pub value: &'t Value,
    /// The heard words it replaced.
    pub heard: String,
    /// Character or phonetic similarity (the higher) of the value to the heard words.
    pub similarity: f32,
}

/// Least similarity of a value to the heard words it replaces: the part a template changes is
/// short, so it must sound alike on its own, not only within the whole request.
pub const VALUE_FLOOR: f32 = 0.7;

impl Templates {
    /// Builds the lookup of carriers by their words.
    fn indexed(mut self) -> Self {
        self.by_context.clear();
        for (i, c) in self.carriers.iter().enumerate() {
            self.by_context
                .entry((c.before.clone(), c.after.clone()))
                .or_default()
                .push(i);
        }
        self
    }

    /// The same templates, ready to answer after deserialising.
    pub fn reindexed(self) -> Self {
        self.indexed()
    }

    /// Number of carriers.
    pub fn len(&self) -> usize {
        self.carriers.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.carriers.is_empty()
    }

    /// Every way `text` (normalised) fits a carrier with other words where the carrier's value
    /// goes, filled with the value of that slot that sounds most like those words, when it is
    /// at least [`VALUE_FLOOR`] alike and not the words themselves; one per filled text, the
    /// most similar.
    pub fn fill(&self, text: &str, lexicon: &Lexicon) -> Vec<Filled<'_>> {
        let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
        let mut best: BTreeMap<String, Filled<'_>> = BTreeMap::new();
        for start in 0..words.len() {
            for end in start + 1..=words.len() {
                let key = (words[..start].join(" "), words[end..].join(" "));
                let Some(carriers) = self.by_context.get(&key) else {
                    continue;
                };
                let heard = words[start..end].join(" ");
                let heard_phones = lexicon.phones(&heard);
                for &i in carriers {
                    let carrier = &self.carriers[i];
                    let Some(values) = self.values.get(&carrier.slot) else {
                        continue;
                    };
                    let closest = values
                        .iter()
                        .filter(|v| v.text != heard && comparable(&v.text, &heard))
                        .map(|v| {
                            let letters = similarity(&heard, &v.text) as f32;
                            let sound = lexicon.similarity_to(&heard_phones, &v.text);
                            (v, letters.max(sound))
                        })
                        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.text.cmp(&a.0.text)));
                    let Some((value, alike)) = closest.filter(|(_, s)| *s >= VALUE_FLOOR) else {
                        continue;
                    };
                    let filled = [key.0.as_str(), value.text.as_str(), key.1.as_str()]
                        .iter()
                        .filter(|p| !p.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" ");
                    if best.get(&filled).is_none_or(|b| alike > b.similarity) {
                        best.insert(
                            filled.clone(),
                            Filled {
                                text: filled,
                                carrier,
                                value,
                                heard: heard.clone(),
                                similarity: alike,
                            },
                        );
                    }
                }
            }
        }
        best.into_values().collect()
    }
}

/// Whether two texts are close enough in length to be worth comparing (an edit similarity of
/// [`VALUE_FLOOR`] needs lengths within a factor of about 1.4 of each other).
fn comparable(a: &str, b: &str) -> bool {
    let (a, b) = (a.chars().count(), b.chars().count());
    a.min(b) * 2 >= a.max(b)
}

/// Accumulates carriers and values from requests that served their user as heard.
#[derive(Debug, Clone, Default)]
pub struct TemplateLearner {
    carriers: BTreeMap<(String, String, String), (Candidate, BTreeSet<String>)>,
    values: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl TemplateLearner {
    /// Counts a turn that served its user as heard: each slot whose value is words of the
    /// request gives a carrier and a value.
    pub fn observe(&mut self, turn: &TurnEvent) {
        let Some(nlu) = &turn.nlu else { return };
        let text = normalise(&turn.asr.text);
        let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
        for slot in &nlu.slots {
            let value = normalise(&slot.value);
            let value_words: Vec<&str> = value.split(' ').filter(|w| !w.is_empty()).collect();
            if value_words.is_empty() || value_words.len() >= words.len() {
                continue;
            }
            let Some(start) = words
                .windows(value_words.len())
                .position(|w| w == value_words.as_slice())
            else {
                continue;
            };
            let end = start + value_words.len();
            let key = (
                words[..start].join(" "),
                words[end..].join(" "),
                slot.name.clone(),
            );
            let (support, users) = self.carriers.entry(key).or_default();
            support.count(turn);
            users.insert(turn.person().into_owned());
            self.values
                .entry(slot.name.clone())
                .or_default()
                .entry(value.clone())
                .or_default()
                .insert(turn.person().into_owned());
        }
    }

    /// Adds another accumulation's carriers and values.
    pub fn merge(&mut self, other: TemplateLearner) {
        for (key, (support, users)) in other.carriers {
            let (mine, my_users) = self.carriers.entry(key).or_default();
            mine.absorb(&support);
            my_users.extend(users);
        }
        for (slot, values) in other.values {
            let mine = self.values.entry(slot).or_default();
            for (value, users) in values {
                mine.entry(value).or_default().extend(users);
            }
        }
    }

    /// Carriers and values that served at least `min_users` distinct people.
    pub fn finish(&self, min_users: u32) -> Templates {
        let carriers = self
            .carriers
            .iter()
            .filter(|(_, (_, users))| users.len() as u32 >= min_users)
            .map(|((before, after, slot), (support, users))| Carrier {
                before: before.clone(),
                after: after.clone(),
                slot: slot.clone(),
                support: Candidate {
                    text: [before.as_str(), &format!("{{{slot}}}"), after.as_str()]
                        .iter()
                        .filter(|p| !p.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" "),
                    users: users.len() as u32,
                    ..support.clone()
                },
            })
            .collect();
        let values = self
            .values
            .iter()
            .map(|(slot, values)| {
                let kept = values
                    .iter()
                    .filter(|(_, users)| users.len() as u32 >= min_users)
                    .map(|(text, users)| Value {
                        text: text.clone(),
                        users: users.len() as u32,
                    })
                    .collect::<Vec<_>>();
                (slot.clone(), kept)
            })
            .filter(|(_, kept)| !kept.is_empty())
            .collect();
        Templates {
            carriers,
            values,
            by_context: HashMap::new(),
        }
        .indexed()
    }
}

#[cfg(test)]
mod tests {
    use selflearn_types::testing::turn_saying;
    use selflearn_types::{Nlu, Outcome, Slot};

    use super::*;

    fn served(user: &str, text: &str, slot: (&str, &str)) -> TurnEvent {
        let mut turn = turn_saying(user, &format!("{user}-{text}"), 0, text, Outcome::Success);
        turn.nlu = Some(Nlu {
            domain: None,
            intent: "play_music".into(),
            slots: vec![Slot {
                name: slot.0.into(),
                value: slot.1.into(),
            }],
            confidence: Some(0.9),
        });
        turn
    }

    fn learned(turns: &[TurnEvent]) -> Templates {
        let mut learner = TemplateLearner::default();
        for t in turns {
            learner.observe(t);
        }
        learner.finish(2)
    }

    #[test]
    fn a_misheard_value_is_filled_with_the_known_value_it_sounds_like() {
        let templates = learned(&[
            served("a", "play some taylor swift", ("artist", "taylor swift")),
            served("b", "play some adele", ("artist", "adele")),
            served("a", "play imagine dragons", ("artist", "imagine dragons")),
            served("c", "play imagine dragons", ("artist", "imagine dragons")),
        ]);
        // "play some {artist}" served two people; "imagine dragons" served two.
        let mut filled = templates.fill("play some imagine dragon", &Lexicon::default());
        filled.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        let texts: Vec<&str> = filled.iter().map(|f| f.text.as_str()).collect();
        // "play {artist}" fits too, with "some imagine dragon" as the artist (0.71 alike):
        // both are offered, the ranker chooses.
        assert_eq!(
            texts,
            ["play some imagine dragons", "play imagine dragons"],
            "{filled:?}"
        );
        assert_eq!(filled[0].carrier.support.text, "play some {artist}");
        assert_eq!(filled[0].carrier.support.users, 2);
        assert_eq!(filled[0].heard, "imagine dragon");
        // A value that served one person only ("adele", "taylor swift") is never put in; a
        // value that sounds like nothing heard is never put in either.
        assert!(
            templates
                .fill("play some adel", &Lexicon::default())
                .is_empty()
        );
        assert!(
            templates
                .fill("play some purple haze", &Lexicon::default())
                .is_empty()
        );
        // The words around must be a carrier's words exactly.
        assert!(
            templates
                .fill("put on imagine dragon", &Lexicon::default())
                .is_empty()
        );
    }

    #[test]
    fn a_carrier_that_served_one_person_is_not_a_template() {
        let templates = learned(&[
            served(
                "a",
                "play some imagine dragons",
                ("artist", "imagine dragons"),
            ),
            served("b", "play imagine dragons", ("artist", "imagine dragons")),
        ]);
        assert!(
            templates
                .fill("play some imagine dragon", &Lexicon::default())
                .is_empty()
        );
        let round_trip: Templates =
            serde_json::from_str(&serde_json::to_string(&templates).unwrap()).unwrap();
        assert_eq!(round_trip.reindexed(), templates);
    }
}
