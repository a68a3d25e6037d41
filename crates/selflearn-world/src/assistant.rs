//! The reference assistant: what it does with what it heard (NLU → entity resolution →
//! result → response), and the failure point of a turn.

use std::collections::HashMap;

use selflearn_types::{Outcome, ResolvedEntity};

use crate::catalogue::{Catalogue, Resolution};
use crate::nlu::{Interpretation, Nlu, tokenize};
use crate::truth::FailurePoint;

/// Words for "the room this device is in".
const THIS_ROOM: [&str; 3] = ["room", "this room", "in here"];
/// Words for "the whole home".
const WHOLE_HOME: [&str; 5] = ["house", "home", "whole house", "flat", "apartment"];

/// The assistant's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// The interpretation it acted on (absent when it did not understand).
    pub interpretation: Option<Interpretation>,
    /// Resolution of the interpretation's slots.
    pub entities: Vec<ResolvedEntity>,
    /// Whether every slot resolved.
    pub resolved: bool,
    /// Whether carrying out the request worked.
    pub result_ok: bool,
    /// The outcome as the assistant sees it.
    pub outcome: Outcome,
    /// The response text.
    pub response: String,
}

/// The reference assistant of one world.
#[derive(Debug, Clone)]
pub struct ReferenceAssistant {
    nlu: Nlu,
    cache: HashMap<String, Interpretation>,
    areas: Vec<String>,
    catalogue: Catalogue,
    resolved: HashMap<(String, String), Resolution>,
    min_confidence: f32,
}

impl ReferenceAssistant {
    /// An assistant with this NLU, in a home with these areas (lower-case names), finding
    /// named things in `catalogue`.
    pub fn new(nlu: Nlu, areas: Vec<String>, catalogue: Catalogue, min_confidence: f32) -> Self {
        Self {
            nlu,
            cache: HashMap::new(),
            areas,
            catalogue,
            resolved: HashMap::new(),
            min_confidence,
        }
    }

    /// A catalogue resolution, computed once per (slot type, value).
    fn lookup(&mut self, kind: &str, value: &str) -> Resolution {
        let key = (kind.to_owned(), value.to_owned());
        if let Some(found) = self.resolved.get(&key) {
            return found.clone();
        }
        let found = self.catalogue.resolve(kind, value);
        self.resolved.insert(key, found.clone());
        found
    }

    /// The NLU's interpretation of a text, computed once per distinct text.
    pub fn interpret(&mut self, text: &str) -> &Interpretation {
        if !self.cache.contains_key(text) {
            let interpretation = self.nlu.interpret(text);
            self.cache.insert(text.to_owned(), interpretation);
        }
        &self.cache[text]
    }

    /// Whether the assistant would act on this text with the gold frame: the intent, and slot
    /// values as the catalogues resolve them (a misheard name resolved to the right one counts,
    /// and a gold value written in another spelling of the same name is that name).
    pub fn understands(&mut self, text: &str, intent: &str, slots: &[(String, String)]) -> bool {
        let min = self.min_confidence;
        let mut interpretation = self.interpret(text).clone();
        if interpretation.confidence < min {
            return false;
        }
        for (kind, value) in &mut interpretation.slots {
            if let Some(found) = self.lookup(kind, value).value() {
                *value = found.to_owned();
            }
        }
        let gold: Vec<(String, String)> = slots
            .iter()
            .map(|(kind, value)| (kind.clone(), self.catalogue.canonical(kind, value)))
            .collect();
        same_frame(&interpretation, intent, &gold)
    }

