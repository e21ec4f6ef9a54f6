//! A v1 session's workspace to and from the object store: export (the whole workspace or some
//! paths, under a prefix) and import (every object under a prefix, into a directory). Used by
//! the v1 endpoints and by the drain.

use crate::artifacts::mime_for;
use crate::paths::{self, Quota, RelPath};
use crate::sessions::Session;
use crate::store::transfer::{self, Batch, Outgoing};
use crate::store::{keys, ObjectStorage, StoreError, StoreResult};
use serde::Serialize;

/// Workspace directories that are the server's, not the session's output.
const PRIVATE_DIRS: [&str; 2] = [".tmp/", ".config/"];

/// What an export or import moved.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Manifest {
    pub bucket: String,
    pub prefix: String,
    pub objects: Vec<transfer::Moved>,
    pub bytes: u64,
    pub duration_ms: u64,
}

/// The default prefix of a session's export: `<EXECUTOR_EXPORT_PREFIX>/<session id>`.
pub fn default_prefix(base: &str, session_id: &str) -> String {
    keys::join(base, session_id)
}

/// Stores the workspace files under `paths` (files or directories; all when `None`) at
/// `prefix/<path>`. Returns what was stored and what failed.
pub async fn export(
    store: &ObjectStorage,
    session: &Session,
    prefix: &str,
    paths: Option<Vec<RelPath>>,
) -> StoreResult<Batch> {
    keys::parse_key(prefix)?;
    let ws = session.workspace.clone();
    let selected = tokio::task::spawn_blocking(move || select(&ws, paths))
        .await
        .map_err(|e| StoreError::Transfer {
            key: prefix.into(),
            message: e.to_string(),
        })??;
    let items = selected
        .into_iter()
        .map(|rel| Outgoing {
            key: keys::join(prefix, &rel.as_string()),
            content_type: mime_for(rel.file_name()).into(),
            rel,
        })
        .collect();
    Ok(store
        .put_files(&store.bucket, &session.workspace, session.uid, items)
        .await)
}

/// Fetches every object under `prefix` into `to` (the workspace root when `None`), within the
/// session's quota.
pub async fn import(
    store: &ObjectStorage,
    session: &Session,
    prefix: &str,
    to: Option<RelPath>,
    quota: Option<Quota>,
) -> StoreResult<Batch> {
    let fail = |key: &str, e: crate::paths::PathError| {
        Err(StoreError::BadKey(format!(
            "object `{key}` is not a workspace path: {e}"
        )))
    };
    store
        .get_prefix(
            &store.bucket,
            prefix,
            &session.workspace,
            session.uid,
            to.as_ref(),
            quota,
            fail,
        )
        .await
}

/// The files an export takes (blocking: walks the workspace).
fn select(ws: &std::path::Path, paths: Option<Vec<RelPath>>) -> StoreResult<Vec<RelPath>> {
    let walked = |sub: Option<&RelPath>| -> Vec<RelPath> {
        paths::walk(ws, sub)
            .into_iter()
            .filter(|e| !PRIVATE_DIRS.iter().any(|d| e.path.starts_with(d)))
            .filter_map(|e| RelPath::parse(&e.path).ok())
            .collect()
    };
    let Some(paths) = paths else {
        return Ok(walked(None));
    };
    let mut out = Vec::new();
    for p in paths {
        if paths::is_dir(ws, &p) {
            out.extend(walked(Some(&p)));
        } else {
            // A file: it must exist (a typo is the client's mistake, not an empty export).
            paths::open_read(ws, &p, None)?;
            out.push(p);
        }
    }
    out.sort_by_key(RelPath::as_string);
    out.dedup();
    Ok(out)
}

impl Manifest {
    pub fn new(
        bucket: &str,
        prefix: &str,
        moved: Vec<transfer::Moved>,
        took: std::time::Duration,
    ) -> Manifest {
        Manifest {
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').into(),
            bytes: moved.iter().map(|m| m.size).sum(),
            objects: moved,
            duration_ms: took.as_millis() as u64,
        }
    }
}
