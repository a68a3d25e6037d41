//! The learn job: the log, read one user at a time (memory holds one user's events, never the
//! log), through sessions and friction signals, into every learner; then finished into one
//! artifact set.

use selflearn_log::{EventLog, ScanOrder};
use selflearn_signals::SignalConfig;
use selflearn_types::TurnEvent;

use crate::insights::InsightsLearner;
use crate::learner::{Learner, UserRuns, UserTurns, by_user};
use crate::learners::{OnlineLayersLearner, PrecomputedLearner};
use crate::manifest::{LogDigest, LogRange};
use crate::set::ArtifactSet;

/// What one pass over the log saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LearnReport {
    /// The log range read.
    pub log: LogRange,
    /// Users seen.
    pub users: u64,
    /// Sessions built.
    pub sessions: u64,
    /// Turns whose signals say likely defective.
    pub likely_defects: u64,
}

/// The learners after one pass, ready to finish.
#[derive(Debug)]
pub struct Learned {
    /// What the pass saw.
    pub report: LearnReport,
    /// The precomputed layer's learner.
    pub precomputed: PrecomputedLearner,
    /// The online layers' learner, when they are learned.
    pub online: Option<OnlineLayersLearner>,
    /// What the dashboard shows of the log.
    pub insights: InsightsLearner,
}

/// Visits every user of `log` in (user, time) order with their sessions and signals; memory
/// holds one user's events. `progress` is told the events read so far after each user.
/// Returns the range read.
pub fn for_each_user(
    log: &EventLog,
    signals: &SignalConfig,
    mut visit: impl FnMut(&UserTurns),
    mut progress: impl FnMut(u64),
) -> crate::Result<LogRange> {
    let _span = tracing::info_span!("scan_and_observe").entered();
    let mut digest = LogDigest::default();
    let mut runs = UserRuns::default();
    let mut read = 0u64;
    let mut flush = |user: Vec<TurnEvent>, read: u64| {
        let _span = tracing::debug_span!("user", events = user.len()).entered();
        for turns in by_user(&user, signals) {
            visit(&turns);
        }
        progress(read);
    };
    log.scan(ScanOrder::UserTime, |event| {
        digest.add(&event.event_id, event.timestamp_ms);
        if let Some(user) = runs.push(event) {
            flush(user, read);
        }
        read += 1;
        Ok(())
    })?;
    if let Some(user) = runs.finish() {
        flush(user, read);
    }
    Ok(digest.finish())
}

/// Streams `log` through sessions and signals into the learners (see [`for_each_user`]).
pub fn learn(
    log: &EventLog,
    signals: &SignalConfig,
    precomputed: PrecomputedLearner,
    online: Option<OnlineLayersLearner>,
    progress: impl FnMut(u64),
) -> crate::Result<Learned> {
    let _span = tracing::info_span!("learn").entered();
    let mut learned = Learned::empty(precomputed, online);
    let log = for_each_user(log, signals, |turns| learned.observe(turns), progress)?;
    learned.report.log = log;
    Ok(learned)
}