    /// Handles a request heard on a device in `device_area`. `execution_fails` says whether
    /// carrying out a resolved request would fail (drawn by the caller, so that a rewritten and
    /// an original request face the same luck).
    pub fn handle(&mut self, heard: &str, device_area: &str, execution_fails: bool) -> Handled {
        let min = self.min_confidence;
        let interpretation = self.interpret(heard).clone();
        if interpretation.confidence < min || heard.trim().is_empty() {
            return Handled {
                interpretation: None,
                entities: Vec::new(),
                resolved: false,
                result_ok: false,
                outcome: Outcome::NotUnderstood,
                response: "Sorry, I didn't understand that.".into(),
            };
        }
        let entities: Vec<ResolvedEntity> = interpretation
            .slots
            .iter()
            .map(|(kind, value)| self.resolve(kind, value, device_area))
            .collect();
        let resolved = entities.iter().all(|e| e.resolved.is_some());
        let result_ok = resolved && !execution_fails;
        let ambiguous = entities
            .iter()
            .find(|e| e.candidates > 1 && e.resolved.is_none());
        let (outcome, response) = if let Some(which) = ambiguous {
            let options = match self.lookup(&which.slot, &which.value) {
                Resolution::Ambiguous(names) => names.join(" or "),
                _ => which.value.clone(),
            };
            (
                Outcome::Clarification,
                format!("Which one did you mean: {options}?"),
            )
        } else if !resolved {
            let missing = entities
                .iter()
                .find(|e| e.resolved.is_none())
                .map_or("", |e| e.value.as_str());
            (
                Outcome::Failure,
                format!("Sorry, I couldn't find {missing}."),
            )
        } else if !result_ok {
            (
                Outcome::Failure,
                "Sorry, something went wrong. Please try again later.".into(),
            )
        } else {
            (Outcome::Success, confirmation(&interpretation))
        };
        Handled {
            interpretation: Some(interpretation),
            entities,
            resolved,
            result_ok,
            outcome,
            response,
        }
    }

    /// Rooms resolve against the home's areas (or the device's own room, or the whole home);
    /// named things against the catalogues; other slot values to themselves.
    fn resolve(&mut self, kind: &str, value: &str, device_area: &str) -> ResolvedEntity {
        let spoken = tokenize(value).join(" ").trim_end_matches("'s").to_owned();
        let (resolved, candidates) = if kind != "house_place" {
            match self.lookup(kind, value) {
                Resolution::Ambiguous(names) => (None, names.len() as u32),
                Resolution::NotFound => (None, 0),
                found => (found.value().map(str::to_owned), 1),
            }
        } else if THIS_ROOM.contains(&spoken.as_str()) {
            (Some(device_area.to_owned()), 1)
        } else if WHOLE_HOME.contains(&spoken.as_str()) {
            (Some("all".to_owned()), self.areas.len() as u32)
        } else if self.areas.contains(&spoken) {
            (Some(spoken.clone()), 1)
        } else {
            (None, 0)
        };
        ResolvedEntity {
            slot: kind.to_owned(),
            value: value.to_owned(),
            resolved,
            candidates,
        }
    }
}

fn confirmation(interpretation: &Interpretation) -> String {
    let what = interpretation.intent.replace('_', " ");
    let with: Vec<&str> = interpretation
        .slots
        .iter()
        .map(|(_, v)| v.as_str())
        .collect();
    if with.is_empty() {
        format!("OK: {what}.")
    } else {
        format!("OK: {what}, {}.", with.join(", "))
    }
}

/// Whether an interpretation is the gold frame: same intent, same multiset of (type, value)
/// with values compared by meaning ([`crate::meaning::value_key`]).
pub fn same_frame(
    interpretation: &Interpretation,
    intent: &str,
    slots: &[(String, String)],
) -> bool {
    if interpretation.intent != intent || interpretation.slots.len() != slots.len() {
        return false;
    }
    let normal = |pairs: &[(String, String)]| {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, value)| (k.clone(), crate::meaning::value_key(value)))
            .collect();
        v.sort();
        v
    };
    normal(&interpretation.slots) == normal(slots)
}

/// What the pipeline did with one request, compared with the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageResults {
    /// The turn was background speech.
    pub false_wake: bool,
    /// The assistant did something (an action or answer), as opposed to declining.
    pub acted: bool,
    /// The recogniser changed the words.
    pub asr_changed_words: bool,
    /// The NLU got the gold frame from what was heard.
    pub understood_heard: bool,
    /// The NLU would have got the gold frame from the words as spoken.
    pub understood_spoken: bool,
    /// Every slot resolved.
    pub resolved: bool,
    /// Carrying it out worked.
    pub result_ok: bool,
}

