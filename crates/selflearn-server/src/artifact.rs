//! Learned artifacts served from files that `learn` replaces: the server swaps a new version in
//! without a restart, refuses an invalid one and keeps serving the old.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use selflearn_types::{RewriteRequest, RewriteResponse, Rewriter};

/// Why an artifact did not load, as the loader said.
pub type LoadError = Box<dyn std::error::Error + Send + Sync>;

/// What one look at the file found.
#[derive(Debug, Clone)]
pub enum Reload {
    /// The file has not changed since the last look.
    Unchanged,
    /// A new version is now served.
    Loaded {
        /// The version now served.
        version: String,
    },
    /// The file changed but does not load; the previous version is still served.
    Refused {
        /// Why it was refused.
        error: Arc<LoadError>,
        /// The version still served.
        kept: String,
    },
}

/// The file's identity as last seen: modification time, length and inode (an artifact saved by
/// `learn` is renamed into place, so a new version is a new inode even within the
/// filesystem's timestamp granularity).
type Stamp = (SystemTime, u64, u64);

/// Reads and validates an artifact file; returns it with its version.
type Loader<T> = Box<dyn Fn(&Path) -> Result<(T, String), LoadError> + Send + Sync>;

/// An artifact file and the version of it in force.
pub struct Watched<T> {
    path: PathBuf,
    load: Loader<T>,
    current: RwLock<(Arc<T>, String)>,
    seen: Mutex<Option<Stamp>>,
}

impl<T> std::fmt::Debug for Watched<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched").field("path", &self.path).finish()
    }
}

impl<T> Watched<T> {
    /// Loads the artifact at `path` with `load` (which returns it and its version); an
    /// invalid file is an error here, as there is nothing to fall back to.
    pub fn open(
        path: &Path,
        load: impl Fn(&Path) -> Result<(T, String), LoadError> + Send + Sync + 'static,
    ) -> Result<Self, LoadError> {
        let stamp = stamp(path)?;
        let (artifact, version) = load(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            load: Box::new(load),
            current: RwLock::new((Arc::new(artifact), version)),
            seen: Mutex::new(Some(stamp)),
        })
    }

    /// The artifact in force.
    pub fn current(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    /// The version in force.
    pub fn version(&self) -> String {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone()
    }

    /// Looks at the file every `every` for the life of the process, on a thread of its own,
    /// saying on standard error the version in force, then each version swapped in and each
    /// refused (`what` names it).
    pub fn check_every(watched: Self, every: std::time::Duration, what: String) -> Arc<Self>
    where
        T: Send + Sync + 'static,
    {
        crate::note(format_args!("{what} (version {})", watched.version()));
        let watched = Arc::new(watched);
        let seen = watched.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(every);
                match seen.check() {
                    Reload::Unchanged => {}
                    Reload::Loaded { version } => {
                        crate::note(format_args!("{what}: now serving version {version}"))
                    }
                    Reload::Refused { error, kept } => {
                        crate::note(format_args!(
                            "{what}: {error}; still serving version {kept}"
                        ));
                    }
                }
            }
        });
        watched
    }

    /// Looks at the file once and swaps in a changed artifact that loads.
    pub fn check(&self) -> Reload {
        let kept = || self.version();
        let stamp = match stamp(&self.path) {
            Ok(stamp) => stamp,
            Err(error) => {
                return Reload::Refused {
                    error: Arc::new(error.into()),
                    kept: kept(),
                };
            }
        };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == Some(stamp) {
            return Reload::Unchanged;
        }
        *seen = Some(stamp);
        match (self.load)(&self.path) {
            Ok((artifact, version)) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                    (Arc::new(artifact), version.clone());
                Reload::Loaded { version }
            }
            Err(error) => Reload::Refused {
                error: Arc::new(error),
                kept: kept(),
            },
        }
    }
}

/// The artifact in force answers: a watched rewriter is a rewriter.
impl<T: Rewriter> Rewriter for Watched<T> {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        self.current().rewrite(request)
    }

    fn artifact_version(&self) -> Option<String> {
        Some(self.version())
    }
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = fs_err::metadata(path)?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    let modified = meta
        .modified()
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok((modified, meta.len(), inode))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy artifact: a file whose text is its version, refused when empty.
    fn load(path: &Path) -> Result<(String, String), LoadError> {
        let text = fs_err::read_to_string(path)?;
        if text.is_empty() {
            return Err(format!("{}: empty", path.display()).into());
        }
        Ok((text.clone(), text))
    }

    /// Saves as `learn` does: a temporary file renamed into place.
    fn save(path: &Path, text: &str) {
        let partial = path.with_extension("partial");
        fs_err::write(&partial, text).unwrap();
        fs_err::rename(&partial, path).unwrap();
    }

    #[test]
    fn a_new_version_is_swapped_in_and_an_invalid_one_refused_keeping_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("artifact");
        save(&path, "v1");
        let watched = Watched::open(&path, load).unwrap();
        assert_eq!(watched.version(), "v1");
        assert!(matches!(watched.check(), Reload::Unchanged));
        save(&path, "v2");
        assert!(matches!(watched.check(), Reload::Loaded { version } if version == "v2"));
        save(&path, "");
        assert!(matches!(watched.check(), Reload::Refused { ref kept, .. } if kept == "v2"));
        fs_err::remove_file(&path).unwrap();
        assert!(matches!(watched.check(), Reload::Refused { .. }));
        assert_eq!(watched.version(), "v2");
        save(&path, "v3");
        assert!(matches!(watched.check(), Reload::Loaded { version } if version == "v3"));
        save(&path, "");
        assert!(Watched::open(&path, load).is_err());
    }
}
