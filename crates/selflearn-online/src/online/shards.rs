//! The personal layer cut into shards by user ([`selflearn_types::shard`]): one file per
//! shard beside the artifact, so a replica reads and indexes only the people it answers for.

use std::collections::BTreeMap;

use selflearn_types::shard::{ShardRange, shard_of, user_of_person};
use serde::{Deserialize, Serialize};

use super::OnlineModel;
use crate::encoder::Encoder;
use crate::error::OnlineError;
use crate::index::{Candidate, Index};

/// Format version of [`PersonalShard`].
pub const PERSONAL_SHARD_FORMAT: u32 = 1;

/// One shard of the personal layer as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalShard {
    /// [`PERSONAL_SHARD_FORMAT`].
    pub format: u32,
    /// Version of the model it belongs to.
    pub version: String,
    /// Digest of the encoder the model was learned with.
    pub encoder: String,
    /// Which shard this is.
    pub shard: u32,
    /// Of how many.
    pub count: u32,
    /// The candidates of each person (person key) whose user id falls in this shard.
    pub users: BTreeMap<String, Vec<Candidate>>,
}

impl OnlineModel {
    /// The artifact without its personal layer, and that layer cut into `count` shards, each
    /// as JSON: what an artifact set stores.
    pub fn to_shards(&self, count: u32) -> (Vec<u8>, Vec<Vec<u8>>) {
        let count = count.max(1);
        let mut shards: Vec<PersonalShard> = (0..count)
            .map(|shard| PersonalShard {
                format: PERSONAL_SHARD_FORMAT,
                version: self.version.clone(),
                encoder: self.encoder_digest.clone(),
                shard,
                count,
                users: BTreeMap::new(),
            })
            .collect();
        for (person, index) in &self.personal {
            let shard = shard_of(user_of_person(person), count) as usize;
            shards[shard]
                .users
                .insert(person.clone(), index.candidates().to_vec());
        }
        let main = serde_json::to_vec(&self.artifact_without_personal())
            .expect("an artifact is plain data");
        let shards = shards
            .iter()
            .map(|s| serde_json::to_vec(s).expect("a shard is plain data"))
            .collect();
        (main, shards)
    }

    /// Keeps the personal indices of the people in `range` only.
    pub fn retain_shards(mut self, range: ShardRange) -> Self {
        self.personal.retain(|person, _| range.holds(person));
        self
    }

    /// Adds the personal indices of one stored shard (`origin` names it in errors), after
    /// checking that it belongs to this model, is one of `range`, and holds only people of
    /// its shard: a shard file moved, renamed or edited is refused, not half served.
    pub fn add_shard(
        &mut self,
        bytes: &[u8],
        origin: &str,
        range: ShardRange,
    ) -> Result<(), OnlineError> {
        let invalid = |reason: String| OnlineError::InvalidArtifact {
            path: origin.to_owned(),
            reason,
        };
        let shard: PersonalShard =
            serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if shard.format != PERSONAL_SHARD_FORMAT {
            return Err(invalid(format!(
                "format {} is not {PERSONAL_SHARD_FORMAT}",
                shard.format
            )));
        }
        if shard.version != self.version || shard.encoder != self.encoder_digest {
            return Err(invalid(format!(
                "a shard of model {} (encoder {}), not of {} (encoder {})",
                shard.version, shard.encoder, self.version, self.encoder_digest
            )));
        }
        if shard.count != range.count || !range.contains(shard.shard) {
            return Err(invalid(format!(
                "shard {}/{}, not one of {range}",
                shard.shard, shard.count
            )));
        }
        if let Some(person) = shard
            .users
            .keys()
            .find(|p| shard_of(user_of_person(p), shard.count) != shard.shard)
        {
            return Err(invalid(format!(
                "holds {person:?}, who is in shard {} of {}",
                shard_of(user_of_person(person), shard.count),
                shard.count
            )));
        }
        let encoder: &Encoder = &self.encoder;
        let built: Vec<(String, Index)> = shard
            .users
            .into_iter()
            .map(|(person, candidates)| (person, Index::build(candidates, encoder)))
            .collect();
        self.personal.extend(built);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::online::tests::learned_model;

    #[test]
    fn shards_put_back_together_are_the_whole_personal_layer() {
        let model = learned_model();
        assert!(model.personal.len() > 1, "the fixture needs several people");
        let (main, shards) = model.to_shards(4);
        let all = ShardRange::all(4);
        let mut whole = OnlineModel::from_bytes(&main, "main", model.encoder.clone()).unwrap();
        assert!(whole.personal.is_empty());
        for (i, bytes) in shards.iter().enumerate() {
            whole.add_shard(bytes, &format!("shard {i}"), all).unwrap();
        }
        assert_eq!(whole.artifact(), model.artifact());

        // A replica of shards 1-2 holds exactly the people of those shards.
        let range: ShardRange = "1-2/4".parse().unwrap();
        let mut replica = OnlineModel::from_bytes(&main, "main", model.encoder.clone()).unwrap();
        for bytes in &shards[1..=2] {
            replica.add_shard(bytes, "shard", range).unwrap();
        }
        let expected: Vec<&str> = model.personal_users().filter(|p| range.holds(p)).collect();
        let mut held: Vec<&str> = replica.personal_users().collect();
        held.sort_unstable();
        let mut expected = expected;
        expected.sort_unstable();
        assert_eq!(held, expected);
        assert_eq!(
            model.clone().retain_shards(range).personal_users().count(),
            expected.len()
        );
    }

    #[test]
    fn a_shard_out_of_place_is_refused_and_named() {
        let model = learned_model();
        let (_, shards) = model.to_shards(4);
        let all = ShardRange::all(4);
        let fresh = || {
            let (main, _) = model.to_shards(4);
            OnlineModel::from_bytes(&main, "main", model.encoder.clone()).unwrap()
        };
        // Not among the replica's shards, or cut into another count.
        let err = fresh()
            .add_shard(&shards[0], "personal.000", "1-3/4".parse().unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("personal.000"), "{err}");
        assert!(err.to_string().contains("not one of 1-3/4"), "{err}");
        let (_, eight) = model.to_shards(8);
        assert!(fresh().add_shard(&eight[0], "s", all).is_err());
        // A person moved into another shard's file.
        let non_empty = shards
            .iter()
            .position(|b| {
                !serde_json::from_slice::<PersonalShard>(b)
                    .unwrap()
                    .users
                    .is_empty()
            })
            .unwrap();
        let mut moved: PersonalShard = serde_json::from_slice(&shards[non_empty]).unwrap();
        moved.shard = (moved.shard + 1) % 4;
        let err = fresh()
            .add_shard(&serde_json::to_vec(&moved).unwrap(), "s", all)
            .unwrap_err();
        assert!(err.to_string().contains("who is in shard"), "{err}");
        // Another model's shard.
        let mut other: PersonalShard = serde_json::from_slice(&shards[0]).unwrap();
        other.version = "another".into();
        let err = fresh()
            .add_shard(&serde_json::to_vec(&other).unwrap(), "s", all)
            .unwrap_err();
        assert!(
            err.to_string().contains("a shard of model another"),
            "{err}"
        );
        assert!(fresh().add_shard(b"{", "s", all).is_err());
    }
}
