//! What the dashboard shows of a log: per day, the turns, the likely defects and each friction
//! signal, and the rewrites each layer applied; the requests that fail most; and, for each
//! rewrite the assistant applied, how often the rewritten turn still looked defective (its
//! win/loss after deployment). Learned like any artifact, one user at a time and mergeable,
//! so that the page reads a small file instead of the log.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use selflearn_types::text::normalise;

use crate::learner::{Learner, UserTurns};

/// Format of [`Insights`].
pub const INSIGHTS_FORMAT: u32 = 1;

/// How many failing requests and applied rewrites the artifact keeps (the most frequent).
pub const TOP: usize = 50;

/// Milliseconds in a day: days are UTC calendar days.
const DAY_MS: i64 = 86_400_000;

/// The friction signals, by the names the page shows.
pub const SIGNALS: [&str; 6] = [
    "system_failure",
    "barge_in",
    "rephrase",
    "repeat",
    "explicit_negative",
    "abandonment",
];

/// One UTC day of the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Day {
    /// Days since 1970-01-01.
    pub day: i64,
    /// Turns that day.
    pub turns: u64,
    /// Turns whose signals say likely defective.
    pub likely_defects: u64,
    /// Turns with each signal, by [`SIGNALS`] name.
    pub signals: BTreeMap<String, u64>,
    /// Turns the assistant sent rewritten, by the layer that rewrote them.
    pub rewritten: BTreeMap<String, u64>,
}

impl Day {
    /// Likely defects per turn.
    pub fn defect_rate(&self) -> f64 {
        self.likely_defects as f64 / self.turns.max(1) as f64
    }

    /// The day as `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        civil_date(self.day)
    }
}

/// A request as heard (normalised words) and how it fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The normalised text.
    pub text: String,
    /// Times it was said.
    pub turns: u64,
    /// Of those, likely defective.
    pub likely_defects: u64,
    /// Distinct people who said it.
    pub users: u64,
}

/// One rewrite the assistant applied (from the events' `rewrite` records) and what followed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// The layer that produced it.
    pub layer: String,
    /// The request as heard (normalised).
    pub source: String,
    /// What NLU received instead (normalised).
    pub target: String,
    /// Turns it was applied to.
    pub turns: u64,
    /// Of those, turns that still looked defective: its losses; the rest are its wins.
    pub likely_defects: u64,
}

impl Applied {
    /// Turns that did not look defective after the rewrite.
    pub fn wins(&self) -> u64 {
        self.turns - self.likely_defects
    }
}

/// The dashboard's artifact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Insights {
    /// [`INSIGHTS_FORMAT`].
    pub format: u32,
    /// The set's version.
    pub version: String,
    /// Every day with turns, earliest first.
    pub days: Vec<Day>,
    /// The requests with the most likely defects, most first (at most [`TOP`]).
    pub failing: Vec<Request>,
    /// The rewrites applied most often, most first (at most [`TOP`]).
    pub applied: Vec<Applied>,
}

impl Insights {
    /// Its JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses and checks the format; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &std::path::Path) -> crate::Result<Self> {
        let invalid = |reason: String| crate::EngineError::Mismatch {
            path: path.to_path_buf(),
            reason,
        };
        let insights: Self = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if insights.format != INSIGHTS_FORMAT {
            return Err(invalid(format!(
                "format {} is not {INSIGHTS_FORMAT}",
                insights.format
            )));
        }
        Ok(insights)
    }
}

/// Counts of one normalised request.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct RequestCounts {
    turns: u64,
    likely_defects: u64,
    users: u64,
}

/// Learns [`Insights`]. Memory grows with the distinct requests and applied rewrites, as the
/// miner's does with utterance forms.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct InsightsLearner {
    days: BTreeMap<i64, Day>,
    requests: HashMap<String, RequestCounts>,
    applied: HashMap<(String, String, String), (u64, u64)>,
}

impl Learner for InsightsLearner {
    type Artifact = Insights;

