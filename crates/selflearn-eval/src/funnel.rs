//! Where the online layers lose the defects they could repair: a funnel over the defective
//! turns they were consulted on, joined with the world's truth (only the evaluator may).
//!
//! A candidate is *right* for a turn when its text had already served the turn's request
//! (frame) for someone in the same run: rewriting to it could have repaired the turn.

use std::collections::{HashMap, HashSet};

use selflearn_signals::normalise;
use selflearn_world::sim::Collected;
use serde::Serialize;

/// What an online layer did with one request ([`selflearn_online::OnlineModel::ranked`]).
#[derive(Debug, Clone)]
pub struct Consulted {
    /// Who asked.
    pub user_id: String,
    /// When (the turn's time, which identifies it with the user).
    pub timestamp_ms: i64,
    /// `None` when the guard declined; else the candidates, best score first, with their
    /// score and whether they clear the similarity floor.
    pub ranked: Option<Vec<(String, f32, bool)>>,
    /// How many of them are template candidates, and how many of those are right.
    pub templates: usize,
    /// The threshold the best candidate's score had to reach.
    pub threshold: f32,
}

/// Defective turns an online layer was consulted on, by how far a repair got.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Funnel {
    /// Defective turns the online layer was asked about.
    pub consulted_defects: u64,
    /// Of those, declined by the guard (the request looked like it works as heard).
    pub guard_declined: u64,
    /// Of those, turns whose request had already been served to someone in another form.
    pub guard_declined_served_before: u64,
    /// Of the rest, turns whose request had already been served to someone in another form.
    pub served_before: u64,
    /// Of those, a right candidate was among the retrieved.
    pub right_retrieved: u64,
    /// Of those, a right candidate cleared the similarity floor.
    pub right_clears_floor: u64,
    /// Of those, a right candidate was the best that cleared the floor.
    pub right_ranked_first: u64,
    /// Of those, its score cleared the threshold (a rewrite fired and still failed).
    pub right_fired: u64,
    /// Defective turns offered at least one template candidate.
    pub offered_templates: u64,
}

impl std::ops::AddAssign for Funnel {
    fn add_assign(&mut self, o: Funnel) {
        self.consulted_defects += o.consulted_defects;
        self.guard_declined += o.guard_declined;
        self.guard_declined_served_before += o.guard_declined_served_before;
        self.served_before += o.served_before;
        self.right_retrieved += o.right_retrieved;
        self.right_clears_floor += o.right_clears_floor;
        self.right_ranked_first += o.right_ranked_first;
        self.right_fired += o.right_fired;
        self.offered_templates += o.offered_templates;
    }
}

impl std::fmt::Display for Funnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} defective turns consulted: {} declined by the guard ({} of them for a request already served in another form); of the {} others, {} were for a request already served in another form; a right candidate was retrieved for {}, cleared the similarity floor for {}, ranked first for {}, and fired for {}; {} were offered a template candidate",
            self.consulted_defects,
            self.guard_declined,
            self.guard_declined_served_before,
            self.consulted_defects - self.guard_declined,
            self.served_before,
            self.right_retrieved,
            self.right_clears_floor,
            self.right_ranked_first,
            self.right_fired,
            self.offered_templates
        )
    }
}

/// The funnel of one arm's run: `consulted` are the online layer's records of that run.
pub fn funnel(out: &Collected, consulted: &[Consulted]) -> Funnel {
    let frames: HashMap<u64, &str> = out
        .goals
        .iter()
        .map(|g| (g.goal_id, g.frame_id.as_str()))
        .collect();
    let by_turn: HashMap<(&str, i64), &Consulted> = consulted
        .iter()
        .map(|c| ((c.user_id.as_str(), c.timestamp_ms), c))
        .collect();
    let mut served: HashMap<&str, HashSet<String>> = HashMap::new();
    let mut funnel = Funnel::default();
    for (event, truth) in out.events.iter().zip(&out.truth) {
        let Some(frame) = truth.goal_id.and_then(|g| frames.get(&g).copied()) else {
            continue;
        };
        let asked = by_turn.get(&(event.user_id.as_str(), event.timestamp_ms));
        if let (true, Some(asked)) = (truth.defect, asked) {
            funnel.consulted_defects += 1;
            funnel.offered_templates += u64::from(asked.templates > 0);
            let right = served.get(frame);
            let heard = normalise(&event.asr.text);
            let served_before = right.is_some_and(|r| r.iter().any(|form| *form != heard));
            match &asked.ranked {
                None => {
                    funnel.guard_declined += 1;
                    funnel.guard_declined_served_before += u64::from(served_before);
                }
                Some(ranked) => {
                    if served_before {
                        funnel.served_before += 1;
                    }
                    let is_right = |text: &str| right.is_some_and(|r| r.contains(text));
                    if ranked.iter().any(|(t, _, _)| is_right(t)) {
                        funnel.right_retrieved += 1;
                    }
                    if ranked.iter().any(|(t, _, floor)| *floor && is_right(t)) {
                        funnel.right_clears_floor += 1;
                    }
                    let first = ranked.iter().find(|(_, _, floor)| *floor);
                    if let Some((_, score, _)) = first.filter(|(t, _, _)| is_right(t)) {
                        funnel.right_ranked_first += 1;
                        if *score >= asked.threshold {
                            funnel.right_fired += 1;
                        }
                    }
                }
            }
        }
        if !truth.defect {
            let said = event
                .rewrite
                .as_ref()
                .map_or(&event.asr.text, |r| &r.rewritten_text);
            served.entry(frame).or_default().insert(normalise(said));
        }
    }
    funnel
}