/// As [`learn`], with the per-user work (decoding, sessions, signals, every learner's
/// `observe`) on `threads` worker threads, each with its own learners from `empty`, merged at
/// the end: the calling thread only reads the log's rows in (user, time) order. Each user goes
/// to one worker whole, so the merge is what one learner observing every user holds, to the
/// byte (`learn` is `threads` = 1 without the workers). Memory holds the learners of every
/// worker and at most `2 × threads` users in flight.
pub fn learn_parallel(
    log: &EventLog,
    signals: &SignalConfig,
    empty: impl Fn() -> (PrecomputedLearner, Option<OnlineLayersLearner>) + Sync,
    threads: usize,
    mut progress: impl FnMut(u64),
) -> crate::Result<Learned> {
    if threads <= 1 {
        let (precomputed, online) = empty();
        return learn(log, signals, precomputed, online, progress);
    }
    let _span = tracing::info_span!("learn", threads).entered();
    // One user's rows: (row, stored JSON).
    type Rows = Vec<(i64, String)>;
    let (send, receive) = std::sync::mpsc::sync_channel::<Rows>(2 * threads);
    let receive = std::sync::Mutex::new(receive);
    let path = log.path().to_path_buf();
    let (scanned, parts) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> crate::Result<Learned> {
                    let (precomputed, online) = empty();
                    let mut learned = Learned::empty(precomputed, online);
                    let mut digest = LogDigest::default();
                    let mut failed = None;
                    loop {
                        let next = receive
                            .lock()
                            .map_err(|_| ())
                            .and_then(|r| r.recv().map_err(|_| ()));
                        let Ok(rows) = next else { break };
                        // After a failure the rows are still taken, so the reader never waits.
                        if failed.is_some() {
                            continue;
                        }
                        let decoded: selflearn_log::Result<Vec<TurnEvent>> = rows
                            .iter()
                            .map(|(seq, body)| EventLog::decode_body(&path, *seq, body))
                            .collect();
                        let events = match decoded {
                            Ok(events) => events,
                            Err(e) => {
                                failed = Some(e);
                                continue;
                            }
                        };
                        for event in &events {
                            digest.add(&event.event_id, event.timestamp_ms);
                        }
                        for turns in by_user(&events, signals) {
                            learned.observe(&turns);
                        }
                    }
                    if let Some(e) = failed {
                        return Err(e.into());
                    }
                    learned.report.log = digest.finish();
                    Ok(learned)
                })
            })
            .collect();
        let scanned = {
            let _span = tracing::info_span!("scan").entered();
            let mut user: Option<String> = None;
            let mut rows: Rows = Vec::new();
            let mut read = 0u64;
            let scanned = log.scan_user_bodies(|user_id, seq, body| {
                if user.as_deref() != Some(user_id) {
                    if !rows.is_empty() {
                        // A send fails only when every worker is gone: the scan then stops.
                        send.send(std::mem::take(&mut rows)).map_err(|_| {
                            selflearn_log::LogError::Io(std::io::Error::other(
                                "the learn workers stopped",
                            ))
                        })?;
                        progress(read);
                    }
                    user = Some(user_id.to_owned());
                }
                read += 1;
                rows.push((seq, body));
                Ok(())
            });
            if !rows.is_empty() && scanned.is_ok() {
                let _ = send.send(rows);
            }
            progress(read);
            scanned
        };
        drop(send);
        let parts: Vec<crate::Result<Learned>> = workers
            .into_iter()
            .map(|worker| worker.join().expect("a learn worker does not panic"))
            .collect();
        (scanned, parts)
    });
    scanned?;
    let mut parts = parts.into_iter();
    let mut learned = parts.next().expect("at least two workers")?;
    for part in parts {
        learned
            .merge(part?)
            .map_err(|reason| crate::EngineError::Io(std::io::Error::other(reason)))?;
    }
    Ok(learned)
}

impl LearnReport {
    /// Adds the report of a part with other users.
    pub fn merge(&mut self, other: &LearnReport) -> Result<(), String> {
        self.log.merge(&other.log)?;
        self.users += other.users;
        self.sessions += other.sessions;
        self.likely_defects += other.likely_defects;
        Ok(())
    }
}

impl Learned {
    /// Learners that have observed nothing yet, with an empty report.
    pub fn empty(precomputed: PrecomputedLearner, online: Option<OnlineLayersLearner>) -> Self {
        Self {
            report: LearnReport::default(),
            precomputed,
            online,
            insights: InsightsLearner::default(),
        }
    }

    /// One user into every learner and the report: the one step of a whole learn, of a
    /// worker's share of it and of a part. The report's log range is the caller's to set.
    pub fn observe(&mut self, turns: &UserTurns) {
        self.report.users += 1;
        self.report.sessions += turns.sessions.len() as u64;
        self.report.likely_defects += turns
            .signals
            .iter()
            .flatten()
            .filter(|s| s.likely_defect())
            .count() as u64;
        self.precomputed.observe(turns);
        self.insights.observe(turns);
        if let Some(online) = self.online.as_mut() {
            online.observe(turns);
        }
    }

