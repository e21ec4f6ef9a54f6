use crate::error::{ApiError, ApiResult};
use crate::http::download;
use crate::http::extract::{PathParams, RawBody};
use crate::http::openapi::{ApiErrors, FileList};
use crate::http::workspace::Uploaded;
use crate::http::{workspace, AppState};
use crate::paths::{self, RelPath};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;

#[utoipa::path(get, path = "/v1/sessions/{id}/files", tag = "files", params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = FileList), ApiErrors))]
pub async fn list(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<FileList>> {
    let session = s.sessions.get(&id)?;
    Ok(Json(FileList {
        files: workspace::files(&session).await?,
    }))
}

#[utoipa::path(put, path = "/v1/sessions/{id}/files/{path}", tag = "files", params(("id" = String, Path, description = "session id"), ("path" = String, Path, description = "a path in the workspace, e.g. data/sales.csv")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Uploaded), ApiErrors))]
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

#[utoipa::path(get, path = "/v1/sessions/{id}/files/{path}", tag = "files", params(("id" = String, Path, description = "session id"), ("path" = String, Path, description = "a path in the workspace, e.g. data/sales.csv")),
    responses((status = 200, description = "the file (Range supported)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "a byte range", content_type = "application/octet-stream", body = Vec<u8>), ApiErrors))]
pub async fn download(
    State(s): State<AppState>,
    PathParams((id, path)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = s.sessions.get(&id)?;
    let rel = RelPath::parse(&path)?;
    download::serve(session, rel, &headers).await
}

#[utoipa::path(delete, path = "/v1/sessions/{id}/files/{path}", tag = "files", params(("id" = String, Path, description = "session id"), ("path" = String, Path, description = "a path in the workspace, e.g. data/sales.csv")),
    responses((status = 204, description = "deleted"), ApiErrors))]
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
