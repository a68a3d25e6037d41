//! Partial learns: one `learn` split by user over processes or machines (the map step of the
//! Spark job in `jobs/spark/`). Each part observes its users' events and writes what its
//! learners hold to a file; parts merge (in any tree); the merge finishes into the artifact
//! set that one process observing every user would have written. Only state moves between
//! processes: no learning logic lives outside the engine.
//!
//! A partial file is CBOR (RFC 8949: compact and binary, and its maps take the learners'
//! tuple keys as they are) of the learners' state, headed by [`PARTIAL_FORMAT`] and a digest
//! of the job's settings, so that parts of different jobs are never merged.

use std::collections::HashSet;
use std::path::Path;

use selflearn_log::Position;
use selflearn_miner::Miner;
use selflearn_online::OnlineLearner;
use selflearn_signals::SignalConfig;
use selflearn_types::TurnEvent;
use serde::{Deserialize, Serialize};

use crate::driver::{LearnReport, Learned};
use crate::insights::InsightsLearner;
use crate::learner::{Learner, UserRuns, by_user};
use crate::learners::{OnlineLayersLearner, PrecomputedLearner};
use crate::manifest::{LogDigest, LogRange, digest};
use crate::{EngineError, Result};

/// Format of a partial file; another is refused.
pub const PARTIAL_FORMAT: u32 = 1;

/// What a partial file holds, as written.
#[derive(Serialize)]
struct PartialOut<'a> {
    format: u32,
    settings: &'a str,
    report: &'a LearnReport,
    miner: &'a Miner,
    online: Option<&'a OnlineLearner>,
    insights: &'a InsightsLearner,
}

/// What a partial file holds, as read.
#[derive(Deserialize)]
struct PartialIn {
    format: u32,
    settings: String,
    report: LearnReport,
    miner: Miner,
    online: Option<OnlineLearner>,
    insights: InsightsLearner,
}

/// The digest of everything a job's parts must share: the signal, miner, online and
/// sensitive settings, the encoder's weights and the lexicon's text.
pub fn job_settings(
    signals: &SignalConfig,
    precomputed: &PrecomputedLearner,
    online: Option<&OnlineLayersLearner>,
    lexicon: &str,
) -> String {
    let settings = serde_json::json!({
        "signals": signals,
        "miner": precomputed.config,
        "sensitive": precomputed.sensitive,
        "online": online.map(|o| serde_json::json!({
            "config": o.config,
            "encoder": o.encoder.digest(),
            "sensitive": o.learner.sensitive,
            "lexicon": digest(lexicon.as_bytes()),
        })),
    });
    digest(settings.to_string().as_bytes())
}

/// Learns from `events` (a part of a log: every event of each of its users, grouped by user,
/// in any order within a user) into `precomputed` and `online`, as [`crate::learn`] does from a
/// whole log. A user whose events come back after another user's is refused, naming the
/// record: their sessions would be split in two.
pub fn learn_events(
    events: impl IntoIterator<Item = selflearn_log::Result<(Position, TurnEvent)>>,
    source: &Path,
    signals: &SignalConfig,
    precomputed: PrecomputedLearner,
    online: Option<OnlineLayersLearner>,
) -> Result<Learned> {
    let _span = tracing::info_span!("learn_part").entered();
    let mut learned = Learned::empty(precomputed, online);
    let mut digest = LogDigest::default();
    let mut runs = UserRuns::default();
    let mut done: HashSet<String> = HashSet::new();
    let flush = |user: Vec<TurnEvent>, learned: &mut Learned, done: &mut HashSet<String>| {
        for turns in by_user(&user, signals) {
            learned.observe(&turns);
        }
        done.insert(user[0].user_id.clone());
    };
    for record in events {
        let (position, event) = record?;
        if done.contains(&event.user_id) {
            return Err(EngineError::Ungrouped {
                path: source.to_path_buf(),
                reason: format!(
                    "{position}: user {:?} comes back after other users; a part's events must be grouped by user (export --order user-time, or Spark's sortWithinPartitions)",
                    event.user_id
                ),
            });
        }
        digest.add(&event.event_id, event.timestamp_ms);
        if let Some(user) = runs.push(event) {
            flush(user, &mut learned, &mut done);
        }
    }
    if let Some(user) = runs.finish() {
        flush(user, &mut learned, &mut done);
    }
    learned.report.log = digest.finish();
    Ok(learned)
}

