//! The rewrite table: the versioned artifact of mining, consulted before NLU.

use std::collections::HashMap;
use std::path::Path;

use selflearn_signals::normalise;
use selflearn_types::{RewriteRequest, RewriteResponse, Rewriter};
use serde::{Deserialize, Serialize};

use crate::mine::{Mined, MinerConfig, RewriteEntry, RolledBack};

/// Format version of the artifact.
pub const TABLE_FORMAT: u32 = 1;

/// Errors of loading a table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Reading the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The file is not a valid table; the table in use stays.
    #[error("{path}: invalid rewrite table: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// A versioned set of rewrites with their provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteTable {
    /// Artifact format.
    pub format: u32,
    /// Version of this table (e.g. the night it was mined).
    pub version: String,
    /// Thresholds it was mined with.
    pub config: MinerConfig,
    /// The rewrites.
    pub entries: Vec<RewriteEntry>,
    /// Rewrites this night's learn dropped because they did worse than no rewrite.
    #[serde(default)]
    pub rolled_back: Vec<RolledBack>,
    /// Rewrites toward sensitive requests, not served until an operator approves them
    /// (`[sensitive] approved`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<RewriteEntry>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl RewriteTable {
    /// A table of what one learn mined.
    pub fn new(version: impl Into<String>, config: MinerConfig, mined: Mined) -> Self {
        let mut table = Self {
            format: TABLE_FORMAT,
            version: version.into(),
            config,
            entries: mined.entries,
            rolled_back: mined.rolled_back,
            held: mined.held,
            index: HashMap::new(),
        };
        table.reindex();
        table
    }

    fn reindex(&mut self) {
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.source.clone(), i))
            .collect();
    }

    /// The rewrite for a recognised text, if any.
    pub fn lookup(&self, text: &str) -> Option<&RewriteEntry> {
        self.index.get(&normalise(text)).map(|&i| &self.entries[i])
    }

    /// Writes the table as JSON, atomically: to a temporary file beside it, then renamed over
    /// it, so that a server reloading the path never reads half a table.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        selflearn_types::durable::write_atomically(path, &self.to_bytes())
    }

    /// The table as JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a table is plain data")
    }

    /// Reads and checks a table; an invalid one is refused with the reason.
    pub fn load(path: &Path) -> Result<Self, TableError> {
        let bytes = fs_err::read(path)?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Reads and checks a table from its bytes; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, TableError> {
        let invalid = |reason: String| TableError::Invalid {
            path: origin.to_owned(),
            reason,
        };
        let mut table: RewriteTable =
            serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if table.format != TABLE_FORMAT {
            return Err(invalid(format!(
                "format {} is not {TABLE_FORMAT}",
                table.format
            )));
        }
        for (i, entry) in table.entries.iter().enumerate() {
            let probabilities = [
                entry.source_success,
                entry.target_success,
                entry.path_success,
            ];
            if entry.source.is_empty() || entry.target.is_empty() || entry.source == entry.target {
                return Err(invalid(format!(
                    "entry {i}: empty or identical source and target"
                )));
            }
            if probabilities
                .iter()
                .any(|p| !(0.0..=1.0 + 1e-9).contains(p))
            {
                return Err(invalid(format!("entry {i}: a probability outside [0, 1]")));
            }
        }
        table.reindex();
        if table.index.len() != table.entries.len() {
            return Err(invalid("two entries share a source".into()));
        }
        Ok(table)
    }
}

impl Rewriter for RewriteTable {
    /// The rewrite API's answer for a request.
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        match self.lookup(&request.text) {
            None => RewriteResponse::unchanged(request.text.clone()),
            Some(entry) => RewriteResponse {
                text: entry.target.clone(),
                rewritten: true,
                layer: Some(crate::mine::LAYER.into()),
                score: Some(entry.path_success.clamp(0.0, 1.0) as f32),
                explanation: Some(format!(
                    "table {}: {} users moved from this request to the target {} times; said {} times; direct success {:.2} -> {:.2}",
                    self.version,
                    entry.pair_users,
                    entry.pair_count,
                    entry.source_count,
                    entry.source_success,
                    entry.target_success
                )),
                artifact_version: Some(self.version.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(source: &str, target: &str) -> RewriteEntry {
        RewriteEntry {
            source: source.into(),
            target: target.into(),
            source_count: 4,
            pair_count: 3,
            pair_users: 2,
            source_success: 0.0,
            target_success: 1.0,
            path_success: 0.9,
            target_meaning: None,
        }
    }

    #[test]
    fn lookups_normalise_and_answer_with_layer_and_evidence() {
        let table = RewriteTable::new(
            "night-1",
            MinerConfig::default(),
            Mined {
                entries: vec![entry("play maj and dragons", "play imagine dragons")],
                rolled_back: Vec::new(),
                held: Vec::new(),
            },
        );
        let request = RewriteRequest {
            user_id: "u".into(),
            source: None,
            device: selflearn_types::testing::sample_event().device,
            text: "Play maj and Dragons".into(),
            timestamp_ms: None,
            context: Default::default(),
        };
        let answer = table.rewrite(&request);
        assert!(answer.rewritten);
        assert_eq!(answer.text, "play imagine dragons");
        assert_eq!(answer.layer.as_deref(), Some("precomputed"));
        assert!(answer.explanation.unwrap().contains("night-1"));
        assert_eq!(answer.artifact_version.as_deref(), Some("night-1"));
        assert!(
            !table
                .rewrite(&RewriteRequest {
                    text: "what time is it".into(),
                    ..request
                })
                .rewritten
        );
    }

    #[test]
    fn a_saved_table_loads_back_and_invalid_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.json");
        let table = RewriteTable::new(
            "v1",
            MinerConfig::default(),
            Mined {
                entries: vec![entry("a b", "c d")],
                rolled_back: Vec::new(),
                held: Vec::new(),
            },
        );
        table.save(&path).unwrap();
        assert_eq!(RewriteTable::load(&path).unwrap(), table);

        let mut bad = table.clone();
        bad.entries[0].target_success = 1.5;
        bad.save(&path).unwrap();
        assert!(
            RewriteTable::load(&path)
                .unwrap_err()
                .to_string()
                .contains("outside [0, 1]")
        );
        fs_err::write(&path, "{not json").unwrap();
        assert!(matches!(
            RewriteTable::load(&path),
            Err(TableError::Invalid { .. })
        ));
    }
}
