use crate::artifacts::ARTIFACTS_DIR;
use crate::error::ApiResult;
use crate::http::download;
use crate::http::extract::PathParams;
use crate::http::{workspace, AppState};
use crate::paths::RelPath;
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
    Ok(Json(
        json!({ "artifacts": workspace::artifacts(&session).await? }),
    ))
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
