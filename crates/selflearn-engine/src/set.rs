//! Artifact sets: everything `serve` needs, in one directory, saved durably and loaded as one
//! unit. Each artifact's file name carries the set's version, and the manifest is written last
//! (atomically), so a reader sees either the old set or the new one whole; the previous set's
//! files are kept until the next save, for a server still loading them.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use selflearn_miner::RewriteTable;
use selflearn_online::{Encoder, Lexicon, OnlineModel};
use selflearn_types::durable::write_atomically;
use selflearn_types::shard::ShardRange;

use crate::error::{EngineError, Result};
use crate::insights::{INSIGHTS_FORMAT, Insights};
use crate::manifest::{
    ArtifactEntry, Kind, LogRange, MANIFEST_FILE, MANIFEST_FORMAT, Manifest, digest,
};

/// Largest manifest read: a set lists four artifacts, so anything larger is not a manifest.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// What `learn` produces, before it is saved.
#[derive(Debug)]
pub struct ArtifactSet {
    /// The set's version.
    pub version: String,
    /// What it was learned from.
    pub log: LogRange,
    /// The precomputed rewrites.
    pub table: RewriteTable,
    /// The online layers, with the encoder and the lexicon text they were learned with.
    pub online: Option<(OnlineModel, Encoder, Arc<str>)>,
    /// What the dashboard shows, when it was learned.
    pub insights: Option<Insights>,
}

