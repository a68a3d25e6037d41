//! One turn with the assistant: it hears what a person said (or background speech, on a false
//! wake), optionally asks the rewrite hook, understands, resolves and acts, and the world
//! judges the answer against the person's goal.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use selflearn_types::{AppliedRewrite, Feedback, FeedbackKind, Outcome, RewriteRequest, Rewriter};

use super::event::{Exchange, normalised, source_name, turn_event};
use super::people::{Goal, Who, context_of, device_of};
use super::{Pending, World};
use crate::asr::{AsrSource, Hypothesis};
use crate::assistant::{Handled, StageResults, failure_point};
use crate::truth::{Act, FailurePoint, TurnTruth};

/// One request as a person speaks it: which goal it serves, the sentence they say, and what
/// kind of attempt it is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ask<'a> {
    pub(super) who: Who,
    pub(super) goal: &'a Goal,
    pub(super) goal_id: u64,
    /// (SLURP sentence id, text) of what they say.
    pub(super) sentence: &'a (u64, String),
    pub(super) act: Act,
    /// When they speak, in ms since the Unix epoch.
    pub(super) time: i64,
    /// The device it goes to; `None` draws the one they speak to this time.
    pub(super) device: Option<usize>,
}

/// What a person teaches the assistant on giving up a goal: the sentence that failed, and one
/// that says what they meant.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lesson<'a> {
    pub(super) who: Who,
    pub(super) goal: &'a Goal,
    pub(super) goal_id: u64,
    pub(super) failed: &'a str,
    pub(super) meant: &'a str,
    /// When they say it, in ms since the Unix epoch.
    pub(super) time: i64,
}

/// A request turn, and what the person reacting to it needs to know.
#[derive(Debug)]
pub(super) struct RequestOutcome {
    /// Index of the household device that heard it.
    pub(super) device: usize,
    pub(super) pending: Pending,
    pub(super) defect: bool,
    pub(super) duration_ms: u32,
}

impl World {
    /// One request turn: hear, understand, resolve, act, answer.
    pub(super) fn request(
        &mut self,
        ask: Ask<'_>,
        hook: Option<&dyn Rewriter>,
        rng: &mut StdRng,
    ) -> RequestOutcome {
        let Ask {
            who,
            goal,
            goal_id,
            sentence,
            act,
            time,
            device: device_override,
        } = ask;
        let execution_fails = rng.random_bool(self.config.assistant.result_failure_rate);
        let (drawn, _) = self.device_for(who, rng);
        let device_index = device_override.unwrap_or(drawn);
        let device = self.device_view(who.household, device_index);
        let heard = self
            .channel
            .hear(sentence.0, rng)
            .expect("goal sentences are hearable")
            .clone();
        let person = self.person(who).clone();
        let rewrite = hook.map(|hook| {
            hook.rewrite(&RewriteRequest {
                user_id: person.user_id.clone(),
                source: None,
                device: device_of(&device),
                text: heard.text.clone(),
                timestamp_ms: Some(time),
                context: context_of(&person),
            })
        });
        let rewrite = rewrite.filter(|r| r.rewritten && r.text != heard.text);
        let nlu_text = rewrite
            .as_ref()
            .map_or(heard.text.as_str(), |r| r.text.as_str())
            .to_owned();
        let (handled, point) = self.judge(
            goal,
            &sentence.1,
            &heard.text,
            &nlu_text,
            &device.area,
            execution_fails,
        );
        let original_defect = if rewrite.is_some() {
            let (_, original) = self.judge(
                goal,
                &sentence.1,
                &heard.text,
                &heard.text,
                &device.area,
                execution_fails,
            );
            Some(original != FailurePoint::Correct)
        } else {
            None
        };
        let defect = point != FailurePoint::Correct;
        let feedback = (act == Act::Correction).then_some(Feedback {
            kind: FeedbackKind::Correction,
            text: None,
        });
        let exchange = Exchange {
            person: &person,
            device: &device,
            time,
            heard: &heard,
            handled: &handled,
            feedback,
        };
        let mut event = turn_event(exchange, rng);
        event.rewrite = rewrite.map(|r| AppliedRewrite {
            original_text: heard.text.clone(),
            rewritten_text: r.text,
            layer: r.layer.unwrap_or_else(|| "unknown".into()),
            artifact_version: r.artifact_version,
            score: r.score.map(|s| s.clamp(0.0, 1.0)),
        });
        let truth = TurnTruth {
            event_id: event.event_id.clone(),
            goal_id: Some(goal_id),
            starts_goal: act == Act::NewGoal,
            act,
            spoken_text: Some(sentence.1.clone()),
            asr_source: source_name(&heard.source).into(),
            gold_intent: Some(goal.intent.clone()),
            gold_slots: goal.slots.clone(),
            defect,
            failure_point: point,
            barged_in: false,
            rewritten: event.rewrite.is_some(),
            original_defect,
        };
        RequestOutcome {
            duration_ms: event.response.duration_ms.unwrap_or_default(),
            pending: Pending { event, truth },
            defect,
            device: device_index,
        }
    }

