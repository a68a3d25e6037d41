//! Requests whose meaning can open a door or spend money. A global rewrite toward one of them
//! would let whoever shapes the log decide what a house does when someone mishears; so such
//! rewrites are learned into the global layers only once an operator approves them, and are
//! reported as held until then.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::TurnEvent;

/// The `[sensitive]` section: what counts as sensitive, and what an operator approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensitiveConfig {
    /// Lower-case parts of an NLU domain or intent name that make a request sensitive
    /// (`lock` matches `lock`, `HassLockUnlock`, `door_lock`).
    pub intents: Vec<String>,
    /// Global rewrites an operator approved, by their normalised texts.
    pub approved: Vec<Approved>,
}

/// One approval: a rewrite target, from one source form or (no `source`) from any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approved {
    /// The heard form rewritten; any when absent (what the online layers need).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The request it is rewritten to.
    pub target: String,
}

impl Default for SensitiveConfig {
    fn default() -> Self {
        Self {
            intents: [
                "lock",
                "security",
                "alarm_arm",
                "disarm",
                "garage",
                "purchase",
                "order",
                "buy",
                "payment",
            ]
            .map(str::to_owned)
            .to_vec(),
            approved: Vec::new(),
        }
    }
}

impl SensitiveConfig {
    /// Whether a request understood as `meaning` (see [`meaning_of`]) is sensitive.
    pub fn is_sensitive(&self, meaning: &str) -> bool {
        let meaning = meaning.to_lowercase();
        self.intents
            .iter()
            .any(|part| !part.is_empty() && meaning.contains(&part.to_lowercase()))
    }

    /// Whether the rewrite of `source` to `target` may be learned globally: its target is not
    /// sensitive, or an operator approved it.
    pub fn allows(&self, source: Option<&str>, target: &str, meaning: Option<&str>) -> bool {
        !meaning.is_some_and(|m| self.is_sensitive(m))
            || self.approved.iter().any(|a| {
                a.target == target && (a.source.is_none() || a.source.as_deref() == source)
            })
    }
}

/// A turn's meaning as NLU gave it, `domain.intent` (or the intent alone).
pub fn meaning_of(turn: &TurnEvent) -> Option<String> {
    turn.nlu.as_ref().map(|nlu| match &nlu.domain {
        Some(domain) => format!("{domain}.{}", nlu.intent),
        None => nlu.intent.clone(),
    })
}

/// How often each meaning was given to one request: merged across learners by adding, read by
/// its most frequent meaning (ties to the first in order, so the result does not depend on
/// the order of merges).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meanings(BTreeMap<String, u32>);

impl Meanings {
    /// Counts one turn's meaning, if NLU gave one.
    pub fn count(&mut self, turn: &TurnEvent) {
        if let Some(meaning) = meaning_of(turn) {
            *self.0.entry(meaning).or_default() += 1;
        }
    }

    /// Adds another tally.
    pub fn absorb(&mut self, other: &Meanings) {
        for (meaning, n) in &other.0 {
            *self.0.entry(meaning.clone()).or_default() += n;
        }
    }

    /// The most frequent meaning.
    pub fn main(&self) -> Option<&str> {
        let mut best: Option<(&str, u32)> = None;
        for (meaning, &n) in &self.0 {
            if best.is_none_or(|(_, m)| n > m) {
                best = Some((meaning, n));
            }
        }
        best.map(|(meaning, _)| meaning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_event;

    #[test]
    fn locks_and_purchases_are_sensitive_and_clock_alarms_and_lights_are_not() {
        let policy = SensitiveConfig::default();
        for meaning in [
            "home.HassLockUnlock",
            "takeaway_order",
            "iot.door_lock",
            "qa.purchase",
        ] {
            assert!(policy.is_sensitive(meaning), "{meaning}");
        }
        for meaning in [
            "alarm_set",
            "iot_hue_lightoff",
            "play_music",
            "weather_query",
        ] {
            assert!(!policy.is_sensitive(meaning), "{meaning}");
        }
    }

    #[test]
    fn an_approval_lets_its_rewrite_through_and_only_it() {
        let mut policy = SensitiveConfig::default();
        let door = Some("iot.lock");
        assert!(!policy.allows(Some("lock the dor"), "lock the door", door));
        assert!(policy.allows(Some("play jaz"), "play jazz", Some("play_music")));
        assert!(
            policy.allows(Some("x"), "y", None),
            "no meaning: nothing to hold"
        );
        policy.approved.push(Approved {
            source: Some("lock the dor".into()),
            target: "lock the door".into(),
        });
        assert!(policy.allows(Some("lock the dor"), "lock the door", door));
        assert!(!policy.allows(Some("lock the doh"), "lock the door", door));
        policy.approved.push(Approved {
            source: None,
            target: "lock the door".into(),
        });
        assert!(policy.allows(Some("lock the doh"), "lock the door", door));
        assert!(policy.allows(None, "lock the door", door));
    }

    #[test]
    fn the_main_meaning_does_not_depend_on_the_order_of_merges() {
        let turn = |intent: &str| {
            let mut t = sample_event();
            t.nlu.as_mut().unwrap().domain = None;
            t.nlu.as_mut().unwrap().intent = intent.into();
            t
        };
        let mut a = Meanings::default();
        a.count(&turn("lock"));
        let mut b = Meanings::default();
        b.count(&turn("play"));
        let mut ab = a.clone();
        ab.absorb(&b);
        let mut ba = b.clone();
        ba.absorb(&a);
        assert_eq!(ab.main(), ba.main());
        ab.count(&turn("play"));
        assert_eq!(ab.main(), Some("play"));
    }
}
