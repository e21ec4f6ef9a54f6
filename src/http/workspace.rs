//! What the REST handlers and the MCP tools both do with a session's workspace — upload a file,
//! list files and artifacts, read a file — one implementation behind two transports.

use crate::artifacts::{self, mime_for};
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::paths::{self, RelPath};
use crate::sessions::Session;
use serde::Serialize;
use std::io::Read;
use std::sync::Arc;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    pub path: String,
    pub size: usize,
    pub sha256: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub mtime: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ArtifactEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub mime: &'static str,
    pub mtime: String,
    /// The execution that last wrote it (None for a file uploaded rather than produced).
    pub execution_id: Option<String>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Writes `body` at `rel` (atomically, owned by the session's uid) within the disk quota.
pub async fn upload(
    session: &Arc<Session>,
    config: &Config,
    rel: RelPath,
    body: bytes::Bytes,
) -> ApiResult<Uploaded> {
    session.touch();
    let (ws, owner) = (session.workspace.clone(), session.uid);
    let (quota, mb) = (config.disk_quota(), config.disk_quota_mb);
    let size = body.len();
    let path = rel.as_string();
    let sha256 = blocking(move || {
        if quota.is_some_and(|q| q.exceeded(&ws, size as u64)) {
            return Err(ApiError::DiskQuota(mb));
        }
        paths::write_atomic(&ws, &rel, &body, owner)?;
        Ok(artifacts::sha256_hex(&body[..])?)
    })
    .await?;
    Ok(Uploaded { path, size, sha256 })
}

/// Every file of the workspace but the worker's own scratch (`.tmp/`, `.config/`).
pub async fn files(session: &Arc<Session>) -> ApiResult<Vec<FileEntry>> {
    session.touch();
    let ws = session.workspace.clone();
    blocking(move || {
        Ok(paths::walk(&ws, None)
            .into_iter()
            .filter(|e| !e.path.starts_with(".tmp/") && !e.path.starts_with(".config/"))
            .map(|e| FileEntry {
                path: e.path,
                size: e.size,
                mtime: crate::time::rfc3339(crate::time::from_unix_ns(e.mtime_ns)),
            })
            .collect())
    })
    .await
}

/// Every file under `artifacts/` with size, sha256 (cached per file version), media type,
/// mtime and the execution that last wrote it.
pub async fn artifacts(session: &Arc<Session>) -> ApiResult<Vec<ArtifactEntry>> {
    session.touch();
    let sess = session.clone();
    blocking(move || {
        Ok(artifacts::list(&sess.workspace)
            .into_iter()
            .filter_map(|e| {
                let key = (e.size, e.mtime_ns, e.ino);
                let sha256 = match sess.cached_hash(&e.path, key) {
                    Some(h) => h,
                    None => {
                        let rel = RelPath::parse(&e.path).ok()?;
                        let opened = paths::open_read(&sess.workspace, &rel, sess.uid).ok()?;
                        // Code chooses what there is to hash: idle priority (see os::idle).
                        let h = crate::os::idle::run(|| artifacts::sha256_hex(opened.file)).ok()?;
                        sess.store_hash(&e.path, key, h.clone());
                        h
                    }
                };
                Some(ArtifactEntry {
                    mime: mime_for(&e.path),
                    mtime: crate::time::rfc3339(crate::time::from_unix_ns(e.mtime_ns)),
                    execution_id: sess.origin_of(&e.path),
                    path: e.path,
                    size: e.size,
                    sha256,
                })
            })
            .collect())
    })
    .await
}

/// A file's bytes, confined to the workspace and to files the session's uid owns; refused
/// (payload_too_large) when larger than `max_bytes`.
pub async fn read(session: &Arc<Session>, rel: RelPath, max_bytes: u64) -> ApiResult<Vec<u8>> {
    session.touch();
    let (ws, owner) = (session.workspace.clone(), session.uid);
    blocking(move || {
        let opened = paths::open_read(&ws, &rel, owner)?;
        if !opened.meta.is_file() {
            return Err(ApiError::FileNotFound(rel.as_string()));
        }
        if opened.meta.len() > max_bytes {
            return Err(ApiError::BadRequest(format!(
                "`{}` has {} bytes, more than the {max_bytes} this call returns; download it instead",
                rel.as_string(),
                opened.meta.len()
            )));
        }
        let mut out = Vec::with_capacity(opened.meta.len() as usize);
        opened.file.take(max_bytes).read_to_end(&mut out)?;
        Ok(out)
    })
    .await
}
