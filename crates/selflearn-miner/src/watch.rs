//! A rewrite table served from a file that `learn` replaces each night: the server swaps the
//! new version in without a restart, refuses an invalid one and keeps serving the old.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use crate::table::{RewriteTable, TableError};

/// What one look at the file found.
#[derive(Debug)]
pub enum Reload {
    /// The file has not changed since the last look.
    Unchanged,
    /// A new version is now served.
    Loaded {
        /// The version now served.
        version: String,
        /// Rewrites in it.
        entries: usize,
    },
    /// The file changed but is not a valid table; the previous version is still served.
    Refused {
        /// Why.
        error: TableError,
        /// The version still served.
        kept: String,
    },
}

/// The file's identity as last seen: modification time, length and inode (a table saved by
/// `learn` is renamed into place, so a new version is a new inode even within the
/// filesystem's timestamp granularity).
type Stamp = (SystemTime, u64, u64);

/// A table file and the version of it in force.
#[derive(Debug)]
pub struct WatchedTable {
    path: PathBuf,
    current: RwLock<Arc<RewriteTable>>,
    seen: Mutex<Option<Stamp>>,
}

impl WatchedTable {
    /// Loads the table at `path`; an invalid file is an error here, as there is nothing to
    /// fall back to.
    pub fn open(path: &Path) -> Result<Self, TableError> {
        let stamp = stamp(path)?;
        let table = RewriteTable::load(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(table)),
            seen: Mutex::new(Some(stamp)),
        })
    }

    /// The table in force.
    pub fn current(&self) -> Arc<RewriteTable> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Looks at the file once and swaps in a changed, valid table.
    pub fn check(&self) -> Reload {
        let kept = || self.current().version.clone();
        let stamp = match stamp(&self.path) {
            Ok(stamp) => stamp,
            Err(error) => {
                return Reload::Refused {
                    error,
                    kept: kept(),
                };
            }
        };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == Some(stamp) {
            return Reload::Unchanged;
        }
        *seen = Some(stamp);
        match RewriteTable::load(&self.path) {
            Ok(table) => {
                let (version, entries) = (table.version.clone(), table.entries.len());
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
                Reload::Loaded { version, entries }
            }
            Err(error) => Reload::Refused {
                error,
                kept: kept(),
            },
        }
    }
}

fn stamp(path: &Path) -> Result<Stamp, TableError> {
    let meta = fs_err::metadata(path)?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Ok((meta.modified()?, meta.len(), inode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mine::{Mined, MinerConfig, RewriteEntry};

    fn table(version: &str) -> RewriteTable {
        RewriteTable::new(
            version,
            MinerConfig::default(),
            Mined {
                entries: vec![RewriteEntry {
                    source: "play maj and dragons".into(),
                    target: format!("play imagine dragons {version}"),
                    source_count: 4,
                    pair_count: 3,
                    pair_users: 2,
                    source_success: 0.0,
                    target_success: 1.0,
                    path_success: 0.9,
                }],
                rolled_back: Vec::new(),
            },
        )
    }

    #[test]
    fn a_new_version_is_swapped_in_and_an_invalid_one_refused_keeping_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.json");
        table("v1").save(&path).unwrap();
        let watched = WatchedTable::open(&path).unwrap();
        assert_eq!(watched.current().version, "v1");
        assert!(matches!(watched.check(), Reload::Unchanged));

        table("v2").save(&path).unwrap();
        assert!(matches!(watched.check(), Reload::Loaded { ref version, .. } if version == "v2"));
        let served = watched
            .current()
            .lookup("play maj and dragons")
            .unwrap()
            .target
            .clone();
        assert_eq!(served, "play imagine dragons v2");

        fs_err::write(&path, "{\"format\": 1, \"version\": \"v3\"").unwrap();
        assert!(matches!(watched.check(), Reload::Refused { ref kept, .. } if kept == "v2"));
        assert_eq!(watched.current().version, "v2");
        fs_err::remove_file(&path).unwrap();
        assert!(matches!(watched.check(), Reload::Refused { .. }));
        assert_eq!(watched.current().version, "v2");

        table("v4").save(&path).unwrap();
        assert!(matches!(watched.check(), Reload::Loaded { ref version, .. } if version == "v4"));
    }
}