/// The earliest irrecoverable failure. An upstream error the pipeline recovers from (words
/// misrecognised but still understood) is not a failure; a misunderstanding is blamed on
/// recognition only when the spoken words would have been understood.
pub fn failure_point(s: StageResults) -> FailurePoint {
    if s.false_wake {
        return if s.acted {
            FailurePoint::FalseWake
        } else {
            FailurePoint::Correct
        };
    }
    if !s.understood_heard {
        return if s.asr_changed_words && s.understood_spoken {
            FailurePoint::Asr
        } else {
            FailurePoint::Nlu
        };
    }
    if !s.resolved {
        FailurePoint::Entity
    } else if !s.result_ok {
        FailurePoint::Result
    } else {
        FailurePoint::Correct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages() -> StageResults {
        StageResults {
            false_wake: false,
            acted: true,
            asr_changed_words: false,
            understood_heard: true,
            understood_spoken: true,
            resolved: true,
            result_ok: true,
        }
    }

    #[test]
    fn an_asr_error_the_nlu_recovers_from_is_not_a_failure() {
        let s = StageResults {
            asr_changed_words: true,
            ..stages()
        };
        assert_eq!(failure_point(s), FailurePoint::Correct);
    }

    #[test]
    fn an_asr_error_that_loses_the_meaning_is_an_asr_failure() {
        let s = StageResults {
            asr_changed_words: true,
            understood_heard: false,
            ..stages()
        };
        assert_eq!(failure_point(s), FailurePoint::Asr);
    }

    #[test]
    fn a_misunderstanding_of_the_spoken_words_is_an_nlu_failure_even_after_an_asr_error() {
        let s = StageResults {
            asr_changed_words: true,
            understood_heard: false,
            understood_spoken: false,
            ..stages()
        };
        assert_eq!(failure_point(s), FailurePoint::Nlu);
        let s = StageResults {
            understood_heard: false,
            understood_spoken: false,
            ..stages()
        };
        assert_eq!(failure_point(s), FailurePoint::Nlu);
    }

    #[test]
    fn later_stages_fail_only_after_understanding() {
        assert_eq!(
            failure_point(StageResults {
                resolved: false,
                result_ok: false,
                ..stages()
            }),
            FailurePoint::Entity
        );
        assert_eq!(
            failure_point(StageResults {
                result_ok: false,
                ..stages()
            }),
            FailurePoint::Result
        );
        assert_eq!(failure_point(stages()), FailurePoint::Correct);
    }

    #[test]
    fn a_false_wake_fails_only_if_it_acted() {
        let s = StageResults {
            false_wake: true,
            ..stages()
        };
        assert_eq!(failure_point(s), FailurePoint::FalseWake);
        assert_eq!(
            failure_point(StageResults { acted: false, ..s }),
            FailurePoint::Correct
        );
    }

    #[test]
    fn frames_compare_as_multisets_of_normalised_values() {
        let interpretation = Interpretation {
            intent: "alarm_set".into(),
            slots: vec![
                ("date".into(), "Tomorrow".into()),
                ("time".into(), "five am".into()),
            ],
            confidence: 0.9,
        };
        let gold = [
            ("time".to_string(), "five am".to_string()),
            ("date".to_string(), "tomorrow".to_string()),
        ];
        assert!(same_frame(&interpretation, "alarm_set", &gold));
        assert!(!same_frame(&interpretation, "alarm_query", &gold));
        assert!(!same_frame(&interpretation, "alarm_set", &gold[..1]));
        // Meaning, not characters: digits equal number words, edge function words drop.
        let said = Interpretation {
            slots: vec![
                ("date".into(), "for tomorrow".into()),
                ("time".into(), "5 am".into()),
            ],
            ..interpretation
        };
        assert!(same_frame(&said, "alarm_set", &gold));
        let other_day = Interpretation {
            slots: vec![
                ("date".into(), "the day after tomorrow".into()),
                ("time".into(), "5 am".into()),
            ],
            ..said
        };
        assert!(!same_frame(&other_day, "alarm_set", &gold));
    }
}
