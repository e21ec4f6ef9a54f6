//! matplotlib's font cache directory. matplotlib only uses a cache directory it can write to;
//! on a read-only root file system (Fargate's `readonlyRootFilesystem`, the image's
//! `/var/cache/dynamic-executor/matplotlib`) it would fall back to a fresh temporary directory
//! and rebuild the font list at every start, a second or more before the zygote is warm. So the
//! cache the image built is copied once to a writable directory and used from there.

use std::io;
use std::path::{Path, PathBuf};

/// `dir` when it is (or can be made) a writable directory; otherwise a root-owned copy of its
/// files under `scratch` (the server's temporary directory).
pub fn writable(dir: &Path, scratch: &Path) -> io::Result<PathBuf> {
    if std::fs::create_dir_all(dir).is_ok()
        && nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
    {
        return Ok(dir.to_path_buf());
    }
    let copy = scratch.join("dynamic-executor-matplotlib");
    // A previous run's copy (or anything squatting the name) is replaced, never trusted.
    if std::fs::symlink_metadata(&copy).is_ok() {
        std::fs::remove_dir_all(&copy).or_else(|_| std::fs::remove_file(&copy))?;
    }
    std::fs::create_dir(&copy)?;
    let mut copied = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::copy(entry.path(), copy.join(entry.file_name()))?;
                copied += 1;
            }
        }
    }
    tracing::info!(
        from = %dir.display(),
        to = %copy.display(),
        files = copied,
        "matplotlib cache is read-only: using a writable copy"
    );
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_directory_is_used_as_it_is() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("mpl");
        assert_eq!(writable(&dir, t.path()).unwrap(), dir);
        assert!(dir.is_dir());
    }

    #[test]
    fn an_unusable_directory_is_copied_to_scratch() {
        let t = tempfile::tempdir().unwrap();
        // A path under a regular file can be neither created nor written, even by root.
        let file = t.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let scratch = t.path().join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        std::fs::create_dir(scratch.join("dynamic-executor-matplotlib")).unwrap();
        std::fs::write(scratch.join("dynamic-executor-matplotlib/stale"), b"old").unwrap();
        let got = writable(&file.join("mpl"), &scratch).unwrap();
        assert_eq!(got, scratch.join("dynamic-executor-matplotlib"));
        assert!(!got.join("stale").exists(), "a previous copy is replaced");
    }
}
