//! Writing a file so that a reader sees the old content or the new, never a part, and so that
//! once the call returns the new content survives a crash: write a sibling temporary file,
//! flush it to disk, rename it over the target, then flush the directory that holds the name.
//! Every artifact (rewrite table, online layers, encoder) is saved this way.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes`, atomically and durably.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// As [`write_atomically`], with the content written by `write` into the temporary file.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let partial = partial_path(path);
    let mut file = fs_err::File::create(&partial)?;
    write(file.file_mut()).map_err(|e| {
        std::io::Error::new(e.kind(), format!("writing {}: {e}", partial.display()))
    })?;
    drop(file);
    persist(&partial, path)
}

/// The temporary sibling of `path` that [`persist`] moves into place.
pub fn partial_path(path: &Path) -> std::path::PathBuf {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    partial.into()
}

/// Moves a fully written `partial` file (written by a library that wants a path) over `path`
/// durably: flushes it, renames it, flushes the directory.
pub fn persist(partial: &Path, path: &Path) -> std::io::Result<()> {
    fs_err::File::open(partial)?.sync_all()?;
    fs_err::rename(partial, path)?;
    sync_directory_of(path)
}

/// Flushes the directory entry of `path` (the rename), where the platform allows it.
fn sync_directory_of(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs_err::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Empties `dir` for a new run when a run of ours made it (it holds `marker`), or it is empty
/// or missing; refuses any other directory, so that a working directory given as `.` never
/// deletes what someone keeps there. Leaves `dir` empty but for a new `marker`.
pub fn fresh_dir_of_ours(dir: &Path, marker: &str) -> std::io::Result<()> {
    if dir.exists() {
        let empty = fs_err::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(marker).is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the directory holds files selflearn did not write; give an empty or new directory",
            ));
        }
        fs_err::remove_dir_all(dir)?;
    }
    fs_err::create_dir_all(dir)?;
    fs_err::write(
        dir.join(marker),
        "written by selflearn; its next run empties this directory\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_content_replaces_the_old_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("artifact.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["artifact.json"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_content_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("artifact.json");
        write_atomically(&path, b"old").unwrap();
        let err =
            write_atomically_with(&path, |_| Err(std::io::Error::other("disk full"))).unwrap_err();
        assert!(err.to_string().contains("artifact.json.partial"), "{err}");
        assert_eq!(fs_err::read(&path).unwrap(), b"old");
        let missing = dir.path().join("no such dir").join("a.json");
        let err = write_atomically(&missing, b"x").unwrap_err();
        assert!(err.to_string().contains("no such dir"), "{err}");
    }
}