    fn observe(&mut self, user: &UserTurns) {
        let mut said: HashSet<String> = HashSet::new();
        for (session, signals) in user.iter() {
            for (turn, signal) in session.turns.iter().zip(signals) {
                let defect = signal.likely_defect();
                let day_number = turn.timestamp_ms.div_euclid(DAY_MS);
                let day = self.days.entry(day_number).or_insert_with(|| Day {
                    day: day_number,
                    ..Day::default()
                });
                day.turns += 1;
                day.likely_defects += u64::from(defect);
                let flags = [
                    signal.system_failure,
                    signal.barge_in,
                    signal.rephrase,
                    signal.repeat,
                    signal.explicit_negative,
                    signal.abandonment,
                ];
                for (name, on) in SIGNALS.iter().zip(flags) {
                    if on {
                        *day.signals.entry((*name).to_owned()).or_default() += 1;
                    }
                }
                if let Some(rewrite) = &turn.rewrite {
                    *day.rewritten.entry(rewrite.layer.clone()).or_default() += 1;
                    let key = (
                        rewrite.layer.clone(),
                        normalise(&rewrite.original_text),
                        normalise(&rewrite.rewritten_text),
                    );
                    let counts = self.applied.entry(key).or_default();
                    counts.0 += 1;
                    counts.1 += u64::from(defect);
                }
                let heard = turn
                    .rewrite
                    .as_ref()
                    .map_or(turn.asr.text.as_str(), |r| r.original_text.as_str());
                let text = normalise(heard);
                if text.is_empty() {
                    continue;
                }
                let counts = self.requests.entry(text.clone()).or_default();
                counts.turns += 1;
                counts.likely_defects += u64::from(defect);
                if said.insert(text) {
                    counts.users += 1;
                }
            }
        }
    }

    fn merge(&mut self, other: Self) {
        for (number, day) in other.days {
            let mine = self.days.entry(number).or_insert_with(|| Day {
                day: number,
                ..Day::default()
            });
            mine.turns += day.turns;
            mine.likely_defects += day.likely_defects;
            for (name, n) in day.signals {
                *mine.signals.entry(name).or_default() += n;
            }
            for (layer, n) in day.rewritten {
                *mine.rewritten.entry(layer).or_default() += n;
            }
        }
        for (text, counts) in other.requests {
            let mine = self.requests.entry(text).or_default();
            mine.turns += counts.turns;
            mine.likely_defects += counts.likely_defects;
            mine.users += counts.users;
        }
        for (key, (turns, defects)) in other.applied {
            let mine = self.applied.entry(key).or_default();
            mine.0 += turns;
            mine.1 += defects;
        }
    }