    /// What the assistant does with `nlu_text` (the heard text, or its rewrite) and the failure
    /// point against the goal.
    fn judge(
        &mut self,
        goal: &Goal,
        spoken: &str,
        heard: &str,
        nlu_text: &str,
        area: &str,
        execution_fails: bool,
    ) -> (Handled, FailurePoint) {
        let handled = self.assistant.handle(nlu_text, area, execution_fails);
        let understood_heard = handled.interpretation.is_some()
            && self
                .assistant
                .understands(nlu_text, &goal.intent, &goal.slots);
        let understood_spoken = self
            .assistant
            .understands(spoken, &goal.intent, &goal.slots);
        let point = failure_point(StageResults {
            false_wake: false,
            acted: handled.interpretation.is_some(),
            asr_changed_words: normalised(heard) != normalised(spoken),
            understood_heard,
            understood_spoken,
            resolved: handled.resolved,
            result_ok: handled.result_ok,
        });
        (handled, point)
    }

    /// A turn nobody meant: the assistant wakes on background speech near a person.
    pub(super) fn false_wake(&mut self, who: Who, time: i64, rng: &mut StdRng) -> Pending {
        let (_, device) = self.device_for(who, rng);
        let heard = self
            .background
            .choose(rng)
            .expect("background speech exists")
            .clone();
        let execution_fails = rng.random_bool(self.config.assistant.result_failure_rate);
        let handled = self
            .assistant
            .handle(&heard.text, &device.area, execution_fails);
        let acted = handled.outcome == Outcome::Success;
        let point = failure_point(StageResults {
            false_wake: true,
            acted,
            asr_changed_words: false,
            understood_heard: false,
            understood_spoken: false,
            resolved: false,
            result_ok: false,
        });
        let person = self.person(who).clone();
        let exchange = Exchange {
            person: &person,
            device: &device,
            time,
            heard: &heard,
            handled: &handled,
            feedback: None,
        };
        let mut event = turn_event(exchange, rng);
        if let Some(wake) = event.asr.wake_confidence.as_mut() {
            *wake = rng.random_range(0.5..0.75);
        }
        let truth = TurnTruth {
            event_id: event.event_id.clone(),
            goal_id: None,
            starts_goal: false,
            act: Act::FalseWake,
            spoken_text: None,
            asr_source: source_name(&heard.source).into(),
            gold_intent: None,
            gold_slots: Vec::new(),
            defect: acted,
            failure_point: point,
            barged_in: false,
            rewritten: false,
            original_defect: None,
        };
        Pending { event, truth }
    }

