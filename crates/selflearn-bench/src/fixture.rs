//! Inputs of the measurements: a world's log and the artifact set `learn` produces from it,
//! so that every benchmark times what users run on learned artifacts, never a stand-in.

use std::path::Path;
use std::sync::Arc;

use selflearn_engine::{LoadedSet, OnlineLayersLearner, PrecomputedLearner};
use selflearn_log::EventLog;
use selflearn_miner::MinerConfig;
use selflearn_online::{Encoder, Lexicon, OnlineConfig};
use selflearn_signals::SignalConfig;
use selflearn_types::{RewriteRequest, TurnEvent};
use selflearn_world::Dataset;
use selflearn_world::config::WorldConfig;
use selflearn_world::sim::{Collected, World};

/// The turns of `households` living `days` with no rewriting, in time order.
pub fn world_log(data: &Dataset, households: u32, days: u32) -> anyhow::Result<Vec<TurnEvent>> {
    let mut world = World::build(
        WorldConfig {
            households,
            days,
            ..WorldConfig::default()
        },
        data,
    );
    let mut out = Collected::default();
    world.run(&mut out)?;
    Ok(out.events)
}

/// Stores `events` in a new log in `dir`, in batches of 5,000 as ingestion would.
pub fn stored(events: &[TurnEvent], dir: &Path) -> anyhow::Result<EventLog> {
    let mut log = EventLog::open(dir, &Default::default())?;
    for batch in events.chunks(5_000) {
        log.append(batch)?;
    }
    Ok(log)
}

/// Each logged turn as the rewrite request the assistant made for it: its user, device and
/// heard text (the original one where a rewrite was applied), so personal indices answer.
pub fn requests_of(events: &[TurnEvent]) -> Vec<RewriteRequest> {
    events
        .iter()
        .map(|e| RewriteRequest {
            user_id: e.user_id.clone(),
            source: e.source.clone(),
            device: e.device.clone(),
            text: e
                .rewrite
                .as_ref()
                .map_or(&e.asr.text, |r| &r.original_text)
                .clone(),
            timestamp_ms: Some(e.timestamp_ms),
            context: e.context.clone(),
        })
        .collect()
}

/// Learns the artifact set of `events` with the engine's learn driver (the untrained encoder
/// and the built-in lexicon, as `learn` runs without `train`), saves it in `dir` and loads it
/// back as `serve` does.
pub fn learned_from(events: &[TurnEvent], dir: &Path, version: &str) -> anyhow::Result<LoadedSet> {
    let log = stored(events, &dir.join("log"))?;
    let lexicon: Arc<str> = Arc::from(Lexicon::EMBEDDED);
    let online = OnlineLayersLearner::new(
        Encoder::random(7),
        Arc::new(Lexicon::parse(&lexicon, "built-in lexicon")?),
        OnlineConfig::default(),
    );
    let learned = selflearn_engine::learn(
        &log,
        &SignalConfig::default(),
        PrecomputedLearner::new(MinerConfig::default()),
        Some(online),
        |_| {},
    )?;
    learned
        .finish(version, lexicon)?
        .save(&dir.join("artifacts"))?;
    Ok(LoadedSet::load(&dir.join("artifacts"))?)
}

/// A week of `households` with no rewriting, learned into an artifact set in `dir` and loaded
/// back as `serve` loads it; returns the set and the log's turns as rewrite requests.
pub fn learned_set(
    data: &Dataset,
    households: u32,
    dir: &Path,
) -> anyhow::Result<(LoadedSet, Vec<RewriteRequest>)> {
    let events = world_log(data, households, 7)?;
    let set = learned_from(&events, dir, &format!("bench-{households}"))?;
    Ok((set, requests_of(&events)))
}