#[cfg(test)]
mod tests {
    use selflearn_types::Outcome;
    use selflearn_types::testing::turn_saying;
    use selflearn_world::truth::{Act, FailurePoint, GoalTruth, TurnTruth};

    use super::*;

    /// One turn of goal `goal` by `user` at `at` ms, heard as `heard`.
    fn turn(out: &mut Collected, user: &str, goal: u64, at: i64, heard: &str, defect: bool) {
        let outcome = if defect {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let event = turn_saying(user, &format!("{user}-{at}"), at, heard, outcome);
        out.truth.push(TurnTruth {
            event_id: event.event_id.clone(),
            goal_id: Some(goal),
            starts_goal: true,
            act: Act::NewGoal,
            spoken_text: Some(heard.into()),
            asr_source: "real".into(),
            gold_intent: Some("play_music".into()),
            gold_slots: Vec::new(),
            defect,
            failure_point: if defect {
                FailurePoint::Asr
            } else {
                FailurePoint::Correct
            },
            barged_in: false,
            rewritten: false,
            original_defect: None,
        });
        out.events.push(event);
    }

    fn goal(out: &mut Collected, goal_id: u64, frame: &str) {
        out.goals.push(GoalTruth {
            goal_id,
            user_id: "u".into(),
            frame_id: frame.into(),
            turns: 1,
            success: false,
            abandoned: false,
        });
    }

    fn asked(user: &str, at: i64, ranked: Option<Vec<(&str, f32, bool)>>) -> Consulted {
        let base = turn_saying(user, "x", at, "x", Outcome::Success).timestamp_ms;
        Consulted {
            user_id: user.into(),
            timestamp_ms: base,
            ranked: ranked.map(|r| r.into_iter().map(|(t, s, f)| (t.into(), s, f)).collect()),
            templates: 0,
            threshold: 0.5,
        }
    }

    #[test]
    fn a_candidate_is_right_only_when_it_served_the_same_request_before() {
        let mut out = Collected::default();
        goal(&mut out, 1, "dragons");
        goal(&mut out, 2, "dragons");
        goal(&mut out, 3, "jazz");
        goal(&mut out, 4, "dragons");
        // A defect before anyone was served: nothing was right yet.
        turn(&mut out, "a", 4, 0, "play maj and dragons", true);
        turn(&mut out, "a", 1, 10, "play imagine dragons", false);
        // The same request misheard later: the served form is right and ranked first.
        turn(&mut out, "b", 2, 20, "play maj and dragons", true);
        // Another request retrieving that form: served, but not for this request.
        turn(&mut out, "c", 3, 30, "play jazz", true);
        // Declined by the guard.
        turn(&mut out, "d", 2, 40, "play dragons", true);
        let candidates = || Some(vec![("play imagine dragons", 0.4, true), ("x", 0.1, true)]);
        let consulted = [
            asked("a", 0, candidates()),
            asked("b", 20, candidates()),
            asked("c", 30, candidates()),
            asked("d", 40, None),
        ];
        let f = funnel(&out, &consulted);
        assert_eq!(
            f,
            Funnel {
                consulted_defects: 4,
                guard_declined: 1,
                guard_declined_served_before: 1,
                served_before: 1,
                right_retrieved: 1,
                right_clears_floor: 1,
                right_ranked_first: 1,
                right_fired: 0,
                offered_templates: 0,
            }
        );
        // Below the floor, the right candidate is retrieved but never the rewrite.
        let consulted = [asked(
            "b",
            20,
            Some(vec![("play imagine dragons", 0.9, false), ("x", 0.1, true)]),
        )];
        let f = funnel(&out, &consulted);
        assert_eq!(
            (
                f.right_retrieved,
                f.right_clears_floor,
                f.right_ranked_first
            ),
            (1, 0, 0)
        );
    }
}