    fn finish(&self, version: &str) -> crate::Result<Insights> {
        let mut failing: Vec<Request> = self
            .requests
            .iter()
            .filter(|(_, c)| c.likely_defects > 0)
            .map(|(text, c)| Request {
                text: text.clone(),
                turns: c.turns,
                likely_defects: c.likely_defects,
                users: c.users,
            })
            .collect();
        failing.sort_by(|a, b| {
            b.likely_defects
                .cmp(&a.likely_defects)
                .then_with(|| a.text.cmp(&b.text))
        });
        failing.truncate(TOP);
        let mut applied: Vec<Applied> = self
            .applied
            .iter()
            .map(|((layer, source, target), (turns, defects))| Applied {
                layer: layer.clone(),
                source: source.clone(),
                target: target.clone(),
                turns: *turns,
                likely_defects: *defects,
            })
            .collect();
        applied.sort_by(|a, b| {
            b.turns.cmp(&a.turns).then_with(|| {
                (&a.layer, &a.source, &a.target).cmp(&(&b.layer, &b.source, &b.target))
            })
        });
        applied.truncate(TOP);
        Ok(Insights {
            format: INSIGHTS_FORMAT,
            version: version.to_owned(),
            days: self.days.values().cloned().collect(),
            failing,
            applied,
        })
    }
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (the proleptic Gregorian calendar; Howard
/// Hinnant's `civil_from_days`).
pub fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use selflearn_signals::SignalConfig;
    use selflearn_types::testing::turn_saying as turn;
    use selflearn_types::{AppliedRewrite, Outcome, TurnEvent};

    use super::*;
    use crate::learner::by_user;

    fn rewritten(mut event: TurnEvent, heard: &str, layer: &str) -> TurnEvent {
        event.rewrite = Some(AppliedRewrite {
            original_text: heard.into(),
            rewritten_text: event.asr.text.clone(),
            layer: layer.into(),
            score: None,
            artifact_version: None,
        });
        event
    }

    fn events() -> Vec<TurnEvent> {
        let day = DAY_MS;
        let mut events = Vec::new();
        for (u, user) in ["ann", "bob", "cy"].iter().enumerate() {
            let at = u as i64 * 600_000;
            events.push(turn(
                user,
                &format!("{user}-1"),
                at,
                "play maj and dragons",
                Outcome::Failure,
            ));
            events.push(turn(
                user,
                &format!("{user}-2"),
                at + 5_000,
                "play imagine dragons",
                Outcome::Success,
            ));
            events.push(rewritten(
                turn(
                    user,
                    &format!("{user}-3"),
                    day + at,
                    "play imagine dragons",
                    Outcome::Success,
                ),
                "play maj and dragons",
                "precomputed",
            ));
        }
        events
    }

    fn learned(events: &[TurnEvent]) -> InsightsLearner {
        let mut learner = InsightsLearner::default();
        for user in by_user(events, &SignalConfig::default()) {
            learner.observe(&user);
        }
        learner
    }

    #[test]
    fn days_failing_requests_and_applied_rewrites_are_counted() {
        let insights = learned(&events()).finish("v1").unwrap();
        assert_eq!(insights.days.len(), 2);
        let first = events()[0].timestamp_ms.div_euclid(DAY_MS);
        assert_eq!(insights.days[0].date(), civil_date(first));
        assert_eq!(insights.days[1].day, first + 1);
        assert_eq!(insights.days[0].turns, 6);
        assert_eq!(insights.days[0].signals.get("system_failure"), Some(&3));
        assert_eq!(insights.days[0].signals.get("rephrase"), Some(&3));
        assert!(insights.days[0].likely_defects >= 3);
        assert_eq!(insights.days[1].rewritten.get("precomputed"), Some(&3));
        assert!(insights.days[0].rewritten.is_empty());
        let top = &insights.failing[0];
        assert_eq!(top.text, "play maj and dragons");
        assert_eq!(
            (top.users, top.turns),
            (3, 6),
            "the rewritten turns count as heard"
        );
        assert_eq!(insights.applied.len(), 1);
        let applied = &insights.applied[0];
        assert_eq!((applied.turns, applied.wins()), (3, 3));
        assert_eq!(applied.target, "play imagine dragons");
    }

    #[test]
    fn partial_learners_merge_into_what_one_learner_learns() {
        let events = events();
        let whole = learned(&events).finish("v").unwrap();
        let (ann, rest): (Vec<_>, Vec<_>) = events.into_iter().partition(|e| e.user_id == "ann");
        let mut merged = learned(&ann);
        merged.merge(learned(&rest));
        assert_eq!(merged.finish("v").unwrap(), whole);
    }

    #[test]
    fn the_artifact_round_trips_and_refuses_another_format() {
        let insights = learned(&events()).finish("v1").unwrap();
        let back = Insights::from_bytes(&insights.to_bytes(), "x".as_ref()).unwrap();
        assert_eq!(back, insights);
        let mut other = insights;
        other.format = 9;
        assert!(Insights::from_bytes(&other.to_bytes(), "x".as_ref()).is_err());
        assert!(Insights::from_bytes(b"{", "x".as_ref()).is_err());
    }

    #[test]
    fn civil_dates_match_the_calendar() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_723), "2024-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(-1), "1969-12-31");
    }
}
