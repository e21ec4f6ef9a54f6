//! Paths a request names, confined to the workspace root (the helper's working directory in
//! the server, `--root` from the CLI): relative, no `..`, and still inside after symlinks.

use crate::error::{AnalyticsError, Result};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    pub fn new(dir: &Path) -> Result<Root> {
        let dir = dir
            .canonicalize()
            .map_err(|e| AnalyticsError::InvalidPath(format!("root `{}`: {e}", dir.display())))?;
        Ok(Root { dir })
    }

    /// `rel` checked lexically (`./data/x.csv` is fine, `/etc/x` and `../x` are not).
    fn lexical(&self, rel: &str) -> Result<PathBuf> {
        // An absolute path inside the root (`/app/data/x.csv` written by compat code) is as good
        // as the relative one.
        let p = Path::new(rel);
        let p = p.strip_prefix(&self.dir).unwrap_or(p);
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::Normal(n) => out.push(n),
                _ => {
                    return Err(AnalyticsError::InvalidPath(format!(
                        "`{rel}` must be a path inside the workspace (relative, without `..`)"
                    )))
                }
            }
        }
        if out.as_os_str().is_empty() {
            return Err(AnalyticsError::InvalidPath("empty path".into()));
        }
        Ok(out)
    }

    /// An existing file to read.
    pub fn existing(&self, rel: &str) -> Result<PathBuf> {
        let joined = self.dir.join(self.lexical(rel)?);
        let real = joined.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => AnalyticsError::FileNotFound(rel.into()),
            _ => AnalyticsError::InvalidPath(format!("`{rel}`: {e}")),
        })?;
        if !real.starts_with(&self.dir) {
            return Err(AnalyticsError::InvalidPath(format!(
                "`{rel}` leads outside the workspace"
            )));
        }
        if !real.is_file() {
            return Err(AnalyticsError::FileNotFound(rel.into()));
        }
        Ok(real)
    }

    /// A file to (over)write: its directory is created inside the workspace; an existing
    /// symlink at the path is refused rather than followed.
    pub fn output(&self, rel: &str) -> Result<(PathBuf, String)> {
        let lexical = self.lexical(rel)?;
        let path = self.dir.join(&lexical);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| AnalyticsError::InvalidPath(format!("`{rel}`: {e}")))?;
            let real = parent
                .canonicalize()
                .map_err(|e| AnalyticsError::InvalidPath(format!("`{rel}`: {e}")))?;
            if !real.starts_with(&self.dir) {
                return Err(AnalyticsError::InvalidPath(format!(
                    "`{rel}` leads outside the workspace"
                )));
            }
        }
        if path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(AnalyticsError::InvalidPath(format!(
                "`{rel}` is a symlink; refusing to write through it"
            )));
        }
        Ok((path, lexical.display().to_string()))
    }

    /// Writes `bytes` at `rel` through a temporary file in the same directory.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<String> {
        let (path, shown) = self.output(rel)?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                AnalyticsError::BadRequest(format!("writing `{rel}`: {e}"))
            })?;
        Ok(shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("data")).unwrap();
        std::fs::write(d.path().join("data/x.csv"), "a\n1\n").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("data/link")).unwrap();
        let root = Root::new(d.path()).unwrap();
        assert!(root.existing("./data/x.csv").is_ok());
        assert!(root.existing("data/x.csv").is_ok());
        let inside = d.path().canonicalize().unwrap().join("data/x.csv");
        assert!(root.existing(inside.to_str().unwrap()).is_ok());
        for bad in ["/etc/passwd", "../x", "data/../../x", ""] {
            assert_eq!(
                root.existing(bad).unwrap_err().code(),
                "invalid_path",
                "{bad}"
            );
        }
        assert_eq!(
            root.existing("data/link").unwrap_err().code(),
            "invalid_path"
        );
        assert_eq!(
            root.existing("data/nope").unwrap_err().code(),
            "file_not_found"
        );
        assert_eq!(root.output("data/link").unwrap_err().code(), "invalid_path");
        assert_eq!(
            root.write("artifacts/a/b.json", b"{}").unwrap(),
            "artifacts/a/b.json"
        );
    }
}