    /// Finishes every learner into the artifact set `version`, with the lexicon text the
    /// online layers were learned with.
    pub fn finish(
        &self,
        version: &str,
        lexicon: std::sync::Arc<str>,
    ) -> crate::Result<ArtifactSet> {
        let table = {
            let _span = tracing::info_span!("finish_precomputed").entered();
            self.precomputed.finish(version)?
        };
        let online = match &self.online {
            Some(learner) => {
                let _span = tracing::info_span!("finish_online").entered();
                let model = learner.finish(version)?;
                Some((model, learner.encoder.clone(), lexicon))
            }
            None => None,
        };
        Ok(ArtifactSet {
            version: version.to_owned(),
            log: self.report.log.clone(),
            table,
            online,
            insights: Some(self.insights.finish(version)?),
        })
    }
}

impl LearnReport {
    /// What `learn` prints: what was read, what was learned, what was rolled back and why.
    pub fn summary(&self, set: &ArtifactSet, seconds: f64) -> String {
        let mut out = format!(
            "{} events, {} users, {} sessions, {} turns likely defective; {} rewrites mined, {} rolled back, {} held as sensitive, in {seconds:.2} s",
            self.log.events,
            self.users,
            self.sessions,
            self.likely_defects,
            set.table.entries.len(),
            set.table.rolled_back.len(),
            set.table.held.len(),
        );
        for held in &set.table.held {
            out.push_str(&format!(
                "\nheld for approval: {:?} -> {:?} ({}): add it to [sensitive] approved to serve it",
                held.source,
                held.target,
                held.target_meaning.as_deref().unwrap_or("?")
            ));
        }
        for dropped in &set.table.rolled_back {
            out.push_str(&format!(
                "\nrolled back: {:?} -> {:?}: friction {:.2} over {} rewritten turns, {:.2} over {} without",
                dropped.source,
                dropped.target,
                dropped.friction_rewritten,
                dropped.rewritten_turns,
                dropped.friction_without,
                dropped.unrewritten_turns
            ));
        }
        if let Some((model, _, _)) = &set.online {
            out.push_str(&format!(
                "\nonline layers: {} global candidates, {} users with a personal index",
                model.global_len(),
                model.personal_users().count(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use selflearn_log::LogOptions;
    use selflearn_miner::MinerConfig;
    use selflearn_online::{Encoder, Lexicon, OnlineConfig};
    use selflearn_types::Outcome;
    use selflearn_types::testing::turn_saying as turn;

    use super::*;
    use crate::set::LoadedSet;

    fn events() -> Vec<TurnEvent> {
        (0..30)
            .flat_map(|u| {
                let user = format!("user-{u:02}");
                (0..2).flat_map(move |k| {
                    let at = i64::from(u * 10 + k) * 600_000;
                    [
                        turn(
                            &user,
                            &format!("{user}-{k}-a"),
                            at,
                            "play maj and dragons",
                            Outcome::Failure,
                        ),
                        turn(
                            &user,
                            &format!("{user}-{k}-b"),
                            at + 5_000,
                            "play imagine dragons",
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

    fn learned(dir: &std::path::Path, events: &[TurnEvent]) -> Learned {
        let mut log = EventLog::open(&dir.join("log"), &LogOptions::default()).unwrap();
        log.append(events).unwrap();
        let online = OnlineLayersLearner::new(
            Encoder::random(7),
            Arc::new(Lexicon::default()),
            OnlineConfig::default(),
        );
        let mut seen = Vec::new();
        let learned = learn(
            &log,
            &SignalConfig::default(),
            PrecomputedLearner::new(MinerConfig::default()),
            Some(online),
            |read| seen.push(read),
        )
        .unwrap();
        assert_eq!(seen.len(), 30, "told after each user");
        assert_eq!(seen.last(), Some(&(events.len() as u64)));
        learned
    }

    #[test]
    fn a_learned_set_saves_and_loads_whole_with_its_log_range() {
        let dir = tempfile::tempdir().unwrap();
        let learned = learned(dir.path(), &events());
        assert_eq!(learned.report.users, 30);
        assert_eq!(learned.report.log.events, 180);
        assert!(learned.report.likely_defects >= 60);
        let set = learned.finish("v1", Arc::from("")).unwrap();
        assert_eq!(set.table.entries.len(), 1);
        let out = dir.path().join("artifacts");
        let manifest = set.save(&out).unwrap();
        let loaded = LoadedSet::load(&out).unwrap();
        assert_eq!(loaded.manifest, manifest);
        assert_eq!(loaded.table.unwrap(), set.table);
        assert_eq!(loaded.online.unwrap().version(), "v1");
        let insights = loaded.insights.unwrap();
        assert_eq!(insights.days.iter().map(|d| d.turns).sum::<u64>(), 180);
        assert_eq!(insights.failing[0].text, "play maj and dragons");
    }

    #[test]
    fn a_replica_loads_the_people_of_its_shards_and_nothing_else() {
        use selflearn_types::shard::ShardRange;
        let dir = tempfile::tempdir().unwrap();
        let set = learned(dir.path(), &events())
            .finish("v1", Arc::from(""))
            .unwrap();
        let out = dir.path().join("artifacts");
        let manifest = set.save_sharded(&out, 4).unwrap();
        assert_eq!(manifest.personal_shards(), Some(4));
        let whole = set.online.as_ref().unwrap().0.artifact();
        assert!(whole.personal.len() > 4, "the fixture has personal indices");
        let loaded = LoadedSet::load(&out).unwrap().online.unwrap();
        assert_eq!(loaded.artifact(), whole);

        let range: ShardRange = "2-3/4".parse().unwrap();
        let replica = LoadedSet::load_shards(&out, Some(range)).unwrap();
        let held: Vec<&str> = replica.online.as_ref().unwrap().personal_users().collect();
        let expected = whole.personal.keys().filter(|p| range.holds(p)).count();
        assert!(held.iter().all(|p| range.holds(p)));
        assert_eq!(held.len(), expected);
        assert!(expected > 0 && expected < whole.personal.len());

        // A range of another count, and a manifest that lost a shard, are refused.
        let err = LoadedSet::load_shards(&out, Some("0/8".parse().unwrap())).unwrap_err();
        assert!(
            err.to_string().contains("cut into 4 shards, not 8"),
            "{err}"
        );
        let path = out.join(crate::manifest::MANIFEST_FILE);
        let mut edited = manifest.clone();
        let dropped = edited
            .artifacts
            .iter()
            .position(|a| a.kind == crate::manifest::Kind::Personal)
            .unwrap();
        edited.artifacts.remove(dropped);
        fs_err::write(&path, serde_json::to_vec(&edited).unwrap()).unwrap();
        let err = LoadedSet::load(&out).unwrap_err();
        assert!(err.to_string().contains("not each of 0 to 3 once"), "{err}");
    }

    #[test]
    fn the_same_log_gives_the_same_digest_and_another_log_another() {
        let dir = tempfile::tempdir().unwrap();
        let mut shuffled = events();
        shuffled.reverse();
        let a = learned(&dir.path().join("a"), &events()).report.log;
        let b = learned(&dir.path().join("b"), &shuffled).report.log;
        let mut fewer = events();
        fewer.pop();
        fewer.push(turn("user-29", "other", 1, "stop", Outcome::Success));
        let c = learned(&dir.path().join("c"), &fewer).report.log;
        assert_eq!(a, b, "arrival order does not change the snapshot read");
        assert_ne!(a.digest, c.digest);
    }
}
