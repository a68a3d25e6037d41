//! The world file: households, people, days, behaviour rates, timing and the seed. Every key
//! has a default (see `config/world.toml`); unknown keys are an error.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, WorldError};

/// The whole world configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldConfig {
    /// Seed of everything random; the same seed gives byte-identical output.
    pub seed: u64,
    /// Simulated days.
    pub days: u32,
    /// Households.
    pub households: u32,
    /// First simulated day, midnight UTC, in milliseconds since the Unix epoch.
    pub start_ms: i64,
    /// Who lives where and what they own.
    pub population: Population,
    /// How people behave.
    pub behaviour: Behaviour,
    /// How the assistant behaves.
    pub assistant: Assistant,
    /// Which requests people make.
    pub requests: Requests,
}

/// Which requests people make.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Requests {
    /// Also make requests whose sentences were never recorded by a person, heard only through
    /// synthetic voices (38–47% WER): a harder world. Off, every request is heard through real
    /// recordings.
    pub synthetic_voices: bool,
}

/// Households and people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Population {
    /// Most people in a household (at least one).
    pub max_people: u32,
    /// Most devices in a household (at least one).
    pub max_devices: u32,
    /// Share of devices with a screen.
    pub screen_share: f64,
    /// Favourite goals per person (habits), besides the goals about their own town and music.
    pub favourite_goals: u32,
    /// Most daily routines per person: a favourite goal at the same time of day (0..=routines).
    pub routines: u32,
}

/// People's behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Behaviour {
    /// Mean goals a person pursues per day.
    pub goals_per_day: f64,
    /// Share of goals drawn from the person's favourites.
    pub favourite_share: f64,
    /// How unevenly requests are popular: goal of popularity rank r is drawn with weight
    /// 1 / r^exponent (Zipf; 0 draws uniformly). Which goals are popular is drawn by the seed.
    pub popularity_exponent: f64,
    /// Short requests are the popular ones: goals are ranked by the words of their shortest
    /// sentence plus normal noise with this standard deviation (in words, drawn by the seed).
    pub popularity_noise: f64,
    /// Chance that a person keeps a routine on a given day.
    pub routine_keep: f64,
    /// How far a kept routine strays from its time of day, in minutes either way.
    pub routine_jitter_min: u32,
    /// After a success, chance that the person asks for something else right away.
    pub chain_after_success: f64,
    /// After a failure they notice, chance to interrupt the response.
    pub barge_in_on_failure: f64,
    /// After a success, chance to interrupt the confirmation anyway (not a failure signal).
    pub barge_in_on_success: f64,
    /// After a failure: chance to rephrase with another paraphrase of the same request.
    pub rephrase: f64,
    /// After a failure: chance to repeat the same sentence.
    pub repeat: f64,
    /// After a failure: chance to say "no, I meant …" with a paraphrase (explicit feedback).
    pub correct: f64,
    /// On giving up: chance to teach the assistant what they meant.
    pub teach: f64,
    /// After something starts playing: chance to stop it later by talking over it (a barge-in
    /// on a success).
    pub stop_playing: f64,
    /// Most attempts at one goal before giving up.
    pub max_attempts: u32,
    /// Pause between the end of a response and the next request, in milliseconds (min, max).
    pub pause_ms: (u32, u32),
}

/// The reference assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Assistant {
    /// False wakes per goal: background speech the wake word detector accepts.
    pub false_wake_rate: f64,
    /// Below this intent confidence the assistant says it did not understand.
    pub min_confidence: f32,
    /// Chance that a correctly understood action fails in execution (device or service down).
    pub result_failure_rate: f64,
    /// Share of the world's goals, the most popular first, whose sentences the NLU was built
    /// with (besides the training split), as a shipped assistant knows its common requests.
    pub coverage: f64,
}

impl WorldConfig {
    /// The world file at `path` (the defaults without one), its seed replaced by `seed` when
    /// given.
    pub fn load_or_default(path: Option<&Path>, seed: Option<u64>) -> Result<Self> {
        let mut config = match path {
            Some(path) => Self::load(path)?,
            None => Self::default(),
        };
        if let Some(seed) = seed {
            config.seed = seed;
        }
        Ok(config)
    }

    /// Reads a world file; keys it leaves out keep their defaults.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(WorldError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        let text = fs_err::read_to_string(path)?;
        toml::from_str(&text).map_err(|e| WorldError::BadRecord {
            path: path.to_path_buf(),
            line: e
                .span()
                .map_or(0, |span| text[..span.start].matches('\n').count() + 1),
            reason: e.message().to_owned(),
        })
    }
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            days: 7,
            households: 40,
            start_ms: 1_767_571_200_000, // 2026-01-05T00:00:00Z
            population: Population::default(),
            behaviour: Behaviour::default(),
            assistant: Assistant::default(),
            requests: Requests::default(),
        }
    }
}

impl Default for Population {
    fn default() -> Self {
        Self {
            max_people: 4,
            max_devices: 3,
            screen_share: 0.3,
            favourite_goals: 6,
            routines: 2,
        }
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            goals_per_day: 5.0,
            favourite_share: 0.6,
            popularity_exponent: 1.0,
            popularity_noise: 2.0,
            routine_keep: 0.8,
            routine_jitter_min: 15,
            chain_after_success: 0.15,
            barge_in_on_failure: 0.35,
            barge_in_on_success: 0.03,
            rephrase: 0.45,
            repeat: 0.2,
            correct: 0.08,
            teach: 0.1,
            stop_playing: 0.3,
            max_attempts: 4,
            pause_ms: (1500, 6000),
        }
    }
}

impl Default for Assistant {
    fn default() -> Self {
        Self {
            false_wake_rate: 0.02,
            min_confidence: 0.2,
            result_failure_rate: 0.02,
            coverage: 0.8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_world_file_equals_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/world.toml");
        assert_eq!(WorldConfig::load(&path).unwrap(), WorldConfig::default());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        fs_err::write(&path, "seed = 1\n[behaviour]\nrephrse = 0.5\n").unwrap();
        let err = WorldConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("rephrse") && err.contains("w.toml:3"), "{err}");
    }
}
