//! Rewrites an operator blocked. A block is kept in one small file beside the event log, not
//! in an artifact, so that it outlives every `learn`: whatever a new set learns, a blocked
//! rewrite is never served. A block names the rewrite's target and, optionally, its source:
//! with a source it blocks that one pair, without one every rewrite into the target.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

use crate::durable::write_atomically;
use crate::rewrite::{RewriteRequest, RewriteResponse, Rewriter};
use crate::text::normalise;

/// The block list's file name in the log directory.
pub const BLOCKED_FILE: &str = "blocked-rewrites.json";

/// Largest block list read: far more blocks than an operator makes by hand.
const MAX_BYTES: u64 = 8 << 20;

/// One blocked rewrite, its texts normalised as every layer compares them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// The request it rewrote; `None` blocks every rewrite into `target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What it rewrote the request to.
    pub target: String,
    /// When it was blocked (Unix ms).
    pub at_ms: i64,
}

impl Block {
    /// Whether it blocks answering `source` with `target` (both normalised).
    fn covers(&self, source: &str, target: &str) -> bool {
        self.target == target && self.source.as_deref().is_none_or(|s| s == source)
    }
}

/// The block list, loaded from and saved to its file durably: a block is acknowledged only
/// once it is on disk.
#[derive(Debug)]
pub struct BlockList {
    path: PathBuf,
    blocks: RwLock<Vec<Block>>,
}

/// Why the block list could not be read or saved.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a block list.
    #[error("{path}: not a block list: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A block without a target.
    #[error("a block needs a non-empty target")]
    EmptyTarget,
}

