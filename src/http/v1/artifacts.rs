use crate::artifacts::{self, mime_for, ARTIFACTS_DIR};
use crate::error::{ApiError, ApiResult};
use crate::http::download;
use crate::http::extract::PathParams;
use crate::http::AppState;
use crate::paths::{self, RelPath};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

/// Every file under `artifacts/` with size, sha256, media type, mtime and the execution that
/// last wrote it (null for files uploaded rather than produced).
pub async fn list(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let session = s.sessions.get(&id)?;
    session.touch();
    let sess = session.clone();
    let items = tokio::task::spawn_blocking(move || {
        artifacts::list(&sess.workspace)
            .into_iter()
            .filter_map(|e| {
                let key = (e.size, e.mtime_ns, e.ino);
                let sha = match sess.cached_hash(&e.path, key) {
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
                Some(json!({
                    "path": e.path,
                    "size": e.size,
                    "sha256": sha,
                    "mime": mime_for(&e.path),
                    "mtime": crate::time::rfc3339(crate::time::from_unix_ns(e.mtime_ns)),
                    "execution_id": sess.origin_of(&e.path),
                }))
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({ "artifacts": items })))
}

pub async fn download(
    State(s): State<AppState>,
    PathParams((id, path)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = s.sessions.get(&id)?;
    let rel = RelPath::from_parts(vec![ARTIFACTS_DIR.into()]).join(&RelPath::parse(&path)?);
    download::serve(session, rel, &headers).await
}
