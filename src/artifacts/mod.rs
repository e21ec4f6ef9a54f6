//! What sandboxed code produced: snapshots of `artifacts/` to tell which files an execution
//! created or changed, content hashes and media types for listings and downloads.

pub mod watch;

use crate::paths::{self, Entry, RelPath};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

pub const ARTIFACTS_DIR: &str = "artifacts";

/// What identifies a file's content without reading it: (size, mtime in ns, inode).
pub type FileKey = (u64, i128, u64);

pub type Snapshot = HashMap<String, FileKey>;

pub fn snapshot(workspace: &Path) -> Snapshot {
    list(workspace)
        .into_iter()
        .map(|e| (e.path, (e.size, e.mtime_ns, e.ino)))
        .collect()
}

pub fn list(workspace: &Path) -> Vec<Entry> {
    paths::walk(
        workspace,
        Some(&RelPath::from_parts(vec![ARTIFACTS_DIR.into()])),
    )
}

/// Paths that are new or different in `after`, sorted.
pub fn changed(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut v: Vec<String> = after
        .iter()
        .filter(|(p, meta)| before.get(*p) != Some(meta))
        .map(|(p, _)| p.clone())
        .collect();
    v.sort();
    v
}

/// What an execution wrote under `artifacts/`, as `artifacts/<path>`, sorted: the tracker's
/// paths that are (still) the session's regular files, reached without a link.
pub fn existing(workspace: &Path, written: Vec<String>) -> Vec<String> {
    written
        .into_iter()
        .map(|p| format!("{ARTIFACTS_DIR}/{p}"))
        .filter(|p| {
            RelPath::parse(p)
                .ok()
                .is_some_and(|rel| paths::open_read(workspace, &rel, None).is_ok())
        })
        .collect()
}

/// The artifacts modified at or after `since` (the fallback when the tracker lost track).
pub fn modified_since(workspace: &Path, since: std::time::SystemTime) -> Vec<String> {
    let since_ns = since
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    let mut v: Vec<String> = list(workspace)
        .into_iter()
        .filter(|e| e.mtime_ns >= since_ns)
        .map(|e| e.path)
        .collect();
    v.sort();
    v
}

pub fn sha256_hex(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Media type by extension: what the agents produce, plus the common data formats.
pub fn mime_for(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "csv" => "text/csv; charset=utf-8",
        "txt" | "log" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "py" => "text/x-python; charset=utf-8",
        "parquet" => "application/vnd.apache.parquet",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_finds_new_and_changed() {
        let before: Snapshot = [
            ("artifacts/a.png".to_string(), (1, 1, 1)),
            ("artifacts/b.csv".to_string(), (2, 2, 2)),
        ]
        .into();
        let after: Snapshot = [
            ("artifacts/a.png".to_string(), (1, 1, 1)),
            ("artifacts/b.csv".to_string(), (3, 5, 2)),
            ("artifacts/c.json".to_string(), (1, 1, 9)),
        ]
        .into();
        assert_eq!(
            changed(&before, &after),
            vec!["artifacts/b.csv", "artifacts/c.json"]
        );
    }

    #[test]
    fn mime_types() {
        assert_eq!(mime_for("artifacts/chart.PNG"), "image/png");
        assert_eq!(mime_for("x/report.pdf"), "application/pdf");
        assert_eq!(mime_for("noext"), "application/octet-stream");
        assert_eq!(
            sha256_hex(&b"abc"[..]).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