impl Learned {
    /// Writes what the learners hold to `path` (atomically: a failed write leaves no file),
    /// under the job's `settings` ([`job_settings`]).
    pub fn save_partial(&self, path: &Path, settings: &str) -> Result<()> {
        let out = PartialOut {
            format: PARTIAL_FORMAT,
            settings,
            report: &self.report,
            miner: &self.precomputed.miner,
            online: self.online.as_ref().map(|o| &o.learner),
            insights: &self.insights,
        };
        let mut bytes = Vec::new();
        ciborium::into_writer(&out, &mut bytes).map_err(|e| EngineError::Partial {
            path: path.to_path_buf(),
            reason: format!("cannot encode the learners: {e}"),
        })?;
        selflearn_types::durable::write_atomically(path, &bytes)?;
        Ok(())
    }

    /// Reads a partial file into empty learners of the job (`precomputed`, `online`, with
    /// the settings `settings` digests); a file of another format, of another job's
    /// settings, or damaged is refused, naming it.
    pub fn load_partial(
        path: &Path,
        settings: &str,
        precomputed: PrecomputedLearner,
        online: Option<OnlineLayersLearner>,
    ) -> Result<Learned> {
        let bytes = fs_err::read(path)?;
        Self::partial_from_bytes(&bytes, path, Some(settings), precomputed, online)
    }

    /// [`Learned::load_partial`] of bytes read from `origin`; `settings` `None` takes the
    /// part's own (what a fuzzer checks: everything else is checked as from a file).
    pub fn partial_from_bytes(
        bytes: &[u8],
        origin: &Path,
        settings: Option<&str>,
        mut precomputed: PrecomputedLearner,
        mut online: Option<OnlineLayersLearner>,
    ) -> Result<Learned> {
        let refuse = |reason: String| EngineError::Partial {
            path: origin.to_path_buf(),
            reason,
        };
        let part: PartialIn = ciborium::from_reader(bytes)
            .map_err(|e| refuse(format!("not a partial learner file: {e}")))?;
        if part.format != PARTIAL_FORMAT {
            return Err(refuse(format!(
                "partial format {}; this build reads {PARTIAL_FORMAT}",
                part.format
            )));
        }
        if settings.is_some_and(|settings| part.settings != settings) {
            return Err(refuse(
                "learned with other settings (signals, miner, online, sensitive, encoder or lexicon) than this job's".into(),
            ));
        }
        part.miner.check().map_err(refuse)?;
        if let Some(learner) = &part.online {
            learner.check().map_err(refuse)?;
        }
        // The log digest must be one that later merges can add to.
        LogRange::default()
            .merge(&part.report.log)
            .map_err(refuse)?;
        precomputed.miner = part.miner;
        match (online.as_mut(), part.online) {
            (Some(online), Some(learner)) => {
                let sensitive = std::mem::take(&mut online.learner.sensitive);
                online.learner = learner;
                online.learner.sensitive = sensitive;
            }
            (None, None) => {}
            _ => {
                return Err(refuse(
                    "the online layers are in one of the parts only".into(),
                ));
            }
        }
        Ok(Learned {
            report: part.report,
            precomputed,
            online,
            insights: part.insights,
        })
    }

