//! The dashboard's content for the person who runs the assistant: the artifact set in force,
//! the log's days, the requests that fail most, every rewrite with its evidence, its wins and
//! losses after deployment, rollbacks and operator blocks; and one person's sessions. All of
//! it server-rendered HTML with inline SVG charts; `selflearn-server` serves it behind the
//! `admin` role and the page's script only fetches these fragments and sends blocks.

#![warn(missing_docs)]

pub mod chart;
pub mod html;
pub mod overview;
pub mod session;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use selflearn_engine::SetSummary;
use selflearn_engine::manifest::MANIFEST_FILE;
use selflearn_log::EventLog;
use selflearn_signals::SignalConfig;
use selflearn_types::blocked::BlockList;

/// What the dashboard reads: the artifact set directory, the event log (read-only, beside the
/// service's writer) and the block list.
#[derive(Debug)]
pub struct Dashboard {
    artifacts: PathBuf,
    log_dir: PathBuf,
    blocks: Arc<BlockList>,
    signals: SignalConfig,
}

impl Dashboard {
    /// A dashboard of the set in `artifacts` and the log in `log_dir`, with `blocks`.
    pub fn new(artifacts: &Path, log_dir: &Path, blocks: Arc<BlockList>) -> Self {
        Self {
            artifacts: artifacts.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            blocks,
            signals: SignalConfig::default(),
        }
    }

    /// The block list it shows and edits.
    pub fn blocks(&self) -> &Arc<BlockList> {
        &self.blocks
    }

    /// The overview fragment; `in_force` is the version the service answers with.
    pub fn overview(&self, in_force: Option<&str>) -> Result<String, String> {
        let set = if self.artifacts.join(MANIFEST_FILE).is_file() {
            Some(SetSummary::load(&self.artifacts).map_err(|e| e.to_string())?)
        } else {
            None
        };
        Ok(overview::render(set.as_ref(), &self.blocks, in_force))
    }

    /// One person's sessions (`user_id`, within `source` when given).
    pub fn session(&self, user_id: &str, source: Option<&str>) -> Result<String, String> {
        let log = EventLog::open_read_only(&self.log_dir).map_err(|e| e.to_string())?;
        let events: Vec<_> = log
            .user_events(user_id, i64::MIN, i64::MAX)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|e| source.is_none_or(|s| e.source.as_deref() == Some(s)))
            .collect();
        let who = match source {
            Some(s) => format!("{user_id} ({s})"),
            None => user_id.to_owned(),
        };
        Ok(session::render(&who, events, &self.signals))
    }
}

impl selflearn_server::AdminViews for Dashboard {
    fn overview(&self, in_force: Option<&str>) -> Result<String, String> {
        Dashboard::overview(self, in_force)
    }

    fn session(&self, user_id: &str, source: Option<&str>) -> Result<String, String> {
        Dashboard::session(self, user_id, source)
    }

    fn blocks(&self) -> &Arc<BlockList> {
        Dashboard::blocks(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use selflearn_engine::{PrecomputedLearner, learn};
    use selflearn_log::LogOptions;
    use selflearn_miner::MinerConfig;
    use selflearn_types::testing::turn_saying as turn;
    use selflearn_types::{Outcome, TurnEvent};

    use super::*;

    fn events() -> Vec<TurnEvent> {
        (0..12)
            .flat_map(|u| {
                let user = format!("user-{u:02}");
                let at = i64::from(u) * 86_400_000 / 4;
                [
                    turn(
                        &user,
                        &format!("{user}-a"),
                        at,
                        "play maj and dragons",
                        Outcome::Failure,
                    ),
                    turn(
                        &user,
                        &format!("{user}-b"),
                        at + 5_000,
                        "play imagine dragons",
                        Outcome::Success,
                    ),
                ]
            })
            .collect()
    }

    fn learned(dir: &Path) -> Dashboard {
        let log_dir = dir.join("log");
        let mut log = EventLog::open(&log_dir, &LogOptions::default()).unwrap();
        log.append(&events()).unwrap();
        let learned = learn(
            &log,
            &SignalConfig::default(),
            PrecomputedLearner::new(MinerConfig::default()),
            None,
            |_| {},
        )
        .unwrap();
        learned
            .finish("v7", Arc::from(""))
            .unwrap()
            .save(&dir.join("set"))
            .unwrap();
        drop(log);
        let blocks = Arc::new(BlockList::open(&log_dir).unwrap());
        Dashboard::new(&dir.join("set"), &log_dir, blocks)
    }

    #[test]
    fn the_overview_of_a_learned_set_has_every_chart_and_the_rewrite_with_its_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let dashboard = learned(dir.path());
        let html = dashboard.overview(Some("v7")).unwrap();
        for chart in ["defect-rate", "signals", "turns"] {
            let at = html.find(&format!("data-chart=\"{chart}\"")).unwrap();
            assert!(
                !html[at..].starts_with(&format!("data-chart=\"{chart}\" data-points=\"0\"")),
                "{chart}"
            );
        }
        assert!(html.contains("served now: <b>v7</b>"));
        assert!(
            html.contains("data-table=\"rewrites\" data-rows=\"1\""),
            "{html}"
        );
        assert!(html.contains("reformulated into the target 12 times by 12 people"));
        assert!(html.contains("data-table=\"failing\""));
        dashboard
            .blocks()
            .block(Some("play maj and dragons"), "play imagine dragons", 0)
            .unwrap();
        let html = dashboard.overview(Some("v7")).unwrap();
        assert!(html.contains("<td>blocked</td>"));
        assert!(html.contains("data-table=\"blocked\" data-rows=\"1\""));
    }

    #[test]
    fn without_a_set_the_overview_says_how_to_get_one_and_a_person_s_sessions_come_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let dashboard = learned(dir.path());
        let empty = Dashboard::new(
            &dir.path().join("none"),
            &dir.path().join("log"),
            dashboard.blocks().clone(),
        );
        assert!(empty.overview(None).unwrap().contains("selflearn learn"));
        let html = dashboard.session("user-03", None).unwrap();
        assert!(html.contains("play maj and dragons"));
        assert!(!html.contains("user-04-"), "another person's turns");
        assert!(
            dashboard
                .session("user-03", Some("elsewhere"))
                .unwrap()
                .contains("data-rows=\"0\"")
        );
    }
}
