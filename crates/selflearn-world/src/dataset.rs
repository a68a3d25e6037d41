//! The real data the world is built from, read from a data directory with the vendored file
//! names and fields (`data/` by default). Only the fields the world uses are read; extra fields
//! are ignored, missing ones are an error naming the file and line.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, WorldError};

/// A slot of an annotated sentence.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Slot {
    /// Slot type, e.g. `date`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The words that fill it.
    pub value: String,
}

/// A SLURP sentence with its annotation.
#[derive(Debug, Clone, Deserialize)]
pub struct SlurpSentence {
    /// SLURP's sentence id.
    pub slurp_id: u64,
    /// The sentence, lower-cased as released.
    pub text: String,
    /// `scenario_action`.
    pub intent: String,
    /// The scenario the intent label should start with.
    pub scenario: String,
    /// The action the intent label should end with.
    pub action: String,
    /// Annotated slots.
    pub slots: Vec<Slot>,
    /// Sentences sharing a frame id are paraphrases of one request.
    pub frame_id: String,
    /// `train`, `devel` or `test`.
    pub split_official: String,
}

/// One real recording of a SLURP sentence, as SLURP's recogniser heard it.
#[derive(Debug, Clone, Deserialize)]
pub struct RealAsr {
    /// The sentence recorded.
    pub slurp_id: u64,
    /// Recording session (a speaker).
    pub session: String,
    /// `headset` or `far`.
    pub mic: String,
    /// The sentence as spoken.
    pub ref_text: String,
    /// The recogniser's 1-best, clitics re-attached.
    pub hyp_text_norm: String,
}

/// A synthetic-voice recording of a SLURP sentence decoded by a real recogniser.
#[derive(Debug, Clone, Deserialize)]
pub struct SynthAsr {
    /// The sentence spoken.
    pub slurp_id: u64,
    /// Language model of the decoder (`slurp-domain-3gram` or `en-us-generic-3gram`).
    pub lm: String,
    /// The sentence as spoken.
    pub ref_text: String,
    /// The recogniser's 1-best.
    pub hyp_text: String,
    /// Lattice posterior of the 1-best.
    pub confidence: f32,
}

/// An HWU64 sentence with its annotation.
#[derive(Debug, Clone, Deserialize)]
pub struct HwuSentence {
    /// The sentence, normalised.
    pub text: String,
    /// `scenario_action`.
    pub intent: String,
    /// Annotated slots.
    pub slots: Vec<Slot>,
    /// Paraphrase group, as for SLURP.
    pub frame_id: String,
}

/// Every file of a data directory.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where it was read from.
    pub dir: PathBuf,
    /// `slurp_text.jsonl`.
    pub slurp: Vec<SlurpSentence>,
    /// `slurp_asr_multi.jsonl`.
    pub real_asr: Vec<RealAsr>,
    /// `asr_synth_pocketsphinx.jsonl`.
    pub synth_asr: Vec<SynthAsr>,
    /// `hwu64.jsonl`.
    pub hwu: Vec<HwuSentence>,
    /// The Home Assistant test home of `ha_fixtures_en.json`.
    pub home: HomeFixture,
}

/// The Home Assistant test home: its areas (rooms) and entities.
#[derive(Debug, Clone, Deserialize)]
pub struct HomeFixture {
    /// Areas of the home.
    pub areas: Vec<Area>,
    /// Entities (lights, switches, sensors, …) and their states.
    #[serde(default)]
    pub entities: Vec<HomeEntity>,
}

/// One area of the home.
#[derive(Debug, Clone, Deserialize)]
pub struct Area {
    /// Display name, e.g. `Living Room`.
    pub name: String,
    /// Identifier entities refer to, e.g. `living_room_id`.
    #[serde(default)]
    pub id: String,
}

/// One entity of the home, e.g. `light.kitchen_ceiling` in `kitchen_id`, state `on`.
#[derive(Debug, Clone, Deserialize)]
pub struct HomeEntity {
    /// Entity id: domain, dot, object id.
    pub id: String,
    /// Area id, when the entity is in one.
    #[serde(default)]
    pub area: Option<String>,
    /// State: a string for most entities (binary sensors give an object).
    #[serde(default)]
    pub state: serde_json::Value,
}

impl HomeEntity {
    /// Whether this is a light and it is on.
    pub fn light_on(&self) -> Option<bool> {
        self.id
            .starts_with("light.")
            .then(|| self.state.as_str() == Some("on"))
    }
}

impl Dataset {
    /// The vendored data: `data/` of the working directory when it has the data's files, else
    /// the repository's `data/` this binary was built from, so that a command run elsewhere
    /// still finds it (a missing file is then an error naming it, never a silent fallback).
    pub fn default_dir() -> PathBuf {
        let here = PathBuf::from("data");
        if here.join("slurp_text.jsonl").is_file() {
            return here;
        }
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data"))
    }

    /// Reads every file of `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(Self {
            dir: dir.to_path_buf(),
            slurp: read_jsonl(&dir.join("slurp_text.jsonl"))?,
            real_asr: read_jsonl(&dir.join("slurp_asr_multi.jsonl"))?,
            synth_asr: read_jsonl(&dir.join("asr_synth_pocketsphinx.jsonl"))?,
            hwu: read_jsonl(&dir.join("hwu64.jsonl"))?,
            home: read_json(&dir.join("ha_fixtures_en.json"))?,
        })
    }
}

/// Reads one JSON document.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    if !path.is_file() {
        return Err(WorldError::MissingFile {
            path: path.to_path_buf(),
        });
    }
    let text = fs_err::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| WorldError::BadRecord {
        path: path.to_path_buf(),
        line: e.line(),
        reason: e.to_string(),
    })
}

/// Reads one JSON Lines file of `T`, naming the file and line of a bad record.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    if !path.is_file() {
        return Err(WorldError::MissingFile {
            path: path.to_path_buf(),
        });
    }
    let reader = std::io::BufReader::new(fs_err::File::open(path)?);
    let mut records = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|e| WorldError::BadRecord {
            path: path.to_path_buf(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_data_loads() {
        let data = Dataset::load(&Dataset::default_dir()).unwrap();
        assert!(data.slurp.len() > 6000);
        assert!(data.real_asr.len() > 10_000);
        assert!(data.synth_asr.len() > 3000);
        assert!(data.hwu.len() > 8000);
    }

    #[test]
    fn a_bad_record_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hwu64.jsonl");
        fs_err::write(
            &path,
            "{\"text\":\"hi\",\"intent\":\"x\",\"slots\":[],\"frame_id\":\"f\"}\n{\"text\":3}\n",
        )
        .unwrap();
        let err = read_jsonl::<HwuSentence>(&path).unwrap_err().to_string();
        assert!(err.contains("hwu64.jsonl:2:"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("slurp_text.jsonl"), "{err}");
    }
}
