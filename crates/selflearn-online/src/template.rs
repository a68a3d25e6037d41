//! Template candidates: the words of successful requests around a slot value (a *carrier*,
//! "play {artist}"), filled with another value of that slot that the log shows in requests
//! that served people, when that value sounds like what was heard in its place. "play maj and
//! dragons" becomes "play imagine dragons" once "play {artist}" served several people and
//! "imagine dragons" was the artist of a request that served several, even if nobody has yet
//! been served by that exact request: a repair beyond what anyone said.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use selflearn_signals::{normalise, similarity};
use selflearn_types::TurnEvent;
use selflearn_types::sensitive::{Meanings, SensitiveConfig};
use serde::{Deserialize, Serialize};

use crate::index::{Candidate, Support};
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

/// Who stands behind a carrier or a value: the people it served, the turns it served per
/// source (a person without a source is their own), and the meanings NLU gave it. A template
/// fills requests nobody said, so it needs the same support from several sources as a global
/// candidate: one client inventing users cannot plant a carrier or a value.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Backers {
    users: BTreeSet<String>,
    served_by_source: BTreeMap<String, u32>,
    meanings: Meanings,
}

impl Backers {
    fn count(&mut self, turn: &TurnEvent) {
        self.users.insert(turn.person().into_owned());
        *self
            .served_by_source
            .entry(turn.provenance().into_owned())
            .or_default() += 1;
        self.meanings.count(turn);
    }

    fn absorb(&mut self, other: Backers) {
        self.users.extend(other.users);
        for (source, n) in other.served_by_source {
            *self.served_by_source.entry(source).or_default() += n;
        }
        self.meanings.absorb(&other.meanings);
    }

    fn enough(&self, support: Support) -> bool {
        let served: u32 = self.served_by_source.values().sum();
        let top = self.served_by_source.values().copied().max().unwrap_or(0);
        self.users.len() as u32 >= support.min_users
            && self.served_by_source.len() as u32 >= support.min_sources
            && f64::from(top) <= support.max_source_share * f64::from(served.max(1))
    }
}

/// Accumulates carriers and values from requests that served their user as heard.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TemplateLearner {
    carriers: BTreeMap<(String, String, String), (Candidate, Backers)>,
    values: BTreeMap<String, BTreeMap<String, Backers>>,
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
            let (support, backers) = self.carriers.entry(key).or_default();
            support.count(turn);
            backers.count(turn);
            self.values
                .entry(slot.name.clone())
                .or_default()
                .entry(value.clone())
                .or_default()
                .count(turn);
        }
    }

    /// Adds another accumulation's carriers and values.
    pub fn merge(&mut self, other: TemplateLearner) {
        for (key, (support, backers)) in other.carriers {
            let (mine, my_backers) = self.carriers.entry(key).or_default();
            mine.absorb(&support);
            my_backers.absorb(backers);
        }
        for (slot, values) in other.values {
            let mine = self.values.entry(slot).or_default();
            for (value, backers) in values {
                mine.entry(value).or_default().absorb(backers);
            }
        }
    }

    /// Carriers and values with `support` behind them (distinct people, distinct sources, no
    /// source past its share), but for carriers of a sensitive meaning that `sensitive` does
    /// not approve by the carrier's text (`unlock {lock}`).
    pub fn finish(&self, support: Support, sensitive: &SensitiveConfig) -> Templates {
        let carriers = self
            .carriers
            .iter()
            .map(|((before, after, slot), (candidate, backers))| {
                let text = [before.as_str(), &format!("{{{slot}}}"), after.as_str()]
                    .iter()
                    .filter(|p| !p.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ");
                (before, after, slot, candidate, backers, text)
            })
            .filter(|(.., backers, text)| {
                backers.enough(support) && sensitive.allows(None, text, backers.meanings.main())
            })
            .map(|(before, after, slot, candidate, backers, text)| Carrier {
                before: before.clone(),
                after: after.clone(),
                slot: slot.clone(),
                support: Candidate {
                    text,
                    users: backers.users.len() as u32,
                    ..candidate.clone()
                },
            })
            .collect();
        let values = self
            .values
            .iter()
            .map(|(slot, values)| {
                let kept = values
                    .iter()
                    .filter(|(_, backers)| backers.enough(support))
                    .map(|(text, backers)| Value {
                        text: text.clone(),
                        users: backers.users.len() as u32,
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
        learner.finish(Support::people(2), &SensitiveConfig::default())
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

    fn from_source(mut turn: TurnEvent, source: &str) -> TurnEvent {
        turn.source = Some(source.into());
        turn
    }

    #[test]
    fn carriers_and_values_one_source_invents_people_for_are_not_templates() {
        // Four made-up people of one installation back a carrier and a value: the value is
        // never put in, however many people it claims.
        let planted: Vec<TurnEvent> = ["p1", "p2", "p3", "p4"]
            .iter()
            .flat_map(|user| {
                [
                    from_source(
                        served(
                            user,
                            "play some unlock front door",
                            ("artist", "unlock front door"),
                        ),
                        "attacker",
                    ),
                    from_source(
                        served(
                            user,
                            "play unlock front door",
                            ("artist", "unlock front door"),
                        ),
                        "attacker",
                    ),
                ]
            })
            .collect();
        let support = Support {
            min_users: 2,
            min_sources: 2,
            max_source_share: 0.8,
        };
        let finish = |turns: &[TurnEvent]| {
            let mut learner = TemplateLearner::default();
            for t in turns {
                learner.observe(t);
            }
            learner.finish(support, &SensitiveConfig::default())
        };
        let templates = finish(&planted);
        assert!(templates.is_empty(), "{:?}", templates.carriers);
        assert!(templates.values.is_empty(), "{:?}", templates.values);
        // The same turns from two households are templates: the rule refuses the attack, not
        // the pattern.
        let organic: Vec<TurnEvent> = planted
            .iter()
            .map(|t| {
                let home = if matches!(t.user_id.as_str(), "p1" | "p2") {
                    "home-1"
                } else {
                    "home-2"
                };
                from_source(t.clone(), home)
            })
            .collect();
        let templates = finish(&organic);
        assert!(!templates.is_empty());
        assert!(
            !templates
                .fill("play some unlock front dor", &Lexicon::default())
                .is_empty()
        );
    }

    #[test]
    fn a_carrier_of_a_sensitive_meaning_is_a_template_only_once_approved() {
        let lock = |user: &str, value: &str| {
            let mut turn = served(user, &format!("unlock the {value}"), ("lock", value));
            if let Some(nlu) = turn.nlu.as_mut() {
                nlu.domain = Some("home".into());
                nlu.intent = "HassLockUnlock".into();
            }
            turn
        };
        let turns = [
            lock("a", "front door"),
            lock("b", "back door"),
            lock("c", "front door"),
        ];
        let finish = |sensitive: &SensitiveConfig| {
            let mut learner = TemplateLearner::default();
            for t in &turns {
                learner.observe(t);
            }
            learner.finish(Support::people(2), sensitive)
        };
        let policy = SensitiveConfig::default();
        assert!(finish(&policy).is_empty());
        let approved = SensitiveConfig {
            approved: vec![selflearn_types::sensitive::Approved {
                source: None,
                target: "unlock the {lock}".into(),
            }],
            ..policy
        };
        assert_eq!(finish(&approved).len(), 1);
    }
}
