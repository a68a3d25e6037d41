//! One person's pursuit of a goal: the first request, their reaction to each answer
//! (barging in, rephrasing, repeating, correcting, teaching, giving up), the requests they chain
//! after a success, and what a success changes in the home.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use selflearn_types::{BargeIn, Rewriter};

use super::event::normalised;
use super::people::{Goal, Who};
use super::planning::CHAIN_MASK;
use super::turn::{Ask, Lesson};
use super::{Pending, STOP_INTENT, World};
use crate::truth::{Act, GoalTruth};

/// Where one day's output and the rewrite hook live while goals unfold.
pub(super) struct Episode<'a, 'h> {
    pub(super) pending: &'a mut Vec<Pending>,
    pub(super) finished: &'a mut Vec<GoalTruth>,
    pub(super) hook: Option<&'h dyn Rewriter>,
}

/// One goal as a person sets out to pursue it: a planned one, or one chained after a success.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pursuit {
    pub(super) who: Who,
    /// Index of the goal among the world's goals.
    pub(super) goal: usize,
    pub(super) goal_id: u64,
    /// When the first request is spoken, in ms since the Unix epoch.
    pub(super) start: i64,
    /// The device every request goes to (stopping music where it plays); `None` draws one
    /// per request.
    pub(super) device: Option<usize>,
}

impl World {
    /// One goal from first request to success or giving up; returns when the person is free.
    pub(super) fn pursue(
        &mut self,
        pursuit: Pursuit,
        episode: &mut Episode<'_, '_>,
        rng: &mut StdRng,
    ) -> i64 {
        let Pursuit {
            who,
            goal: goal_index,
            goal_id,
            start,
            device,
        } = pursuit;
        let behaviour = self.config.behaviour.clone();
        let goal = self.goals[goal_index].clone();
        let mut time = start;
        let mut act = Act::NewGoal;
        let mut sentence = goal
            .paraphrases
            .choose(rng)
            .expect("goals have paraphrases")
            .clone();
        let mut turns = 0;
        loop {
            turns += 1;
            let ask = Ask {
                who,
                goal: &goal,
                goal_id,
                sentence: &sentence,
                act,
                time,
                device,
            };
            let outcome = self.request(ask, episode.hook, rng);
            let success = !outcome.defect;
            let outcome_device = outcome.device;
            let response_end = time + 1_500 + i64::from(outcome.duration_ms);
            let barge = if success {
                behaviour.barge_in_on_success
            } else {
                behaviour.barge_in_on_failure
            };
            let mut turn = outcome.pending;
            if rng.random_bool(barge) {
                let at = rng.random_range(300..outcome.duration_ms.max(301));
                turn.event.barge_in = Some(BargeIn { at_ms: at });
                turn.truth.barged_in = true;
            }
            let user_done = match turn.event.barge_in {
                Some(b) => time + 1_500 + i64::from(b.at_ms),
                None => response_end,
            };
            episode.pending.push(turn);
            let pause = i64::from(rng.random_range(behaviour.pause_ms.0..=behaviour.pause_ms.1));
            if success {
                episode.finished.push(GoalTruth {
                    goal_id,
                    user_id: self.person(who).user_id.clone(),
                    frame_id: goal.frame_id.clone(),
                    turns,
                    success: true,
                    abandoned: false,
                });
                let chain_free = goal_id & CHAIN_MASK < CHAIN_MASK;
                self.carry_out(who.household, outcome_device, &goal);
                // Listening for a while, then stopping it: a barge-in on a success.
                if chain_free
                    && goal.intent.starts_with("play_")
                    && !self.stop_goals.is_empty()
                    && rng.random_bool(behaviour.stop_playing)
                {
                    let listened = rng.random_range(60_000..1_200_000u32);
                    if let Some(played) = episode.pending.last_mut() {
                        played.event.barge_in = Some(BargeIn { at_ms: listened });
                        played.truth.barged_in = true;
                    }
                    let stop = *self.stop_goals.choose(rng).expect("not empty");
                    let at = time + 1_500 + i64::from(listened);
                    let stopping = Pursuit {
                        who,
                        goal: stop,
                        goal_id: goal_id + 1,
                        start: at,
                        device: Some(outcome_device),
                    };
                    return self.pursue(stopping, episode, rng);
                }
                // Another request right away; the low bits of goal ids number such chains.
                if chain_free && rng.random_bool(behaviour.chain_after_success) {
                    let next = Pursuit {
                        who,
                        goal: self.pick_goal(who, rng),
                        goal_id: goal_id + 1,
                        start: user_done + pause,
                        device: None,
                    };
                    return self.pursue(next, episode, rng);
                }
                return user_done;
            }
            let roll: f64 = rng.random();
            let others: Vec<&(u64, String)> = goal
                .paraphrases
                .iter()
                .filter(|(id, _)| *id != sentence.0)
                .collect();
            // The next attempt, or `None` for giving up.
            let retry = if turns >= behaviour.max_attempts {
                None
            } else if roll < behaviour.rephrase && !others.is_empty() {
                Some(Act::Rephrase)
            } else if roll < behaviour.rephrase + behaviour.repeat {
                Some(Act::Repeat)
            } else if roll < behaviour.rephrase + behaviour.repeat + behaviour.correct
                && !others.is_empty()
            {
                Some(Act::Correction)
            } else {
                None
            };
            let Some(retry) = retry else {
                // Some people teach the assistant what they meant on the way out.
                if rng.random_bool(behaviour.teach) && !others.is_empty() {
                    let meant = others.choose(rng).expect("not empty");
                    let lesson = Lesson {
                        who,
                        goal: &goal,
                        goal_id,
                        failed: &sentence.1,
                        meant: &meant.1,
                        time: user_done + pause,
                    };
                    episode.pending.push(self.teach(lesson, rng));
                }
                episode.finished.push(GoalTruth {
                    goal_id,
                    user_id: self.person(who).user_id.clone(),
                    frame_id: goal.frame_id.clone(),
                    turns,
                    success: false,
                    abandoned: true,
                });
                return user_done + pause;
            };
            act = retry;
            if act != Act::Repeat {
                sentence = (*others.choose(rng).expect("not empty")).clone();
            }
            time = user_done + pause;
        }
    }

