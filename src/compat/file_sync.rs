//! `/file-sync`: objects under a prefix into a workspace directory (every page of the listing,
//! names NFC-normalised, in parallel), or a workspace directory's files to a prefix. Re-running
//! either gives the same result (files are replaced atomically, objects overwritten).

use super::Compat;
use crate::paths::{self, RelPath};
use crate::store::transfer::Outgoing;
use crate::store::{keys, StoreError, StoreResult};

pub enum Action {
    /// `sync_data_from_s3`
    Download,
    /// `sync_artifacts_to_s3`
    Upload,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "sync_data_from_s3" => Some(Action::Download),
            "sync_artifacts_to_s3" => Some(Action::Upload),
            _ => None,
        }
    }
}

pub struct Request {
    pub action: Action,
    pub bucket: String,
    pub prefix: String,
    /// As the client sent it (`/app/data/`): the reply's local paths start with it.
    pub local_path: String,
    /// Where that is in the workspace (`None`: its root).
    pub dir: Option<RelPath>,
}

pub enum Outcome {
    /// The local paths written, as the reference prints them.
    Downloaded(Vec<String>),
    /// The keys written.
    Uploaded(Vec<String>),
    /// An upload from a directory that does not exist.
    NoLocalPath,
}

impl Compat {
    pub async fn file_sync(&self, req: Request) -> StoreResult<Outcome> {
        let session = self.session().await.map_err(|e| StoreError::Transfer {
            key: req.local_path.clone(),
            message: e.to_string(),
        })?;
        self.mark_touched();
        let store = self.store();
        let ws = &session.workspace;
        match req.action {
            Action::Download => {
                let skip = |key: &str, e: paths::PathError| {
                    tracing::warn!(key = %key, error = %e, "file-sync skips an object whose name is not a workspace path");
                    Ok(())
                };
                let mut batch = store
                    .get_prefix(
                        &req.bucket,
                        &req.prefix,
                        ws,
                        session.uid,
                        req.dir.as_ref(),
                        self.config.disk_quota(),
                        skip,
                    )
                    .await?;
                if !batch.failed.is_empty() {
                    return Err(batch.failed.swap_remove(0));
                }
                let root = req.dir.as_ref().map(RelPath::as_string);
                Ok(Outcome::Downloaded(
                    batch
                        .moved
                        .iter()
                        .map(|m| {
                            let rel = match &root {
                                Some(r) => m.path.strip_prefix(r.as_str()).unwrap_or(&m.path),
                                None => &m.path,
                            };
                            python_join(&req.local_path, rel.trim_start_matches('/'))
                        })
                        .collect(),
                ))
            }
            Action::Upload => {
                let (w, d) = (ws.clone(), req.dir.clone());
                let listed = tokio::task::spawn_blocking(move || {
                    let exists = d.as_ref().is_none_or(|d| paths::is_dir(&w, d));
                    exists.then(|| paths::walk(&w, d.as_ref()))
                })
                .await
                .ok()
                .flatten();
                let Some(entries) = listed else {
                    return Ok(Outcome::NoLocalPath);
                };
                let root = req.dir.as_ref().map(RelPath::as_string);
                let items = entries
                    .into_iter()
                    .filter(|e| root.is_some() || !e.path.starts_with(".tmp/"))
                    .filter_map(|e| {
                        let rel = match &root {
                            Some(r) => e.path.strip_prefix(&format!("{r}/"))?.to_string(),
                            None => e.path.clone(),
                        };
                        Some(Outgoing {
                            key: keys::join(&req.prefix, &rel),
                            content_type: super::export::content_type(&e.path).into(),
                            rel: RelPath::parse(&e.path).ok()?,
                        })
                    })
                    .collect();
                let mut batch = store.put_files(&req.bucket, ws, session.uid, items).await;
                if !batch.failed.is_empty() {
                    return Err(batch.failed.swap_remove(0));
                }
                Ok(Outcome::Uploaded(
                    batch.moved.into_iter().map(|m| m.key).collect(),
                ))
            }
        }
    }
}

/// `os.path.join(a, b)` for the reference's reply.
fn python_join(a: &str, b: &str) -> String {
    if a.is_empty() || a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn joins_like_python() {
        assert_eq!(super::python_join("/app/data/", "x.csv"), "/app/data/x.csv");
        assert_eq!(
            super::python_join("/app/data", "a/x.csv"),
            "/app/data/a/x.csv"
        );
    }
}