    /// Adds what another part learned (of other users: each user in one part only).
    pub fn merge(&mut self, other: Learned) -> std::result::Result<(), String> {
        self.report.merge(&other.report)?;
        self.precomputed.merge(other.precomputed);
        self.insights.merge(other.insights);
        match (self.online.as_mut(), other.online) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, None) => {}
            _ => return Err("the online layers are in one of the parts only".into()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use selflearn_log::{EventLog, LogOptions};
    use selflearn_miner::MinerConfig;
    use selflearn_online::{Encoder, Lexicon, OnlineConfig};
    use selflearn_types::Outcome;
    use selflearn_types::testing::turn_saying as turn;

    use super::*;
    use crate::learn;

    /// Forty people, each reformulating three of four misheard requests into what they meant.
    fn events() -> Vec<TurnEvent> {
        let fixes = [
            ("play maj and dragons", "play imagine dragons"),
            ("turn of the lights", "turn off the lights"),
            ("call mam", "call mom"),
            ("whats the whether", "whats the weather"),
        ];
        (0..40)
            .flat_map(|u: i64| {
                let user = format!("user-{u:02}");
                (0..3).flat_map(move |k: i64| {
                    let (misheard, meant) = fixes[((u + k) % 4) as usize];
                    let at = (u * 10 + k) * 600_000;
                    [
                        turn(
                            &user,
                            &format!("{user}-{k}-a"),
                            at,
                            misheard,
                            Outcome::Failure,
                        ),
                        turn(
                            &user,
                            &format!("{user}-{k}-b"),
                            at + 5_000,
                            meant,
                            Outcome::Success,
                        ),
                        turn(
                            &user,
                            &format!("{user}-{k}-c"),
                            at + 90_000,
                            "what time is it",
                            Outcome::Success,
                        ),
                    ]
                })
            })
            .collect()
    }

    fn learners() -> (PrecomputedLearner, Option<OnlineLayersLearner>) {
        let online = OnlineLayersLearner::new(
            Encoder::random(7),
            Arc::new(Lexicon::default()),
            OnlineConfig::default(),
        );
        (
            PrecomputedLearner::new(MinerConfig::default()),
            Some(online),
        )
    }

    fn records(events: &[TurnEvent]) -> Vec<selflearn_log::Result<(Position, TurnEvent)>> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| Ok((Position::Index(i), e.clone())))
            .collect()
    }

    /// Every file of the set `learned` finishes into, saved in `dir`.
    fn saved(learned: &Learned, dir: &Path) -> Vec<(String, Vec<u8>)> {
        learned
            .finish("v", Arc::from(""))
            .unwrap()
            .save(dir)
            .unwrap();
        selflearn_types::testing::set_files(dir)
    }

    /// `events`, learned as one part.
    fn part(events: &[TurnEvent]) -> Learned {
        let (precomputed, online) = learners();
        learn_events(
            records(events),
            Path::new("part.jsonl"),
            &SignalConfig::default(),
            precomputed,
            online,
        )
        .unwrap()
    }

    #[test]
    fn a_log_learned_in_parts_and_merged_is_the_log_learned_whole_to_the_byte() {
        let dir = tempfile::tempdir().unwrap();
        let all = events();
        let mut log = EventLog::open(&dir.path().join("log"), &LogOptions::default()).unwrap();
        log.append(&all).unwrap();
        let (precomputed, online) = learners();
        let whole = learn(&log, &SignalConfig::default(), precomputed, online, |_| {}).unwrap();

        // Three parts of interleaved users (every third), each saved and read back, merged
        // as a tree: the last two first.
        let settings = "job";
        let mut parts: Vec<Learned> = (0..3)
            .map(|k| {
                let mine: Vec<TurnEvent> = all
                    .iter()
                    .filter(|e| e.user_id[5..].parse::<usize>().unwrap() % 3 == k)
                    .cloned()
                    .collect();
                let learned = part(&mine);
                let path = dir.path().join(format!("part-{k}.cbor"));
                learned.save_partial(&path, settings).unwrap();
                let (precomputed, online) = learners();
                Learned::load_partial(&path, settings, precomputed, online).unwrap()
            })
            .collect();
        let last = parts.pop().unwrap();
        let mut tail = parts.pop().unwrap();
        tail.merge(last).unwrap();
        let mut merged = parts.pop().unwrap();
        merged.merge(tail).unwrap();

        assert_eq!(merged.report, whole.report);
        assert!(!whole.precomputed.finish("v").unwrap().entries.is_empty());
        assert_eq!(
            saved(&merged, &dir.path().join("merged")),
            saved(&whole, &dir.path().join("whole"))
        );
    }

    #[test]
    fn a_learn_on_three_threads_is_the_learn_on_one_to_the_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(&dir.path().join("log"), &LogOptions::default()).unwrap();
        log.append(&events()).unwrap();
        let (precomputed, online) = learners();
        let one = learn(&log, &SignalConfig::default(), precomputed, online, |_| {}).unwrap();
        let mut told = Vec::new();
        let three = crate::learn_parallel(&log, &SignalConfig::default(), learners, 3, |read| {
            told.push(read)
        })
        .unwrap();
        assert_eq!(told.last(), Some(&(events().len() as u64)));
        assert_eq!(three.report, one.report);
        assert_eq!(
            saved(&three, &dir.path().join("three")),
            saved(&one, &dir.path().join("one"))
        );
    }

    #[test]
    fn a_user_back_after_another_is_refused_naming_the_record() {
        let mut all = events();
        let back = all[0].clone();
        all.push(back);
        let (precomputed, online) = learners();
        let err = learn_events(
            records(&all),
            Path::new("part.jsonl"),
            &SignalConfig::default(),
            precomputed,
            online,
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("part.jsonl")
                && message.contains(&format!("record {}", all.len() - 1))
                && message.contains("user-00"),
            "{message}"
        );
    }

    #[test]
    fn a_part_whose_learners_do_not_hold_together_is_refused_before_use() {
        let learned = part(&events());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.cbor");
        learned.save_partial(&path, "job").unwrap();
        let value: ciborium::Value =
            ciborium::from_reader(fs_err::read(&path).unwrap().as_slice()).unwrap();
        // Each change would index out of bounds in the merge or the finish.
        let broken = |field: &str, replace: ciborium::Value| {
            let mut value = value.clone();
            let map = value.as_map_mut().unwrap();
            let miner = map
                .iter_mut()
                .find(|(k, _)| k.as_text() == Some("miner"))
                .unwrap()
                .1
                .as_map_mut()
                .unwrap();
            miner
                .iter_mut()
                .find(|(k, _)| k.as_text() == Some(field))
                .unwrap()
                .1 = replace;
            let mut bytes = Vec::new();
            ciborium::into_writer(&value, &mut bytes).unwrap();
            bytes
        };
        for (field, replace) in [
            ("said", ciborium::Value::Array(vec![])),
            ("meanings", ciborium::Value::Array(vec![])),
        ] {
            let (precomputed, online) = learners();
            let bytes = broken(field, replace);
            let err = Learned::partial_from_bytes(
                &bytes,
                Path::new("part.cbor"),
                Some("job"),
                precomputed,
                online,
            )
            .unwrap_err();
            assert!(
                err.to_string().contains("entries") && err.to_string().contains(field),
                "{field}: {err}"
            );
        }
        let (precomputed, online) = learners();
        let intact = broken("said", {
            let map = value.as_map().unwrap();
            let miner = map
                .iter()
                .find(|(k, _)| k.as_text() == Some("miner"))
                .unwrap()
                .1
                .as_map()
                .unwrap();
            miner
                .iter()
                .find(|(k, _)| k.as_text() == Some("said"))
                .unwrap()
                .1
                .clone()
        });
        Learned::partial_from_bytes(
            &intact,
            Path::new("part.cbor"),
            Some("job"),
            precomputed,
            online,
        )
        .unwrap();
    }

    #[test]
    fn a_part_of_another_job_or_damaged_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let learned = part(&events());
        let path = dir.path().join("part.cbor");
        learned.save_partial(&path, "job a").unwrap();
        let (precomputed, online) = learners();
        let err = Learned::load_partial(&path, "job b", precomputed, online).unwrap_err();
        assert!(err.to_string().contains("other settings"), "{err}");

        let bytes = fs_err::read(&path).unwrap();
        fs_err::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let (precomputed, online) = learners();
        let err = Learned::load_partial(&path, "job a", precomputed, online).unwrap_err();
        assert!(
            err.to_string().contains("part.cbor") && err.to_string().contains("not a partial"),
            "{err}"
        );
    }
}
