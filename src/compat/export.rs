//! Completion's upload: the reference's layout under
//! `deep-insight/fargate_sessions/{session_id}/` — `data/…`, `artifacts/…`,
//! `debug/execution_{n}.json`, and `debug/session_status.json` last (it is the marker that the
//! rest is there). An object already stored and unchanged since is not sent again, so a retry
//! after a failure only sends what is missing.

use crate::artifacts::{FileKey, ARTIFACTS_DIR};
use crate::paths::{self, RelPath};
use crate::store::transfer::Outgoing;
use crate::store::{keys, ObjectStorage};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Where the reference keeps its sessions in the bucket.
pub const SESSIONS_PREFIX: &str = "deep-insight/fargate_sessions";
/// The workspace directories completion uploads, besides the records.
const UPLOADED_DIRS: [&str; 2] = ["data", ARTIFACTS_DIR];

/// The contract's content types (narrower than `artifacts::mime_for`: the reference's table).
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "json" => "application/json",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "pdf" => "application/pdf",
        "py" => "text/x-python",
        _ => "application/octet-stream",
    }
}

pub struct Exporter {
    pub store: Arc<ObjectStorage>,
    /// Keys already stored, with the file's identity when it was (records: no identity).
    stored: Mutex<HashMap<String, Option<FileKey>>>,
}

/// A failed upload: what is still only on disk.
#[derive(Debug)]
pub struct Unstored {
    pub paths: Vec<String>,
    pub reason: String,
}

impl std::fmt::Display for Unstored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} object(s) not stored ({}): {}",
            self.paths.len(),
            self.reason,
            self.paths.join(", ")
        )
    }
}

impl Exporter {
    pub fn new(store: Arc<ObjectStorage>) -> Exporter {
        Exporter {
            store,
            stored: Mutex::new(HashMap::new()),
        }
    }

    pub fn prefix(session_id: &str) -> String {
        format!("{SESSIONS_PREFIX}/{session_id}")
    }

    /// Uploads what is not stored yet; `Ok` only once every object is.
    pub async fn upload(
        &self,
        session_id: &str,
        workspace: &Path,
        owner: Option<u32>,
        records: &[Value],
        status: &Value,
    ) -> Result<usize, Unstored> {
        let prefix = Exporter::prefix(session_id);
        let bucket = self.store.bucket.clone();
        let files = self.changed_files(workspace, &prefix).await;
        let identities: HashMap<String, FileKey> =
            files.iter().map(|(o, k)| (o.key.clone(), *k)).collect();
        let batch = self
            .store
            .put_files(
                &bucket,
                workspace,
                owner,
                files.into_iter().map(|(o, _)| o).collect(),
            )
            .await;
        let mut failed: Vec<String> = batch.failed.iter().map(ToString::to_string).collect();
        let mut sent = batch.moved.len();
        self.remember(
            batch
                .moved
                .iter()
                .map(|m| (m.key.clone(), identities.get(&m.key).copied())),
        );
        // The records: immutable once written, so each goes once.
        let records: Vec<(String, Bytes)> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let n = r["execution_num"].as_u64().unwrap_or(i as u64 + 1);
                (format!("{prefix}/debug/execution_{n}.json"), pretty(r))
            })
            .filter(|(k, _)| !self.stored.lock().unwrap().contains_key(k))
            .collect();
        let store = &self.store;
        let results: Vec<_> = futures_util::stream::iter(records)
            .map(|(key, body)| {
                let bucket = &bucket;
                async move {
                    store
                        .put_bytes(bucket, &key, body, "application/json")
                        .await
                }
            })
            .buffer_unordered(store.concurrency)
            .collect()
            .await;
        for r in results {
            match r {
                Ok(m) => {
                    sent += 1;
                    self.remember([(m.key, None)]);
                }
                Err(e) => failed.push(e.to_string()),
            }
        }
        if !failed.is_empty() {
            return Err(Unstored {
                paths: self
                    .remaining(workspace, session_id, records_count(status))
                    .await,
                reason: failed.swap_remove(0),
            });
        }
        // Last: the session's status, which says the upload is whole.
        let key = format!("{prefix}/debug/session_status.json");
        match store
            .put_bytes(&bucket, &key, pretty(status), "application/json")
            .await
        {
            Ok(_) => Ok(sent + 1),
            Err(e) => Err(Unstored {
                paths: vec![key],
                reason: e.to_string(),
            }),
        }
    }

    /// The workspace files of the layout that are not stored as they are now.
    async fn changed_files(&self, workspace: &Path, prefix: &str) -> Vec<(Outgoing, FileKey)> {
        let ws = workspace.to_path_buf();
        let entries = tokio::task::spawn_blocking(move || uploaded_entries(&ws))
            .await
            .unwrap_or_default();
        let stored = self.stored.lock().unwrap();
        entries
            .into_iter()
            .filter_map(|e| {
                let key = keys::join(prefix, &e.path);
                let id = (e.size, e.mtime_ns, e.ino);
                if stored.get(&key) == Some(&Some(id)) {
                    return None;
                }
                let rel = RelPath::parse(&e.path).ok()?;
                Some((
                    Outgoing {
                        content_type: content_type(&e.path).into(),
                        rel,
                        key,
                    },
                    id,
                ))
            })
            .collect()
    }

    /// What is still only on disk: workspace paths of changed files, and records not stored.
    pub async fn remaining(&self, workspace: &Path, session_id: &str, records: u64) -> Vec<String> {
        let prefix = Exporter::prefix(session_id);
        let mut out: Vec<String> = self
            .changed_files(workspace, &prefix)
            .await
            .into_iter()
            .map(|(o, _)| o.rel.as_string())
            .collect();
        let stored = self.stored.lock().unwrap();
        for n in 1..=records {
            let key = format!("{prefix}/debug/execution_{n}.json");
            if !stored.contains_key(&key) {
                out.push(format!("(record) debug/execution_{n}.json"));
            }
        }
        out
    }

    fn remember(&self, items: impl IntoIterator<Item = (String, Option<FileKey>)>) {
        self.stored.lock().unwrap().extend(items);
    }
}

fn records_count(status: &Value) -> u64 {
    status["total_executions"].as_u64().unwrap_or(0)
}

/// The regular files of `data/` and `artifacts/` (workspace-relative paths).
fn uploaded_entries(workspace: &Path) -> Vec<paths::Entry> {
    UPLOADED_DIRS
        .iter()
        .flat_map(|d| paths::walk(workspace, Some(&RelPath::from_parts(vec![(*d).into()]))))
        .collect()
}

fn pretty(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec_pretty(v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_content_types() {
        for (p, t) in [
            ("a.json", "application/json"),
            ("a.TXT", "text/plain"),
            ("data/매출.csv", "text/csv"),
            ("c.png", "image/png"),
            ("c.jpeg", "image/jpeg"),
            ("r.pdf", "application/pdf"),
            ("s.py", "text/x-python"),
            ("c.svg", "application/octet-stream"),
            ("noext", "application/octet-stream"),
        ] {
            assert_eq!(content_type(p), t, "{p}");
        }
    }
}
