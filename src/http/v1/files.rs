use crate::error::{ApiError, ApiResult};
use crate::http::download;
use crate::http::extract::{PathParams, RawBody};
use crate::http::{workspace, AppState};
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
    Ok(Json(json!({ "files": workspace::files(&session).await? })))
}

pub async fn upload(
    State(s): State<AppState>,
    PathParams((id, path)): PathParams<(String, String)>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<workspace::Uploaded>)> {
    let session = s.sessions.get(&id)?;
    let rel = RelPath::parse(&path)?;
    let uploaded = workspace::upload(&session, &s.config, rel, body).await?;
    Ok((StatusCode::CREATED, Json(uploaded)))
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