    /// What a successful request changes in the home: media playing, lights on or off.
    pub(super) fn carry_out(&mut self, household: usize, device: usize, goal: &Goal) {
        let household = &mut self.households[household];
        let device = &mut household.devices[device];
        if goal.intent.starts_with("play_") {
            device.playing = true;
        } else if goal.intent == STOP_INTENT {
            device.playing = false;
        }
        let switch_to = match goal.intent.as_str() {
            "iot_hue_lighton" | "iot_hue_lightup" => Some(true),
            "iot_hue_lightoff" => Some(false),
            _ => None,
        };
        if let Some(on) = switch_to {
            let named = goal
                .slots
                .iter()
                .find(|(kind, _)| kind == "house_place")
                .map(|(_, room)| normalised(room));
            let area = named
                .filter(|room| household.lights.contains_key(room))
                .unwrap_or_else(|| device.area.clone());
            if let Some(lights) = household.lights.get_mut(&area) {
                *lights = on;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use selflearn_types::TurnEvent;

    use super::*;
    use crate::config::WorldConfig;
    use crate::sim::people::device_of;
    use crate::sim::test_support::{shared, small_world, world};
    use crate::truth::TurnTruth;

    #[test]
    fn people_stop_music_by_talking_over_it_which_is_not_a_failure() {
        let (out, _) = world(WorldConfig {
            seed: 12,
            days: 3,
            households: 30,
            ..WorldConfig::default()
        });
        let by_goal: HashMap<u64, Vec<(&TurnEvent, &TurnTruth)>> = out
            .events
            .iter()
            .zip(&out.truth)
            .filter_map(|(e, t)| t.goal_id.map(|g| (g, (e, t))))
            .fold(HashMap::new(), |mut map, (g, pair)| {
                map.entry(g).or_default().push(pair);
                map
            });
        let mut stops = 0;
        for (event, truth) in out.events.iter().zip(&out.truth) {
            let long_barge_in = event.barge_in.is_some_and(|b| b.at_ms >= 60_000);
            if !long_barge_in {
                continue;
            }
            assert!(!truth.defect, "music that played was a success");
            assert!(truth.gold_intent.as_deref().unwrap().starts_with("play_"));
            let next = &by_goal[&(truth.goal_id.unwrap() + 1)];
            let (stop_event, stop_truth) = next[0];
            assert_eq!(stop_truth.gold_intent.as_deref(), Some(STOP_INTENT));
            assert_eq!(stop_event.device.id, event.device.id);
            assert_eq!(stop_event.device.state["media"], "playing");
            stops += 1;
        }
        assert!(stops > 0, "nobody stopped any music");
    }

    #[test]
    fn people_react_to_failures_and_goals_end() {
        let (out, _) = small_world(9);
        let acts: HashSet<Act> = out.truth.iter().map(|t| t.act).collect();
        for act in [Act::NewGoal, Act::Rephrase, Act::Repeat] {
            assert!(acts.contains(&act), "{act:?} never happens");
        }
        let goals: HashSet<u64> = out.truth.iter().filter_map(|t| t.goal_id).collect();
        assert_eq!(goals.len(), out.goals.len(), "every goal ends exactly once");
        assert!(out.goals.iter().any(|g| g.success) && out.goals.iter().any(|g| g.abandoned));
        // Every retry follows a defective turn of the same goal.
        let mut last_of_goal: HashMap<u64, &TurnTruth> = HashMap::new();
        for truth in &out.truth {
            let Some(goal) = truth.goal_id else { continue };
            if matches!(
                truth.act,
                Act::Rephrase | Act::Repeat | Act::Correction | Act::Teach
            ) {
                assert!(
                    last_of_goal[&goal].defect,
                    "a retry after a success: {truth:?}"
                );
            }
            last_of_goal.insert(goal, truth);
        }
    }

    #[test]
    fn a_request_that_switches_the_lights_changes_the_state_devices_report() {
        let (data, nlu) = shared();
        let mut world = World::build_with_nlu(
            WorldConfig {
                households: 1,
                ..WorldConfig::default()
            },
            data,
            nlu.clone(),
        );
        let lit_room = world
            .morning_lights
            .keys()
            .next()
            .expect("the fixture home has lights")
            .clone();
        let goal_with = |intent: &str, room: bool| {
            world
                .goals
                .iter()
                .find(|g| {
                    g.intent == intent && g.slots.iter().any(|(k, _)| k == "house_place") == room
                })
                .expect("such a goal")
                .clone()
        };
        let off_here = goal_with("iot_hue_lightoff", false);
        world.households[0].devices[0].area = lit_room.clone();
        world.households[0].lights.insert(lit_room.clone(), true);
        assert_eq!(device_of(&world.device_view(0, 0)).state["lights"], "on");
        world.carry_out(0, 0, &off_here);
        assert_eq!(device_of(&world.device_view(0, 0)).state["lights"], "off");
        // A device in a room without lights reports none.
        world.households[0].devices[0].area = "nowhere".into();
        assert!(
            !device_of(&world.device_view(0, 0))
                .state
                .contains_key("lights")
        );
    }
}
