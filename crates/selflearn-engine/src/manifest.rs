//! The manifest of an artifact set: what each artifact is, the digest of its bytes, and the
//! digests of what it was learned from, so that a set is served whole or not at all.

use std::collections::BTreeMap;

use selflearn_types::shard::ShardRange;
use serde::{Deserialize, Serialize};

/// Format of [`Manifest`] (2: the personal layer in shard files). Format 1 is still read.
pub const MANIFEST_FORMAT: u32 = 2;

/// The manifest's file name in a set's directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The precomputed rewrite table.
    RewriteTable,
    /// The online layers (indices, templates, rankers).
    Online,
    /// The retrieval encoder the online layers were built with.
    Encoder,
    /// The pronunciation lexicon the online layers' rankers use.
    Lexicon,
    /// What the dashboard shows of the log (days, failing requests, applied rewrites).
    Insights,
    /// One shard of the online layers' personal indices.
    Personal,
}

impl Kind {
    /// The artifact's file name stem and extension.
    pub fn file_parts(self) -> (&'static str, &'static str) {
        match self {
            Kind::RewriteTable => ("rewrite-table", "json"),
            Kind::Online => ("online", "json"),
            Kind::Encoder => ("encoder", "safetensors"),
            Kind::Lexicon => ("lexicon", "jsonl"),
            Kind::Insights => ("insights", "json"),
            Kind::Personal => ("personal", "json"),
        }
    }
}

/// One artifact of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactEntry {
    /// What it is.
    pub kind: Kind,
    /// Its file, in the set's directory (a bare name).
    pub file: String,
    /// Its own format version.
    pub format: u32,
    /// XXH3-128 of its bytes, hex.
    pub digest: String,
    /// Digests of what it was built with, by name (the online layers: `encoder`, the
    /// encoder's weights digest; `lexicon`, the lexicon file's digest).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    /// Which shard of the personal layer it is (`first` = `last`), for [`Kind::Personal`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRange>,
}

/// The part of the log a set was learned from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRange {
    /// Events read.
    pub events: u64,
    /// Earliest and latest event time (Unix ms), when any.
    pub first_ms: Option<i64>,
    /// See `first_ms`.
    pub last_ms: Option<i64>,
    /// The sum of the event ids' XXH3-128 ([`LogDigest`]): two learns of the same log snapshot
    /// agree on it, however the log was split between them.
    pub digest: String,
}

/// What a set holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The set's version (every artifact in it carries the same).
    pub version: String,
    /// When it was written (Unix ms).
    pub created_at_ms: i64,
    /// What it was learned from.
    pub log: LogRange,
    /// Its artifacts.
    pub artifacts: Vec<ArtifactEntry>,
}

impl Manifest {
    /// The artifact of `kind`, when the set has one.
    pub fn entry(&self, kind: Kind) -> Option<&ArtifactEntry> {
        self.artifacts.iter().find(|a| a.kind == kind)
    }

    /// How many shards the personal layer is cut into, when it is stored in shards.
    pub fn personal_shards(&self) -> Option<u32> {
        self.artifacts
            .iter()
            .find_map(|a| a.shard.filter(|_| a.kind == Kind::Personal))
            .map(|s| s.count)
    }
}

/// XXH3-128 of `bytes`, hex: the digest manifests record.
pub fn digest(bytes: &[u8]) -> String {
    format!("{:032x}", twox_hash::XxHash3_128::oneshot(bytes))
}

/// Folds event ids into a digest of a log range: the sum (mod 2^128) of each id's XXH3-128, a
/// multiset hash, so that it does not depend on the order events are read in and the digests
/// of disjoint parts of a log add up to the digest of the whole ([`LogRange::merge`]).
#[derive(Default)]
pub struct LogDigest {
    sum: u128,
    range: LogRange,
}

impl std::fmt::Debug for LogDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogDigest")
            .field("range", &self.range)
            .finish()
    }
}

impl LogDigest {
    /// Counts one event read.
    pub fn add(&mut self, event_id: &str, timestamp_ms: i64) {
        self.sum = self
            .sum
            .wrapping_add(twox_hash::XxHash3_128::oneshot(event_id.as_bytes()));
        self.range.events += 1;
        self.range.first_ms = Some(
            self.range
                .first_ms
                .map_or(timestamp_ms, |t| t.min(timestamp_ms)),
        );
        self.range.last_ms = Some(
            self.range
                .last_ms
                .map_or(timestamp_ms, |t| t.max(timestamp_ms)),
        );
    }

    /// The range read.
    pub fn finish(self) -> LogRange {
        LogRange {
            digest: format!("{:032x}", self.sum),
            ..self.range
        }
    }
}

impl LogRange {
    /// Adds the range of a disjoint part of the log read apart (another partition of one
    /// learn): events add up, the time range widens and the digests add as [`LogDigest`]'s.
    /// A digest that is not 32 hexadecimal digits is refused, saying so.
    pub fn merge(&mut self, other: &LogRange) -> Result<(), String> {
        let parse = |digest: &str| {
            u128::from_str_radix(digest, 16)
                .map_err(|_| format!("log digest {digest:?} is not 32 hexadecimal digits"))
        };
        let sum = match (self.events, other.events) {
            (_, 0) => return Ok(()),
            (0, _) => parse(&other.digest)?,
            _ => parse(&self.digest)?.wrapping_add(parse(&other.digest)?),
        };
        self.digest = format!("{sum:032x}");
        self.events += other.events;
        self.first_ms = [self.first_ms, other.first_ms].into_iter().flatten().min();
        self.last_ms = [self.last_ms, other.last_ms].into_iter().flatten().max();
        Ok(())
    }
}
