use crate::error::{ApiError, ApiResult};
use crate::http::download;
use crate::http::extract::{PathParams, RawBody};
use crate::http::AppState;
use crate::paths::{self, RelPath};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

pub async fn list(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let session = s.sessions.get(&id)?;
    session.touch();
    let ws = session.workspace.clone();
    let entries = tokio::task::spawn_blocking(move || paths::walk(&ws, None))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let files: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.path.starts_with(".tmp/") && !e.path.starts_with(".config/"))
        .map(|e| json!({"path": e.path, "size": e.size, "mtime": crate::time::rfc3339(crate::time::from_unix_ns(e.mtime_ns))}))
        .collect();
    Ok(Json(json!({ "files": files })))
}

pub async fn upload(
    State(s): State<AppState>,
    PathParams((id, path)): PathParams<(String, String)>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let session = s.sessions.get(&id)?;
    let rel = RelPath::parse(&path)?;
    session.touch();
    let ws = session.workspace.clone();
    let owner = session.uid;
    let r = rel.clone();
    let size = body.len();
    let (quota, mb) = (s.config.disk_quota(), s.config.disk_quota_mb);
    let sha = tokio::task::spawn_blocking(move || -> ApiResult<String> {
        if quota.is_some_and(|q| q.exceeded(&ws, size as u64)) {
            return Err(ApiError::DiskQuota(mb));
        }
        paths::write_atomic(&ws, &r, &body, owner)?;
        Ok(crate::artifacts::sha256_hex(&body[..])?)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok((
        StatusCode::CREATED,
        Json(json!({"path": rel.as_string(), "size": size, "sha256": sha})),
    ))
}

pub async fn download(
    State(s): State<AppState>,
    PathParams((id, path)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = s.sessions.get(&id)?;
    let rel = RelPath::parse(&path)?;
    download::serve(session, rel, &headers).await
}

pub async fn remove(
    State(s): State<AppState>,
    PathParams((id, path)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let session = s.sessions.get(&id)?;
    let rel = RelPath::parse(&path)?;
    session.touch();
    let ws = session.workspace.clone();
    tokio::task::spawn_blocking(move || paths::remove(&ws, &rel))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}
