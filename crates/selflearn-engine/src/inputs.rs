//! What `learn` and `train` learn with besides the log: the retrieval encoder and the
//! pronunciation lexicon.

use std::path::Path;
use std::sync::Arc;

use selflearn_online::{Encoder, Lexicon};

/// Seed of the untrained encoder's random projection.
pub const UNTRAINED_ENCODER_SEED: u64 = 7;

/// The encoder at `path`, or the untrained one written there when there is none, and whether
/// it is the untrained one (which `learn` says on every run that uses it).
pub fn encoder_at(path: &Path) -> crate::Result<(Encoder, bool)> {
    let untrained = Encoder::random(UNTRAINED_ENCODER_SEED);
    if path.is_file() {
        let encoder = Encoder::load(path)?;
        let is_untrained = encoder.digest() == untrained.digest();
        return Ok((encoder, is_untrained));
    }
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    untrained.save(path)?;
    Ok((untrained, true))
}

/// The lexicon's text and name: the file at `path`, or the one built into the binary.
pub fn lexicon_text(path: Option<&Path>) -> crate::Result<(Arc<str>, String)> {
    Ok(match path {
        Some(path) => (
            Arc::from(fs_err::read_to_string(path)?),
            path.display().to_string(),
        ),
        None => (Arc::from(Lexicon::EMBEDDED), "built-in lexicon".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_encoder_is_written_untrained_and_read_back_as_untrained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/encoder.safetensors");
        let (first, untrained) = encoder_at(&path).unwrap();
        assert!(untrained && path.is_file());
        let (again, still) = encoder_at(&path).unwrap();
        assert!(still, "said on every run, not only the one that wrote it");
        assert_eq!(first.digest(), again.digest());
        Encoder::random(8).save(&path).unwrap();
        assert!(!encoder_at(&path).unwrap().1);
        let (text, name) = lexicon_text(None).unwrap();
        assert!(Lexicon::parse(&text, &name).unwrap().len() > 1000);
    }
}
