//! Index generations on disk: `<dir>/CURRENT` names the generation in use (`g-<uuid>`); a
//! rebuild writes a new generation beside it and publishes it by replacing `CURRENT`
//! (a rename: readers see the old name or the new one, never half of one). The process that
//! serves searches notices, catches the new generation up with the event log while the old
//! one keeps answering, then swaps it in and removes the old one.

use std::path::{Path, PathBuf};

const CURRENT: &str = "CURRENT";

/// The generation `CURRENT` names, if there is one.
pub fn current(dir: &Path) -> std::io::Result<Option<PathBuf>> {
    match std::fs::read_to_string(dir.join(CURRENT)) {
        Ok(name) => {
            let name = name.trim();
            // Only a name this module wrote: never a path elsewhere.
            let valid = name.starts_with("g-")
                && name[2..].chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            Ok(valid.then(|| dir.join(name)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A new, empty generation's directory (not yet current).
pub fn fresh(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("g-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&path)?;
    Ok(path)
}

/// Makes `generation` the current one.
pub fn publish(dir: &Path, generation: &Path) -> std::io::Result<()> {
    let name = generation
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("a generation is a directory of the index"))?;
    let tmp = dir.join(format!("{CURRENT}.tmp"));
    std::fs::write(&tmp, name)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join(CURRENT))?;
    Ok(())
}

/// Removes every generation but `keep` (old ones, and builds that died half-way).
pub fn remove_others(dir: &Path, keep: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_generation = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("g-"));
        if is_generation && path != keep {
            if let Err(error) = std::fs::remove_dir_all(&path) {
                tracing::warn!(%error, path = %path.display(), "cannot remove an old search index generation");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_generation_is_current_and_others_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(current(dir.path()).expect("read"), None);
        let a = fresh(dir.path()).expect("a");
        publish(dir.path(), &a).expect("publish");
        assert_eq!(current(dir.path()).expect("read"), Some(a.clone()));
        let b = fresh(dir.path()).expect("b");
        publish(dir.path(), &b).expect("publish");
        remove_others(dir.path(), &b).expect("remove");
        assert!(!a.exists() && b.exists());
        std::fs::write(dir.path().join(CURRENT), "../elsewhere").expect("write");
        assert_eq!(current(dir.path()).expect("read"), None);
    }
}