/// A set as `serve` loads it: every digest checked.
#[derive(Debug)]
pub struct LoadedSet {
    /// Its manifest.
    pub manifest: Manifest,
    /// The precomputed rewrites, when the set has them.
    pub table: Option<RewriteTable>,
    /// The online layers, with their encoder and lexicon, when the set has them.
    pub online: Option<OnlineModel>,
    /// What the dashboard shows, when the set has it.
    pub insights: Option<Insights>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A version string safe in a file name: other characters become `_`.
fn file_safe(version: &str) -> String {
    version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Shards of the personal layer a set is saved with unless told otherwise: enough for a
/// handful of replicas to split them evenly (1, 2, 4, 8 or 16).
pub const DEFAULT_PERSONAL_SHARDS: u32 = 16;

impl ArtifactSet {
    /// [`ArtifactSet::save_sharded`] with [`DEFAULT_PERSONAL_SHARDS`].
    pub fn save(&self, dir: &Path) -> Result<Manifest> {
        self.save_sharded(dir, DEFAULT_PERSONAL_SHARDS)
    }

    /// Writes every artifact, the personal layer cut into `shards` files by user, then the
    /// manifest, into `dir` (created when missing); removes the files of sets older than the
    /// one it replaces.
    pub fn save_sharded(&self, dir: &Path, shards: u32) -> Result<Manifest> {
        let shards = shards.clamp(1, selflearn_types::shard::MAX_SHARDS);
        let _span = tracing::info_span!("save_set", dir = %dir.display()).entered();
        fs_err::create_dir_all(dir)?;
        let version = file_safe(&self.version);
        let file_of = |kind: Kind| {
            let (stem, ext) = kind.file_parts();
            format!("{stem}.{version}.{ext}")
        };
        let mut artifacts = Vec::new();
        // The digest is of the very bytes written, never of a read-back.
        let mut write = |kind: Kind,
                         shard: Option<ShardRange>,
                         format: u32,
                         bytes: &[u8],
                         inputs: BTreeMap<String, String>|
         -> Result<()> {
            let file = match shard {
                Some(s) => {
                    let (stem, ext) = kind.file_parts();
                    format!("{stem}.{}-of-{}.{version}.{ext}", s.first, s.count)
                }
                None => file_of(kind),
            };
            write_atomically(&dir.join(&file), bytes)?;
            artifacts.push(ArtifactEntry {
                kind,
                file,
                format,
                digest: digest(bytes),
                inputs,
                shard,
            });
            Ok(())
        };
        write(
            Kind::RewriteTable,
            None,
            self.table.format,
            &self.table.to_bytes(),
            BTreeMap::new(),
        )?;
        if let Some((model, encoder, lexicon)) = &self.online {
            write(
                Kind::Encoder,
                None,
                1,
                &encoder.to_bytes()?,
                BTreeMap::new(),
            )?;
            write(Kind::Lexicon, None, 1, lexicon.as_bytes(), BTreeMap::new())?;
            let inputs = BTreeMap::from([
                ("encoder".to_owned(), encoder.digest()),
                ("lexicon".to_owned(), digest(lexicon.as_bytes())),
            ]);
            let (main, personal) = model.to_shards(shards);
            write(
                Kind::Online,
                None,
                selflearn_online::online::ARTIFACT_FORMAT,
                &main,
                inputs,
            )?;
            for (index, bytes) in (0..shards).zip(&personal) {
                let shard = ShardRange {
                    first: index,
                    last: index,
                    count: shards,
                };
                write(
                    Kind::Personal,
                    Some(shard),
                    selflearn_online::online::PERSONAL_SHARD_FORMAT,
                    bytes,
                    BTreeMap::new(),
                )?;
            }
        }
        if let Some(insights) = &self.insights {
            write(
                Kind::Insights,
                None,
                INSIGHTS_FORMAT,
                &insights.to_bytes(),
                BTreeMap::new(),
            )?;
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            version: self.version.clone(),
            created_at_ms: now_ms(),
            log: self.log.clone(),
            artifacts,
        };
        let path = dir.join(MANIFEST_FILE);
        let previous = read_manifest(&path).ok();
        let json = serde_json::to_string_pretty(&manifest).map_err(std::io::Error::other)?;
        write_atomically(&path, json.as_bytes())?;
        remove_stale(dir, &manifest, previous.as_ref())?;
        Ok(manifest)
    }
}

/// Removes artifact files that neither `current` nor `previous` names.
fn remove_stale(dir: &Path, current: &Manifest, previous: Option<&Manifest>) -> Result<()> {
    let keep: HashSet<&str> = [Some(current), previous]
        .into_iter()
        .flatten()
        .flat_map(|m| m.artifacts.iter().map(|a| a.file.as_str()))
        .collect();
    // `stem.VERSION.ext`, never a bare `stem.ext` (such as an encoder `train` wrote there).
    let ours = |name: &str| {
        [
            Kind::RewriteTable,
            Kind::Online,
            Kind::Encoder,
            Kind::Lexicon,
            Kind::Insights,
            Kind::Personal,
        ]
        .iter()
        .any(|k| {
            let (stem, ext) = k.file_parts();
            name.strip_prefix(stem)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|rest| rest.strip_suffix(ext))
                .and_then(|rest| rest.strip_suffix('.'))
                .is_some_and(|version| !version.is_empty())
        })
    };
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if ours(&name) && !keep.contains(name.as_str()) {
            fs_err::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The manifest at `path`, checked: its format, and that every file it names is a bare name
/// in its directory.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let len = fs_err::metadata(path)?.len();
    if len > MAX_MANIFEST_BYTES {
        return Err(EngineError::Manifest {
            path: path.to_path_buf(),
            reason: format!("{len} bytes, more than a manifest holds"),
        });
    }
    parse_manifest(&fs_err::read(path)?, path)
}

/// A manifest from its bytes, with the checks of [`read_manifest`]; `path` names it in errors.
pub fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Manifest> {
    let invalid = |reason: String| EngineError::Manifest {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(invalid(format!(
            "{} bytes, more than a manifest holds",
            bytes.len()
        )));
    }
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    if !(1..=MANIFEST_FORMAT).contains(&manifest.format) {
        return Err(invalid(format!(
            "format {} is not 1 to {MANIFEST_FORMAT}",
            manifest.format
        )));
    }
    for entry in &manifest.artifacts {
        let bare = Path::new(&entry.file).file_name().and_then(|n| n.to_str()) == Some(&entry.file);
        if !bare || entry.file.starts_with('.') {
            return Err(invalid(format!(
                "{:?} is not a file name in the set",
                entry.file
            )));
        }
    }
    Ok(manifest)
}

/// The bytes of `entry`'s file, read once, with its path, once they match the manifest's
/// digest: what is parsed is exactly what was checked.
fn checked(dir: &Path, entry: &ArtifactEntry) -> Result<(PathBuf, Vec<u8>)> {
    let path = dir.join(&entry.file);
    let bytes = fs_err::read(&path).map_err(|e| EngineError::Mismatch {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let found = digest(&bytes);
    if found != entry.digest {
        return Err(EngineError::Mismatch {
            path,
            reason: format!("digest {found}, the manifest says {}", entry.digest),
        });
    }
    Ok((path, bytes))
}

fn origin(path: &Path) -> String {
    path.display().to_string()
}

/// What a set says about itself without loading its online layers: the manifest, the
/// precomputed table and the insights, each checked against its digest. What the dashboard
/// reads on every view, cheaply.
#[derive(Debug)]
pub struct SetSummary {
    /// Its manifest.
    pub manifest: Manifest,
    /// The precomputed rewrites, when the set has them.
    pub table: Option<RewriteTable>,
    /// What the dashboard shows, when the set has it.
    pub insights: Option<Insights>,
}

impl SetSummary {
    /// Reads the summary of the set in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let manifest = read_manifest(&dir.join(MANIFEST_FILE))?;
        let table = match manifest.entry(Kind::RewriteTable) {
            Some(entry) => {
                let (path, bytes) = checked(dir, entry)?;
                Some(RewriteTable::from_bytes(&bytes, &origin(&path))?)
            }
            None => None,
        };
        let insights = match manifest.entry(Kind::Insights) {
            Some(entry) => {
                let (path, bytes) = checked(dir, entry)?;
                Some(Insights::from_bytes(&bytes, &path)?)
            }
            None => None,
        };
        Ok(Self {
            manifest,
            table,
            insights,
        })
    }
}

impl LoadedSet {
    /// The set's layers as `serve` runs them: the table, then both online layers behind an
    /// answer cache of `answer_cache_bytes`.
    pub fn serving(self, answer_cache_bytes: u64) -> crate::Layered {
        let online = self.online.map(|model| {
            Arc::new(selflearn_online::CachedModel::new(
                model,
                selflearn_online::Layers::GlobalAndPersonal,
                answer_cache_bytes,
            ))
        });
        crate::Layered::serving(self.table, online)
    }

    /// Loads the set in `dir`: the manifest, then every artifact it names, each checked
    /// against its digest, and the online layers against the encoder and lexicon digests they
    /// were learned with. Any mismatch refuses the whole set.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_shards(dir, None)
    }

    /// As [`LoadedSet::load`], with the personal indices of the people in `shards` only (all
    /// when `None`): what a replica that answers for those people loads. The set must be cut
    /// into as many shards as the range counts.
    pub fn load_shards(dir: &Path, shards: Option<ShardRange>) -> Result<Self> {
        let SetSummary {
            manifest,
            table,
            insights,
        } = SetSummary::load(dir)?;
        let online = match manifest.entry(Kind::Online) {
            Some(entry) => {
                let (path, bytes) = checked(dir, entry)?;
                let needs = |kind: Kind| {
                    manifest.entry(kind).ok_or_else(|| EngineError::Mismatch {
                        path: path.clone(),
                        reason: format!("the set has no {kind:?} for the online layers"),
                    })
                };
                let (encoder_path, encoder_bytes) = checked(dir, needs(Kind::Encoder)?)?;
                let encoder = Encoder::from_bytes(&encoder_bytes, &origin(&encoder_path))?;
                let lexicon_entry = needs(Kind::Lexicon)?;
                let (lexicon_path, lexicon_bytes) = checked(dir, lexicon_entry)?;
                for (input, found) in [
                    ("encoder", encoder.digest()),
                    ("lexicon", lexicon_entry.digest.clone()),
                ] {
                    if entry.inputs.get(input) != Some(&found) {
                        return Err(EngineError::Mismatch {
                            path,
                            reason: format!(
                                "learned with {input} {:?}, the set's is {found}",
                                entry.inputs.get(input)
                            ),
                        });
                    }
                }
                let lexicon_text =
                    std::str::from_utf8(&lexicon_bytes).map_err(|e| EngineError::Mismatch {
                        path: lexicon_path.clone(),
                        reason: format!("not UTF-8: {e}"),
                    })?;
                let lexicon = Lexicon::parse(lexicon_text, &origin(&lexicon_path))?;
                let model = OnlineModel::from_bytes(&bytes, &origin(&path), encoder)?
                    .with_lexicon(Arc::new(lexicon));
                Some(with_personal(model, dir, &manifest, shards)?)
            }
            None => None,
        };
        for (kind, version) in [
            (
                Kind::RewriteTable,
                table.as_ref().map(|t| t.version.as_str()),
            ),
            (Kind::Online, online.as_ref().map(OnlineModel::version)),
            (
                Kind::Insights,
                insights.as_ref().map(|i| i.version.as_str()),
            ),
        ] {
            if let Some(version) = version.filter(|v| *v != manifest.version) {
                return Err(EngineError::Mismatch {
                    path: dir.join(
                        manifest
                            .entry(kind)
                            .map_or(String::new(), |e| e.file.clone()),
                    ),
                    reason: format!("version {version}, the set's is {}", manifest.version),
                });
            }
        }
        Ok(Self {
            manifest,
            table,
            online,
            insights,
        })
    }
}

/// `model` with the personal indices of the set's shards in `wanted` (all when `None`): each
/// shard file checked against its digest. A set of format 1 keeps its personal layer inside
/// the online artifact, which is then cut down to `wanted`.
fn with_personal(
    mut model: OnlineModel,
    dir: &Path,
    manifest: &Manifest,
    wanted: Option<ShardRange>,
) -> Result<OnlineModel> {
    let mismatch = |reason: String| EngineError::Mismatch {
        path: dir.join(MANIFEST_FILE),
        reason,
    };
    let Some(count) = manifest.personal_shards() else {
        return Ok(match wanted {
            Some(range) => model.retain_shards(range),
            None => model,
        });
    };
    let range = wanted.unwrap_or(ShardRange::all(count));
    if range.count != count {
        return Err(mismatch(format!(
            "the personal layer is cut into {count} shards, not {} ({range} asked)",
            range.count
        )));
    }
    let entries: Vec<&ArtifactEntry> = manifest
        .artifacts
        .iter()
        .filter(|a| a.kind == Kind::Personal)
        .collect();
    let mut listed: Vec<Option<ShardRange>> = entries.iter().map(|e| e.shard).collect();
    listed.sort_unstable_by_key(|s| s.map(|s| (s.first, s.last, s.count)));
    let expected: Vec<Option<ShardRange>> = (0..count)
        .map(|i| {
            Some(ShardRange {
                first: i,
                last: i,
                count,
            })
        })
        .collect();
    if listed != expected {
        return Err(mismatch(format!(
            "its personal shards are not each of 0 to {} once",
            count - 1
        )));
    }
    for entry in entries {
        if entry.shard.is_some_and(|s| range.contains(s.first)) {
            let (path, bytes) = checked(dir, entry)?;
            model.add_shard(&bytes, &origin(&path), range)?;
        }
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use selflearn_miner::{Mined, MinerConfig};
    use selflearn_online::{OnlineConfig, OnlineLearner};

    use super::*;

    fn set(version: &str, encoder_seed: u64) -> ArtifactSet {
        let model = OnlineLearner::new()
            .finish(
                Encoder::random(encoder_seed),
                Arc::new(Lexicon::default()),
                OnlineConfig::default(),
                version,
            )
            .unwrap();
        ArtifactSet {
            version: version.into(),
            log: LogRange::default(),
            table: RewriteTable::new(version, MinerConfig::default(), Mined::default()),
            online: Some((
                model,
                Encoder::random(encoder_seed),
                Arc::from("{\"word\": \"a\", \"prons\": [[\"AH0\"]]}\n"),
            )),
            insights: Some(Insights {
                format: INSIGHTS_FORMAT,
                version: version.into(),
                ..Insights::default()
            }),
        }
    }

    fn file(dir: &Path, kind: Kind) -> PathBuf {
        let manifest = read_manifest(&dir.join(MANIFEST_FILE)).unwrap();
        dir.join(&manifest.entry(kind).unwrap().file)
    }

    #[test]
    fn a_set_with_any_artifact_changed_is_refused_whole() {
        for kind in [
            Kind::RewriteTable,
            Kind::Online,
            Kind::Encoder,
            Kind::Lexicon,
            Kind::Personal,
        ] {
            let dir = tempfile::tempdir().unwrap();
            set("v1", 7).save(dir.path()).unwrap();
            assert!(LoadedSet::load(dir.path()).is_ok());
            let path = file(dir.path(), kind);
            let mut bytes = fs_err::read(&path).unwrap();
            let last = bytes.len() - 2;
            bytes[last] ^= 1;
            fs_err::write(&path, bytes).unwrap();
            let err = LoadedSet::load(dir.path()).unwrap_err();
            assert!(
                matches!(err, EngineError::Mismatch { .. }) && err.to_string().contains("digest"),
                "{kind:?}: {err}"
            );
        }
    }

    #[test]
    fn online_layers_learned_with_another_encoder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        set("v1", 7).save(dir.path()).unwrap();
        // The encoder swapped for another, its digest updated: the layers still say seed 7's.
        let path = file(dir.path(), Kind::Encoder);
        Encoder::random(8).save(&path).unwrap();
        let manifest_path = dir.path().join(MANIFEST_FILE);
        let mut manifest = read_manifest(&manifest_path).unwrap();
        for entry in &mut manifest.artifacts {
            if entry.kind == Kind::Encoder {
                entry.digest = digest(&fs_err::read(&path).unwrap());
            }
        }
        fs_err::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
        let err = LoadedSet::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("learned with encoder"), "{err}");
    }

    #[test]
    fn a_new_set_replaces_the_files_of_the_one_before_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let trained = dir.path().join("encoder.safetensors");
        Encoder::random(3).save(&trained).unwrap();
        for version in ["v1", "v2", "v3"] {
            set(version, 7).save(dir.path()).unwrap();
        }
        assert!(trained.is_file(), "only the set's own files are removed");
        let mut names: Vec<String> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.iter().all(|n| !n.contains(".v1.")), "{names:?}");
        // Five artifacts and the personal layer's shards.
        let files = 5 + DEFAULT_PERSONAL_SHARDS as usize;
        assert_eq!(names.iter().filter(|n| n.contains(".v2.")).count(), files);
        assert_eq!(names.iter().filter(|n| n.contains(".v3.")).count(), files);
        assert_eq!(LoadedSet::load(dir.path()).unwrap().manifest.version, "v3");
    }

    #[test]
    fn a_manifest_naming_a_file_outside_its_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        set("v1", 7).save(dir.path()).unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let mut manifest = read_manifest(&path).unwrap();
        manifest.artifacts[0].file = "../elsewhere.json".into();
        fs_err::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
        let err = LoadedSet::load(dir.path()).unwrap_err();
        assert!(matches!(err, EngineError::Manifest { .. }), "{err}");
    }
}