/// The blocks in the file at `path`; none when it does not exist.
fn read_blocks(path: &Path) -> Result<Vec<Block>, BlockError> {
    let io = |source| BlockError::Io {
        path: path.to_path_buf(),
        source,
    };
    match fs_err::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(e)),
        Ok(meta) if meta.len() > MAX_BYTES => Err(BlockError::Invalid {
            path: path.to_path_buf(),
            reason: format!("{} bytes, more than a block list holds", meta.len()),
        }),
        Ok(_) => {
            let bytes = fs_err::read(path).map_err(io)?;
            serde_json::from_slice(&bytes).map_err(|e| BlockError::Invalid {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
    }
}

impl BlockList {
    /// The list kept in `log_dir`; empty when the file does not exist yet.
    pub fn open(log_dir: &Path) -> Result<Self, BlockError> {
        let path = log_dir.join(BLOCKED_FILE);
        let blocks = read_blocks(&path)?;
        Ok(Self {
            path,
            blocks: RwLock::new(blocks),
        })
    }

    /// Reads the file again, for a process that does not write it (a rewrite replica, whose
    /// list an operator's tooling copies in): returns whether the blocks changed. A file that
    /// cannot be read leaves the blocks as they were.
    pub fn reload(&self) -> Result<bool, BlockError> {
        let fresh = read_blocks(&self.path)?;
        let mut blocks = self.blocks.write().unwrap_or_else(PoisonError::into_inner);
        let changed = *blocks != fresh;
        *blocks = fresh;
        Ok(changed)
    }

    /// Every block, oldest first.
    pub fn blocks(&self) -> Vec<Block> {
        self.blocks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether answering `source` with `target` is blocked (any spelling: both are
    /// normalised here).
    pub fn is_blocked(&self, source: &str, target: &str) -> bool {
        let blocks = self.blocks.read().unwrap_or_else(PoisonError::into_inner);
        !blocks.is_empty() && {
            let (source, target) = (normalise(source), normalise(target));
            blocks.iter().any(|b| b.covers(&source, &target))
        }
    }

    /// Blocks a rewrite and saves the list before it returns; blocking what is blocked
    /// already changes nothing. Returns whether the block is new.
    pub fn block(
        &self,
        source: Option<&str>,
        target: &str,
        at_ms: i64,
    ) -> Result<bool, BlockError> {
        let block = Block {
            source: source.map(normalise).filter(|s| !s.is_empty()),
            target: normalise(target),
            at_ms,
        };
        if block.target.is_empty() {
            return Err(BlockError::EmptyTarget);
        }
        self.change(|blocks| {
            let known = blocks
                .iter()
                .any(|b| b.source == block.source && b.target == block.target);
            if !known {
                blocks.push(block);
            }
            !known
        })
    }

    /// Lifts a block (the same source and target as it was made with); returns whether there
    /// was one.
    pub fn unblock(&self, source: Option<&str>, target: &str) -> Result<bool, BlockError> {
        let source = source.map(normalise).filter(|s| !s.is_empty());
        let target = normalise(target);
        self.change(|blocks| {
            let before = blocks.len();
            blocks.retain(|b| !(b.source == source && b.target == target));
            blocks.len() != before
        })
    }

    /// Applies `edit` to a copy, saves the copy, and only then puts it in force: a failed
    /// save changes nothing.
    fn change(&self, edit: impl FnOnce(&mut Vec<Block>) -> bool) -> Result<bool, BlockError> {
        let mut blocks = self.blocks.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = blocks.clone();
        if !edit(&mut next) {
            return Ok(false);
        }
        let json = serde_json::to_vec_pretty(&next).map_err(|e| BlockError::Invalid {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&self.path, &json).map_err(|source| BlockError::Io {
            path: self.path.clone(),
            source,
        })?;
        *blocks = next;
        Ok(true)
    }
}

/// A rewriter whose answers the block list can veto: a blocked rewrite is answered with the
/// request unchanged.
#[derive(Debug)]
pub struct Blocking {
    inner: Arc<dyn Rewriter>,
    blocks: Arc<BlockList>,
}

impl Blocking {
    /// `inner`, vetoed by `blocks`.
    pub fn new(inner: Arc<dyn Rewriter>, blocks: Arc<BlockList>) -> Self {
        Self { inner, blocks }
    }
}

impl Rewriter for Blocking {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        let answer = self.inner.rewrite(request);
        if answer.rewritten && self.blocks.is_blocked(&request.text, &answer.text) {
            return RewriteResponse {
                artifact_version: answer.artifact_version,
                ..RewriteResponse::unchanged(request.text.clone())
            };
        }
        answer
    }

    fn artifact_version(&self) -> Option<String> {
        self.inner.artifact_version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rewrites every request to one text.
    #[derive(Debug)]
    struct Always(&'static str);

    impl Rewriter for Always {
        fn rewrite(&self, _: &RewriteRequest) -> RewriteResponse {
            RewriteResponse {
                text: self.0.into(),
                rewritten: true,
                layer: Some("precomputed".into()),
                score: None,
                explanation: None,
                artifact_version: Some("v1".into()),
            }
        }
    }

    fn request(text: &str) -> RewriteRequest {
        serde_json::from_value(serde_json::json!({
            "user_id": "u", "text": text,
            "device": {"id": "d", "kind": "speaker", "has_screen": false}
        }))
        .unwrap()
    }

    #[test]
    fn a_blocked_pair_is_answered_unchanged_and_the_block_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = Arc::new(BlockList::open(dir.path()).unwrap());
        let rewriter = Blocking::new(Arc::new(Always("play imagine dragons")), blocks.clone());
        assert!(rewriter.rewrite(&request("play maj and dragons")).rewritten);
        assert!(
            blocks
                .block(Some("Play maj and dragons!"), "play imagine dragons", 5)
                .unwrap()
        );
        assert!(
            !blocks
                .block(Some("play maj and dragons"), "play imagine dragons", 6)
                .unwrap()
        );
        let answer = rewriter.rewrite(&request("play maj and dragons"));
        assert!(!answer.rewritten);
        assert_eq!(answer.text, "play maj and dragons");
        assert!(
            rewriter.rewrite(&request("play dragons")).rewritten,
            "another source into the same target is not blocked"
        );
        let reopened = BlockList::open(dir.path()).unwrap();
        assert_eq!(reopened.blocks(), blocks.blocks());
        assert!(reopened.is_blocked("play maj and dragons", "play imagine dragons"));
        assert!(
            reopened
                .unblock(Some("play maj and dragons"), "play imagine dragons")
                .unwrap()
        );
        assert!(
            !BlockList::open(dir.path())
                .unwrap()
                .is_blocked("play maj and dragons", "play imagine dragons")
        );
    }

    #[test]
    fn a_reader_sees_blocks_another_process_wrote_and_keeps_them_over_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let reader = BlockList::open(dir.path()).unwrap();
        assert!(!reader.reload().unwrap(), "no file, no change");
        let writer = BlockList::open(dir.path()).unwrap();
        writer.block(None, "unlock the front door", 1).unwrap();
        assert!(!reader.is_blocked("open the door", "unlock the front door"));
        assert!(reader.reload().unwrap());
        assert!(reader.is_blocked("open the door", "unlock the front door"));
        assert!(!reader.reload().unwrap(), "read again, the same");
        fs_err::write(dir.path().join(BLOCKED_FILE), "[{").unwrap();
        let err = reader.reload().unwrap_err();
        assert!(err.to_string().contains(BLOCKED_FILE), "{err}");
        assert!(reader.is_blocked("open the door", "unlock the front door"));
    }

    #[test]
    fn a_block_without_a_source_blocks_every_rewrite_into_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = Arc::new(BlockList::open(dir.path()).unwrap());
        blocks.block(None, "unlock the front door", 1).unwrap();
        let rewriter = Blocking::new(Arc::new(Always("unlock the front door")), blocks);
        for text in ["open the front door", "what is the weather"] {
            assert!(!rewriter.rewrite(&request(text)).rewritten, "{text}");
        }
    }

    #[test]
    fn a_damaged_block_list_is_refused_naming_the_file_and_a_failed_save_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(BLOCKED_FILE), "[{\"target\": 3}]").unwrap();
        let error = BlockList::open(dir.path()).unwrap_err().to_string();
        assert!(error.contains(BLOCKED_FILE), "{error}");
        let gone = dir.path().join("gone");
        let blocks = BlockList::open(&gone).unwrap();
        assert!(
            blocks.block(None, "x", 1).is_err(),
            "the directory does not exist"
        );
        assert!(blocks.blocks().is_empty());
        assert!(matches!(
            blocks.block(None, "  !", 1),
            Err(BlockError::EmptyTarget)
        ));
    }
}