    /// A teaching turn: "when i say … i mean …", which the assistant acknowledges.
    pub(super) fn teach(&mut self, lesson: Lesson<'_>, rng: &mut StdRng) -> Pending {
        let Lesson {
            who,
            goal,
            goal_id,
            failed,
            meant,
            time,
        } = lesson;
        let (_, device) = self.device_for(who, rng);
        let text = format!("when i say {failed} i mean {meant}");
        let heard = Hypothesis {
            text: text.clone(),
            confidence: None,
            source: AsrSource::Synthetic {
                lm: "teaching".into(),
            },
        };
        let handled = Handled {
            interpretation: None,
            entities: Vec::new(),
            resolved: true,
            result_ok: true,
            outcome: Outcome::NoAction,
            response: "OK, I'll remember that.".into(),
        };
        let feedback = Some(Feedback {
            kind: FeedbackKind::Teach,
            text: Some(text),
        });
        let person = self.person(who).clone();
        let exchange = Exchange {
            person: &person,
            device: &device,
            time,
            heard: &heard,
            handled: &handled,
            feedback,
        };
        let event = turn_event(exchange, rng);
        let truth = TurnTruth {
            event_id: event.event_id.clone(),
            goal_id: Some(goal_id),
            starts_goal: false,
            act: Act::Teach,
            spoken_text: Some(heard.text.clone()),
            asr_source: "teaching".into(),
            gold_intent: Some(goal.intent.clone()),
            gold_slots: goal.slots.clone(),
            defect: false,
            failure_point: FailurePoint::Correct,
            barged_in: false,
            rewritten: false,
            original_defect: None,
        };
        Pending { event, truth }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::config::WorldConfig;
    use crate::sim::test_support::{small_world, world};
    use crate::sim::truth_by_event;
    use crate::truth::Act;
    use crate::wer::corpus_wer;

    #[test]
    fn every_hypothesis_heard_is_a_real_recognisers_output() {
        let (out, data) = small_world(6);
        let real: HashSet<String> = data
            .real_asr
            .iter()
            .map(|r| crate::asr::recogniser_text(&r.hyp_text_norm))
            .collect();
        let synthetic: HashSet<&str> = data.synth_asr.iter().map(|s| s.hyp_text.as_str()).collect();
        let by_event = truth_by_event(&out.truth);
        for event in &out.events {
            let truth = by_event[event.event_id.as_str()];
            match truth.asr_source.as_str() {
                "real" => assert!(real.contains(&event.asr.text)),
                "synthetic" => assert!(synthetic.contains(event.asr.text.as_str())),
                _ => assert_eq!(truth.act, Act::Teach),
            }
        }
        // A sentence with a real recording is always heard through one.
        let recorded: HashSet<String> = data.real_asr.iter().map(|r| r.ref_text.clone()).collect();
        for truth in out.truth.iter().filter(|t| t.asr_source == "synthetic") {
            assert!(!recorded.contains(truth.spoken_text.as_deref().unwrap()));
        }
    }

    /// First requests draw recordings without bias; later attempts over-sample sentences that
    /// were misrecognised before (people repeat after failures), so they are measured apart.
    #[test]
    fn what_the_assistant_hears_from_real_recordings_has_slurps_error_rate() {
        let (out, _) = world(WorldConfig {
            seed: 8,
            days: 4,
            households: 40,
            ..WorldConfig::default()
        });
        let by_event = truth_by_event(&out.truth);
        let heard = |acts: &[Act]| -> Vec<(String, String)> {
            out.events
                .iter()
                .filter_map(|e| {
                    let t = by_event[e.event_id.as_str()];
                    (t.asr_source == "real" && acts.contains(&t.act))
                        .then(|| (t.spoken_text.clone().unwrap(), e.asr.text.clone()))
                })
                .collect()
        };
        let first = heard(&[Act::NewGoal]);
        assert!(first.len() > 1000, "{}", first.len());
        let wer = corpus_wer(first.iter().map(|(r, h)| (r.as_str(), h.as_str())));
        assert!((0.15..=0.20).contains(&wer), "first-request WER {wer}");
        let retries = heard(&[Act::Rephrase, Act::Repeat, Act::Correction]);
        let retry_wer = corpus_wer(retries.iter().map(|(r, h)| (r.as_str(), h.as_str())));
        assert!(
            retry_wer > wer,
            "retries follow misrecognitions: {retry_wer} vs {wer}"
        );
    }
}
